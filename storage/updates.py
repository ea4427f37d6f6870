"""Telegram updates already handled, so a re-delivered one changes nothing twice."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import BigInteger, bindparam, delete, exists, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Session
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import close_both
from storage.models import ProcessedUpdate
from storage.prepared import Prepared, Write, write_together

# As a column of the read an update starts with (flows.actor.arrive), bound to :update_id.
HANDLED_BEFORE = exists().where(
    col(ProcessedUpdate.update_id) == bindparam("update_id", type_=BigInteger)
)


async def handled(connection: AsyncConnection, update_id: int) -> bool:
    """Whether the update's marker is stored (by another worker, say, when this one's
    commit was refused)."""
    found = await connection.execute(select(HANDLED_BEFORE), {"update_id": update_id})
    return bool(found.scalar())


# Built once, on the table rather than the model: the ORM's unit of work (or its bulk
# insert) cost more than the insert itself, for an update that writes nothing else.
_MARK = Prepared(
    insert(ProcessedUpdate.__table__).values(  # type: ignore[attr-defined]
        update_id=bindparam("update_id", type_=BigInteger), at=bindparam("at")
    )
)


async def mark_and_commit(
    connection: AsyncConnection,
    update_id: int | None,
    now: datetime,
    later: list[Write] | None = None,
    *,
    done: Session | None = None,
) -> None:
    """The update's writes kept for the end (`with_marker`), its marker (when it has an
    id) and the commit of its transaction, in one pass to SQLAlchemy's side of the
    connection: every await on the connection is a hop through its greenlet, and every
    update ends with these. The marker is written last, just before the commit, so that
    on SQLite an update that only reads takes its turn to write for these short inserts
    alone. IntegrityError when another worker committed the same update first.

    `done`: the update's session, on this connection. Once committed, it and the
    connection are closed in the same pass (the connection back to the pool); their
    own closing would be two more hops and, for each, a task that shields it."""
    await connection.run_sync(_mark_and_commit, update_id, now, later or [], done)


def _mark_and_commit(
    sync: Connection,
    update_id: int | None,
    now: datetime,
    later: list[Write],
    done: Session | None,
) -> None:
    if update_id is not None:
        later.append((_MARK, {"update_id": update_id, "at": now}))
    write_together(sync, later, last=True)
    sync.commit()
    if done is not None:
        close_both(sync, done)


# Telegram re-delivers an update for at most 24 hours; a week leaves ample margin.
KEEP = timedelta(days=7)


async def forget_old_updates(session: AsyncSession, now: datetime) -> int:
    """Drops markers no re-delivery can need any more; returns 0 (it queues nothing), so
    it runs as one of the scheduler's jobs."""
    await session.exec(delete(ProcessedUpdate).where(col(ProcessedUpdate.at) < now - KEEP))
    return 0
