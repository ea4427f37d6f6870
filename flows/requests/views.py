"""What a guardian sees of requests: the list, one request with its conversation.

Who of the child's guardians sees a request is decided here (`visible_to`): a question
is the asker's own unless they chose to share it with the other guardian; the other
kinds are about the child's data and decided for the child, so both guardians see them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Protocol, cast

from sqlalchemy import and_, bindparam, or_
from sqlalchemy import select as core_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows.actor import Actor
from flows.errors import NotFound
from flows.linking import full_name
from flows.requests.routing import Assignee, assignee_of
from flows.requests.rules import HOLDING_EFFECTS, KINDS, OPEN_STATUSES, Effect, due, holds
from flows.scope import own_child
from storage.db import among
from storage.models import (
    AuthorKind,
    Guardian,
    GuardianPupil,
    Pupil,
    Request,
    RequestKind,
    RequestMessage,
    RequestStatus,
    Staff,
)
from storage.rows import PupilFacts


@dataclass(frozen=True)
class MessageView:
    author_kind: AuthorKind
    author_name: str
    by_you: bool
    text: str
    at: datetime


@dataclass(frozen=True)
class RequestSummary:
    request_id: int
    reference: str
    kind: RequestKind
    status: RequestStatus
    pupil_id: int
    pupil_name: str
    received_at: datetime
    due_at: datetime  # the extended deadline when there is one
    extended: bool
    by_you: bool
    # What it is about (a field or what to delete: a code, never a value), so that two
    # requests about one child read apart.
    about: str = ""
    # Decided and still in effect: a restriction not lifted, an upheld objection.
    in_force: bool = False


@dataclass(frozen=True)
class RequestView:
    request: Request
    pupil_name: str
    asked_by: str
    by_you: bool
    assignee: Assignee
    due_at: datetime  # the extended deadline when there is one
    messages: tuple[MessageView, ...]

    @property
    def reference(self) -> str:
        return self.request.reference

    @property
    def kind(self) -> RequestKind:
        return RequestKind(self.request.kind)

    @property
    def status(self) -> RequestStatus:
        return RequestStatus(self.request.status)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def can_withdraw(self) -> bool:
        return self.by_you and self.is_open


class _Asked(Protocol):
    """What visible_to reads: a Request, or a ChildRequest row."""

    @property
    def shared(self) -> bool: ...

    @property
    def guardian_id(self) -> int: ...


def visible_to(request: _Asked, guardian_id: int | None) -> bool:
    """Whether a guardian of the request's child sees it: the asker always, the other
    guardians when it is shared."""
    return request.shared or request.guardian_id == guardian_id


async def guardian_scoped(
    session: AsyncSession, actor: Actor, request_id: int
) -> tuple[Request, PupilFacts]:
    """The request with its pupil, if it is about one of the actor's children and
    visible to the actor; NotFound otherwise."""
    if actor.guardian_id is None:
        raise NotFound()
    request = await session.get(Request, request_id)
    if request is None or not visible_to(request, actor.guardian_id):
        raise NotFound()
    pupil = await own_child(session, actor, request.pupil_id)
    return request, pupil


async def list_for_guardian(session: AsyncSession, actor: Actor) -> list[RequestSummary]:
    """Requests about all the guardian's children, also those the other guardian made
    and shared, newest first."""
    if actor.guardian_id is None:
        return []
    rows = await session.exec(
        select(Request, Pupil)
        .join(Pupil, col(Pupil.id) == col(Request.pupil_id))
        .join(GuardianPupil, col(GuardianPupil.pupil_id) == col(Request.pupil_id))
        .where(GuardianPupil.guardian_id == actor.guardian_id, col(Pupil.left_at).is_(None))
        .order_by(col(Request.received_at).desc(), col(Request.id).desc())
    )
    return [
        RequestSummary(
            request_id=request.id or 0,
            reference=request.reference,
            kind=RequestKind(request.kind),
            status=RequestStatus(request.status),
            pupil_id=pupil.id or 0,
            pupil_name=full_name(pupil),
            received_at=request.received_at,
            due_at=due(request),
            extended=request.extended_until is not None,
            by_you=request.guardian_id == actor.guardian_id,
            about=about(request),
            in_force=holds(request),
        )
        for request, pupil in rows.all()
        if visible_to(request, actor.guardian_id)
    ]


async def conversation(
    session: AsyncSession, request: Request, actor: Actor
) -> tuple[str, tuple[MessageView, ...]]:
    """Who asked, and the messages about the request, oldest first; `by_you` marks the
    viewer's own messages (a guardian's or a member of staff's)."""
    rows = await session.exec(
        select(RequestMessage)
        .where(RequestMessage.request_id == request.id)
        .order_by(col(RequestMessage.at), col(RequestMessage.id))
    )
    messages = list(rows.all())
    guardian_names = await names(
        session,
        AuthorKind.GUARDIAN,
        {m.author_id for m in messages if m.author_kind == AuthorKind.GUARDIAN}
        | {request.guardian_id},
    )
    staff_names = await names(
        session,
        AuthorKind.STAFF,
        {m.author_id for m in messages if m.author_kind == AuthorKind.STAFF},
    )

    def mine(message: RequestMessage) -> bool:
        if message.author_kind == AuthorKind.GUARDIAN:
            return message.author_id == actor.guardian_id
        return message.author_id == actor.staff_id

    views = tuple(
        MessageView(
            author_kind=AuthorKind(m.author_kind),
            author_name=(
                guardian_names if m.author_kind == AuthorKind.GUARDIAN else staff_names
            ).get(m.author_id, ""),
            by_you=mine(m),
            text=m.text,
            at=m.at,
        )
        for m in messages
    )
    return guardian_names.get(request.guardian_id, ""), views


