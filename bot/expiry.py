"""Messages that show a child's personal data delete themselves from the parent's chat
after DATA_VIEW_TTL. The pending deletion is a row written in the transaction of the
handler that showed the data, so a restart of the bot does not forget it.

Telegram answering that the message is gone or cannot be deleted (older than 48 hours,
deleted by the parent) ends it, as does a blocked bot; 429 waits as told; 5xx and network
errors retry with backoff and give up after MAX_ATTEMPTS, with a log line."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
)
from aiogram.types import CallbackQuery, Message, TelegramObject
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows.clock import Clock
from storage.db import SessionFactory
from storage.models import MessageExpiry

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 10
MAX_BACKOFF = timedelta(minutes=30)
GLOBAL_INTERVAL = 1 / 30
BATCH = 100
# What Telegram answers when deleting cannot succeed however often it is tried.
GONE = ("message to delete not found", "message can't be deleted")


async def _find(session: AsyncSession, chat_id: int, message_id: int) -> MessageExpiry | None:
    rows = await session.exec(
        select(MessageExpiry).where(
            MessageExpiry.chat_id == chat_id, MessageExpiry.message_id == message_id
        )
    )
    return rows.first()


async def schedule(
    session: AsyncSession, chat_id: int, message_id: int, delete_at: datetime
) -> None:
    """Deletes the message at delete_at; in the caller's transaction, which commits it.
    Scheduling a message again (it was edited to show data again) moves the time."""
    if delete_at.tzinfo is None:
        raise ValueError("delete_at must be an aware datetime")
    # One statement whether or not the message was scheduled before (SQLite and
    # PostgreSQL both know ON CONFLICT).
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(MessageExpiry).values(
        chat_id=chat_id, message_id=message_id, delete_at=delete_at, done_at=None, attempts=0
    )
    await session.exec(
        statement.on_conflict_do_update(
            index_elements=["chat_id", "message_id"],
            set_={"delete_at": delete_at, "done_at": None, "attempts": 0},
        )
    )


_on_data_message: ContextVar[bool] = ContextVar("on_data_message", default=False)


def on_data_message() -> bool:
    """Whether the button being handled sits on a message that will delete itself: the
    next screen must then be a new message, or it would vanish with the data."""
    return _on_data_message.get()


class DataMessageMiddleware(BaseMiddleware):
    """Marks a button press on a pending data message for bot.replies.show."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        pending = False
        message = event.message if isinstance(event, CallbackQuery) else None
        if isinstance(message, Message) and "session" in data:
            row = await _find(data["session"], message.chat.id, message.message_id)
            pending = row is not None and row.done_at is None
        token = _on_data_message.set(pending)
        try:
            return await handler(event, data)
        finally:
            _on_data_message.reset(token)


async def cancel(session: AsyncSession, chat_id: int, message_id: int) -> bool:
    """Forgets a pending deletion (the message was deleted otherwise); True if one was."""
    row = await _find(session, chat_id, message_id)
    if row is None or row.done_at is not None:
        return False
    await session.delete(row)
    return True


class MessageExpirer:
    def __init__(
        self,
        bot: Bot,
        factory: SessionFactory,
        clock: Clock,
        *,
        global_interval: float = GLOBAL_INTERVAL,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.bot, self.factory, self.clock = bot, factory, clock
        self.global_interval, self.sleep = global_interval, sleep

    async def delete_due(self) -> int:
        """Deletes the messages that are due now; returns how many were deleted."""
        deleted = 0
        async with self.factory() as session:
            rows = await session.exec(
                select(MessageExpiry)
                .where(
                    col(MessageExpiry.done_at).is_(None),
                    MessageExpiry.delete_at <= self.clock.now(),
                )
                .order_by(col(MessageExpiry.delete_at), col(MessageExpiry.id))
                .limit(BATCH)
            )
            for row in rows.all():
                if self.global_interval > 0:
                    await self.sleep(self.global_interval)
                if await self._delete(row):
                    deleted += 1
                session.add(row)
                # Committed per row: a crash loses no outcome already known.
                await session.commit()
        return deleted

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
