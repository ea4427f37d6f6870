"""The administrator's staff lifecycle (command line): list, deactivate, change groups,
issue a new code. Every change is audited, in the same transaction as the change.

A deactivated account loses the bot at once: its chat links are removed, so the next
update loads an actor without a staff role (flows.actor), and every staff screen and
button is refused. Open requests assigned to the person go back to a teacher of the
child's group who uses the bot, or to the director, who are told as of a new request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows import audit
from flows.audit import AuditAction
from flows.errors import InvalidInput
from flows.invites import IssuedCode, issue_code
from flows.notify import Notice
from flows.requests import OPEN_STATUSES, director, notify_assignee, route
from storage.importers.pupils import name_key
from storage.models import (
    AuthorKind,
    ChatLink,
    InviteCode,
    Pupil,
    Request,
    RequestStatus,
    SchoolGroup,
    Staff,
    StaffGroup,
    StaffRole,
)


@dataclass(frozen=True)
class StaffInfo:
    staff_id: int
    name: str
    role: StaffRole
    active: bool
    groups: tuple[str, ...]
    accounts: int  # linked Telegram accounts
    open_requests: int  # open requests assigned to this person


@dataclass(frozen=True)
class Moved:
    reference: str
    role: StaffRole  # who has it now: a teacher of the group, or the director
    name: str | None  # None when the school has no (active) director on record


@dataclass(frozen=True)
class Change:
    name: str
    moved: tuple[Moved, ...] = ()
    unlinked: int = 0  # Telegram accounts that lost access


async def list_staff(session: AsyncSession) -> list[StaffInfo]:
    """Everyone ever added, active first, then by name."""
    staff = (await session.exec(select(Staff).order_by(col(Staff.name), col(Staff.id)))).all()
    groups: dict[int, list[str]] = {}
    for staff_id, group in (
        await session.exec(
            select(StaffGroup.staff_id, SchoolGroup.name)
            .join(SchoolGroup, col(SchoolGroup.id) == col(StaffGroup.group_id))
            .order_by(col(SchoolGroup.name))
        )
    ).all():
        groups.setdefault(staff_id, []).append(group)
    accounts = dict(
        (
            await session.exec(
                select(ChatLink.staff_id, func.count())
                .where(col(ChatLink.staff_id).is_not(None))
                .group_by(col(ChatLink.staff_id))
            )
        ).all()
    )
    open_requests = dict(
        (
            await session.exec(
                select(Request.assignee_staff_id, func.count())
                .where(
                    col(Request.assignee_staff_id).is_not(None),
                    col(Request.status).in_(sorted(OPEN_STATUSES)),
                )
                .group_by(col(Request.assignee_staff_id))
            )
        ).all()
    )
    infos = [
        StaffInfo(
            staff_id=s.id or 0,
            name=s.name,
            role=StaffRole(s.role),
            active=s.active,
            groups=tuple(groups.get(s.id or 0, ())),
            accounts=accounts.get(s.id, 0),
            open_requests=open_requests.get(s.id, 0),
        )
        for s in staff
    ]
    return sorted(infos, key=lambda i: (not i.active, i.name.casefold(), i.staff_id))


async def find_staff(session: AsyncSession, name: str) -> Staff:
    """By name, case and extra spaces aside. InvalidInput("unknown_staff") when nobody
    has that name, "ambiguous_staff" when several do (they must be renamed first)."""
    found = await _named(session, name)
    if len(found) > 1:
        # Prefer the one still working here: a former colleague with the same name
        # should not block managing the current one.
        active = [s for s in found if s.active]
        if len(active) != 1:
            raise InvalidInput("ambiguous_staff")
        return active[0]
    return found[0]


async def _named(session: AsyncSession, name: str) -> list[Staff]:
    """Everyone with this name, case and extra spaces aside; InvalidInput("unknown_staff")
    when nobody has it."""
    wanted = name_key(name)
    found = [
        s
        for s in (await session.exec(select(Staff).order_by(col(Staff.id)))).all()
        if wanted and name_key(s.name) == wanted
    ]
    if not found:
        raise InvalidInput("unknown_staff")
    return found


async def _groups(session: AsyncSession, names: Sequence[str]) -> list[SchoolGroup]:
    found: list[SchoolGroup] = []
    for raw in names:
        group = (
            await session.exec(
                select(SchoolGroup).where(func.upper(SchoolGroup.name) == raw.strip().upper())
            )
        ).first()
        if group is None:
            raise InvalidInput(f"unknown_group:{raw}")
        if group not in found:
            found.append(group)
    return found


async def _unlink(session: AsyncSession, staff_id: int) -> int:
    """Removes the staff role from every chat linked to the person; a chat that is also
    a parent's account stays a parent's account."""
    links = (await session.exec(select(ChatLink).where(ChatLink.staff_id == staff_id))).all()
    for link in links:
        link.staff_id = None
        if link.guardian_id is None:
            link.linked_at = None
        session.add(link)
    return len(links)


async def _revoke_codes(session: AsyncSession, staff_id: int, now: datetime) -> None:
    unused = await session.exec(
        select(InviteCode).where(
            InviteCode.staff_id == staff_id,
            col(InviteCode.used_at).is_(None),
            col(InviteCode.revoked_at).is_(None),
        )
    )
    for invite in unused.all():
        invite.revoked_at = now
        session.add(invite)


async def _reassign(
    session: AsyncSession, staff: Staff, now: datetime, *, keep_group_ids: frozenset[int]
) -> tuple[Moved, ...]:
    """Moves the person's open requests, except those about a pupil of `keep_group_ids`,
    to a teacher of the child's group (teacher requests) or the director. The person is
    already inactive or out of the group, so routing never picks them again."""
    rows = await session.exec(
        select(Request, Pupil)
        .join(Pupil, col(Pupil.id) == col(Request.pupil_id))
        .where(
            Request.assignee_staff_id == staff.id,
            col(Request.status).in_(sorted(OPEN_STATUSES)),
        )
        .order_by(col(Request.id))
    )
    moved: list[Moved] = []
    for request, pupil in rows.all():
        if pupil.group_id in keep_group_ids:
            continue
        role = StaffRole(request.assignee_role)
        assignee = await (
            route(session, pupil, StaffRole.TEACHER)
            if role is StaffRole.TEACHER
            else director(session)
        )
        request.assignee_staff_id = assignee.staff_id
        request.assignee_role = assignee.role
        if RequestStatus(request.status) is RequestStatus.IN_PROGRESS:
            # Nobody has taken it up yet in its new place.
            request.status = RequestStatus.OPEN
        session.add(request)
        await audit.record(
            session,
            None,
            AuditAction.REQUEST_REASSIGNED,
            now,
            pupil_id=pupil.id,
            detail=f"{request.reference} {staff.id}->{assignee.staff_id}",
        )
        await notify_assignee(session, request, pupil, Notice.REQUEST_NEW, now)
        moved.append(Moved(request.reference, assignee.role, assignee.name))
    return tuple(moved)


async def deactivate(session: AsyncSession, name: str, now: datetime) -> Change:
    """The person leaves the school: no access, no codes, no open requests."""
    staff = await find_staff(session, name)
    if not staff.active:
        raise InvalidInput("already_inactive")
    return await _deactivate(session, staff, now)


async def _deactivate(session: AsyncSession, staff: Staff, now: datetime) -> Change:
    staff.active = False
    session.add(staff)
    unlinked = await _unlink(session, staff.id or 0)
    await _revoke_codes(session, staff.id or 0, now)
    await session.flush()
    moved = await _reassign(session, staff, now, keep_group_ids=frozenset())
    await audit.record(
        session,
        None,
        AuditAction.STAFF_DEACTIVATED,
        now,
        detail=f"{staff.id} {staff.name}; {len(moved)} requests moved",
    )
    await session.flush()
    return Change(staff.name, moved, unlinked)


async def set_groups(
    session: AsyncSession, name: str, group_names: Sequence[str], now: datetime
) -> Change:
    """Replaces the person's groups. Open requests of a group they no longer teach go to
    that group's teacher or the director."""
    staff = await find_staff(session, name)
    if not staff.active:
        raise InvalidInput("inactive")
    groups = await _groups(session, group_names)
    if StaffRole(staff.role) is StaffRole.TEACHER and not groups:
        raise InvalidInput("teacher_without_group")
    return await _set_groups(session, staff, groups, now)


