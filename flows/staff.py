"""What teachers and the director do with parents' requests: a queue, a card per
request, picking up, answering, resolving (a correction is applied to the stored pupil),
rejecting with a reason, forwarding to the director, approving deletions, extending a
deadline; and the group's consent overview and a child's audit log.

Scope lives here, once: a teacher reaches a request whose pupil is in one of their
groups or that is assigned to them; the director reaches everything. Anything else,
and any id that does not exist, gets NotFound. Every mutation writes an audit event and
queues its notifications in the caller's transaction; nothing here commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows import audit, erasure, notify, requests
from flows.access import own_child
from flows.actor import Actor
from flows.audit import AuditAction
from flows.clock import SCHOOL_TZ
from flows.deadlines import extended_due
from flows.erasure import ApprovedErasure, Erasure
from flows.errors import NotAllowed, NotFound
from flows.linking import full_name
from flows.notify import Notice
from flows.requests import (
    DECIDED_STATUSES,
    OPEN_STATUSES,
    WORKING_STATUSES,
    Action,
    Assignee,
    MessageView,
    allowed,
    clean_text,
    director,
    due,
    effects,
    kind_of,
    notify_assignee,
    require,
)
from flows.requests.transitions import move
from storage.models import (
    AuditEvent,
    AuthorKind,
    ChatLink,
    ConsentEvent,
    Guardian,
    Outbox,
    ParnasSysTask,
    Pupil,
    Request,
    RequestKind,
    RequestMessage,
    RequestStatus,
    SchoolGroup,
    Staff,
    StaffRole,
)

MAX_FOUND = 10
# Labels for the audit log, as the school reads it (Dutch, like the audit trail itself).
_ROLE_LABEL = {StaffRole.TEACHER: "leerkracht", StaffRole.DIRECTOR: "directeur"}


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

    @property
    def can_pick_up(self) -> bool:
        return Action.PICK_UP in self.actions

    @property
    def can_resolve(self) -> bool:
        return Action.RESOLVE in self.actions

    @property
    def can_reject(self) -> bool:
        return Action.REJECT in self.actions

    @property
    def can_forward(self) -> bool:
        return Action.FORWARD in self.actions

    @property
    def can_approve(self) -> bool:
        return Action.APPROVE in self.actions

    @property
    def can_extend(self) -> bool:
        return Action.EXTEND in self.actions

    @property
    def can_lift(self) -> bool:
        return Action.LIFT in self.actions


@dataclass(frozen=True)
class Resolution:
    request: Request
    applied_field: str | None  # the pupil field changed in the store, if any
    old_value: str | None  # None after an erasure: the value is not shown again
    new_value: str | None
    vendors: tuple[str, ...]  # who receives that field and must be told (Art. 19)
    deleted_pupil: bool
    erased: ApprovedErasure | None = None  # what an approved deletion did in the bot
    task_due: datetime | None = None  # the director's checklist item, when there is one


@dataclass(frozen=True)
class GroupConsent:
    group: str
    channel: str
    not_allowed: tuple[str, ...]  # full names of children who may NOT appear


@dataclass(frozen=True)
class AuditLine:
    """One event; who did it as a name (None when unknown) and a kind: "teacher",
    "director", "guardian", "system" or "account". bot/ words both."""

    at: datetime
    name: str | None
    who: str
    action: str
    detail: str


@dataclass(frozen=True)
class GroupSummary:
    group_id: int
    group: str
    pupils: int
    without_consent: int  # children who may not appear in at least one channel


@dataclass(frozen=True)
class AccessLine:
    """One or more views or changes by the same role, of the same kind, on one day with
    nothing else in between: the parent reads "3×" instead of three equal lines."""

    at: datetime  # the last of them
    role: StaffRole
    action: str
    first_at: datetime  # the first of them (== at when count is 1)
    count: int = 1


# --- scope ---------------------------------------------------------------------------


def _require_staff(actor: Actor) -> int:
    if actor.staff_id is None or actor.role is None or actor.role is StaffRole.BOARD:
        raise NotFound()
    return actor.staff_id


def _require_director(actor: Actor) -> int:
    staff_id = _require_staff(actor)
    if not actor.is_director:
        raise NotAllowed()
    return staff_id


def _in_scope(actor: Actor, request: Request, pupil: Pupil) -> bool:
    """The director sees every request. A teacher sees what is assigned to them, and the
    teacher's requests of their groups (a colleague's, e.g. while one is ill), but never
    what a parent sent to the director: that may be about the teacher."""
    if actor.is_director:
        return True
    if request.assignee_staff_id is not None and request.assignee_staff_id == actor.staff_id:
        return True
    return pupil.group_id in actor.group_ids and request.assignee_role == StaffRole.TEACHER


async def _scoped(session: AsyncSession, actor: Actor, request_id: int) -> tuple[Request, Pupil]:
    """The request and its pupil, if the member of staff may see it; NotFound otherwise."""
    _require_staff(actor)
    request = await session.get(Request, request_id)
    if request is None:
        raise NotFound()
    pupil = await session.get(Pupil, request.pupil_id)
    if pupil is None or not _in_scope(actor, request, pupil):
        raise NotFound()
    return request, pupil


async def _scoped_pupil(session: AsyncSession, actor: Actor, pupil_id: int) -> Pupil:
    """A pupil of the teacher's groups (any pupil for the director)."""
    _require_staff(actor)
    pupil = await session.get(Pupil, pupil_id)
    if pupil is None or not (actor.is_director or pupil.group_id in actor.group_ids):
        raise NotFound()
    return pupil