async def get_for_guardian(session: AsyncSession, actor: Actor, request_id: int) -> RequestView:
    request, pupil = await guardian_scoped(session, actor, request_id)
    asked_by, messages = await conversation(session, request, actor)
    return RequestView(
        request=request,
        pupil_name=full_name(pupil),
        asked_by=asked_by,
        by_you=request.guardian_id == actor.guardian_id,
        assignee=await assignee_of(session, request),
        due_at=due(request),
        messages=messages,
    )


def about(request: Request) -> str:
    """What a request is about, as a code bot/ words: the field of a correction or a
    restriction, what a deletion removes, what an objection is against; "" otherwise."""
    return request.field or request.what or ""


async def names(session: AsyncSession, who: AuthorKind, ids: set[int]) -> dict[int, str]:
    """Names of guardians or of staff by id."""
    if not ids:
        return {}
    if who is AuthorKind.GUARDIAN:
        rows = await session.exec(
            select(Guardian.id, Guardian.name).where(col(Guardian.id).in_(sorted(ids)))
        )
    else:
        rows = await session.exec(
            select(Staff.id, Staff.name).where(col(Staff.id).in_(sorted(ids)))
        )
    return {id_: name for id_, name in rows.all() if id_ is not None}


@dataclass(frozen=True)
class InForce:
    """What the director's decisions on a child's requests hold now, to be shown
    wherever the child's data is: restricted fields, and the suppliers and recipients
    stopped by an upheld objection ("vendor.<key>", "disclosure.<id>": since when)."""

    marked: frozenset[str] = frozenset()
    stopped: Mapping[str, datetime] = field(default_factory=dict)


# The kinds whose decision leaves a mark on the child's data until it is lifted.
_MARKING = sorted(k for k, spec in KINDS.items() if spec.effect in HOLDING_EFFECTS)


class ChildRequest(NamedTuple):
    """A request of the child's as the inzage weighs and shows it, read as a Core row:
    only read, so no ORM entity is built for it."""

    id: int
    reference: str
    kind: RequestKind
    status: RequestStatus
    guardian_id: int
    shared: bool
    field: str | None
    what: str | None
    target: str | None
    received_at: datetime
    due_at: datetime
    extended_until: datetime | None
    decided_at: datetime | None