async def _set_groups(
    session: AsyncSession, staff: Staff, groups: Sequence[SchoolGroup], now: datetime
) -> Change:
    await session.exec(delete(StaffGroup).where(col(StaffGroup.staff_id) == staff.id))
    for group in groups:
        session.add(StaffGroup(staff_id=staff.id or 0, group_id=group.id or 0))
    await session.flush()
    moved: tuple[Moved, ...] = ()
    if StaffRole(staff.role) is StaffRole.TEACHER:
        kept = frozenset(g.id or 0 for g in groups)
        moved = await _reassign(session, staff, now, keep_group_ids=kept)
    names = ", ".join(g.name for g in groups)
    await audit.record(
        session, None, AuditAction.STAFF_GROUPS_SET, now, detail=f"{staff.id} {staff.name}: {names}"
    )
    await session.flush()
    return Change(staff.name, moved)


async def new_code(session: AsyncSession, name: str, now: datetime) -> tuple[IssuedCode, int]:
    """A fresh code, e.g. for a new phone. The accounts linked so far lose access at once
    (a lost phone must not keep it) and any older unused code stops working. Returns the
    code and how many accounts were unlinked."""
    staff = await find_staff(session, name)
    if not staff.active:
        raise InvalidInput("inactive")
    unlinked = await _unlink(session, staff.id or 0)
    code, expires = await issue_code(session, now, staff_id=staff.id)
    groups = tuple(g for g in (await _group_names(session, staff.id or 0)))
    await audit.record(
        session,
        None,
        AuditAction.STAFF_CODE_ISSUED,
        now,
        detail=f"{staff.id} {staff.name}; {unlinked}",
    )
    await session.flush()
    return IssuedCode(AuthorKind.STAFF, staff.name, "", groups, code, expires), unlinked


