"""Changing a request's status, atomically. Every command reads the request, asks the
rules whether it may act, and then writes with `move`: an UPDATE that only succeeds while
the request is still as it was read (its status, and where it matters its assignee or
deadline). When two people decide at the same moment, the database lets one UPDATE
through; the other finds nothing to update and gets AlreadyHandled, naming who won.
On PostgreSQL the second UPDATE waits for the first transaction and then re-reads the
row; SQLite lets one writer at a time."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows.errors import InvalidInput
from storage.models import AuditEvent, AuthorKind, Guardian, Request, Staff

# What a request's state is judged by: a command decided on these as it read them.
_STATUS: tuple[str, ...] = ("status",)


class AlreadyHandled(InvalidInput):
    """Someone else changed the request between reading and writing: "Dit verzoek is al
    afgehandeld door …". `by` is their name ("" when unknown)."""

    def __init__(self, by: str) -> None:
        super().__init__("already_handled")
        self.by = by


async def move(
    session: AsyncSession,
    request: Request,
    *,
    expect: tuple[str, ...] = _STATUS,
    **values: Any,
) -> None:
    """Writes `values` only if the columns in `expect` still hold what `request` holds;
    AlreadyHandled otherwise. The object is updated as if it had been loaded so."""
    table = Request.__table__  # type: ignore[attr-defined]
    conditions = [col(Request.id) == request.id]
    for name in expect:
        column = table.c[name]
        seen = getattr(request, name)
        conditions.append(column.is_(None) if seen is None else column == seen)
    result = await session.exec(
        update(Request)
        .where(*conditions)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise AlreadyHandled(await handled_by(session, request))
    for name, value in values.items():
        set_committed_value(request, name, value)


async def handled_by(session: AsyncSession, request: Request) -> str:
    """The name of whoever last changed the request (a view is no change)."""
    events = await session.exec(
        select(AuditEvent)
        .where(
            AuditEvent.pupil_id == request.pupil_id,
            col(AuditEvent.detail).startswith(request.reference, autoescape=True),
            AuditEvent.action != "request_viewed",
        )
        .order_by(col(AuditEvent.id).desc())
        .limit(1)
    )
    event = events.first()
    if event is None or event.actor_id is None:
        return ""
    if event.actor_kind == AuthorKind.STAFF:
        staff = await session.get(Staff, event.actor_id)
        return staff.name if staff is not None else ""
    if event.actor_kind == AuthorKind.GUARDIAN:
        guardian = await session.get(Guardian, event.actor_id)
        return guardian.name if guardian is not None else ""
    return ""
