"""What a handler does not catch ends here, registered once on the dispatcher.

A domain error (flows/errors.py) gets its one answer in the user's language: a pressed
button an alert, a typed message a reply with a way on. Handlers therefore call their
flow without try/except for these.

Any other failure (a database error, a bug) is said to the user: on the button that was
pressed, so it does not keep spinning on the parent's phone, or in the chat. The failure
itself is logged by aiogram as before, and the engines hide the statement's values
(storage/db.py).

These run after the update's database session has ended: the transaction was rolled
back, so a refused step leaves nothing half done, and what the update had already sent
was taken back (bot.sent)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from aiogram import Dispatcher
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import ExceptionTypeFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import ErrorEvent, InlineKeyboardMarkup
from aiogram.utils.i18n import I18n

from bot import keyboards
from bot.render import render
from flows.actor import Actor
from flows.errors import InvalidInput, NotAllowed, NotFound
from flows.requests import MAX_TEXT
from flows.requests.transitions import AlreadyHandled


def register(dp: Dispatcher) -> None:
    """The most specific first: AlreadyHandled is an InvalidInput."""
    dp.errors.register(not_found, ExceptionTypeFilter(NotFound))
    dp.errors.register(not_allowed, ExceptionTypeFilter(NotAllowed))
    dp.errors.register(already_handled, ExceptionTypeFilter(AlreadyHandled))
    dp.errors.register(invalid_input, ExceptionTypeFilter(InvalidInput))
    dp.errors.register(answer_the_button)


@contextlib.contextmanager
def _language(i18n: I18n, actor: Actor | None) -> Iterator[None]:
    """The update's own language context has ended by the time these run."""
    locale = actor.locale if actor is not None else i18n.default_locale
    if locale not in i18n.available_locales:
        locale = i18n.default_locale
    with i18n.context(), i18n.use_locale(locale):
        yield


def _way_on(actor: Actor | None) -> InlineKeyboardMarkup | None:
    """Under a reply to a typed step that cannot go on: back to where the user came from."""
    if actor is None or not actor.is_linked:
        return None
    return keyboards.staff_back() if actor.is_staff else keyboards.menu_for(actor)


async def _say(event: ErrorEvent, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    query, message = event.update.callback_query, event.update.message
    if query is not None:
        with contextlib.suppress(TelegramAPIError):
            await query.answer(text, show_alert=True)
    elif message is not None:
        await message.answer(text, reply_markup=markup)


async def not_found(
    event: ErrorEvent,
    i18n: I18n,
    actor: Actor | None = None,
    state: FSMContext | None = None,
    **_: Any,
) -> None:
    """The same answer whether it does not exist or the user may not see it. A form about
    it cannot be finished, so it ends."""
    if state is not None:
        await state.clear()
    with _language(i18n, actor):
        await _say(event, i18n.gettext("Niet gevonden."), _way_on(actor))


async def not_allowed(
    event: ErrorEvent,
    i18n: I18n,
    actor: Actor | None = None,
    state: FSMContext | None = None,
    **_: Any,
) -> None:
    """A button this user was not (or is no longer) offered; typed, it reads as not found."""
    if event.update.callback_query is None:
        await not_found(event, i18n, actor, state)
        return
    with _language(i18n, actor):
        await _say(
            event, i18n.gettext("Deze knop werkt niet meer. Kies opnieuw in het menu: /menu")
        )


async def already_handled(
    event: ErrorEvent,
    i18n: I18n,
    actor: Actor | None = None,
    state: FSMContext | None = None,
    **_: Any,
) -> None:
    """Someone else decided first: nothing is left to type for."""
    error = event.exception
    assert isinstance(error, AlreadyHandled)
    if state is not None:
        await state.clear()
    with _language(i18n, actor):
        text = render("staff_error.j2", reason=error.reason, by=error.by)
        await _say(event, text, _way_on(actor))


async def invalid_input(
    event: ErrorEvent,
    i18n: I18n,
    actor: Actor | None = None,
    state: FSMContext | None = None,
    **_: Any,
) -> None:
    """The rule's reason. A typed step stays open, so the user can type it again."""
    error = event.exception
    assert isinstance(error, InvalidInput)
    staff = actor is not None and actor.is_staff
    in_form = state is not None and await state.get_state() is not None
    with _language(i18n, actor):
        if staff:
            text = render("staff_error.j2", reason=error.reason, by="")
        else:
            text = render("request_error.j2", reason=error.reason, limit=MAX_TEXT)
        markup: InlineKeyboardMarkup | None
        if in_form:
            markup = keyboards.staff_cancel() if staff else keyboards.only_cancel()
        else:
            markup = _way_on(actor)
        await _say(event, text, markup)


async def answer_the_button(event: ErrorEvent, **data: Any) -> Any:
    """Says that it went wrong: on the pressed button, or in the chat when the button was
    answered already (with a screen the failure took back, bot.sent) or a step was typed."""
    query, message = event.update.callback_query, event.update.message
    i18n: I18n | None = data.get("i18n")
    if i18n is None:
        return UNHANDLED
    actor: Actor | None = data.get("actor")
    locale = actor.locale if actor is not None else i18n.default_locale
    text = i18n.gettext("Er ging iets mis. Probeer het straks opnieuw.", locale=locale)
    if query is not None:
        try:
            await query.answer(text, show_alert=True)
        except TelegramAPIError:
            if query.bot is not None:
                with contextlib.suppress(TelegramAPIError):
                    await query.bot.send_message(query.from_user.id, text)
    elif message is not None and message.chat.type == ChatType.PRIVATE:
        with contextlib.suppress(TelegramAPIError):
            await message.answer(text)
    # Not handled: aiogram goes on to log the failure as for any other update.
    return UNHANDLED
