"""Delivers queued notifications under Telegram's limits: at most ~30 messages a second
per bot and one a second per chat, for the bot as a whole (bot/pacing.py: in this process,
or shared in Redis by every worker). Each row succeeds or fails on its own and never holds
up another: 429 waits as told; 5xx and network errors retry on a bounded schedule, then
the row is given up; a 400 or 403, a text that cannot be made, or a recipient who
unlinked (or lost the child) since it was queued fails the row at once, with the reason,
for the director's "Niet bezorgd"."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import I18n
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import keyboards, secure_links
from bot.labels import channel_label
from bot.pacing import GLOBAL_INTERVAL, PER_CHAT_INTERVAL, MemoryPacer, Pacer, Turn
from bot.render import render
from flows import notify
from flows.clock import Clock
from storage.db import SessionFactory
from storage.models import ChatLink, Outbox, OutboxReason

log = logging.getLogger(__name__)
# 5xx and network errors: 2 s, 4 s, ... doubling up to 30 minutes; after MAX_ATTEMPTS
# failures (about three hours) the row is given up, so an outage never piles up rows
# that are retried for ever.
MAX_BACKOFF = timedelta(minutes=30)
MAX_ATTEMPTS = 15
BATCH = 100


def backoff(attempts: int) -> timedelta:
    """The wait after the attempts-th transient failure."""
    return min(timedelta(seconds=2 ** min(attempts, 20)), MAX_BACKOFF)


@dataclass(frozen=True)
class Prepared:
    text: str
    markup: InlineKeyboardMarkup | None


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
        pacer: Pacer | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """`pacer`: where the turns are taken (shared in Redis by several workers);
        without it this process paces itself at the intervals given."""
        self.bot, self.factory, self.i18n, self.clock = bot, factory, i18n, clock
        self.pacer = pacer or MemoryPacer(global_interval, per_chat_interval)
        self.sleep = sleep
        # Chats this sender knows to be within their second (on the pacer's clock): rows
        # for them are passed over while others are due.
        self._busy: dict[int, float] = {}

    async def deliver_due(self, limit: int = BATCH) -> int:
        """Sends what is due now; returns how many were delivered.

        One row per transaction, claimed with FOR UPDATE SKIP LOCKED on PostgreSQL: the
        sender runs in every worker, and a row another worker is sending is skipped, not
        sent twice. Committed per row: a crash after a send must not send it again. A row
        that fails is settled in its own transaction and the next row goes on."""
        delivered = 0
        for _ in range(limit):
            async with self.factory() as session:
                busy = self._cooling()
                row = await self._claim(session, busy) or await self._claim(session)
                if row is None:
                    break
                prepared = await self._prepare(session, row)
                if prepared is None:  # failed: settled without a message
                    session.add(row)
                    await session.commit()
                    continue
                chat_id = row.telegram_user_id
                turn = await self._take_turn(chat_id, may_pass=chat_id not in busy)
                if turn is None:
                    continue  # another worker is sending to this chat: rolled back, later
                try:
                    if await self._send(session, row, prepared):
                        delivered += 1
                    session.add(row)
                    await session.commit()
                finally:
                    await self._done(chat_id, turn)
        return delivered

    async def _claim(self, session: AsyncSession, skip: list[int] | None = None) -> Outbox | None:
        """The oldest due row, passing over chats in `skip` (those still within their one
        second), so one busy chat does not hold up the others."""
        query = select(Outbox).where(
            col(Outbox.sent_at).is_(None),
            col(Outbox.failed_at).is_(None),
            Outbox.next_attempt_at <= self.clock.now(),
        )
        if skip:
            query = query.where(col(Outbox.telegram_user_id).not_in(skip))
        query = query.order_by(col(Outbox.id)).limit(1).with_for_update(skip_locked=True)
        return (await session.exec(query)).first()

    def _cooling(self) -> list[int]:
        """Chats known to be within their second; those whose second passed are forgotten."""
        now = self.pacer.now()
        self._busy = {c: t for c, t in self._busy.items() if t > now}
        return list(self._busy)

    async def _take_turn(self, chat_id: int, *, may_pass: bool) -> Turn | None:
        """Waits for this message's turn (the bot's pace, and the chat's second), taken
        right before it goes. None when the chat turned out to be busy (another worker is
        sending to it) and the row may be passed over; a row that was claimed only because
        every due chat is busy waits."""
        while True:
            turn = await self.pacer.take(chat_id)
            if turn.granted:
                return turn
            if turn.chat_busy:
                self._busy[chat_id] = self.pacer.now() + turn.wait
                if may_pass:
                    return None
            await self.sleep(turn.wait)

    async def _done(self, chat_id: int, turn: Turn) -> None:
        """The message is answered: the pacer counts it from now, and this sender passes
        the chat over for its second. A pacer that cannot be told (Redis gone) counts it
        as in flight a while longer; the row is settled all the same."""
        try:
            await self.pacer.done(chat_id, turn)
        except Exception:
            log.warning("outbox pacer: the end of a message was not recorded", exc_info=True)
        self._busy[chat_id] = self.pacer.now() + self.pacer.per_chat_interval

    def _fail(self, row: Outbox, reason: OutboxReason, error: str) -> None:
        row.failed_at = self.clock.now()
        row.reason = reason.value
        row.error = error[:500]
        # The row id and reason only: a template error may quote a value.
        log.warning("outbox row %s not delivered: %s", row.id, reason.value)

    async def _prepare(self, session: AsyncSession, row: Outbox) -> Prepared | None:
        """The text and button in the recipient's language, or None when the row failed:
        the recipient is gone, or the text cannot be made (retrying cannot fix a bug)."""
        if row.template == notify.DELETE_MESSAGE:
            return Prepared("", None)  # nothing to render: _send deletes
        if await notify.recipient_gone(session, row):
            self._fail(row, OutboxReason.RECIPIENT_GONE, "recipient no longer linked")
            return None
        link = await session.get(ChatLink, row.telegram_user_id)
        locale = link.locale if link is not None else self.i18n.default_locale
        try:
            with self.i18n.context(), self.i18n.use_locale(locale):
                params = json.loads(row.params)
                if secure_links.enabled():
                    parent = link is None or link.staff_id is None
                    params = secure_links.nameless(params, parent=parent)
                text = render(f"notify/{row.template}.j2", label=channel_label, **params)
                markup = keyboards.for_notification(row.template, params)
        except Exception as error:  # any bug in a template or its data fails this row only
            self._fail(row, OutboxReason.RENDER, f"{type(error).__name__}: {error}")
            return None
        return Prepared(text, markup)

    async def _send(self, session: AsyncSession, row: Outbox, prepared: Prepared) -> bool:
        now = self.clock.now()
        try:
            if row.template == notify.DELETE_MESSAGE:
                message_id = int(json.loads(row.params)["message_id"])
                await self.bot.delete_message(row.telegram_user_id, message_id)
            else:
                await self.bot.send_message(
                    row.telegram_user_id, prepared.text, reply_markup=prepared.markup
                )
        except TelegramRetryAfter as error:
            row.next_attempt_at = now + timedelta(seconds=error.retry_after)
        except TelegramForbiddenError as error:
            self._fail(row, OutboxReason.BLOCKED, error.message)
        except (TelegramServerError, TelegramNetworkError, TelegramUnauthorizedError) as error:
            # A 401 (token revoked) says nothing about this message: every row would fail
            # alike, so it waits like an outage instead of being given up at once.
            row.attempts += 1
            row.error = str(error)[:500]
            if row.attempts >= MAX_ATTEMPTS:
                self._fail(row, OutboxReason.GAVE_UP, str(error))
            else:
                row.next_attempt_at = now + backoff(row.attempts)
        except TelegramAPIError as error:
            # 400 and the rest: Telegram refuses this message, and would again.
            self._fail(row, OutboxReason.REJECTED, error.message)
        else:
            row.sent_at = now
            return True
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
