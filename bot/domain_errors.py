"""What a user reads when a flow refuses: one place instead of a try/except in every
handler. Handlers let flows.errors.NotFound, NotAllowed and InvalidInput (and
AlreadyHandled, an InvalidInput naming who was first) propagate; these handlers answer
the button or the message and drop a form that can no longer be finished.

Registered on the requests router; errors propagate through every router, so a
handler elsewhere that raises is answered the same way."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aiogram import Router
from aiogram.filters import ExceptionTypeFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import ErrorEvent, InlineKeyboardMarkup
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot import keyboards
from bot.render import render
from flows.actor import Actor
from flows.errors import InvalidInput, NotAllowed, NotFound
from flows.requests import MAX_TEXT
from flows.requests.transitions import AlreadyHandled


async def _say(event: ErrorEvent, text: str, markup: InlineKeyboardMarkup | None) -> None:
    query, message = event.update.callback_query, event.update.message
    if query is not None:
        await query.answer(text, show_alert=True)
    elif message is not None:
        await message.answer(text, reply_markup=markup)


@contextmanager
def _words(i18n: I18n, actor: Actor | None) -> Iterator[None]:
    # The handler's language context ended with the error: set it again.
    locale = actor.locale if actor is not None else i18n.default_locale
    with i18n.context(), i18n.use_locale(locale):
        yield


async def not_found(event: ErrorEvent, state: FSMContext, actor: Actor, i18n: I18n) -> None:
    # A forged id and one that does not exist look the same.
    await state.clear()
    with _words(i18n, actor):
        await _say(event, _("Niet gevonden."), keyboards.menu_for(actor))


async def already_handled(event: ErrorEvent, state: FSMContext, actor: Actor, i18n: I18n) -> None:
    error = event.exception
    assert isinstance(error, AlreadyHandled)
    await state.clear()
    with _words(i18n, actor):
        text = render("staff_error.j2", reason=error.reason, by=error.by)
        await _say(event, text, keyboards.back_to_menu())


async def refused(event: ErrorEvent, state: FSMContext, actor: Actor, i18n: I18n) -> None:
    """NotAllowed or InvalidInput outside a form's typed step: the request changed
    meanwhile (decided, withdrawn), the child's data changed since the form was filled
    in, or the button is not meant for this user."""
    error = event.exception
    reason = error.reason if isinstance(error, InvalidInput) else "decided"
    if reason == "withdrawn":
        reason = "decided"
    await state.clear()
    with _words(i18n, actor):
        text = render("request_error.j2", reason=reason, limit=MAX_TEXT)
        await _say(event, text, keyboards.back_to_menu())


def register(router: Router) -> None:
    router.errors.register(not_found, ExceptionTypeFilter(NotFound))
    router.errors.register(already_handled, ExceptionTypeFilter(AlreadyHandled))
    router.errors.register(refused, ExceptionTypeFilter(NotAllowed, InvalidInput))
