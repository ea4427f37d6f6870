"""The bot works in private chats only. In a group, supergroup or channel everything it
shows would be read by everyone there — a child's name, a linked account, a request —
so one outer middleware stops every update from such a chat before any router sees it.
A message addressed to the bot gets one line pointing to a private chat; a button on a
group message is answered with that line; everything else is left alone."""

from __future__ import annotations

from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.enums import ChatType
from aiogram.types import CallbackQuery, Chat, Message, TelegramObject, Update
from aiogram.utils.i18n import gettext as _

from bot.middlewares import Handler


def private_only_line() -> str:
    return _("Stuur mij een privébericht.")


async def _addressed_to_bot(message: Message, bot: Bot | None) -> bool:
    """A command (for every bot, or /start@this_bot), a mention of this bot, or a reply to
    one of its messages; other talk in the group is none of the bot's business."""
    text = message.text or message.caption or ""
    username = ""
    if bot is not None:
        username = ((await bot.me()).username or "").lower()
    first = text.split(maxsplit=1)[0].lower() if text.strip() else ""
    if first.startswith("/"):
        _command, _at, target = first.partition("@")
        return not target or target == username
    if username and f"@{username}" in text.lower():
        return True
    reply = message.reply_to_message
    return bool(reply and reply.from_user and bot is not None and reply.from_user.id == bot.id)


class PrivateChatsOnly(BaseMiddleware):
    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        chat: Chat | None = data.get("event_chat")
        if chat is None or chat.type == ChatType.PRIVATE:
            return await handler(event, data)
        if not isinstance(event, Update):
            return None
        bot: Bot | None = data.get("bot")
        if isinstance(event.callback_query, CallbackQuery):
            await event.callback_query.answer(private_only_line(), show_alert=True)
        elif (
            isinstance(event.message, Message)
            and chat.type != ChatType.CHANNEL
            and await _addressed_to_bot(event.message, bot)
        ):
            await event.message.answer(private_only_line())
        return None
