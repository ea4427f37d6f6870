"""Telegram updates already handled, so a re-delivered one changes nothing twice."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import ProcessedUpdate


async def claim_update(session: AsyncSession, update_id: int, now: datetime) -> bool:
    """True the first time: the marker is added to the caller's transaction and stands or
    falls with what the handler changes. False for an update handled before."""
    if await session.get(ProcessedUpdate, update_id) is not None:
        return False
    session.add(ProcessedUpdate(update_id=update_id, at=now))
    return True


# Telegram re-delivers an update for at most 24 hours; a week leaves ample margin.
KEEP = timedelta(days=7)


async def forget_old_updates(session: AsyncSession, now: datetime) -> int:
    """Drops markers no re-delivery can need any more; returns 0 (it queues nothing), so
    it runs as one of the scheduler's jobs."""
    await session.exec(delete(ProcessedUpdate).where(col(ProcessedUpdate.at) < now - KEEP))
    return 0
