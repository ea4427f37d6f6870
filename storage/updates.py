"""Telegram updates already handled, so a re-delivered one changes nothing twice."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import ProcessedUpdate


async def handled_before(session: AsyncSession, update_id: int) -> bool:
    return await session.get(ProcessedUpdate, update_id) is not None


def mark_handled(session: AsyncSession, update_id: int, now: datetime) -> None:
    """Adds the marker to the caller's transaction: it stands or falls with what the
    handler changed. Added last, just before the commit, so that on SQLite an update that
    only reads takes its turn to write for this one short insert alone."""
    session.add(ProcessedUpdate(update_id=update_id, at=now))


async def claim_update(session: AsyncSession, update_id: int, now: datetime) -> bool:
    """True the first time (and the marker is added); False for an update handled before."""
    if await handled_before(session, update_id):
        return False
    mark_handled(session, update_id, now)
    return True


# Telegram re-delivers an update for at most 24 hours; a week leaves ample margin.
KEEP = timedelta(days=7)


async def forget_old_updates(session: AsyncSession, now: datetime) -> int:
    """Drops markers no re-delivery can need any more; returns 0 (it queues nothing), so
    it runs as one of the scheduler's jobs."""
    await session.exec(delete(ProcessedUpdate).where(col(ProcessedUpdate.at) < now - KEEP))
    return 0
