"""The chat's side of the secure view: whether it is on for this update, and the
`web_app` button that opens a screen of it. The screen itself (bot/secure_view.py) is
served by the school's own server; the chat only carries a line without data.

The address is set per update by SecureViewMiddleware (and around the outbox sender),
as aiogram's I18n sets the language: keyboards and templates ask `base()` instead of
every handler passing it down."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlencode

from aiogram import BaseMiddleware
from aiogram.types import InlineKeyboardButton, TelegramObject, WebAppInfo
from aiogram.utils.i18n import gettext as _

_BASE: ContextVar[str | None] = ContextVar("ouderloket_secure_view", default=None)


def base() -> str | None:
    """SECURE_VIEW_URL when the secure view is on, else None."""
    return _BASE.get()


def enabled() -> bool:
    return _BASE.get() is not None


@contextmanager
def using(url: str | None) -> Iterator[None]:
    token = _BASE.set(url)
    try:
        yield
    finally:
        _BASE.reset(token)


def view_url(view: str, **ids: int) -> str:
    """The page of one screen: `<SECURE_VIEW_URL>/?view=inzage&pupil=3`. Only ids go in
    the address; Telegram adds the signed init data after the '#'."""
    url = base()
    if url is None:
        raise RuntimeError("the secure view is off")
    query = {"view": view, **{k: str(v) for k, v in ids.items() if v}}
    return f"{url}/?{urlencode(query)}"


def button(text: str, view: str, **ids: int) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, web_app=WebAppInfo(url=view_url(view, **ids)))


class SecureViewMiddleware(BaseMiddleware):
    """Sets the secure view's address for the handling of one update."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        with using(self.url):
            return await handler(event, data)


# What names a child in a notification's parameters (bot/templates/notify/): at the top,
# and in the items of a list (a summary's requests, the yearly check's children).
_TOP_NAMES = frozenset({"pupil", "pupil_full"})
_ITEM_NAMES = frozenset({"pupil", "pupil_full", "name"})
_NUMBERS = frozenset({"leerlingnummer"})


def nameless(params: dict[str, Any], *, parent: bool) -> dict[str, Any]:
    """A notification's parameters with the child called "uw kind" / "een leerling"
    instead of by name, and no pupil number: with the secure view on, a notification
    says what happened and the page shows about whom."""
    word = _("uw kind") if parent else _("een leerling")

    def item(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {
            k: word if k in _ITEM_NAMES else "" if k in _NUMBERS else v for k, v in value.items()
        }

    out: dict[str, Any] = {}
    for key, value in params.items():
        if key in _TOP_NAMES and isinstance(value, str):
            value = word
        elif key in _NUMBERS:
            value = ""
        elif isinstance(value, list):
            value = [item(v) for v in value]
        out[key] = value
    return out
