"""Filters for handlers' registration. Each is async: aiogram runs a plain function
(a magic filter such as F.text too) in a thread, a hop on every update it is asked about."""

from __future__ import annotations

from typing import Any, Literal

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
