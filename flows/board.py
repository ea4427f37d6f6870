"""The school board's figures: counts and percentages, never a child's name or data.

Computed per school on that school's own database; the board's view adds them up. Also
the monthly series of the accountability report (`ouderloket report`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows.audit import AuditAction
from flows.clock import SCHOOL_TZ
from flows.notify import DELETE_MESSAGE
from flows.requests import DECIDED_STATUSES, OPEN_STATUSES
from storage.models import (
    AuditEvent,
    AuthorKind,
    ChatLink,
    ConsentEvent,
    Outbox,
    Pupil,
    Request,
    RequestKind,
    RequestStatus,
    Staff,
    StaffRole,
    Vendor,
)

# A supplier's leaflet older than this is flagged in the report.
REVIEW_EVERY = timedelta(days=365)
# Small numbers point at a family: a count from 1 to 4 is shown as "minder dan 5", and no
# percentage is shown of fewer than 10 (pupils, or requests decided).
MIN_COUNT = 5
MIN_BASE = 10


def shown_count(n: int) -> int | None:
    """The count as it may be shown; None for 1 to 4 (0 points at nobody)."""
    return None if 0 < n < MIN_COUNT else n


def percent(part: int, whole: int) -> int | None:
    """A percentage as it may be shown; None when there are fewer than MIN_BASE."""
    return round(100 * part / whole) if whole >= MIN_BASE else None


@dataclass(frozen=True)
class Figures:
    """One school's figures (or the sum of several)."""

    by_kind_status: dict[tuple[str, str], int]
    decided: int
    decided_on_time: int
    extensions: int
    overdue_now: int
    pupils: int
    consent_granted: dict[str, int]
    undelivered: int
    schools: int = 1

    @property
    def requests(self) -> int:
        return sum(self.by_kind_status.values())

    def count(self, kind: str, status: str | None = None) -> int:
        return sum(
            n
            for (k, s), n in self.by_kind_status.items()
            if k == kind and (status is None or s == status)
        )

    @property
    def on_time_percent(self) -> int | None:
        """None when nothing, or too little, was decided to show it (MIN_BASE)."""
        return percent(self.decided_on_time, self.decided)

    def consent_percent(self, channel: str) -> int | None:
        """None when the school has too few pupils to show it (MIN_BASE)."""
        return percent(self.consent_granted.get(channel, 0), self.pupils)


def _due(request: Request) -> datetime:
    return request.extended_until or request.due_at


async def figures(session: AsyncSession, now: datetime, channels: Sequence[str]) -> Figures:
    """The figures as they are now."""
    requests = list((await session.exec(select(Request))).all())
    by_kind_status = Counter((str(r.kind), str(r.status)) for r in requests)
    decided = [
        r
        for r in requests
        if RequestStatus(r.status) in DECIDED_STATUSES and r.decided_at is not None
    ]
    on_time = sum(1 for r in decided if r.decided_at is not None and r.decided_at <= _due(r))
    overdue = sum(1 for r in requests if RequestStatus(r.status) in OPEN_STATUSES and now > _due(r))
    pupils = list((await session.exec(select(Pupil.id).where(col(Pupil.left_at).is_(None)))).all())
    latest = _latest_consent(await _consent_events(session, now), set(pupils))
    granted = {c: sum(1 for (_, ch), ok in latest.items() if ch == c and ok) for c in channels}
    undelivered = (
        await session.exec(
            select(func.count()).where(
                col(Outbox.failed_at).is_not(None), col(Outbox.template) != DELETE_MESSAGE
            )
        )
    ).one()
    return Figures(
        by_kind_status=dict(by_kind_status),
        decided=len(decided),
        decided_on_time=on_time,
        extensions=sum(1 for r in requests if r.extended_until is not None),
        overdue_now=overdue,
        pupils=len(pupils),
        consent_granted=granted,
        undelivered=int(undelivered),
    )


def total(parts: Iterable[Figures]) -> Figures:
    parts = list(parts)
    by_kind_status: Counter[tuple[str, str]] = Counter()
    granted: Counter[str] = Counter()
    for part in parts:
        by_kind_status.update(part.by_kind_status)
        granted.update(part.consent_granted)
    return Figures(
        by_kind_status=dict(by_kind_status),
        decided=sum(p.decided for p in parts),
        decided_on_time=sum(p.decided_on_time for p in parts),
        extensions=sum(p.extensions for p in parts),
        overdue_now=sum(p.overdue_now for p in parts),
        pupils=sum(p.pupils for p in parts),
        consent_granted=dict(granted),
        undelivered=sum(p.undelivered for p in parts),
        schools=len(parts),
    )


async def _consent_events(session: AsyncSession, until: datetime) -> list[ConsentEvent]:
    rows = await session.exec(
        select(ConsentEvent)
        .where(ConsentEvent.at <= until)
        .order_by(col(ConsentEvent.at), col(ConsentEvent.id))
    )
    return list(rows.all())


def _latest_consent(
    events: Sequence[ConsentEvent], pupils: set[int | None], until: datetime | None = None
) -> dict[tuple[int, str], bool]:
    """(pupil, channel) -> the latest choice; events are in time order."""
    latest: dict[tuple[int, str], bool] = {}
    for event in events:
        if until is not None and event.at > until:
            break
        if event.pupil_id in pupils:
            latest[(event.pupil_id, event.channel)] = event.granted
    return latest


