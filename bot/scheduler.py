"""Runs the reminders of flows.reminders beside the updates: due dates, the director's
overdue summary, the yearly consent check and the erasures due this week; and the
retention schedule of flows.erasure. Each job has its own transaction, so one
that fails does not take back what another queued; the outbox sender delivers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from flows import erasure, reminders
from flows.clock import Clock
from storage.db import SessionFactory, after_commit
from storage.models import DEFAULT_CONSENT_CHANNELS
from storage.updates import forget_old_updates

log = logging.getLogger(__name__)

# Any fixed number: schedulers in several processes on one PostgreSQL database take
# turns, so none reads a marker before the other has committed it.
_PG_LOCK_KEY = 0x4F4C_0001

Job = Callable[[AsyncSession, datetime], Awaitable[int]]


class Scheduler:
    def __init__(
        self,
        factory: SessionFactory,
        clock: Clock,
        *,
        yearly_month: int = 9,
        yearly_day: int = 1,
        channels: tuple[str, ...] = DEFAULT_CONSENT_CHANNELS,
        retention_days: int = erasure.DEFAULT_RETENTION_DAYS,
    ) -> None:
        self.factory, self.clock = factory, clock
        self.jobs: tuple[tuple[str, Job], ...] = (
            ("due_soon", reminders.due_soon),
            ("overdue_summary", reminders.overdue_summary),
            (
                "yearly_consent",
                partial(
                    reminders.yearly_consent, month=yearly_month, day=yearly_day, channels=channels
                ),
            ),
            ("forget_old_updates", forget_old_updates),
            (
                "erasures_ahead",
                partial(reminders.erasures_ahead, retention_days=retention_days),
            ),
            (
                "retention",
                partial(erasure.scheduled_retention, retention_days=retention_days),
            ),
        )

    async def tick(self) -> int:
        """Runs every job once; returns how many notifications they queued together.
        A job that fails is logged and rolled back; the others still run."""
        now = self.clock.now()
        queued = 0
        for name, job in self.jobs:
            try:
                async with self.factory() as session:
                    await _serialise(session)
                    queued += await job(session, now)
                    await session.commit()
                    await after_commit(session)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduler job %s", name)
        return queued

    async def run(self, interval: float = 60.0) -> None:
        while True:
            try:
                queued = await self.tick()
                if queued:
                    log.info("scheduler queued %d notifications", queued)
            except asyncio.CancelledError:
                raise
            except Exception:  # a database hiccup must not stop the reminders for good
                log.exception("scheduler")
            await asyncio.sleep(interval)


async def _serialise(session: AsyncSession) -> None:
    """On PostgreSQL, one scheduler at a time until the transaction ends. (SQLite runs the
    bot in one process.)"""
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
