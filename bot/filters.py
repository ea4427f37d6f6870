"""Filters for handlers' registration. Each is async: aiogram runs a plain function
(a magic filter such as F.text too) in a thread, a hop on every update it is asked about."""

from __future__ import annotations

from typing import Any, Literal

from aiogram import Router
from aiogram.filters import Filter
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, Message
from magic_filter import MagicFilter


async def has_text(message: Message) -> bool:
    return bool(message.text)


async def typed_command(message: Message) -> bool:
    """A slash command typed by hand (/menu, /annuleren, …)."""
    return (message.text or "").startswith("/")


class Pressed(Filter):
    """A button of this kind (and, with a rule, this action): aiogram's own
    CallbackData.filter, but a button of another kind is refused on its prefix. A press
    is offered to every handler in turn, and aiogram's filter unpacks the data for each,
    raising and catching an error for every one of another kind."""

    __slots__ = ("factory", "head", "rule")

    def __init__(self, factory: type[CallbackData], rule: MagicFilter | None = None) -> None:
        self.factory, self.rule = factory, rule
        self.head = f"{factory.__prefix__}{factory.__separator__}"

    async def __call__(self, query: CallbackQuery) -> Literal[False] | dict[str, Any]:
        data = query.data
        if not data or not data.startswith(self.head):
            return False
        try:
            unpacked = self.factory.unpack(data)
        except (TypeError, ValueError):
            return False
        if self.rule is None or self.rule.resolve(unpacked):
            return {"callback_data": unpacked}
        return False


def pressed(factory: type[CallbackData], rule: MagicFilter | None = None) -> Pressed:
    return Pressed(factory, rule)


class PressedAny(Filter):
    """A button of one of these kinds, on its prefix alone."""

    __slots__ = ("heads",)

    def __init__(self, heads: tuple[str, ...]) -> None:
        self.heads = heads

    async def __call__(self, query: CallbackQuery) -> bool:
        data = query.data
        return data is not None and data.startswith(self.heads)


def gate(router: Router) -> Router:
    """Lets a press into the router only when it is one of the router's own buttons, when
    every button handler of the router takes only its own kinds (Pressed): aiogram offers
    a press to every handler of every router in turn, and the routers before the one
    whose button it is cost more than the handler."""
    heads: list[str] = []
    for handler in router.callback_query.handlers:
        own = [f.callback.head for f in handler.filters or () if isinstance(f.callback, Pressed)]
        if not own:
            return router
        heads.extend(own)
    if heads:
        router.callback_query.filter(PressedAny(tuple(dict.fromkeys(heads))))
    return router
