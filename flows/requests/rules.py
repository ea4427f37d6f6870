"""What a request is and what may be done with it, once: the table of kinds and the one
rule `allowed(actor, request, now)`. The staff card asks it which buttons to show; every
command asks `require` (the same rule) before it changes anything, so a button and its
guard cannot disagree (cosmicpython's `can_allocate` serves both in the same way)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from flows.actor import Actor
from flows.deadlines import answer_due
from flows.errors import DomainError, InvalidInput, NotAllowed
from flows.requests import drafts
from flows.requests.drafts import Draft, Option
from storage.models import Request, RequestKind, RequestStatus, StaffRole
from storage.rows import PupilFacts

OPEN_STATUSES: frozenset[RequestStatus] = frozenset(
    {RequestStatus.OPEN, RequestStatus.IN_PROGRESS, RequestStatus.WAITING_APPROVAL}
)
DECIDED_STATUSES: frozenset[RequestStatus] = frozenset(
    {RequestStatus.RESOLVED, RequestStatus.REJECTED}
)
# Statuses a member of staff is still working on (waiting_approval is the director's).
WORKING_STATUSES: frozenset[RequestStatus] = frozenset(
    {RequestStatus.OPEN, RequestStatus.IN_PROGRESS}
)


Options = Callable[[AsyncSession, PupilFacts, Draft], Awaitable[tuple[Option, ...]]]


@dataclass(frozen=True)
class Choose:
    """A step answered with a button; the choice is kept in the draft under `name`.
    `typed_is_text`: text typed here is kept as the request's text, not refused."""

    name: str
    options: Options
    typed_is_text: bool = False
    # The screen shows the child's stored values (shown as data, and deleted later).
    shows_stored: bool = False
    # Another kind's form the step offers instead (what a deletion may not touch can
    # still be corrected).
    instead: RequestKind | None = None


@dataclass(frozen=True)
class Write:
    """A typed step. "text" is the request's free text; any other name is a value,
    checked by `check` against the child's stored data as soon as it is typed."""

    name: str
    required: bool | Callable[[Draft], bool] = False
    check: Callable[[Draft, PupilFacts, date], str] | None = None
    shows_stored: bool = False


Step = Choose | Write


class Effect(StrEnum):
    """What a kind's decision does besides being recorded and told to the parents: the
    row names it, flows.requests.effects carries it out in the decision's transaction."""

    # Answered, nothing more: a question, a request for inzage.
    ANSWER_ONLY = "answer_only"
    # Resolved: the stored value is changed; the checklist says "aanpassen in ParnasSys".
    CORRECT = "correct"
    # Approved: what was approved is erased; the checklist says what the school removes.
    ERASE = "erase"
    # Upheld: photos refused on every channel, or the supplier or recipient stopped for
    # this child (shown wherever it is listed); the checklist says whom to tell.
    OBJECT = "object"
    # Approved: the field is marked as restricted wherever it is shown until lifted; the
    # checklist says to restrict it in ParnasSys (and to end that when lifted).
    RESTRICT = "restrict"


@dataclass(frozen=True)
class Kind:
    """One row of the table of kinds. `handled_by` None: the parent chooses (the step
    "addressee" names the role)."""

    kind: RequestKind
    handled_by: StaffRole | None
    first_status: RequestStatus
    # Decided by the director's approval, not resolved by whoever handles it.
    needs_approval: bool
    # The parent's form, in order; bot/ shows each step as the kind's template words it.
    steps: tuple[Step, ...]
    # The request's columns from a complete draft, validated (drafts.build_*).
    build: Callable[[Draft, PupilFacts, date], dict[str, Any]]
    # Approved, it stays in effect until the director lifts it: the field it names is
    # marked wherever the child's data is shown.
    lasting: bool = False
    # The asker chooses whether the child's other guardians see it too (a question).
    shareable: bool = False
    # A start button in the parent's request menu (an inzage request starts from Mijn
    # gegevens instead).
    in_menu: bool = True
    # The answer deadline from the moment it is received (Art. 12(3)).
    deadline: Callable[[datetime], datetime] = answer_due
    # What approving (needs_approval) or resolving it does; lifting undoes a lasting one.
    effect: Effect = Effect.ANSWER_ONLY
    # Answering it is deciding it (a question): no separate message first, no second
    # answer to close it.
    answer_closes: bool = False
    # The law gives it an answer deadline (Art. 12(3)) that the parent and the school are
    # shown and reminded of; a question has none (its due date only orders the queue).
    has_deadline: bool = True

    @property
    def text_step(self) -> Write | None:
        return next((s for s in self.steps if isinstance(s, Write) and s.name == "text"), None)

    def text_required(self, draft: Draft) -> bool:
        step = self.text_step
        if step is None:
            return False
        return step.required(draft) if callable(step.required) else step.required