async def _group_names(session: AsyncSession, staff_id: int) -> list[str]:
    rows = await session.exec(
        select(SchoolGroup.name)
        .join(StaffGroup, col(StaffGroup.group_id) == col(SchoolGroup.id))
        .where(StaffGroup.staff_id == staff_id)
        .order_by(col(SchoolGroup.name))
    )
    return list(rows.all())


# --- teachers from the school's EDEXML export ---------------------------------------------


@dataclass(frozen=True)
class TeacherRecord:
    key: str  # the teacher's key in the export: stable across re-imports
    name: str
    groups: tuple[str, ...]  # group names, as the pupils' import stored them


@dataclass(frozen=True)
class Replaced:
    """A key the export now gives to someone else: two people, not a rename."""

    key: str
    former: str  # deactivated and unlinked
    new: str  # added, gets a code with `invite-codes`


@dataclass(frozen=True)
class TeacherSync:
    added: tuple[str, ...]
    updated: tuple[str, ...]  # other groups
    deactivated: tuple[Change, ...]
    replaced: tuple[Replaced, ...] = ()
    # Deactivated by the administrator, still in the export: they stay deactivated.
    kept_inactive: tuple[str, ...] = ()
    # Already staff by name (added by hand, e.g. the director): linked to the export's key.
    matched: tuple[str, ...] = ()
    # Several members of staff have the export's name: the administrator decides.
    ambiguous: tuple[str, ...] = ()


