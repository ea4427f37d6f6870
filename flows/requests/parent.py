"""Parents' requests about their child's data: correction (Art. 16), deletion (Art. 17),
a formal inzage request (Art. 15) and questions. Every request gets a reference
(OL-2026-0042), an answer deadline of one calendar month (Art. 12(3)) and one member of
staff who handles it; the conversation about it is kept with it.

Guardians reach a request only through their own child: a forged pupil or request id
gets NotFound, exactly like an id that does not exist.

What a request may become is decided in flows.requests.rules; what a guardian sees of
it in flows.requests.views."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows import audit, notify
from flows.actor import Actor, guardian_name
from flows.audit import AuditAction
from flows.clock import SCHOOL_TZ
from flows.notify import Notice
from flows.requests.drafts import Draft, clean_text, today
from flows.requests.routing import Assignee, notify_assignee, route
from flows.requests.rules import Action, kind_of, require
from flows.requests.transitions import move
from flows.requests.views import guardian_scoped
from flows.scope import own_child
from storage.models import (
    AuthorKind,
    IncomingMessage,
    Request,
    RequestKind,
    RequestMessage,
    RequestStatus,
    StaffRole,
)
from storage.rows import PupilFacts

_REFERENCE_ATTEMPTS = 5


async def create(
    session: AsyncSession,
    actor: Actor,
    draft: Draft,
    now: datetime,
    update_id: int | None = None,
) -> Request:
    """A request of any kind from a filled-in form, as its row in KINDS says: the
    kind's `build` validates the draft into columns, its text step whether words are
    required, its handler (or the chosen addressee) who gets it. NotFound for a child
    that is not the actor's; UnknownKind for a kind without a row."""
    spec = kind_of(draft.kind)
    pupil = await own_child(session, actor, draft.pupil_id)
    existing = await _by_update(session, actor, update_id)
    if existing is not None:
        return existing
    columns = _columns(draft, pupil, now)
    text = clean_text(draft.text, required=spec.text_required(draft))
    handler = spec.handled_by or StaffRole(columns.get("addressee") or StaffRole.DIRECTOR)
    assignee = await route(session, pupil, handler)
    return await _create(
        session,
        actor,
        pupil,
        now,
        update_id,
        assignee,
        draft.sources,
        kind=spec.kind,
        text=text,
        **columns,
    )


def _columns(draft: Draft, pupil: PupilFacts, now: datetime) -> dict[str, Any]:
    spec = kind_of(draft.kind)
    columns = spec.build(draft, pupil, today(now))
    subject = " · ".join(draft.names[s.name] for s in spec.steps if s.name in draft.names)
    if subject:
        columns["subject"] = subject[:200]
    return columns


async def preview(session: AsyncSession, actor: Actor, draft: Draft, now: datetime) -> Request:
    """The request as `create` would store it, not stored: what the confirmation shows.
    InvalidInput when the draft no longer fits the child's data."""
    spec = kind_of(draft.kind)
    pupil = await own_child(session, actor, draft.pupil_id)
    return Request(kind=spec.kind, text=draft.text or "", **_columns(draft, pupil, now))


async def others_linked(session: AsyncSession, actor: Actor, pupil_id: int) -> bool:
    """Whether another guardian of the child uses the bot: the confirmation promises them
    a message about the decision only then."""
    await own_child(session, actor, pupil_id)
    return bool(await notify.other_guardians(session, pupil_id, actor.guardian_id or 0))


async def _by_update(session: AsyncSession, actor: Actor, update_id: int | None) -> Request | None:
    """The request an earlier delivery of this Telegram update created, if any."""
    if update_id is None:
        return None
    found = (
        await session.exec(select(Request).where(Request.source_update_id == update_id))
    ).first()
    if found is None:
        return None
    # Update ids come from Telegram, not from the user; still, never hand over another
    # family's request.
    await guardian_scoped(session, actor, found.id or 0)
    return found


