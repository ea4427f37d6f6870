"""Messages an update sent or rewrote before it was committed, taken back when it is not.

A screen goes to the parent while the update's transaction is still open (the handler
answers, then bot.middlewares commits). When that commit is refused, or the handler
fails after it answered, the message is there and the store does not say so: a consent
screen "Uw keuze is opgeslagen" for a choice that was rolled back, a language "changed"
that was not, or a child's data whose deletion time was rolled back with it and would
stay in the chat for good. So every message the update sent, or whose text it rewrote,
is deleted again before the error is answered. A message that only lost its buttons (a
receipt kept as the parent's record) stays."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramAPIError
from aiogram.methods import EditMessageText, SendDocument, SendMessage, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Message

log = logging.getLogger(__name__)

# (chat, message) of what the update being handled sent or rewrote; None outside an
# update (the outbox, the expirer, an answer made once the update is committed).
_sent: ContextVar[list[tuple[int, int]] | None] = ContextVar("sent", default=None)


class _Remember(BaseRequestMiddleware):
    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Any:
        result = await make_request(bot, method)
        sent = _sent.get()
        if (
            sent is not None
            and isinstance(method, SendMessage | SendDocument | EditMessageText)
            and isinstance(result, Message)
        ):
            sent.append((result.chat.id, result.message_id))
        return result


def remembered(bot: Bot) -> None:
    """The bot's calls are watched (once per bot session, whoever made the bot)."""
    if not any(isinstance(middleware, _Remember) for middleware in bot.session.middleware):
        bot.session.middleware(_Remember())


@contextlib.contextmanager
def sending() -> Iterator[list[tuple[int, int]]]:
    """The messages the update sends or rewrites within the block."""
    sent: list[tuple[int, int]] = []
    token = _sent.set(sent)
    try:
        yield sent
    finally:
        _sent.reset(token)


async def take_back(bot: Bot, sent: list[tuple[int, int]]) -> None:
    """Deletes what an update that did not commit had sent or rewritten. A message
    Telegram will not delete is left (logged without its content): the update's error
    still follows."""
    for chat_id, message_id in reversed(dict.fromkeys(sent)):
        try:
            await bot.delete_message(chat_id, message_id)
        except TelegramAPIError as error:
            log.warning("a message of a rolled-back update stayed: %s", type(error).__name__)
