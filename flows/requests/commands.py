"""What staff do with a request: pick it up, answer, resolve, reject, forward to the
director, approve, lift, extend. Each command checks the one rule
(flows.requests.rules.require), changes the request only from the status it was read
in (transitions.move), carries out the kind's effect (effects), writes an audit event
and queues the parents' notification, all in the caller's transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from flows import audit, notify
from flows.actor import Actor
from flows.audit import AuditAction
from flows.deadlines import extended_due
from flows.erasure import ApprovedErasure
from flows.linking import full_name
from flows.notify import Notice
from flows.requests import (
    Action,
    Assignee,
    clean_text,
    director,
    effects,
    kind_of,
    notify_assignee,
    require,
)
from flows.requests.rules import Effect, Kind, status_of
from flows.requests.transitions import move
from flows.requests.views import about
from flows.scope import require_director, scoped_request
from storage.models import (
    AuthorKind,
    Pupil,
    Request,
    RequestKind,
    RequestMessage,
    RequestStatus,
    Staff,
    StaffRole,
)


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


async def _parents(session: AsyncSession, request: Request) -> list[int]:
    """The linked accounts a notice about the request reaches (flows.requests.visible_to):
    every linked guardian of the child, or only the asker of a question kept private."""
    return await notify.guardian_accounts(
        session, request.pupil_id, None if request.shared else request.guardian_id
    )


async def notify_guardians(
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
        "about": about(request),
        **extra,
    }
    accounts = await _parents(session, request)
    for user_id in accounts:
        await notify.enqueue(session, user_id, template, now, about_pupil=pupil.id, **params)


async def pick_up(session: AsyncSession, actor: Actor, request_id: int, now: datetime) -> Request:
    """The actor takes the request: in progress, assigned to them. Taking what one has
    already taken changes nothing (a double tap)."""
    request, pupil = await scoped_request(session, actor, request_id)
    if (
        status_of(request) is RequestStatus.IN_PROGRESS
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
    await audit.record(
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
    request, pupil = await scoped_request(session, actor, request_id)
    cleaned = clean_text(text, required=True)
    require(actor, request, now, Action.REPLY)
    if status_of(request) is RequestStatus.OPEN:
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
    await audit.record(
        session, actor, AuditAction.REQUEST_REPLY, now, pupil_id=pupil.id, detail=request.reference
    )
    await notify_guardians(
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
    request, pupil = await scoped_request(session, actor, request_id)
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
        await audit.record(session, actor, action, now, pupil_id=pupil.id, detail=detail)
    await notify_guardians(session, request, pupil, Notice.REQUEST_RESOLVED, now, **outcome.notice)
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
    request, pupil = await scoped_request(session, actor, request_id)
    cleaned = clean_text(reason, required=True)
    require(actor, request, now, Action.REJECT)
    await _decide(session, request, RequestStatus.REJECTED, cleaned, now)
    await audit.record(
        session,
        actor,
        AuditAction.REQUEST_REJECTED,
        now,
        pupil_id=pupil.id,
        detail=request.reference,
    )
    await notify_guardians(session, request, pupil, Notice.REQUEST_REJECTED, now)
    await session.flush()
    return request


async def forward_to_director(
    session: AsyncSession, actor: Actor, request_id: int, now: datetime
) -> Assignee:
    """A teacher hands the request to the director, who is told as of a new request."""
    request, pupil = await scoped_request(session, actor, request_id)
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
    await audit.record(
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
    request, pupil = await scoped_request(session, actor, request_id)
    cleaned = clean_text(answer, required=True)
    require(actor, request, now, Action.APPROVE)
    return await _decided(session, actor, request, pupil, cleaned, now, channels)


async def lift(session: AsyncSession, actor: Actor, request_id: int, now: datetime) -> Request:
    """Director only: what an approved lasting request put in effect ends now (the
    field is no longer marked); the parents are told. Lifting twice changes nothing."""
    request, pupil = await scoped_request(session, actor, request_id)
    if request.lifted_at is not None:
        return request
    require(actor, request, now, Action.LIFT)
    await move(session, request, expect=("status", "lifted_at"), lifted_at=now)
    await effects.lift(effects.Decision(session, actor, request, pupil, now))
    await audit.record(
        session, actor, AuditAction.REQUEST_LIFTED, now, pupil_id=pupil.id, detail=request.reference
    )
    await notify_guardians(session, request, pupil, Notice.REQUEST_LIFTED, now)
    await session.flush()
    return request


async def extend(
    session: AsyncSession, actor: Actor, request_id: int, reason: str, now: datetime
) -> Request:
    """Director only: two more months (Art. 12(3)), told within the first month, once.
    The reason goes to the parents as a message in the request."""
    request, pupil = await scoped_request(session, actor, request_id)
    require_director(actor)
    cleaned = clean_text(reason, required=True)
    require(actor, request, now, Action.EXTEND)
    await move(
        session,
        request,
        expect=("status", "extended_until"),
        extended_until=(until := extended_due(request.received_at)),
        # Extended is being handled: the parent must not read "nog niet in behandeling".
        status=RequestStatus.IN_PROGRESS
        if status_of(request) is RequestStatus.OPEN
        else request.status,
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
    await audit.record(
        session,
        actor,
        AuditAction.REQUEST_EXTENDED,
        now,
        pupil_id=pupil.id,
        detail=f"{request.reference} {until.isoformat()}",
    )
    await notify_guardians(
        session, request, pupil, Notice.REQUEST_EXTENDED, now, due=until.isoformat()
    )
    await session.flush()
    return request


# --- the table of staff actions ------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """What a command is given: who, which request, when, and what they typed."""

    session: AsyncSession
    actor: Actor
    request_id: int
    now: datetime
    text: str = ""
    # The school's consent channels: an upheld photo objection refuses every one.
    channels: Sequence[str] = ()


def _never(_kind: Kind) -> bool:
    return False


def _always(_kind: Kind) -> bool:
    return True


@dataclass(frozen=True)
class StaffCommand:
    """One row of the table of staff actions on a request: the card shows a button for
    each row `allowed` permits, in this order, and bot/ words each in
    templates/staff_action.j2 under the action's value (button, prompt, confirm, done)."""

    action: Action
    run: Callable[[Call], Awaitable[object]]
    # The member of staff types what the parents read: an answer, a reason.
    takes_text: bool
    # Shown as it will be, and confirmed, before it runs: what cannot be undone (an
    # erasure, a changed value, a restriction lifted).
    confirm: Callable[[Kind], bool] = _never
    # Afterwards the card is still theirs to act on (a forwarded one is the director's).
    stays: bool = True