def _status(request: Request) -> RequestStatus:
    return RequestStatus(request.status)


# --- the queue -----------------------------------------------------------------------


async def _items(
    session: AsyncSession, actor: Actor, statuses: frozenset[RequestStatus], now: datetime
) -> list[QueueItem]:
    rows = await session.exec(
        select(Request, Pupil, SchoolGroup)
        .join(Pupil, col(Pupil.id) == col(Request.pupil_id))
        .join(SchoolGroup, col(SchoolGroup.id) == col(Pupil.group_id))
        .where(col(Request.status).in_(sorted(statuses)))
    )
    found = [(r, p, g) for r, p, g in rows.all() if _in_scope(actor, r, p)]
    found.sort(key=lambda row: (due(row[0]), row[0].id or 0))
    names = await requests.names(
        session, "staff", {r.assignee_staff_id for r, _p, _g in found if r.assignee_staff_id}
    )
    return [
        QueueItem(
            request_id=request.id or 0,
            reference=request.reference,
            kind=RequestKind(request.kind),
            status=_status(request),
            pupil_name=full_name(pupil),
            group=group.name,
            due_at=due(request),
            overdue=now > due(request),
            assignee_name=(
                names.get(request.assignee_staff_id)
                if request.assignee_staff_id is not None
                else None
            ),
        )
        for request, pupil, group in found
    ]


async def queue(session: AsyncSession, actor: Actor, now: datetime) -> list[QueueItem]:
    """Requests still to be handled in the actor's scope, the first due on top. The
    director also sees deletions waiting for approval."""
    _require_staff(actor)
    statuses = OPEN_STATUSES if actor.is_director else WORKING_STATUSES
    return await _items(session, actor, statuses, now)


async def overdue(session: AsyncSession, actor: Actor, now: datetime) -> list[QueueItem]:
    """Director only: every open request past its (extended) deadline."""
    _require_director(actor)
    return [item for item in await _items(session, actor, OPEN_STATUSES, now) if item.overdue]


# --- one request ---------------------------------------------------------------------


