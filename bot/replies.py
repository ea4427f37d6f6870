"""Answering a button press: edit the message it sits on, and always answer the query."""

from __future__ import annotations

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message


async def show(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    message = query.message
    if isinstance(message, Message) and message.text is not None:
        try:
            await message.edit_text(text, reply_markup=markup)
        except TelegramBadRequest as error:
            # A double tap re-sends the same screen; Telegram refuses an identical edit.
            if "message is not modified" not in error.message:
                raise
    elif message is not None and query.bot is not None:
        # Too old to edit, or a document: a fresh message does the job.
        await query.bot.send_message(message.chat.id, text, reply_markup=markup)
    await query.answer()
