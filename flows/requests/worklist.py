"""What a member of staff works from: the queue of requests in their scope, the
director's overdue list, and one request's card with what the actor may do now
(flows.requests.rules.allowed) and what the parents were told (the outbox)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows import audit, checklist, requests
from flows.actor import Actor
from flows.audit import AuditAction
from flows.checklist import TaskItem
from flows.linking import full_name
from flows.requests import (
    OPEN_STATUSES,
    WORKING_STATUSES,
    Action,
    MessageView,
    allowed,
    due,
    effects,
)
from flows.requests.rules import holds, kind_of, status_of
from flows.requests.views import about
from flows.scope import in_scope, require_director, require_staff, scoped_request
from storage.models import (
    AuthorKind,
    Outbox,
    Pupil,
    Request,
    RequestKind,
    RequestMessage,
    RequestStatus,
    SchoolGroup,
)


@dataclass(frozen=True)
class QueueItem:
    request_id: int
    reference: str
    kind: RequestKind
    status: RequestStatus
    pupil_name: str
    group: str
    due_at: datetime  # the extended deadline when there is one
    overdue: bool
    assignee_name: str | None
    about: str = ""  # what it is about (flows.requests.views.about), for its title
    decided_at: datetime | None = None


@dataclass(frozen=True)
class StaffCard:
    request: Request
    pupil_id: int
    pupil_name: str
    group: str
    asked_by: str
    due_at: datetime
    overdue: bool
    messages: tuple[MessageView, ...]
    vendors_for_field: tuple[str, ...]
    # What the actor may do now (flows.requests.allowed): the card's buttons.
    actions: frozenset[Action]
    # The child's fields under a restriction in effect (flows.requests.in_effect).
    marked: frozenset[str] = frozenset()
    # The newest notification to the parents about this request: "delivered", "pending"
    # or "failed" (for any of them); None when none was sent.
    to_parents: str | None = None
    # The director's checklist item after an approved deletion (directors only).
    task: TaskItem | None = None


# --- the queue -----------------------------------------------------------------------


async def _items(
    session: AsyncSession,
    actor: Actor,
    statuses: frozenset[RequestStatus],
    now: datetime,
    keep: Callable[[Request], bool] = lambda _request: True,
) -> list[QueueItem]:
    rows = await session.exec(
        select(Request, Pupil, SchoolGroup)
        .join(Pupil, col(Pupil.id) == col(Request.pupil_id))
        .join(SchoolGroup, col(SchoolGroup.id) == col(Pupil.group_id))
        .where(col(Request.status).in_(sorted(statuses)))
    )
    found = [(r, p, g) for r, p, g in rows.all() if in_scope(actor, r, p) and keep(r)]
    found.sort(key=lambda row: (due(row[0]), row[0].id or 0))
    names = await requests.names(
        session,
        AuthorKind.STAFF,
        {r.assignee_staff_id for r, _p, _g in found if r.assignee_staff_id},
    )
    return [
        QueueItem(
            request_id=request.id or 0,
            reference=request.reference,
            kind=RequestKind(request.kind),
            status=status_of(request),
            pupil_name=full_name(pupil),
            group=group.name,
            due_at=due(request),
            overdue=kind_of(request).has_deadline and now > due(request),
            assignee_name=(
                names.get(request.assignee_staff_id)
                if request.assignee_staff_id is not None
                else None
            ),
            about=about(request),
            decided_at=request.decided_at,
        )
        for request, pupil, group in found
    ]


async def queue(session: AsyncSession, actor: Actor, now: datetime) -> list[QueueItem]:
    """Requests still to be handled in the actor's scope, the first due on top. The
    director also sees deletions waiting for approval."""
    require_staff(actor)
    statuses = OPEN_STATUSES if actor.is_director else WORKING_STATUSES
    return await _items(session, actor, statuses, now)


async def in_force(session: AsyncSession, actor: Actor, now: datetime) -> list[QueueItem]:
    """Director only: every upheld objection and every restriction not lifted, so that
    one can be lifted when its card has long left the chat."""
    require_director(actor)
    return await _items(session, actor, frozenset({RequestStatus.RESOLVED}), now, holds)


async def overdue(session: AsyncSession, actor: Actor, now: datetime) -> list[QueueItem]:
    """Director only: every open request past its (extended) deadline."""
    require_director(actor)
    return [item for item in await _items(session, actor, OPEN_STATUSES, now) if item.overdue]


# --- one request ---------------------------------------------------------------------


async def card(
    session: AsyncSession, actor: Actor, request_id: int, now: datetime, *, opened: bool = False
) -> StaffCard:
    """The request with its conversation and what the actor may do with it. Opening it
    (`opened`) is audited once; showing it again after an action on it is not another
    view: the card is re-rendered, nobody looked again."""
    request, pupil = await scoped_request(session, actor, request_id)
    group = await session.get(SchoolGroup, pupil.group_id)
    asked_by, messages = await requests.conversation(session, request, actor)
    is_open = status_of(request) in OPEN_STATUSES
    if opened:
        await audit.record(
            session,
            actor,
            AuditAction.REQUEST_VIEWED,
            now,
            pupil_id=pupil.id,
            detail=request.reference,
        )
        await session.flush()
    return StaffCard(
        request=request,
        pupil_id=pupil.id or 0,
        pupil_name=full_name(pupil),
        group=group.name if group else "",
        asked_by=asked_by,
        due_at=due(request),
        overdue=is_open and kind_of(request).has_deadline and now > due(request),
        messages=messages,
        vendors_for_field=await effects.vendors_receiving(session, request.field or request.what),
        actions=allowed(actor, request, now),
        marked=await requests.in_effect(session, pupil.id or 0),
        to_parents=await _delivery_to_parents(session, request),
        task=await checklist.item_of(session, actor, request.id or 0, now),
    )


async def _delivery_to_parents(session: AsyncSession, request: Request) -> str | None:
    """What the outbox holds for the parents about this request: "pending", "delivered",
    "failed", or "nobody" when a decision or an answer was queued for no one (no guardian
    of the child is linked); None before anything was said to them. Staff must not read
    "the parent has been told" while the message still waits, or when there was no one."""
    rows = (
        await session.exec(
            select(Outbox)
            .where(Outbox.request_id == request.id, col(Outbox.guardian_id).is_not(None))
            .order_by(col(Outbox.id).desc())
        )
    ).all()
    if not rows:
        said = request.decided_at is not None or await _staff_wrote(session, request)
        return "nobody" if said else None
    batch = (rows[0].template, rows[0].created_at)
    newest = [r for r in rows if (r.template, r.created_at) == batch]
    if any(r.sent_at is None and r.failed_at is None for r in newest):
        return "pending"
    if any(r.failed_at is not None for r in newest):
        return "failed"
    return "delivered"


async def _staff_wrote(session: AsyncSession, request: Request) -> bool:
    found = await session.exec(
        select(RequestMessage.id).where(
            RequestMessage.request_id == request.id,
            RequestMessage.author_kind == AuthorKind.STAFF,
        )
    )
    return found.first() is not None
