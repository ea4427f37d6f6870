"""Delivers queued notifications under Telegram's limits: at most ~30 messages a second
overall and one a second per chat; 429 waits as told, 5xx and network errors retry with
backoff, 403 (blocked or never started) is recorded as undeliverable and not retried."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta

from aiogram import Bot
from aiogram.exceptions import (
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.utils.i18n import I18n
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import keyboards
from bot.labels import channel_label
from bot.render import render
from flows.clock import Clock
from storage.db import SessionFactory
from storage.models import ChatLink, Outbox

log = logging.getLogger(__name__)
GLOBAL_INTERVAL = 1 / 30
PER_CHAT_INTERVAL = 1.0
MAX_BACKOFF = timedelta(minutes=30)
BATCH = 100


class OutboxSender:
    def __init__(
        self,
        bot: Bot,
        factory: SessionFactory,
        i18n: I18n,
        clock: Clock,
        *,
        per_chat_interval: float = PER_CHAT_INTERVAL,
        global_interval: float = GLOBAL_INTERVAL,
    ) -> None:
        self.bot, self.factory, self.i18n, self.clock = bot, factory, i18n, clock
        self.per_chat_interval, self.global_interval = per_chat_interval, global_interval
        self._last_to_chat: dict[int, float] = {}

    async def deliver_due(self, limit: int = BATCH) -> int:
        """Sends what is due now; returns how many were delivered.

        One row per transaction, claimed with FOR UPDATE SKIP LOCKED on PostgreSQL: the
        sender runs in every worker, and a row another worker is sending is skipped, not
        sent twice. Committed per row: a crash after a send must not send it again."""
        delivered = 0
        for _ in range(limit):
            async with self.factory() as session:
                row = (
                    await session.exec(
                        select(Outbox)
                        .where(
                            col(Outbox.sent_at).is_(None),
                            col(Outbox.failed_at).is_(None),
                            Outbox.next_attempt_at <= self.clock.now(),
                        )
                        .order_by(col(Outbox.id))
                        .limit(1)
                        .with_for_update(skip_locked=True)
                    )
                ).first()
                if row is None:
                    break
                await self._pace(row.telegram_user_id)
                if await self._send(session, row):
                    delivered += 1
                await session.commit()
        return delivered

    async def _pace(self, chat_id: int) -> None:
        loop = asyncio.get_running_loop()
        wait = self._last_to_chat.get(chat_id, -1e9) + self.per_chat_interval - loop.time()
        await asyncio.sleep(max(wait, self.global_interval))
        self._last_to_chat[chat_id] = loop.time()

    async def _send(self, session: AsyncSession, row: Outbox) -> bool:
        link = await session.get(ChatLink, row.telegram_user_id)
        locale = link.locale if link is not None else self.i18n.default_locale
        now = self.clock.now()
        try:
            with self.i18n.context(), self.i18n.use_locale(locale):
                params = json.loads(row.params)
                text = render(f"notify/{row.template}.j2", label=channel_label, **params)
                markup = keyboards.for_notification(row.template, params)
            await self.bot.send_message(row.telegram_user_id, text, reply_markup=markup)
        except TelegramRetryAfter as error:
            row.next_attempt_at = now + timedelta(seconds=error.retry_after)
        except TelegramForbiddenError as error:
            row.failed_at = now
            row.error = error.message[:500]
        except (TelegramServerError, TelegramNetworkError) as error:
            row.attempts += 1
            row.next_attempt_at = now + min(timedelta(seconds=2**row.attempts), MAX_BACKOFF)
            row.error = str(error)[:500]
        else:
            row.sent_at = now
            session.add(row)
            return True
        session.add(row)
        return False

    async def run(self, idle: float = 1.0) -> None:
        while True:
            try:
                if await self.deliver_due() == 0:
                    await asyncio.sleep(idle)
            except asyncio.CancelledError:
                raise
            except Exception:  # a database hiccup must not stop delivery for good
                log.exception("outbox sender")
                await asyncio.sleep(idle)