async def card(
    session: AsyncSession, actor: Actor, request_id: int, now: datetime, *, opened: bool = False
) -> StaffCard:
    """The request with its conversation and what the actor may do with it. Opening it
    (`opened`) is audited once; showing it again after an action on it is not another
    view: the card is re-rendered, nobody looked again."""
    request, pupil = await _scoped(session, actor, request_id)
    group = await session.get(SchoolGroup, pupil.group_id)
    asked_by, messages = await requests.conversation(session, request, actor)
    is_open = _status(request) in OPEN_STATUSES
    if opened:
        audit.record(
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
        overdue=is_open and now > due(request),
        messages=messages,
        vendors_for_field=await effects.vendors_receiving(session, request.field or request.what),
        actions=allowed(actor, request, now),
        marked=await requests.in_effect(session, pupil.id or 0),
        to_parents=await _delivery_to_parents(session, request),
        task=await parnassys_task(session, actor, request.id or 0, now),
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


async def _notify_guardians(
    session: AsyncSession,
    request: Request,
    pupil: Pupil,
    template: Notice,
    now: datetime,
    **extra: object,
) -> None:
    """The guardians who see the request (flows.requests.visible_to): every linked
    guardian of the child, or only the asker for a question they kept to themselves."""
    params: dict[str, object] = {
        "reference": request.reference,
        "kind": str(RequestKind(request.kind)),
        "request_id": request.id,
        "pupil": pupil.voornaam,
        "pupil_full": full_name(pupil),
        **extra,
    }
    accounts = await notify.guardian_accounts(
        session, pupil.id or 0, None if request.shared else request.guardian_id
    )
    for user_id in accounts:
        await notify.enqueue(session, user_id, template, now, about_pupil=pupil.id, **params)


async def pick_up(session: AsyncSession, actor: Actor, request_id: int, now: datetime) -> Request:
    """The actor takes the request: in progress, assigned to them. Taking what one has
    already taken changes nothing (a double tap)."""
    request, pupil = await _scoped(session, actor, request_id)
    if (
        _status(request) is RequestStatus.IN_PROGRESS
        and request.assignee_staff_id == actor.staff_id
    ):
        return request
    require(actor, request, now, Action.PICK_UP)
    # Two colleagues pressing "Oppakken" at once: one takes it.
    await move(
        session,
        request,
        expect=("status", "assignee_staff_id"),
        status=RequestStatus.IN_PROGRESS,
        assignee_staff_id=actor.staff_id,
        assignee_role=actor.role or StaffRole.TEACHER,
    )
    audit.record(
        session,
        actor,
        AuditAction.REQUEST_PICKED_UP,
        now,
        pupil_id=pupil.id,
        detail=request.reference,
    )
    await session.flush()
    return request


async def _staff_name(session: AsyncSession, actor: Actor) -> str:
    staff = await session.get(Staff, actor.staff_id)
    return staff.name if staff is not None else ""


async def reply(
    session: AsyncSession, actor: Actor, request_id: int, text: str, now: datetime
) -> None:
    """A message to the parents in the request's conversation."""
    request, pupil = await _scoped(session, actor, request_id)
    cleaned = clean_text(text, required=True)
    require(actor, request, now, Action.REPLY)
    if _status(request) is RequestStatus.OPEN:
        # Answered is being handled: the parent must not read "nog niet in behandeling".
        await move(session, request, status=RequestStatus.IN_PROGRESS)
    else:
        # Still open as read: a reply must not land on a request decided meanwhile.
        await move(session, request, status=request.status)
    session.add(
        RequestMessage(
            request_id=request.id or 0,
            author_kind=AuthorKind.STAFF,
            author_id=actor.staff_id or 0,
            text=cleaned,
            at=now,
        )
    )
    audit.record(
        session, actor, AuditAction.REQUEST_REPLY, now, pupil_id=pupil.id, detail=request.reference
    )
    await _notify_guardians(
        session, request, pupil, Notice.REQUEST_REPLY, now, by=await _staff_name(session, actor)
    )
    await session.flush()


async def _decide(
    session: AsyncSession, request: Request, status: RequestStatus, text: str, now: datetime
) -> None:
    """The one way a request is decided: only from the status it was read in."""
    await move(session, request, status=status, decided_at=now, decision_text=text)


async def resolve(
    session: AsyncSession,
    actor: Actor,
    request_id: int,
    answer: str,
    now: datetime,
    *,
    channels: Sequence[str] = (),
) -> Resolution:
    """Done, with an answer, and the kind's effect (flows.requests.effects): a
    correction is applied to the stored pupil and the result names the vendors that
    receive the field and must be told (Art. 19)."""
    request, pupil = await _scoped(session, actor, request_id)
    cleaned = clean_text(answer, required=True)
    require(actor, request, now, Action.RESOLVE)
    return await _decided(session, actor, request, pupil, cleaned, now, channels)


async def _decided(
    session: AsyncSession,
    actor: Actor,
    request: Request,
    pupil: Pupil,
    answer: str,
    now: datetime,
    channels: Sequence[str],
) -> Resolution:
    """The one way a request is decided in the parent's favour: the decision first (whoever
    loses a race changes nothing of the child either), then its effect in the same
    transaction, then the audit and the parents' notification."""
    await _decide(session, request, RequestStatus.RESOLVED, answer, now)
    outcome = await effects.decide(effects.Decision(session, actor, request, pupil, now, channels))
    if not outcome.audited:
        approved = kind_of(request).needs_approval
        detail = f"{request.reference} {request.kind}" if approved else request.reference
        if outcome.applied_field:
            detail += f" {outcome.applied_field}: {outcome.old_value} -> {outcome.new_value}"
        elif request.field:
            detail += f" {request.field}"
        action = AuditAction.REQUEST_APPROVED if approved else AuditAction.REQUEST_RESOLVED
        audit.record(session, actor, action, now, pupil_id=pupil.id, detail=detail)
    await _notify_guardians(session, request, pupil, Notice.REQUEST_RESOLVED, now, **outcome.notice)
    await session.flush()
    return Resolution(
        request,
        outcome.applied_field,
        outcome.old_value,
        outcome.new_value,
        outcome.vendors,
        deleted_pupil=False,
        erased=outcome.erased,
        task_due=outcome.task_due,
    )


async def reject(
    session: AsyncSession, actor: Actor, request_id: int, reason: str, now: datetime
) -> Request:
    """Declined, with a reason the parent reads in the request. Only the director
    declines a deletion."""
    request, pupil = await _scoped(session, actor, request_id)
    cleaned = clean_text(reason, required=True)
    require(actor, request, now, Action.REJECT)
    await _decide(session, request, RequestStatus.REJECTED, cleaned, now)
    audit.record(
        session,
        actor,
        AuditAction.REQUEST_REJECTED,
        now,
        pupil_id=pupil.id,
        detail=request.reference,
    )
    await _notify_guardians(session, request, pupil, Notice.REQUEST_REJECTED, now)
    await session.flush()
    return request


async def forward_to_director(
    session: AsyncSession, actor: Actor, request_id: int, now: datetime
) -> Assignee:
    """A teacher hands the request to the director, who is told as of a new request."""
    request, pupil = await _scoped(session, actor, request_id)
    require(actor, request, now, Action.FORWARD)
    assignee = await director(session)
    # The director has not taken it yet: open again.
    await move(
        session,
        request,
        expect=("status", "assignee_staff_id"),
        assignee_staff_id=assignee.staff_id,
        assignee_role=StaffRole.DIRECTOR,
        status=RequestStatus.OPEN,
    )
    audit.record(
        session,
        actor,
        AuditAction.REQUEST_FORWARDED,
        now,
        pupil_id=pupil.id,
        detail=request.reference,
    )
    await notify_assignee(session, request, pupil, Notice.REQUEST_NEW, now)
    await session.flush()
    return assignee


async def approve(
    session: AsyncSession,
    actor: Actor,
    request_id: int,
    answer: str,
    now: datetime,
    *,
    channels: Sequence[str] = (),
) -> Resolution:
    """The director approves (upholds) a request that waits for approval, with an answer
    the parents read; the kind's effect holds from now (a deletion erases, an objection
    stops, a restriction marks until it is lifted)."""
    request, pupil = await _scoped(session, actor, request_id)
    cleaned = clean_text(answer, required=True)
    require(actor, request, now, Action.APPROVE)
    return await _decided(session, actor, request, pupil, cleaned, now, channels)


async def lift(session: AsyncSession, actor: Actor, request_id: int, now: datetime) -> Request:
    """Director only: what an approved lasting request put in effect ends now (the
    field is no longer marked); the parents are told. Lifting twice changes nothing."""
    request, pupil = await _scoped(session, actor, request_id)
    if request.lifted_at is not None:
        return request
    require(actor, request, now, Action.LIFT)
    await move(session, request, expect=("status", "lifted_at"), lifted_at=now)
    await effects.lift(effects.Decision(session, actor, request, pupil, now))
    audit.record(
        session, actor, AuditAction.REQUEST_LIFTED, now, pupil_id=pupil.id, detail=request.reference
    )
    await _notify_guardians(session, request, pupil, Notice.REQUEST_LIFTED, now)
    await session.flush()
    return request


async def erase_pupil(session: AsyncSession, actor: Actor, pupil_id: int, now: datetime) -> Erasure:
    """Director only: removes the child's personal data from the bot (flows.erasure).
    ParnasSys is the school's own job (the bot reminds)."""
    _require_director(actor)
    pupil = await session.get(Pupil, pupil_id)
    if pupil is None:
        raise NotFound()
    return await erasure.erase_pupil(session, pupil, now, actor)


@dataclass(frozen=True)
class ErasePreview:
    """What the director reads before erasing a whole child."""

    pupil_id: int
    name: str
    group: str
    open_requests: int
    guardians: int  # linked guardians, who will be told


async def erase_preview(session: AsyncSession, actor: Actor, pupil_id: int) -> ErasePreview:
    """Director only; NotFound for a child already erased."""
    _require_director(actor)
    pupil = await session.get(Pupil, pupil_id)
    if pupil is None or erasure.is_erased(pupil):
        raise NotFound()
    group = await session.get(SchoolGroup, pupil.group_id)
    open_count = len(
        (
            await session.exec(
                select(Request.id).where(
                    Request.pupil_id == pupil_id, col(Request.status).in_(sorted(OPEN_STATUSES))
                )
            )
        ).all()
    )
    accounts = await notify.guardian_accounts(session, pupil_id)
    return ErasePreview(
        pupil_id, full_name(pupil), group.name if group else "", open_count, len(accounts)
    )


# --- the director's checklist: what the school still removes itself ----------------------


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


async def parnassys_tasks(session: AsyncSession, actor: Actor, now: datetime) -> list[TaskItem]:
    """Director only: what the school still does itself after a decision (erase, correct
    or restrict in ParnasSys, take photos down, tell a supplier), not yet ticked off,
    the first due on top."""
    _require_director(actor)
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


async def parnassys_task(
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


async def tick_parnassys(
    session: AsyncSession, actor: Actor, request_id: int, now: datetime
) -> TaskItem:
    """Director only: the item is done. Ticking what is already done changes nothing."""
    staff_id = _require_director(actor)
    task = await _task_of(session, request_id)
    if task is None:
        raise NotFound()
    if task.done_at is None:
        task.done_at, task.done_by = now, staff_id
        session.add(task)
        request = await session.get(Request, request_id)
        reference = request.reference if request is not None else ""
        audit.record(
            session,
            actor,
            AuditAction.PARNASSYS_DONE,
            now,
            pupil_id=task.pupil_id,
            detail=f"{reference} {task.what}",
        )
        await session.flush()
    item = await parnassys_task(session, actor, request_id, now)
    assert item is not None
    return item


async def extend(
    session: AsyncSession, actor: Actor, request_id: int, reason: str, now: datetime
) -> Request:
    """Director only: two more months (Art. 12(3)), told within the first month, once.
    The reason goes to the parents as a message in the request."""
    request, pupil = await _scoped(session, actor, request_id)
    _require_director(actor)
    cleaned = clean_text(reason, required=True)
    require(actor, request, now, Action.EXTEND)
    await move(
        session,
        request,
        expect=("status", "extended_until"),
        extended_until=(until := extended_due(request.received_at)),
    )
    session.add(
        RequestMessage(
            request_id=request.id or 0,
            author_kind=AuthorKind.STAFF,
            author_id=actor.staff_id or 0,
            text=cleaned,
            at=now,
        )
    )
    audit.record(
        session,
        actor,
        AuditAction.REQUEST_EXTENDED,
        now,
        pupil_id=pupil.id,
        detail=f"{request.reference} {until.isoformat()}",
    )
    await _notify_guardians(
        session, request, pupil, Notice.REQUEST_EXTENDED, now, due=until.isoformat()
    )
    await session.flush()
    return request


# --- groups and pupils ---------------------------------------------------------------


async def _groups(session: AsyncSession, actor: Actor) -> list[SchoolGroup]:
    _require_staff(actor)
    query = select(SchoolGroup).order_by(col(SchoolGroup.name))
    if not actor.is_director:
        query = query.where(col(SchoolGroup.id).in_(sorted(actor.group_ids)))
    return list((await session.exec(query)).all())


async def _refusals(
    session: AsyncSession, group: SchoolGroup, channels: tuple[str, ...]
) -> dict[str, list[Pupil]]:
    """Per channel, the group's children who may NOT appear: the latest choice is a
    refusal, or there is no choice at all. Children who left are not listed."""
    pupils = list(
        (
            await session.exec(
                select(Pupil).where(Pupil.group_id == group.id, col(Pupil.left_at).is_(None))
            )
        ).all()
    )
    latest: dict[tuple[int, str], bool] = {}
    if pupils:
        events = await session.exec(
            select(ConsentEvent)
            .where(col(ConsentEvent.pupil_id).in_([p.id for p in pupils]))
            .order_by(col(ConsentEvent.at), col(ConsentEvent.id))
        )
        for event in events.all():
            latest[(event.pupil_id, event.channel)] = event.granted
    return {
        channel: [p for p in pupils if latest.get((p.id or 0, channel)) is not True]
        for channel in channels
    }


async def consent_groups(
    session: AsyncSession, actor: Actor, channels: tuple[str, ...]
) -> list[GroupSummary]:
    """The groups in scope with how many children may not appear somewhere: counts
    only, no child's name, so this list is no view of anyone's data."""
    result: list[GroupSummary] = []
    for group in await _groups(session, actor):
        refusals = await _refusals(session, group, channels)
        pupils = await session.exec(
            select(Pupil.id).where(Pupil.group_id == group.id, col(Pupil.left_at).is_(None))
        )
        without = {p.id for refused in refusals.values() for p in refused}
        result.append(GroupSummary(group.id or 0, group.name, len(pupils.all()), len(without)))
    return result


async def consent_overview(
    session: AsyncSession,
    actor: Actor,
    channels: tuple[str, ...],
    now: datetime,
    *,
    group_id: int | None = None,
) -> list[GroupConsent]:
    """Per group (only `group_id` when given) and channel, the children who may NOT
    appear, by name. Every child named is one "consent_overview_viewed" event per view,
    so their parents see that the school looked."""
    groups = await _groups(session, actor)
    if group_id is not None:
        groups = [g for g in groups if g.id == group_id]
        if not groups:
            raise NotFound()
    result: list[GroupConsent] = []
    named: set[int] = set()
    for group in groups:
        refusals = await _refusals(session, group, channels)
        for channel in channels:
            refused = refusals[channel]
            named.update(p.id or 0 for p in refused)
            names = sorted((full_name(p) for p in refused), key=str.casefold)
            result.append(GroupConsent(group.name, channel, tuple(names)))
    for pupil_id in sorted(named):
        audit.record(session, actor, AuditAction.CONSENT_OVERVIEW_VIEWED, now, pupil_id=pupil_id)
    await session.flush()
    return result


async def find_pupils(session: AsyncSession, actor: Actor, text: str) -> list[tuple[int, str, str]]:
    """(pupil id, full name, group) of up to 10 children in scope whose name contains
    the text, ignoring case."""
    groups = {g.id: g.name for g in await _groups(session, actor)}
    needle = " ".join((text or "").split()).casefold()
    if not needle or not groups:
        return []
    rows = await session.exec(
        select(Pupil).where(
            col(Pupil.group_id).in_(sorted(i for i in groups if i is not None)),
            col(Pupil.left_at).is_(None),
        )
    )
    found = sorted(
        ((p.id or 0, full_name(p), groups[p.group_id]) for p in rows.all()),
        key=lambda row: (row[1].casefold(), row[0]),
    )
    return [row for row in found if needle in row[1].casefold()][:MAX_FOUND]


# --- audit ---------------------------------------------------------------------------


async def audit_log(
    session: AsyncSession, actor: Actor, pupil_id: int, now: datetime
) -> list[AuditLine]:
    """Everything recorded about the child that the actor may see, newest first: a
    teacher's log leaves out the requests the teacher may not see (those a parent sent
    to the director). Reading the log is itself recorded, as a view of the child's data."""
    pupil = await _scoped_pupil(session, actor, pupil_id)
    events = list(
        (
            await session.exec(
                select(AuditEvent)
                .where(AuditEvent.pupil_id == pupil_id)
                .order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
            )
        ).all()
    )
    if not actor.is_director:
        # Every event about a request names its reference first in the detail.
        hidden = {
            r.reference
            for r in (await session.exec(select(Request).where(Request.pupil_id == pupil_id)))
            if not _in_scope(actor, r, pupil)
        }
        events = [e for e in events if e.detail.split(" ", 1)[0] not in hidden]
    audit.record(session, actor, AuditAction.LOG_VIEWED, now, pupil_id=pupil_id)
    await session.flush()
    staff = {
        s.id: s
        for s in (
            await session.exec(
                select(Staff).where(
                    col(Staff.id).in_(
                        sorted(
                            {e.actor_id for e in events if e.actor_kind == "staff" and e.actor_id}
                        )
                    )
                )
            )
        ).all()
    }
    guardians = await requests.names(
        session,
        "guardian",
        {e.actor_id for e in events if e.actor_kind == "guardian" and e.actor_id},
    )

    def who(event: AuditEvent) -> tuple[str | None, str]:
        if event.actor_kind == "staff":
            member = staff.get(event.actor_id)
            if member is None:
                return None, "staff"
            return member.name, StaffRole(member.role).value
        if event.actor_kind == "guardian":
            return guardians.get(event.actor_id or 0) or None, "guardian"
        if event.actor_kind == "system":
            return None, "system"
        return None, "account"

    return [AuditLine(e.at, *who(e), e.action, e.detail) for e in events]


def _school_date(moment: datetime) -> date:
    if moment.tzinfo is None:  # SQLite hands back UTC without its zone
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(SCHOOL_TZ).date()


async def accesses_for_guardian(
    session: AsyncSession, actor: Actor, pupil_id: int
) -> list[AccessLine]:
    """For a parent: when which role of staff viewed or changed the child's data, newest
    first; never who exactly."""
    await own_child(session, actor, pupil_id)
    rows = await session.exec(
        select(AuditEvent.at, AuditEvent.action, Staff.role)
        .join(Staff, col(Staff.id) == col(AuditEvent.actor_id))
        .where(AuditEvent.pupil_id == pupil_id, AuditEvent.actor_kind == "staff")
        .order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
    )
    lines: list[AccessLine] = []
    for at, action, role_value in rows.all():
        role = StaffRole(role_value)
        last = lines[-1] if lines else None
        if (
            last is not None
            and (last.role, last.action) == (role, action)
            and _school_date(last.first_at) == _school_date(at)
        ):
            lines[-1] = AccessLine(last.at, role, action, at, last.count + 1)
        else:
            lines.append(AccessLine(at, role, action, at))
    return lines


async def accesses_screen(
    session: AsyncSession, actor: Actor, pupil_id: int
) -> tuple[str, list[AccessLine]]:
    """The child's full name and the accesses, for a parent's screen."""
    pupil = await own_child(session, actor, pupil_id)
    return full_name(pupil), await accesses_for_guardian(session, actor, pupil_id)


# A notification not delivered this long after it was queued is shown as overdue: the
# pacing delivers a school's notifications within seconds, so this is a retry loop.
UNDELIVERED_AFTER = timedelta(minutes=10)


# The reason of a decision no parent was told of: nobody of the child's family is linked.
NOBODY_LINKED = "nobody_linked"


@dataclass(frozen=True)
class Undelivered:
    name: str  # the person it was for
    template: str
    reason: str | None  # an OutboxReason; None while it is still being retried
    at: datetime  # when it was given up, or queued when it is still pending
    reference: str | None = None  # the request it is about, if any


async def undeliverable(session: AsyncSession, actor: Actor, now: datetime) -> list[Undelivered]:
    """Director only: every notification that was given up (with its reason) and every
    one still not delivered UNDELIVERED_AFTER after it was queued, newest first."""
    _require_director(actor)
    rows = await session.exec(
        select(Outbox, Guardian.name, Staff.name, Request.reference)
        .outerjoin(ChatLink, col(ChatLink.telegram_user_id) == col(Outbox.telegram_user_id))
        .outerjoin(Guardian, col(Guardian.id) == col(ChatLink.guardian_id))
        .outerjoin(Staff, col(Staff.id) == col(ChatLink.staff_id))
        .outerjoin(Request, col(Request.id) == col(Outbox.request_id))
        .where(
            col(Outbox.sent_at).is_(None),
            # A parent's message the bot could not delete was no message to anyone.
            col(Outbox.template) != notify.DELETE_MESSAGE,
            or_(
                col(Outbox.failed_at).is_not(None),
                col(Outbox.created_at) <= now - UNDELIVERED_AFTER,
            ),
        )
        .order_by(col(Outbox.id).desc())
    )
    # The name of whom it was for: the account may since have been unlinked.
    found = list(rows.all())
    guardian_ids = {row.guardian_id for row, *_ in found if row.guardian_id is not None}
    staff_ids = {row.staff_id for row, *_ in found if row.staff_id is not None}
    guardians = {
        g.id: g.name
        for g in (await session.exec(select(Guardian).where(col(Guardian.id).in_(guardian_ids))))
    }
    members = {
        m.id: m.name
        for m in (await session.exec(select(Staff).where(col(Staff.id).in_(staff_ids))))
    }
    unreached = await _decisions_told_to_no_one(session)
    return [
        *unreached,
        *(
            Undelivered(
                name=guardians.get(row.guardian_id)
                or members.get(row.staff_id)
                or guardian
                or member
                or f"Telegram {row.telegram_user_id}",
                template=row.template,
                reason=row.reason if row.failed_at is not None else None,
                at=row.failed_at or row.created_at,
                reference=reference,
            )
            for row, guardian, member, reference in found
        ),
    ]


async def _decisions_told_to_no_one(session: AsyncSession) -> list[Undelivered]:
    """Decided requests of which no parent was told: no guardian of the child was linked
    when it was decided, so the school must tell them another way."""
    told = select(Outbox.request_id).where(
        col(Outbox.request_id).is_not(None), col(Outbox.guardian_id).is_not(None)
    )
    rows = await session.exec(
        select(Request, Guardian.name)
        .join(Guardian, col(Guardian.id) == col(Request.guardian_id))
        .where(
            col(Request.decided_at).is_not(None),
            col(Request.status).in_(sorted(DECIDED_STATUSES)),
            col(Request.id).not_in(told),
        )
        .order_by(col(Request.decided_at).desc())
    )
    return [
        Undelivered(
            name=name,
            template=Notice.REQUEST_RESOLVED
            if RequestStatus(request.status) is RequestStatus.RESOLVED
            else Notice.REQUEST_REJECTED,
            reason=NOBODY_LINKED,
            at=request.decided_at or request.received_at,
            reference=request.reference,
        )
        for request, name in rows.all()
    ]
