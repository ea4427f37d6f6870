"""What was done with a child's data, read back: a member of staff's logboek of one
pupil (and the search for one), and a parent's "wie heeft de gegevens bekeken".
Reading the logboek is itself recorded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows import audit, requests
from flows.actor import Actor
from flows.audit import AuditAction
from flows.clock import SCHOOL_TZ
from flows.linking import full_name
from flows.scope import in_scope, own_child, scoped_pupil, staff_groups
from storage.models import (
    AuditEvent,
    AuthorKind,
    Pupil,
    Request,
    Staff,
    StaffRole,
)

MAX_FOUND = 10


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
class AccessLine:
    """One or more views or changes by the same role, of the same kind, on one day with
    nothing else in between: the parent reads "3×" instead of three equal lines."""

    at: datetime  # the last of them
    role: StaffRole
    action: str
    first_at: datetime  # the first of them (== at when count is 1)
    count: int = 1


async def find_pupils(session: AsyncSession, actor: Actor, text: str) -> list[tuple[int, str, str]]:
    """(pupil id, full name, group) of up to 10 children in scope whose name contains
    the text, ignoring case."""
    groups = {g.id: g.name for g in await staff_groups(session, actor)}
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


async def pupil_log(
    session: AsyncSession, actor: Actor, pupil_id: int, now: datetime
) -> list[AuditLine]:
    """Everything recorded about the child that the actor may see, newest first: a
    teacher's log leaves out the requests the teacher may not see (those a parent sent
    to the director). Reading the log is itself recorded, as a view of the child's data."""
    pupil = await scoped_pupil(session, actor, pupil_id)
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
            if not in_scope(actor, r, pupil)
        }
        events = [e for e in events if e.detail.split(" ", 1)[0] not in hidden]
    await audit.record(session, actor, AuditAction.LOG_VIEWED, now, pupil_id=pupil_id)
    await session.flush()
    staff = {
        s.id: s
        for s in (
            await session.exec(
                select(Staff).where(
                    col(Staff.id).in_(
                        sorted(
                            {
                                e.actor_id
                                for e in events
                                if e.actor_kind == AuthorKind.STAFF and e.actor_id
                            }
                        )
                    )
                )
            )
        ).all()
    }
    guardians = await requests.names(
        session,
        AuthorKind.GUARDIAN,
        {e.actor_id for e in events if e.actor_kind == AuthorKind.GUARDIAN and e.actor_id},
    )

    def who(event: AuditEvent) -> tuple[str | None, str]:
        if event.actor_kind == AuthorKind.STAFF:
            member = staff.get(event.actor_id)
            if member is None:
                return None, "staff"
            return member.name, StaffRole(member.role).value
        if event.actor_kind == AuthorKind.GUARDIAN:
            return guardians.get(event.actor_id or 0) or None, "guardian"
        if event.actor_kind == AuthorKind.SYSTEM:
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
        .where(AuditEvent.pupil_id == pupil_id, AuditEvent.actor_kind == AuthorKind.STAFF)
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