# In ChildRequest's order.
CHILD_REQUEST_COLUMNS = (
    col(Request.id),
    col(Request.reference),
    col(Request.kind),
    col(Request.status),
    col(Request.guardian_id),
    col(Request.shared),
    col(Request.field),
    col(Request.what),
    col(Request.target),
    col(Request.received_at),
    col(Request.due_at),
    col(Request.extended_until),
    col(Request.decided_at),
)

# Decided in the parent's favour and still in effect (rules.holds, in SQL).
_HOLDING = and_(
    among(col(Request.kind), _MARKING),
    col(Request.status) == RequestStatus.RESOLVED,
    col(Request.lifted_at).is_(None),
)

# Built once with the child as a bound parameter ("pupil_id"): building a statement
# costs more than running it. The inzage reads CHILD_REQUESTS in its one statement
# (flows.inzage), in the order OLDEST_FIRST.
CHILD_REQUESTS = core_select(*CHILD_REQUEST_COLUMNS).where(
    col(Request.pupil_id) == bindparam("pupil_id"),
    or_(among(col(Request.status), sorted(OPEN_STATUSES)), _HOLDING),
)
OLDEST_FIRST = (col(Request.received_at), col(Request.id))
_OF_CHILD = CHILD_REQUESTS.order_by(*OLDEST_FIRST)
_IN_FORCE = core_select(*CHILD_REQUEST_COLUMNS).where(
    col(Request.pupil_id) == bindparam("pupil_id"), _HOLDING
)


def _force(requests: Iterable[ChildRequest]) -> InForce:
    marked: set[str] = set()
    stopped: dict[str, datetime] = {}
    for request in sorted(requests, key=lambda r: (r.decided_at or r.received_at, r.id)):
        if KINDS[RequestKind(request.kind)].effect is Effect.RESTRICT and request.field:
            marked.add(request.field)
        elif request.target and request.decided_at is not None:
            stopped.setdefault(f"{request.what}.{request.target}", request.decided_at)
    return InForce(frozenset(marked), stopped)


async def in_force(session: AsyncSession, pupil_id: int) -> InForce:
    """One read of the child's decided requests still in effect: restrictions not
    lifted, objections upheld against a supplier or a disclosure."""
    rows = await session.exec(cast(Any, _IN_FORCE), params={"pupil_id": pupil_id})
    return _force(ChildRequest._make(r) for r in rows.all())


@dataclass(frozen=True)
class ChildRequests:
    open: tuple[ChildRequest, ...]  # still being handled and seen by the guardian, oldest first
    force: InForce


def child_requests(rows: Iterable[Sequence[Any]], guardian_id: int | None) -> ChildRequests:
    """What the rows of CHILD_REQUESTS (oldest first) say for the guardian."""
    found = [ChildRequest._make(r) for r in rows]
    # A row not open is there because it holds (CHILD_REQUESTS' other condition).
    return ChildRequests(
        tuple(
            r
            for r in found
            if RequestStatus(r.status) in OPEN_STATUSES and visible_to(r, guardian_id)
        ),
        _force(r for r in found if RequestStatus(r.status) not in OPEN_STATUSES),
    )


async def of_child(session: AsyncSession, pupil_id: int, guardian_id: int | None) -> ChildRequests:
    """For the inzage, whose caller has already checked access, in one read: the child's
    requests still being handled that the guardian sees, and what decided ones hold."""
    rows = await session.exec(cast(Any, _OF_CHILD), params={"pupil_id": pupil_id})
    return child_requests(rows.all(), guardian_id)


async def in_effect(session: AsyncSession, pupil_id: int) -> frozenset[str]:
    """The child's fields under a restriction in effect: marked wherever shown."""
    return (await in_force(session, pupil_id)).marked
