"""Reminders the school needs without anyone asking: a request whose answer is due within
a week, a daily list of overdue requests for the director, and the yearly check of the
photo and video consent for every parent.

Each function queues notifications in the caller's transaction and returns how many.
They are idempotent: before queueing, each looks for an AuditEvent "marker" of the same
action and detail, and records one beside the notifications, so a second run (or a
second process after the first has committed) queues nothing twice. Markers are
recorded only when something was queued: a director or parent who links an account
later still gets the message.

Dates are on the school's calendar. Nothing is queued before `not_before` (08:00 school
time by default): nobody should be woken by a reminder at midnight."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows import audit, consent, erasure, notify
from flows.actor import Actor
from flows.audit import AuditAction
from flows.clock import SCHOOL_TZ
from flows.linking import full_name
from flows.notify import Notice
from flows.requests import KINDS, OPEN_STATUSES
from flows.requests import due as due_of
from storage.models import (
    AuditEvent,
    ChatLink,
    GuardianPupil,
    Pupil,
    Request,
    RequestKind,
)

DUE_SOON_DAYS = 7
DAY_START = time(8, 0)
# Outbox.params holds at most 8000 characters (a VARCHAR on PostgreSQL): the summary
# lists the oldest overdue requests and gives the total in `count`.
OVERDUE_ITEMS_MAX = 25

DUE_SOON_ACTION = AuditAction.REMINDER_DUE_SOON
OVERDUE_ACTION = AuditAction.OVERDUE_SUMMARY
CONSENT_YEARLY_ACTION = AuditAction.CONSENT_YEARLY
ERASURES_AHEAD_ACTION = AuditAction.ERASURES_AHEAD
ERASURES_AHEAD = timedelta(days=7)


# --- due soon ------------------------------------------------------------------------


async def due_soon(session: AsyncSession, now: datetime, *, not_before: time = DAY_START) -> int:
    """One reminder per open request and due date, to the assignee (or, when the assignee
    has no linked account, the directors), from seven days before the due date on the
    school's calendar until the deadline passes. An extension is a new due date, so it
    is reminded again."""
    local = now.astimezone(SCHOOL_TZ)
    if local.time() < not_before:
        return 0
    today = local.date()
    due = _effective_due()
    # A generous window in SQL; the exact rule on the school's calendar below.
    rows = await session.exec(
        select(Request, Pupil)
        .join(Pupil, col(Pupil.id) == col(Request.pupil_id))
        .where(
            col(Request.status).in_(sorted(OPEN_STATUSES)),
            col(Request.kind).in_(_WITH_DEADLINE),
            due > now,
            due <= now + timedelta(days=DUE_SOON_DAYS + 2),
        )
        .order_by(col(Request.id))
    )
    candidates = []
    for request, pupil in rows.all():
        due_date = _local_date(due_of(request))
        if (due_date - today).days <= DUE_SOON_DAYS:
            candidates.append((request, pupil, f"{request.id}:{due_date.isoformat()}"))
    if not candidates:
        return 0
    done = await _markers(
        session,
        DUE_SOON_ACTION,
        [detail for _r, _p, detail in candidates],
        since=now - timedelta(days=DUE_SOON_DAYS + 2),
    )
    directors: list[int] | None = None
    queued = 0
    for request, pupil, detail in candidates:
        if detail in done:
            continue
        accounts: list[int] = []
        if request.assignee_staff_id is not None:
            accounts = await notify.staff_accounts(session, request.assignee_staff_id)
        if not accounts:
            if directors is None:
                directors = await notify.director_accounts(session)
            accounts = directors
        if not accounts:
            continue  # nobody to tell yet: try again on the next run
        params: dict[str, Any] = {
            "reference": request.reference,
            "request_id": request.id,
            "kind": str(RequestKind(request.kind)),
            "pupil_full": full_name(pupil),
            "due": _local_date(due_of(request)).isoformat(),
        }
        for user_id in accounts:
            await notify.enqueue(session, user_id, Notice.REQUEST_DUE_SOON, now, **params)
            queued += 1
        await audit.record(session, None, DUE_SOON_ACTION, now, detail=detail)
        done.add(detail)
    await session.flush()
    return queued


# --- overdue summary -----------------------------------------------------------------


async def overdue_summary(
    session: AsyncSession, now: datetime, *, not_before: time = DAY_START
) -> int:
    """Once a day (school calendar), to every linked active director: the open requests
    whose deadline has passed, oldest deadline first. Nothing when none are overdue."""
    local = now.astimezone(SCHOOL_TZ)
    if local.time() < not_before:
        return 0
    detail = local.date().isoformat()
    start_of_day = datetime.combine(local.date(), time(0), SCHOOL_TZ)
    if await _markers(session, OVERDUE_ACTION, [detail], since=start_of_day - timedelta(days=1)):
        return 0
    due = _effective_due()
    rows = await session.exec(
        select(Request, Pupil)
        .join(Pupil, col(Pupil.id) == col(Request.pupil_id))
        .where(
            col(Request.status).in_(sorted(OPEN_STATUSES)),
            col(Request.kind).in_(_WITH_DEADLINE),
            due <= now,
        )
        .order_by(due, col(Request.id))
    )
    overdue = list(rows.all())
    if not overdue:
        return 0
    directors = await notify.director_accounts(session)
    if not directors:
        return 0
    items = [
        {
            "reference": request.reference,
            "request_id": request.id,
            "kind": str(RequestKind(request.kind)),
            "pupil_full": full_name(pupil),
            "due": _local_date(due_of(request)).isoformat(),
        }
        for request, pupil in overdue[:OVERDUE_ITEMS_MAX]
    ]
    for user_id in directors:
        await notify.enqueue(
            session, user_id, Notice.OVERDUE_SUMMARY, now, count=len(overdue), items=items
        )
    await audit.record(session, None, OVERDUE_ACTION, now, detail=detail)
    await session.flush()
    return len(directors)


# --- erasures in the coming week ------------------------------------------------------


async def erasures_ahead(
    session: AsyncSession,
    now: datetime,
    *,
    retention_days: int = erasure.DEFAULT_RETENTION_DAYS,
    not_before: time = DAY_START,
) -> int:
    """Once a day, to every linked active director: the pupils who left and whose data the
    bot erases in the coming week, so the school can act in ParnasSys and object in time.
    By leerlingnummer: the list is about records, not about children to look up."""
    local = now.astimezone(SCHOOL_TZ)
    if local.time() < not_before:
        return 0
    detail = local.date().isoformat()
    start_of_day = datetime.combine(local.date(), time(0), SCHOOL_TZ)
    if await _markers(
        session, ERASURES_AHEAD_ACTION, [detail], since=start_of_day - timedelta(days=1)
    ):
        return 0
    planned = await erasure.plan(session, now, retention_days=retention_days, ahead=ERASURES_AHEAD)
    ahead = [p for p in planned if p.what is erasure.Due.PUPIL and p.due_at > now]
    directors = await notify.director_accounts(session)
    if not ahead or not directors:
        return 0
    items = [
        {"leerlingnummer": p.leerlingnummer, "due": _local_date(p.due_at).isoformat()}
        for p in ahead[:OVERDUE_ITEMS_MAX]
    ]
    for user_id in directors:
        await notify.enqueue(
            session, user_id, Notice.ERASURES_AHEAD, now, count=len(ahead), items=items
        )
    await audit.record(session, None, ERASURES_AHEAD_ACTION, now, detail=detail)
    await session.flush()
    return len(directors)


# --- yearly consent check ------------------------------------------------------------


def school_year_start(today: date, *, month: int = 9, day: int = 1) -> date:
    """The first day of the school year `today` falls in."""
    start = date(today.year, month, day)
    return start if today >= start else date(today.year - 1, month, day)


def school_year(today: date, *, month: int = 9, day: int = 1) -> str:
    """The label "2026-2027" for any day from 1 September 2026 up to 31 August 2027."""
    start = school_year_start(today, month=month, day=day)
    return f"{start.year}-{start.year + 1}"


async def yearly_consent(
    session: AsyncSession,
    now: datetime,
    *,
    month: int = 9,
    day: int = 1,
    channels: tuple[str, ...],
    not_before: time = DAY_START,
) -> int:
    """Once per school year (from `month`/`day` on), to every guardian who linked before
    the year began and has a child at school: the current consent choices of each child,
    to confirm or change. One who linked later saw those choices in the welcome."""
    local = now.astimezone(SCHOOL_TZ)
    if local.time() < not_before:
        return 0
    year = school_year(local.date(), month=month, day=day)
    start = school_year_start(local.date(), month=month, day=day)
    year_began = datetime.combine(start, time(0), SCHOOL_TZ)
    links = (
        await session.exec(
            select(ChatLink)
            .where(col(ChatLink.guardian_id).is_not(None))
            .where(or_(col(ChatLink.linked_at).is_(None), col(ChatLink.linked_at) < year_began))
            .order_by(col(ChatLink.telegram_user_id))
        )
    ).all()
    accounts: dict[int, list[ChatLink]] = defaultdict(list)
    for link in links:
        accounts[link.guardian_id or 0].append(link)
    if not accounts:
        return 0
    done = await _markers(
        session,
        CONSENT_YEARLY_ACTION,
        [f"{year}:{guardian_id}" for guardian_id in accounts],
        since=year_began - timedelta(days=1),
    )
    queued = 0
    for guardian_id, guardian_links in sorted(accounts.items()):
        detail = f"{year}:{guardian_id}"
        if detail in done:
            continue
        first = guardian_links[0]
        actor = Actor(
            telegram_user_id=first.telegram_user_id, locale=first.locale, guardian_id=guardian_id
        )
        children = await _children(session, actor, channels)
        if not children:
            continue  # no child at school (any more): nothing to ask
        for link in guardian_links:
            await notify.enqueue(
                session,
                link.telegram_user_id,
                Notice.CONSENT_YEARLY,
                now,
                school_year=year,
                children=children,
            )
            queued += 1
        await audit.record(session, None, CONSENT_YEARLY_ACTION, now, detail=detail)
    await session.flush()
    return queued


async def _children(
    session: AsyncSession, actor: Actor, channels: Sequence[str]
) -> list[dict[str, Any]]:
    pupils = (
        await session.exec(
            select(Pupil)
            .join(GuardianPupil, col(GuardianPupil.pupil_id) == col(Pupil.id))
            .where(GuardianPupil.guardian_id == actor.guardian_id, col(Pupil.left_at).is_(None))
            .order_by(col(Pupil.voornaam), col(Pupil.id))
        )
    ).all()
    children = []
    for pupil in pupils:
        states = await consent.state(session, actor, pupil.id or 0, channels)
        children.append(
            {
                "pupil_id": pupil.id,
                "name": full_name(pupil),
                "consent": {s.channel: s.granted for s in states},
            }
        )
    return children


# --- helpers -------------------------------------------------------------------------


# A question has no answer deadline: nobody is reminded of its due date.
_WITH_DEADLINE = sorted(k.kind for k in KINDS.values() if k.has_deadline)


def _effective_due() -> Any:
    return func.coalesce(col(Request.extended_until), col(Request.due_at))


def _local_date(moment: datetime) -> date:
    return moment.astimezone(SCHOOL_TZ).date()


async def _markers(
    session: AsyncSession, action: str, details: list[str], *, since: datetime
) -> set[str]:
    """Which of these markers were already recorded. `since` only narrows the search to
    the part of the audit trail where such a marker can be (audit_event.at is indexed)."""
    if not details:
        return set()
    rows = await session.exec(
        select(AuditEvent.detail).where(
            AuditEvent.action == action,
            col(AuditEvent.detail).in_(details),
            AuditEvent.at >= since,
        )
    )
    return set(rows.all())