COMMANDS: dict[Action, StaffCommand] = {
    c.action: c
    for c in (
        StaffCommand(
            Action.PICK_UP,
            lambda c: pick_up(c.session, c.actor, c.request_id, c.now),
            takes_text=False,
        ),
        StaffCommand(
            Action.REPLY,
            lambda c: reply(c.session, c.actor, c.request_id, c.text, c.now),
            takes_text=True,
        ),
        StaffCommand(
            Action.RESOLVE,
            lambda c: resolve(c.session, c.actor, c.request_id, c.text, c.now, channels=c.channels),
            takes_text=True,
            confirm=lambda kind: kind.effect is Effect.CORRECT,
        ),
        StaffCommand(
            Action.APPROVE,
            lambda c: approve(c.session, c.actor, c.request_id, c.text, c.now, channels=c.channels),
            takes_text=True,
            confirm=lambda kind: kind.effect is Effect.ERASE,
        ),
        StaffCommand(
            Action.REJECT,
            lambda c: reject(c.session, c.actor, c.request_id, c.text, c.now),
            takes_text=True,
        ),
        StaffCommand(
            Action.LIFT,
            lambda c: lift(c.session, c.actor, c.request_id, c.now),
            takes_text=False,
            confirm=_always,
        ),
        StaffCommand(
            Action.FORWARD,
            lambda c: forward_to_director(c.session, c.actor, c.request_id, c.now),
            takes_text=False,
            stays=False,
        ),
        StaffCommand(
            Action.EXTEND,
            lambda c: extend(c.session, c.actor, c.request_id, c.text, c.now),
            takes_text=True,
        ),
    )
}


@dataclass(frozen=True)
class Preview:
    """What a confirmation says before a command runs."""

    confirm: bool  # shown, and confirmed, before it runs (the row's `confirm`)
    parents_told: bool  # a linked guardian will receive the notice


async def preview(call: Call, action: Action) -> Preview:
    """Whether the command is confirmed first for this request, and whether its notice
    will reach anyone: a confirmation promises the parents a message only if so."""
    request = await check(call, action)
    return Preview(
        COMMANDS[action].confirm(kind_of(request)), bool(await _parents(call.session, request))
    )


async def check(call: Call, action: Action) -> Request:
    """Before a prompt or a confirmation: the request, if the actor may do `action` to it
    now (the command itself asks again when it runs: the world may change in between).
    Typed text is checked here too, so a confirmation never shows what would be refused."""
    request, _pupil = await scoped_request(call.session, call.actor, call.request_id)
    require(call.actor, request, call.now, action)
    if COMMANDS[action].takes_text and call.text:
        clean_text(call.text, required=True)
    return request