async def board_member(session: AsyncSession, telegram_user_id: int) -> int | None:
    """The staff id if this Telegram account is linked in this school as an active board
    member; a board member links once per school's bot."""
    row = (
        await session.exec(
            select(Staff.id)
            .join(ChatLink, col(ChatLink.staff_id) == col(Staff.id))
            .where(
                ChatLink.telegram_user_id == telegram_user_id,
                Staff.role == StaffRole.BOARD,
                col(Staff.active).is_(True),
            )
        )
    ).first()
    return row


async def view_for_board(
    session: AsyncSession,
    telegram_user_id: int,
    now: datetime,
    channels: Sequence[str],
    where: str,
) -> Figures | None:
    """This school's figures for a board member linked here (None otherwise), with the
    view recorded in this school's own audit trail."""
    staff_id = await board_member(session, telegram_user_id)
    if staff_id is None:
        return None
    session.add(
        AuditEvent(
            at=now,
            actor_kind=AuthorKind.STAFF,
            actor_id=staff_id,
            action=AuditAction.BOARD_VIEW,
            detail=where,
        )
    )
    return await figures(session, now, channels)


# --- the accountability report -----------------------------------------------------


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    @property
    def label(self) -> str:
        return f"{self.year}-{self.month:02d}"

    def end(self) -> datetime:
        """The first moment after this month, on the school's calendar."""
        year, month = (self.year + 1, 1) if self.month == 12 else (self.year, self.month + 1)
        return datetime(year, month, 1, tzinfo=SCHOOL_TZ)


def months(start: date, end: date) -> list[Month]:
    result, year, month = [], start.year, start.month
    while (year, month) <= (end.year, end.month):
        result.append(Month(year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return result


@dataclass(frozen=True)
class Report:
    months: list[Month]
    kinds: tuple[str, ...]
    channels: tuple[str, ...]
    requests: dict[str, dict[str, int]]  # month label -> kind -> received
    decided: dict[str, int]  # month label -> decided that month
    on_time: dict[str, int]  # month label -> of which on time
    consent: dict[str, dict[str, int | None]]  # month label -> channel -> % at month end
    stale_vendors: list[tuple[str, date | None]] = field(default_factory=list)
    # Received in the period and not decided (nor withdrawn) by its end, so that
    # "received" and "decided" never read as if every request had been answered.
    still_open: int = 0


def _month_of(moment: datetime) -> str:
    local = moment.astimezone(SCHOOL_TZ)
    return f"{local.year}-{local.month:02d}"


async def report(
    session: AsyncSession, start: date, end: date, now: datetime, channels: Sequence[str]
) -> Report:
    period = months(start, end)
    labels = {m.label for m in period}
    begin = datetime(start.year, start.month, start.day, tzinfo=SCHOOL_TZ)
    finish = datetime(end.year, end.month, end.day, tzinfo=SCHOOL_TZ) + timedelta(days=1)
    kinds = tuple(k.value for k in RequestKind)
    requests = list((await session.exec(select(Request))).all())
    received: dict[str, dict[str, int]] = {m.label: dict.fromkeys(kinds, 0) for m in period}
    decided: dict[str, int] = dict.fromkeys(labels, 0)
    on_time: dict[str, int] = dict.fromkeys(labels, 0)
    still_open = 0
    cutoff = min(finish, now)  # a period not yet ended: open as of now
    for r in requests:
        if begin <= r.received_at < finish:
            received[_month_of(r.received_at)][str(r.kind)] += 1
            # A withdrawal keeps no date: a withdrawn request counts as closed.
            withdrawn = RequestStatus(r.status) is RequestStatus.WITHDRAWN
            still_open += not withdrawn and (r.decided_at is None or r.decided_at >= cutoff)
        if (
            r.decided_at is not None
            and RequestStatus(r.status) in DECIDED_STATUSES
            and begin <= r.decided_at < finish
        ):
            decided[_month_of(r.decided_at)] += 1
            on_time[_month_of(r.decided_at)] += r.decided_at <= _due(r)
    pupils = list((await session.exec(select(Pupil))).all())
    events = await _consent_events(session, finish)
    consent: dict[str, dict[str, int | None]] = {}
    for m in period:
        moment = min(m.end(), finish)
        present = {p.id for p in pupils if p.left_at is None or p.left_at >= moment}
        latest = _latest_consent(events, present, moment)
        # A month that has not ended yet, or before anything was recorded, has no figure:
        # drawn as a gap, not as 0 %.
        known = m.label <= _month_of(now)
        consent[m.label] = {
            c: (
                percent(sum(1 for (_, ch), ok in latest.items() if ch == c and ok), len(present))
                if known and any(ch == c for (_, ch) in latest)
                else None
            )
            for c in channels
        }
    vendors = (await session.exec(select(Vendor).order_by(col(Vendor.name)))).all()
    stale = [
        (v.name, v.reviewed_on)
        for v in vendors
        if v.reviewed_on is None or v.reviewed_on < (now - REVIEW_EVERY).date()
    ]
    return Report(
        period, kinds, tuple(channels), received, decided, on_time, consent, stale, still_open
    )
