"""The director's checklist: what the school still does itself after a decision (erase,
correct or restrict in ParnasSys, take photos down, tell a supplier), by the request's
deadline, ticked off when done."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows import audit
from flows.actor import Actor
from flows.audit import AuditAction
from flows.errors import NotFound
from flows.linking import full_name
from flows.requests import due
from flows.scope import require_director
from storage.models import (
    ChecklistAction,
    ParnasSysTask,
    Pupil,
    Request,
    SchoolGroup,
)

# How long the school has to finish an item when the request's own deadline has already
# passed (otherwise that deadline counts).
PARNASSYS_DAYS = 7


def add(
    session: AsyncSession,
    request: Request,
    pupil: Pupil,
    what: str,
    action: ChecklistAction,
    now: datetime,
) -> datetime:
    """Puts on the director's checklist what the school still does itself after a
    decision (in ParnasSys, on the website, with a supplier): by the request's deadline,
    or a week from now when that has passed. Returns when it is due."""
    deadline = due(request)
    task_due = deadline if deadline > now else now + timedelta(days=PARNASSYS_DAYS)
    session.add(
        ParnasSysTask(
            request_id=request.id or 0,
            pupil_id=pupil.id or 0,
            what=what,
            action=action,
            created_at=now,
            due_at=task_due,
        )
    )
    return task_due


@dataclass(frozen=True)
class TaskItem:
    request_id: int
    reference: str
    pupil_name: str
    group: str
    what: str
    # What the school does itself (storage.models.ChecklistAction), and about whom: the
    # supplier or recipient an objection was upheld against.
    action: str
    subject: str | None
    due_at: datetime
    overdue: bool
    done_at: datetime | None


def _task_item(
    task: ParnasSysTask, request: Request, pupil: Pupil, group: str, now: datetime
) -> TaskItem:
    return TaskItem(
        request_id=task.request_id,
        reference=request.reference,
        pupil_name=full_name(pupil),
        group=group,
        what=task.what,
        action=task.action,
        subject=request.subject,
        due_at=task.due_at,
        overdue=task.done_at is None and now > task.due_at,
        done_at=task.done_at,
    )


async def open_items(session: AsyncSession, actor: Actor, now: datetime) -> list[TaskItem]:
    """Director only: what the school still does itself after a decision (erase, correct
    or restrict in ParnasSys, take photos down, tell a supplier), not yet ticked off,
    the first due on top."""
    require_director(actor)
    rows = await session.exec(
        select(ParnasSysTask, Request, Pupil, SchoolGroup)
        .join(Request, col(Request.id) == col(ParnasSysTask.request_id))
        .join(Pupil, col(Pupil.id) == col(ParnasSysTask.pupil_id))
        .join(SchoolGroup, col(SchoolGroup.id) == col(Pupil.group_id))
        .where(col(ParnasSysTask.done_at).is_(None))
        .order_by(col(ParnasSysTask.due_at), col(ParnasSysTask.id))
    )
    return [_task_item(t, r, p, g.name, now) for t, r, p, g in rows.all()]


async def _task_of(session: AsyncSession, request_id: int) -> ParnasSysTask | None:
    found = await session.exec(select(ParnasSysTask).where(ParnasSysTask.request_id == request_id))
    return found.first()


async def item_of(
    session: AsyncSession, actor: Actor, request_id: int, now: datetime
) -> TaskItem | None:
    """The checklist item of one request, for the director's card; None for anyone else
    or when the request has none."""
    if not actor.is_director:
        return None
    task = await _task_of(session, request_id)
    if task is None:
        return None
    request = await session.get(Request, request_id)
    pupil = await session.get(Pupil, task.pupil_id)
    if request is None or pupil is None:
        return None
    group = await session.get(SchoolGroup, pupil.group_id)
    return _task_item(task, request, pupil, group.name if group else "", now)


async def tick(session: AsyncSession, actor: Actor, request_id: int, now: datetime) -> TaskItem:
    """Director only: the item is done. Ticking what is already done changes nothing."""
    staff_id = require_director(actor)
    task = await _task_of(session, request_id)
    if task is None:
        raise NotFound()
    if task.done_at is None:
        task.done_at, task.done_by = now, staff_id
        session.add(task)
        request = await session.get(Request, request_id)
        reference = request.reference if request is not None else ""
        await audit.record(
            session,
            actor,
            AuditAction.PARNASSYS_DONE,
            now,
            pupil_id=task.pupil_id,
            detail=f"{reference} {task.what}",
        )
        await session.flush()
    item = await item_of(session, actor, request_id, now)
    assert item is not None
    return item
