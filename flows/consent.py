"""Photo and video consent per pupil and channel. The history is append-only: the
current choice is the latest event, and every earlier one stays to show when consent
was given (Art. 7(1)). A withdrawal takes effect at once, without approval (Art. 7(3))."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, TypeAlias

from sqlalchemy import bindparam, insert
from sqlalchemy import event as orm_event
from sqlalchemy import select as core_select
from sqlalchemy.orm import Session
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows import audit, notify
from flows.actor import (
    ASKING_GUARDIAN,
    Actor,
    Alongside,
    Read,
    bound,
    guardian_name,
    read_alongside,
)
from flows.audit import AuditAction
from flows.errors import NotFound
from flows.linking import full_name
from flows.notify import Notice
from flows.scope import own_child, staff_groups
from storage.db import core, side_by_side
from storage.models import ConsentEvent, ConsentSource, Guardian, Pupil, SchoolGroup
from storage.prepared import Prepared, with_marker


@dataclass(frozen=True)
class ChannelState:
    channel: str
    granted: bool | None  # None: no choice recorded yet
    since: datetime | None
    # Why, when not the parents' own choice: an upheld objection, an approved deletion.
    source: ConsentSource | None = None


@dataclass(frozen=True)
class HistoryEntry:
    channel: str
    granted: bool
    at: datetime
    source: ConsentSource
    by_you: bool
    by_name: str | None


class Event(NamedTuple):
    """A consent event as read: a Core row, since it is only read (no ORM entity)."""

    id: int
    channel: str
    granted: bool
    at: datetime
    source: ConsentSource
    guardian_id: int | None


# A pupil's events in this session: those read, and the entities `choose` recorded.
Known: TypeAlias = Event | ConsentEvent

# Event's fields in its order, of the pupil as a bound parameter ("pupil_id"), built
# once; the inzage reads FOR_PUPIL in its one statement (flows.inzage), in the order
# OLDEST_FIRST, and hands the rows to `remember`.
FOR_PUPIL = core_select(
    col(ConsentEvent.id),
    col(ConsentEvent.channel),
    col(ConsentEvent.granted),
    col(ConsentEvent.at),
    col(ConsentEvent.source),
    col(ConsentEvent.guardian_id),
).where(col(ConsentEvent.pupil_id) == bindparam("pupil_id"))
OLDEST_FIRST = (col(ConsentEvent.at), col(ConsentEvent.id))
_READ = Prepared(FOR_PUPIL.order_by(*OLDEST_FIRST))
# The same read in the statement the update starts with, for a press that shows a
# child's consent (bot.middlewares).
SCREEN = Alongside({"event": (FOR_PUPIL, OLDEST_FIRST)})

# On the table, built once: the ORM's unit of work cost several times the insert itself.
# Nothing in the update reads the row back but the screen, which `choose` hands it to
# (`_events`): it is written with the update's marker (storage.prepared.with_marker).
_RECORD = Prepared(insert(ConsentEvent.__table__))  # type: ignore[attr-defined]

# What a choice reads, in one statement: the pupil's events, and whom to tell of a change
# (the group's teachers and the child's other guardians).
_CHOICE_READS: dict[str, Read] = {
    "event": (FOR_PUPIL, OLDEST_FIRST),
    "teacher": (notify.TEACHERS_OF_GROUP, notify.BY_ACCOUNT),
    "guardian": (notify.OTHER_GUARDIANS, notify.BY_ACCOUNT),
}
_CHOICE = side_by_side(_CHOICE_READS)
_READ_CHOICE = Prepared(_CHOICE.statement)
# The same reads in the statement the update starts with, for the press that confirms a
# choice (bot.middlewares): the group is the child's, the guardian the asking account's.
_OF_THE_ASKER = {
    "group_id": core_select(col(Pupil.group_id))
    .where(col(Pupil.id) == bindparam("pupil_id"))
    .scalar_subquery(),
    "guardian_id": ASKING_GUARDIAN,
}
CHOICE = Alongside(
    {
        tag: (bound(statement, _OF_THE_ASKER), order)
        for tag, (statement, order) in _CHOICE_READS.items()
    }
)

# A pupil's events, read once per session: a choice reads them to compare, and the screen
# shown after it reads them again. `choose` appends what it records, so they stay whole.
_EVENTS = "ouderloket_consent_events"


async def _events(session: AsyncSession, pupil_id: int) -> list[Known]:
    known: dict[int, list[Known]] = session.info.setdefault(_EVENTS, {})
    if pupil_id not in known:
        found = read_alongside(session, SCREEN, pupil_id)
        rows = (
            found["event"]
            if found is not None
            else await _READ.rows(await core(session), {"pupil_id": pupil_id})
        )
        remember(session, pupil_id, rows)
    return list(known[pupil_id])


def remember(session: AsyncSession, pupil_id: int, rows: Iterable[Sequence[Any]]) -> None:
    """The pupil's events as rows of FOR_PUPIL, oldest first, that another read found:
    `state`, `history` and `choose` answer from these for the rest of the session."""
    known: dict[int, list[Known]] = session.info.setdefault(_EVENTS, {})
    known[pupil_id] = [Event._make(row) for row in rows]


@orm_event.listens_for(Session, "after_flush")
def _forget_events_written_elsewhere(session: Session, _context: Any) -> None:
    """An event this module did not record (an import, a test's own row) in the same
    session: read them afresh."""
    known: dict[int, list[Known]] = session.info.get(_EVENTS, {})
    for obj in session.new:
        # By identity: the events read are rows, which never equal an entity.
        if isinstance(obj, ConsentEvent) and not any(e is obj for e in known.get(obj.pupil_id, ())):
            session.info.pop(_EVENTS, None)
            return


@orm_event.listens_for(Session, "after_commit")
@orm_event.listens_for(Session, "after_rollback")
def _forget_events(session: Session) -> None:
    session.info.pop(_EVENTS, None)


async def state(
    session: AsyncSession, actor: Actor, pupil_id: int, channels: Sequence[str]
) -> list[ChannelState]:
    await own_child(session, actor, pupil_id)
    latest: dict[str, Known] = {}
    for event in await _events(session, pupil_id):
        latest[event.channel] = event
    return [
        ChannelState(
            channel,
            latest[channel].granted,
            latest[channel].at,
            ConsentSource(latest[channel].source),
        )
        if channel in latest
        else ChannelState(channel, None, None)
        for channel in channels
    ]


async def choose(
    session: AsyncSession,
    actor: Actor,
    pupil_id: int,
    channel: str,
    granted: bool,
    channels: Sequence[str],
    now: datetime,
) -> ChannelState:
    """Records the guardian's choice; choosing what is already in force records nothing."""
    if channel not in channels:
        # As in `asking`: a channel the school does not use is not there to choose.
        raise NotFound()
    # A double tap: one user's updates are handled one at a time, each committed before
    # the next starts (aiogram's event isolation, in Redis across workers: bot.app), so
    # the second choice finds the first in force and records nothing. The child's other
    # parent choosing at the same moment records their own choice too, as they made it.
    pupil = await own_child(session, actor, pupil_id)
    found = read_alongside(session, CHOICE, pupil_id) or _CHOICE.split(
        await _READ_CHOICE.rows(
            await core(session),
            {
                "pupil_id": pupil_id,
                "group_id": pupil.group_id,
                "guardian_id": actor.guardian_id or 0,
            },
        )
    )
    remember(session, pupil_id, found["event"])
    current = {s.channel: s for s in await state(session, actor, pupil_id, channels)}[channel]
    if current.granted is granted:
        return current
    values = {
        "pupil_id": pupil_id,
        "channel": channel,
        "granted": granted,
        "at": now,
        "source": ConsentSource.BOT,
        "guardian_id": actor.guardian_id,
    }
    with_marker(session, _RECORD, values)
    # Its id comes with the commit; the screen after the choice orders by time and place.
    recorded = Event(0, channel, granted, now, ConsentSource.BOT, actor.guardian_id)
    session.info.setdefault(_EVENTS, {}).setdefault(pupil_id, []).append(recorded)
    action = AuditAction.CONSENT_GIVEN if granted else AuditAction.CONSENT_WITHDRAWN
    await audit.record(
        session, actor, action, now, pupil_id=pupil_id, detail=channel, with_the_marker=True
    )
    about: dict[str, Any] = {
        "pupil": pupil.voornaam,
        "pupil_full": full_name(pupil),
        "group": pupil.group.name,
        "channel": channel,
        "granted": granted,
        "by": await guardian_name(session, actor),
    }
    # Teachers must know at once whom they may no longer photograph; the other guardian
    # sees the same state and is told of the change.
    for teacher in notify.recipients(found["teacher"]):
        await notify.enqueue(
            session, teacher, Notice.CONSENT_CHANGED_STAFF, now, about_pupil=pupil_id, **about
        )
    for guardian in notify.recipients(found["guardian"]):
        await notify.enqueue(
            session, guardian, Notice.CONSENT_CHANGED_GUARDIAN, now, about_pupil=pupil_id, **about
        )
    await session.flush()
    return ChannelState(channel, granted, now, ConsentSource.BOT)


async def history(session: AsyncSession, actor: Actor, pupil_id: int) -> list[HistoryEntry]:
    await own_child(session, actor, pupil_id)
    events = await _events(session, pupil_id)
    names: dict[int, str] = {}
    for guardian_id in {e.guardian_id for e in events if e.guardian_id is not None}:
        guardian = await session.get(Guardian, guardian_id)
        if guardian is not None:
            names[guardian_id] = guardian.name
    return [
        HistoryEntry(
            channel=e.channel,
            granted=e.granted,
            at=e.at,
            source=ConsentSource(e.source),
            by_you=e.guardian_id is not None and e.guardian_id == actor.guardian_id,
            by_name=names.get(e.guardian_id) if e.guardian_id is not None else None,
        )
        for e in reversed(events)
    ]


@dataclass(frozen=True)
class Screen:
    """What a consent screen shows: the child's first name and the data."""

    child: str
    states: tuple[ChannelState, ...] = ()
    history: tuple[HistoryEntry, ...] = ()


async def overview(
    session: AsyncSession, actor: Actor, pupil_id: int, channels: Sequence[str]
) -> Screen:
    pupil = await own_child(session, actor, pupil_id)
    return Screen(pupil.voornaam, states=tuple(await state(session, actor, pupil_id, channels)))


async def asking(
    session: AsyncSession, actor: Actor, pupil_id: int, channel: str, channels: Sequence[str]
) -> Screen:
    """The confirmation before a choice: NotFound for a channel the school does not use."""
    pupil = await own_child(session, actor, pupil_id)
    if channel not in channels:
        raise NotFound()
    return Screen(pupil.voornaam)


async def history_screen(session: AsyncSession, actor: Actor, pupil_id: int, limit: int) -> Screen:
    pupil = await own_child(session, actor, pupil_id)
    entries = await history(session, actor, pupil_id)
    return Screen(pupil.voornaam, history=tuple(entries[:limit]))


# --- the school's overview per group ---------------------------------------------------


@dataclass(frozen=True)
class GroupConsent:
    group: str
    channel: str
    not_allowed: tuple[str, ...]  # full names of children who may NOT appear


@dataclass(frozen=True)
class GroupSummary:
    group_id: int
    group: str
    pupils: int
    without_consent: int  # children who may not appear in at least one channel


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


async def group_summaries(
    session: AsyncSession, actor: Actor, channels: tuple[str, ...]
) -> list[GroupSummary]:
    """The groups in scope with how many children may not appear somewhere: counts
    only, no child's name, so this list is no view of anyone's data."""
    result: list[GroupSummary] = []
    for group in await staff_groups(session, actor):
        refusals = await _refusals(session, group, channels)
        pupils = await session.exec(
            select(Pupil.id).where(Pupil.group_id == group.id, col(Pupil.left_at).is_(None))
        )
        without = {p.id for refused in refusals.values() for p in refused}
        result.append(GroupSummary(group.id or 0, group.name, len(pupils.all()), len(without)))
    return result


async def group_overview(
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
    groups = await staff_groups(session, actor)
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
        await audit.record(
            session, actor, AuditAction.CONSENT_OVERVIEW_VIEWED, now, pupil_id=pupil_id
        )
    await session.flush()
    return result
