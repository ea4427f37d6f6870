"""Messages that show a child's personal data delete themselves from the parent's chat
after DATA_VIEW_TTL. The pending deletion is a row written in the transaction of the
handler that showed the data (storage.expiry.schedule), so a restart of the bot does not
forget it.

Telegram answering that the message is gone or cannot be deleted (older than 48 hours,
deleted by the parent) ends it, as does a blocked bot; 429 waits as told; 5xx and network
errors retry with backoff and give up after MAX_ATTEMPTS, with a log line."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
)
from aiogram.types import Message, TelegramObject, Update

from bot.pacing import Pacer, Turn
from flows.clock import Clock
from storage.db import SessionFactory
from storage.expiry import due
from storage.models import MessageExpiry

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 10
MAX_BACKOFF = timedelta(minutes=30)
GLOBAL_INTERVAL = 1 / 30
BATCH = 100
# What Telegram answers when deleting cannot succeed however often it is tried.
GONE = ("message to delete not found", "message can't be deleted")


_on_data_message: ContextVar[bool] = ContextVar("on_data_message", default=False)


def on_data_message() -> bool:
    """Whether the button being handled sits on a message that will delete itself: the
    next screen must then be a new message, or it would vanish with the data."""
    return _on_data_message.get()


# Whether the pressed button sits on a pending data message (storage.expiry.PENDING), in
# what the read every update starts with found (bot.middlewares).
ON_DATA_MESSAGE = "on_data_message"


def shown_message(event: TelegramObject) -> tuple[int, int] | None:
    """(chat, message) of the message under a pressed button, when Telegram says which."""
    query = event.callback_query if isinstance(event, Update) else None
    message = query.message if query is not None else None
    return (message.chat.id, message.message_id) if isinstance(message, Message) else None


class DataMessageMiddleware(BaseMiddleware):
    """Marks a button press on a pending data message for bot.replies.show."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        token = _on_data_message.set(bool(data.get(ON_DATA_MESSAGE)))
        try:
            return await handler(event, data)
        finally:
            _on_data_message.reset(token)


class MessageExpirer:
    def __init__(
        self,
        bot: Bot,
        factory: SessionFactory,
        clock: Clock,
        *,
        global_interval: float = GLOBAL_INTERVAL,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        pacer: Pacer | None = None,
    ) -> None:
        """`pacer`: the bot's pace, shared with the outbox (and, in Redis, with every
        worker), so that deletions and notifications together stay within Telegram's
        limit; without one, deletions go `global_interval` apart."""
        self.bot, self.factory, self.clock = bot, factory, clock
        self.global_interval, self.sleep, self.pacer = global_interval, sleep, pacer

    async def delete_due(self) -> int:
        """Deletes the messages that are due now; returns how many were deleted."""
        deleted = 0
        async with self.factory() as session:
            for row in await due(session, self.clock.now(), BATCH):
                turn = await self._take_turn(row.chat_id)
                try:
                    if await self._delete(row):
                        deleted += 1
                finally:
                    if turn is not None and self.pacer is not None:
                        await self.pacer.done(row.chat_id, turn)
                session.add(row)
                # Committed per row: a crash loses no outcome already known.
                await session.commit()
        return deleted

    async def _take_turn(self, chat_id: int) -> Turn | None:
        if self.pacer is None:
            if self.global_interval > 0:
                await self.sleep(self.global_interval)
            return None
        while not (turn := await self.pacer.take(chat_id)).granted:
            await self.sleep(turn.wait)
        return turn

    async def _delete(self, row: MessageExpiry) -> bool:
        now = self.clock.now()
        try:
            await self.bot.delete_message(chat_id=row.chat_id, message_id=row.message_id)
        except TelegramRetryAfter as error:
            # Not a failure of this message: wait as told, it stays due for the next round.
            log.warning("message expiry %s: flood control, waiting %ss", row.id, error.retry_after)
            await self.sleep(error.retry_after)
            return False
        except TelegramBadRequest as error:
            # Retrying a 400 cannot help. Gone is fine; can't be deleted leaves data behind.
            if GONE[0] in error.message:
                level = logging.INFO
            elif GONE[1] in error.message:
                level = logging.WARNING
            else:
                level = logging.ERROR
            log.log(level, "message expiry %s: not deleted: %s", row.id, error.message)
            row.done_at = now
            return False
        except TelegramForbiddenError as error:
            log.info("message expiry %s: bot blocked, not deleted: %s", row.id, error.message)
            row.done_at = now
            return False
        except TelegramAPIError as error:  # 5xx, network, anything that may pass
            row.attempts += 1
            if row.attempts >= MAX_ATTEMPTS:
                log.error(
                    "message expiry %s: giving up after %s attempts: %s",
                    row.id,
                    row.attempts,
                    error,
                )
                row.done_at = now
            else:
                row.delete_at = now + min(timedelta(seconds=2**row.attempts), MAX_BACKOFF)
            return False
        row.done_at = now
        return True

    async def run(self, idle: float = 5.0) -> None:
        while True:
            try:
                if await self.delete_due() == 0:
                    await asyncio.sleep(idle)
            except asyncio.CancelledError:
                raise
            except Exception:  # a database hiccup must not stop deleting for good
                log.exception("message expirer")
                await asyncio.sleep(idle)