KINDS: dict[RequestKind, Kind] = {
    RequestKind.CORRECTION: Kind(
        RequestKind.CORRECTION,
        StaffRole.TEACHER,
        RequestStatus.OPEN,
        needs_approval=False,
        steps=(
            Choose("field", drafts.correctable, shows_stored=True),
            Write("value", required=True, check=drafts.correction_value, shows_stored=True),
            Write("text"),
        ),
        build=drafts.build_correction,
        effect=Effect.CORRECT,
    ),
    RequestKind.DELETION: Kind(
        RequestKind.DELETION,
        StaffRole.DIRECTOR,
        RequestStatus.WAITING_APPROVAL,
        needs_approval=True,
        steps=(
            Choose("what", drafts.deletable, instead=RequestKind.CORRECTION),
            Choose("ground", drafts.deletion_grounds, typed_is_text=True),
            Write("text", required=drafts.deletion_text_required),
        ),
        build=drafts.build_deletion,
        effect=Effect.ERASE,
    ),
    RequestKind.QUESTION: Kind(
        RequestKind.QUESTION,
        None,
        RequestStatus.OPEN,
        needs_approval=False,
        steps=(Choose("addressee", drafts.addressees), Write("text", required=True)),
        build=drafts.build_question,
        shareable=True,
        effect=Effect.ANSWER_ONLY,
        answer_closes=True,
        has_deadline=False,
    ),
    RequestKind.ACCESS: Kind(
        RequestKind.ACCESS,
        StaffRole.DIRECTOR,
        RequestStatus.OPEN,
        needs_approval=False,
        steps=(Write("text"),),
        build=drafts.build_nothing,
        in_menu=False,
        effect=Effect.ANSWER_ONLY,
    ),
    RequestKind.OBJECTION: Kind(
        RequestKind.OBJECTION,
        StaffRole.DIRECTOR,
        RequestStatus.WAITING_APPROVAL,
        needs_approval=True,  # upheld = approved
        steps=(Choose("processing", drafts.processings), Write("text", required=True)),
        build=drafts.build_objection,
        effect=Effect.OBJECT,
    ),
    RequestKind.RESTRICTION: Kind(
        RequestKind.RESTRICTION,
        StaffRole.DIRECTOR,
        RequestStatus.WAITING_APPROVAL,
        needs_approval=True,  # approved = the restriction takes effect
        steps=(
            Choose("field", drafts.correctable, shows_stored=True),
            Write("text", required=True),
        ),
        build=drafts.build_restriction,
        lasting=True,
        effect=Effect.RESTRICT,
    ),
}


class UnknownKind(LookupError):
    """A kind without a row in KINDS: a programming error, never a fall-through."""


def kind_of(value: RequestKind | str | Request) -> Kind:
    raw = value.kind if isinstance(value, Request) else value
    try:
        return KINDS[RequestKind(raw)]
    except (KeyError, ValueError):
        raise UnknownKind(str(raw)) from None


class Action(StrEnum):
    # a guardian's
    ADD_MESSAGE = "add_message"
    WITHDRAW = "withdraw"
    # staff's
    PICK_UP = "pick_up"
    REPLY = "reply"
    RESOLVE = "resolve"
    REJECT = "reject"
    FORWARD = "forward"
    APPROVE = "approve"
    EXTEND = "extend"
    LIFT = "lift"  # end what an approved lasting request put in effect


