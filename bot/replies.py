"""Answering a button press: edit the message it sits on, and always answer the query."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime

from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import keyboards
from bot.config import Settings
from bot.expiry import on_data_message
from bot.render import clock_time, render
from flows import linking
from flows.actor import Actor
from flows.clock import Clock
from storage.expiry import schedule


async def show(
    query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None
) -> int | None:
    """Returns the id of the message that now shows the text. A message with a child's
    data is never turned into another screen: it deletes itself later and would take
    that screen (a menu, a form) with it, so the screen comes as a new message."""
    return await _show(query, text, markup, edit=not on_data_message())


async def _show(
    query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None, *, edit: bool
) -> int | None:
    message = query.message
    shown: int | None = None
    if edit and isinstance(message, Message) and message.text is not None:
        shown = message.message_id
        try:
            await message.edit_text(text, reply_markup=markup)
        except TelegramBadRequest as error:
            # A double tap re-sends the same screen; Telegram refuses an identical edit.
            if "message is not modified" not in error.message:
                raise
    elif message is not None and query.bot is not None:
        # Too old to edit, or a document: a fresh message does the job.
        sent = await query.bot.send_message(message.chat.id, text, reply_markup=markup)
        shown = sent.message_id
    await query.answer()
    return shown


async def show_new(
    query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None
) -> int | None:
    """A screen as a new message, leaving the one pressed as it is: the secure view's
    line comes where the data would have come, so the menu stays."""
    return await _show(query, text, markup, edit=False)


async def below(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup) -> None:
    """The next screen as a new message under the pressed one, which keeps its words and
    loses only its buttons: a receipt stays in the chat as the parent's record."""
    message = query.message
    if isinstance(message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await message.edit_reply_markup(reply_markup=None)
    await _show(query, text, markup, edit=False)


def expiry_note(until: datetime) -> str:
    return "<i>{}</i>".format(
        _("Om uw privacy te beschermen verdwijnt dit bericht om {time} uur uit deze chat.").format(
            time=clock_time(until)
        )
    )


async def show_data(
    query: CallbackQuery,
    session: AsyncSession,
    text: str,
    markup: InlineKeyboardMarkup | None,
    until: datetime,
    *,
    turn_page: bool = False,
) -> int | None:
    """`show` for a screen with a child's personal data: the message says it will go,
    and is deleted at `until` in the chat it is in. Only this message goes: it comes as
    a new message, so the menu or step it was asked from stays. `turn_page`: another
    page of the same data takes the place of the one it was asked from."""
    note = f"{text}\n\n{expiry_note(until)}"
    shown = await _show(query, note, markup, edit=turn_page and on_data_message())
    if shown is not None and query.message is not None:
        schedule(session, query.message.chat.id, shown, until)
    return shown


async def answer_data(
    message: Message,
    session: AsyncSession,
    text: str,
    markup: InlineKeyboardMarkup | None,
    until: datetime,
) -> int:
    """A new message with a child's personal data, deleted at `until` like show_data."""
    sent = await message.answer(f"{text}\n\n{expiry_note(until)}", reply_markup=markup)
    schedule(session, sent.chat.id, sent.message_id, until)
    return sent.message_id


async def reply_data(
    event: Message | CallbackQuery,
    session: AsyncSession,
    text: str,
    markup: InlineKeyboardMarkup | None,
    until: datetime,
) -> int | None:
    if isinstance(event, CallbackQuery):
        return await show_data(event, session, text, markup, until)
    return await answer_data(event, session, text, markup, until)


def data_until(settings: Settings, clock: Clock) -> datetime:
    return clock.now() + settings.data_view_ttl


async def chosen_child(
    query: CallbackQuery,
    session: AsyncSession,
    actor: Actor,
    pupil_id: int,
    again: Callable[[int], CallbackData],
) -> int | None:
    """The child a button is about. A button without one (0) means the parent's only
    child; with several, the choice is shown (each button made by `again`) and None is
    returned."""
    if pupil_id:
        return pupil_id
    children = (await linking.profile(session, actor.telegram_user_id)).children
    if len(children) == 1:
        return children[0].pupil_id
    if not children:
        await query.answer(_("Aan uw account is geen kind gekoppeld."), show_alert=True)
        return None
    await show(query, render("pick_child.j2"), keyboards.pick_child(children, again))
    return None


async def leave_form(event: Message | CallbackQuery, state: FSMContext) -> None:
    """A command or another menu button in the middle of a form: the form is dropped and
    the update goes on to the handler it was meant for."""
    await state.clear()
    raise SkipHandler()


async def not_found(query: CallbackQuery) -> None:
    """The one answer to a button about something the user may not see, or that does not
    exist: the two look the same, so a forged id learns nothing."""
    await query.answer(_("Niet gevonden."), show_alert=True)