async def _create(
    session: AsyncSession,
    actor: Actor,
    pupil: PupilFacts,
    now: datetime,
    update_id: int | None,
    assignee: Assignee,
    sources: tuple[tuple[str, int, str], ...] = (),
    *,
    kind: RequestKind,
    **fields: Any,
) -> Request:
    spec = kind_of(kind)
    guardian_id = actor.guardian_id
    assert guardian_id is not None  # own_child let the actor through
    request: Request | None = None
    for _attempt in range(_REFERENCE_ATTEMPTS):
        request = Request(
            reference=await next_reference(session, now),
            pupil_id=pupil.id or 0,
            guardian_id=guardian_id,
            assignee_staff_id=assignee.staff_id,
            assignee_role=assignee.role,
            kind=spec.kind,
            status=spec.first_status,
            received_at=now,
            due_at=spec.deadline(now),
            source_update_id=update_id,
            **fields,
        )
        try:
            # A savepoint: two parents asking at the same moment may draw the same
            # number; the loser draws again instead of failing the whole update.
            async with session.begin_nested():
                session.add(request)
                await session.flush()
            break
        except IntegrityError:
            existing = await _by_update(session, actor, update_id)
            if existing is not None:
                return existing
            request = None
    if request is None:
        raise RuntimeError("no free request reference")
    request_id = request.id or 0
    for part, message_id, at in sources:
        session.add(
            IncomingMessage(
                request_id=request_id,
                part=part,
                chat_id=actor.telegram_user_id,
                message_id=message_id,
                received_at=datetime.fromisoformat(at),
            )
        )
    if request.text:
        session.add(
            RequestMessage(
                request_id=request_id,
                author_kind=AuthorKind.GUARDIAN,
                author_id=guardian_id,
                text=request.text,
                at=now,
            )
        )
    detail = f"{request.reference} {request.kind}"
    if request.field:
        detail += f" {request.field}"
    if request.what:
        detail += f" {request.what}"
    await audit.record(
        session, actor, AuditAction.REQUEST_CREATED, now, pupil_id=pupil.id, detail=detail
    )
    await notify_assignee(session, request, pupil, Notice.REQUEST_NEW, now)
    await session.flush()
    return request


async def next_reference(session: AsyncSession, now: datetime) -> str:
    """The next free reference of the year `now` falls in on the school's calendar."""
    prefix = f"OL-{now.astimezone(SCHOOL_TZ).year}-"
    reference = col(Request.reference)
    last = (
        await session.exec(
            select(reference)
            .where(reference.startswith(prefix, autoescape=True))
            .order_by(func.length(reference).desc(), reference.desc())
            .limit(1)
        )
    ).first()
    number = int(last[len(prefix) :]) + 1 if last else 1
    return f"{prefix}{number:04d}"


async def add_message(
    session: AsyncSession,
    actor: Actor,
    request_id: int,
    text: str,
    now: datetime,
    message_id: int | None = None,
) -> RequestMessage:
    """A guardian of the child adds to the conversation of a request still open."""
    request, pupil = await guardian_scoped(session, actor, request_id)
    cleaned = clean_text(text, required=True)
    require(actor, request, now, Action.ADD_MESSAGE)
    message = RequestMessage(
        request_id=request.id or 0,
        author_kind=AuthorKind.GUARDIAN,
        author_id=actor.guardian_id or 0,
        text=cleaned,
        at=now,
    )
    session.add(message)
    if message_id is not None:
        await session.flush()
        session.add(
            IncomingMessage(
                request_id=request.id or 0,
                part="message",
                request_message_id=message.id,
                chat_id=actor.telegram_user_id,
                message_id=message_id,
                received_at=now,
            )
        )
    await audit.record(
        session,
        actor,
        AuditAction.REQUEST_MESSAGE,
        now,
        pupil_id=pupil.id,
        detail=request.reference,
    )
    await notify_assignee(
        session,
        request,
        pupil,
        Notice.REQUEST_MESSAGE,
        now,
        by=await guardian_name(session, actor),
    )
    await session.flush()
    return message


async def withdraw(session: AsyncSession, actor: Actor, request_id: int, now: datetime) -> Request:
    """The guardian who asked takes the request back, as long as it is not decided.
    Withdrawing a withdrawn request changes nothing (a double tap)."""
    request, pupil = await guardian_scoped(session, actor, request_id)
    if RequestStatus(request.status) is RequestStatus.WITHDRAWN:
        return request
    require(actor, request, now, Action.WITHDRAW)
    # A withdrawal and the director's decision at once: one of them wins.
    await move(session, request, status=RequestStatus.WITHDRAWN)
    await audit.record(
        session,
        actor,
        AuditAction.REQUEST_WITHDRAWN,
        now,
        pupil_id=pupil.id,
        detail=request.reference,
    )
    await notify_assignee(session, request, pupil, Notice.REQUEST_WITHDRAWN, now)
    await session.flush()
    return request