GUARDIAN_ACTIONS: frozenset[Action] = frozenset({Action.ADD_MESSAGE, Action.WITHDRAW})


# What a decision leaves in force until the director lifts it (a restriction) or for
# good (an upheld objection).
HOLDING_EFFECTS = frozenset({Effect.RESTRICT, Effect.OBJECT})


def holds(request: Request) -> bool:
    """Decided in the parent's favour and still in effect: a restriction not lifted, an
    upheld objection."""
    return (
        status_of(request) is RequestStatus.RESOLVED
        and kind_of(request).effect in HOLDING_EFFECTS
        and request.lifted_at is None
    )


def due(request: Request) -> datetime:
    """The deadline that counts: the extended one when there is one."""
    return request.extended_until or request.due_at


def status_of(request: Request) -> RequestStatus:
    return RequestStatus(request.status)


def refusal(actor: Actor, request: Request, now: datetime, action: Action) -> DomainError | None:
    """Why the actor may not do `action` to the request now, or None when they may.
    Scope (whether the actor sees the request at all) is checked before, by the caller's
    lookup: here the request is already in reach."""
    status = status_of(request)
    is_open = status in OPEN_STATUSES
    approval = kind_of(request).needs_approval
    if action in GUARDIAN_ACTIONS:
        if actor.guardian_id is None:
            return NotAllowed()
        if action is Action.ADD_MESSAGE:
            return None if is_open else InvalidInput("closed")
        if status in DECIDED_STATUSES or request.decided_at is not None:
            return InvalidInput("decided")
        if status is RequestStatus.WITHDRAWN:
            return InvalidInput("withdrawn")
        # The other guardian sees the request but may not take back what they did not ask.
        return None if request.guardian_id == actor.guardian_id else NotAllowed()
    if actor.staff_id is None:
        return NotAllowed()
    if action is Action.REPLY:
        if kind_of(request).answer_closes:
            return NotAllowed()  # its answer is its resolution
        return None if is_open else InvalidInput("closed")
    if action is Action.REJECT:
        if not is_open:
            return InvalidInput("closed")
        return None if actor.is_director or not approval else NotAllowed()
    if action is Action.APPROVE:
        if not actor.is_director:
            return NotAllowed()
        if not approval or status is not RequestStatus.WAITING_APPROVAL:
            return InvalidInput("not_waiting")
        return None
    if action is Action.LIFT:
        if not actor.is_director:
            return NotAllowed()
        if not kind_of(request).lasting or status is not RequestStatus.RESOLVED:
            return InvalidInput("not_in_effect")
        return InvalidInput("lifted") if request.lifted_at is not None else None
    if action is Action.EXTEND:
        if not actor.is_director or not kind_of(request).has_deadline:
            return NotAllowed()
        if not is_open:
            return InvalidInput("closed")
        if request.extended_until is not None:
            return InvalidInput("already_extended")
        return InvalidInput("too_late") if now > answer_due(request.received_at) else None
    if action is Action.FORWARD and actor.is_director:
        return NotAllowed()
    # pick up, resolve, forward: open or in progress; a request that needs approval
    # waits for the director instead.
    if not is_open:
        return InvalidInput("closed")
    if status is RequestStatus.WAITING_APPROVAL or approval:
        return InvalidInput("awaiting_director")
    if action is Action.PICK_UP:
        mine = status is RequestStatus.IN_PROGRESS and request.assignee_staff_id == actor.staff_id
        return InvalidInput("already_yours") if mine else None
    if action is Action.FORWARD and StaffRole(request.assignee_role) is StaffRole.DIRECTOR:
        return InvalidInput("already_director")
    return None


def allowed(actor: Actor, request: Request, now: datetime) -> frozenset[Action]:
    """Everything the actor may do with the request now: the card's buttons."""
    return frozenset(a for a in Action if refusal(actor, request, now, a) is None)


def require(actor: Actor, request: Request, now: datetime, action: Action) -> None:
    """The guard of every command: the same rule as `allowed`, with its reason."""
    error = refusal(actor, request, now, action)
    if error is not None:
        raise error
