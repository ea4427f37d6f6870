"""Answering a button press: edit the message it sits on, and always answer the query."""

from __future__ import annotations

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message


async def show(
    query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None
) -> int | None:
    """Returns the id of the message that now shows the text."""
    message = query.message
    shown: int | None = None
    if isinstance(message, Message) and message.text is not None:
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