async def activate(session: AsyncSession, name: str, now: datetime) -> Change:
    """Undoes `deactivate`: the person may link again (with `new-code` or `invite-codes`);
    groups are as they were. The only way back: an import never reactivates anyone."""
    staff = await _find_inactive(session, name)
    staff.active = True
    session.add(staff)
    await audit.record(
        session, None, AuditAction.STAFF_ACTIVATED, now, detail=f"{staff.id} {staff.name}"
    )
    await session.flush()
    return Change(staff.name)


async def _find_inactive(session: AsyncSession, name: str) -> Staff:
    found = await _named(session, name)
    inactive = [s for s in found if not s.active]
    if not inactive:
        raise InvalidInput("already_active")
    if len(inactive) > 1:
        raise InvalidInput("ambiguous_staff")
    return inactive[0]


async def sync_teachers(
    session: AsyncSession, teachers: Sequence[TeacherRecord], now: datetime
) -> TeacherSync:
    """Brings the teachers in line with the export: a new key is a new teacher (role
    teacher, their groups; `invite-codes` makes their letter), a known key gets its
    groups, and a teacher whose key is gone leaves, as with `staff deactivate`.

    Identity is the key and the name together: ParnasSys reuses a key for someone else,
    so a known key under another name is a new person and the former one leaves (their
    Telegram account must not see the new person's groups). A member of staff the
    administrator deactivated stays so until `staff activate`. A new key whose name is
    already staff (added by hand: the director, also in the export as a teacher) is that
    person. Staff added by hand who are not in the export are left alone."""
    keyed = {
        s.external_key: s
        for s in (await session.exec(select(Staff).where(col(Staff.external_key).is_not(None))))
    }
    by_name: dict[str, list[Staff]] = {}
    for s in (await session.exec(select(Staff).where(col(Staff.external_key).is_(None)))).all():
        by_name.setdefault(name_key(s.name), []).append(s)
    added: list[str] = []
    updated: list[str] = []
    replaced: list[Replaced] = []
    kept_inactive: list[str] = []
    matched: list[str] = []
    ambiguous: list[str] = []
    for record in teachers:
        # A class without pupils has no group in the store: nothing to see there yet.
        groups = (
            await session.exec(
                select(SchoolGroup)
                .where(func.upper(SchoolGroup.name).in_([g.upper() for g in record.groups]))
                .order_by(col(SchoolGroup.name))
            )
        ).all()
        staff = keyed.pop(record.key, None)
        if staff is not None and name_key(staff.name) != name_key(record.name):
            replaced.append(Replaced(record.key, staff.name, record.name))
            staff.external_key = None
            session.add(staff)
            if staff.active:
                await _deactivate(session, staff, now)
            await session.flush()  # the key is free for the new person
            staff = None
        elif staff is None:
            same_name = by_name.get(name_key(record.name), [])
            active = [s for s in same_name if s.active]
            if len(active) > 1 or (not active and len(same_name) > 1):
                ambiguous.append(record.name)
                continue
            if same_name:
                staff = (active or same_name)[0]
                staff.external_key = record.key
                session.add(staff)
                matched.append(staff.name)
                by_name.pop(name_key(record.name))
                if StaffRole(staff.role) is not StaffRole.TEACHER:
                    continue  # a director's or board member's access is not a class's
        if staff is None:
            staff = Staff(name=record.name, role=StaffRole.TEACHER, external_key=record.key)
            session.add(staff)
            await session.flush()
            await audit.record(session, None, AuditAction.STAFF_IMPORTED, now, detail=f"{staff.id}")
            if not any(r.key == record.key for r in replaced):
                added.append(record.name)
        elif not staff.active:
            kept_inactive.append(staff.name)
            continue
        elif set(await _group_names(session, staff.id or 0)) != {g.name for g in groups}:
            updated.append(record.name)
        else:
            continue
        await _set_groups(session, staff, groups, now)
    deactivated = [
        await _deactivate(session, staff, now) for staff in keyed.values() if staff.active
    ]
    return TeacherSync(
        tuple(added),
        tuple(updated),
        tuple(deactivated),
        tuple(replaced),
        tuple(kept_inactive),
        tuple(matched),
        tuple(ambiguous),
    )
