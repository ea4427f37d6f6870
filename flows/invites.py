"""Issuing codes: letters for guardians, and staff accounts from the command line."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows import audit, codes
from flows.audit import AuditAction
from flows.errors import InvalidInput
from flows.linking import full_name
from storage.models import (
    AuthorKind,
    ChatLink,
    Guardian,
    GuardianPupil,
    InviteCode,
    Pupil,
    SchoolGroup,
    Staff,
    StaffGroup,
    StaffRole,
)


@dataclass(frozen=True)
class IssuedCode:
    kind: AuthorKind  # for a guardian or for a member of staff
    name: str
    email: str
    pupils: tuple[str, ...]  # "Emma de Vries (5A)"
    code: str
    expires_at: datetime


async def issue_code(
    session: AsyncSession,
    now: datetime,
    *,
    guardian_id: int | None = None,
    staff_id: int | None = None,
) -> tuple[str, datetime]:
    """A fresh code; any older unused code of the same person stops working."""
    owner = (
        col(InviteCode.guardian_id) == guardian_id
        if guardian_id is not None
        else col(InviteCode.staff_id) == staff_id
    )
    older = await session.exec(
        select(InviteCode).where(
            owner, col(InviteCode.used_at).is_(None), col(InviteCode.revoked_at).is_(None)
        )
    )
    for invite in older.all():
        invite.revoked_at = now
        session.add(invite)
    code = codes.new_code()
    expires = codes.expiry(now)
    session.add(
        InviteCode(
            code_hash=codes.code_hash(code),
            guardian_id=guardian_id,
            staff_id=staff_id,
            created_at=now,
            expires_at=expires,
        )
    )
    return code, expires


async def guardian_codes(session: AsyncSession, now: datetime) -> list[IssuedCode]:
    """New codes for every guardian of a current pupil who has no linked account yet."""
    linked = select(ChatLink.guardian_id).where(col(ChatLink.guardian_id).is_not(None))
    rows = await session.exec(
        select(Guardian, Pupil, SchoolGroup.name)
        .join(GuardianPupil, col(GuardianPupil.guardian_id) == col(Guardian.id))
        .join(Pupil, col(Pupil.id) == col(GuardianPupil.pupil_id))
        .join(SchoolGroup, col(SchoolGroup.id) == col(Pupil.group_id))
        .where(col(Pupil.left_at).is_(None), col(Guardian.id).not_in(linked))
        .order_by(col(Guardian.name), col(Guardian.id), col(Pupil.geboortedatum))
    )
    children: dict[int, tuple[Guardian, list[str]]] = {}
    for guardian, pupil, group in rows.all():
        entry = children.setdefault(guardian.id or 0, (guardian, []))
        entry[1].append(f"{full_name(pupil)} ({group})")
    issued: list[IssuedCode] = []
    for guardian, pupils in children.values():
        code, expires = await issue_code(session, now, guardian_id=guardian.id)
        issued.append(
            IssuedCode(
                AuthorKind.GUARDIAN, guardian.name, guardian.email, tuple(pupils), code, expires
            )
        )
    await audit.record(
        session, None, AuditAction.INVITE_CODES_ISSUED, now, detail=f"{len(issued)} guardians"
    )
    return issued


async def staff_codes(session: AsyncSession, now: datetime) -> list[IssuedCode]:
    """New codes for every active member of staff without a linked account (teachers
    from the EDEXML import, or one who lost the code from `add-staff`)."""
    linked = select(ChatLink.staff_id).where(col(ChatLink.staff_id).is_not(None))
    rows = await session.exec(
        select(Staff)
        .where(col(Staff.active), col(Staff.id).not_in(linked))
        .order_by(col(Staff.name), col(Staff.id))
    )
    issued: list[IssuedCode] = []
    for staff in rows.all():
        groups = await session.exec(
            select(SchoolGroup.name)
            .join(StaffGroup, col(StaffGroup.group_id) == col(SchoolGroup.id))
            .where(StaffGroup.staff_id == staff.id)
            .order_by(col(SchoolGroup.name))
        )
        code, expires = await issue_code(session, now, staff_id=staff.id)
        issued.append(
            IssuedCode(AuthorKind.STAFF, staff.name, "", tuple(groups.all()), code, expires)
        )
    if issued:
        await audit.record(
            session, None, AuditAction.INVITE_CODES_ISSUED, now, detail=f"{len(issued)} staff"
        )
    return issued


async def add_staff(
    session: AsyncSession, name: str, role: StaffRole, group_names: list[str], now: datetime
) -> IssuedCode:
    name = name.strip()
    if not name:
        raise InvalidInput("name")
    if role is StaffRole.TEACHER and not group_names:
        raise InvalidInput("teacher_without_group")
    group_ids: list[int] = []
    for group_name in group_names:
        group = (
            await session.exec(
                select(SchoolGroup).where(
                    func.upper(SchoolGroup.name) == group_name.strip().upper()
                )
            )
        ).first()
        if group is None:
            raise InvalidInput(f"unknown_group:{group_name}")
        group_ids.append(group.id or 0)
    staff = Staff(name=name, role=role)
    session.add(staff)
    await session.flush()
    for group_id in group_ids:
        session.add(StaffGroup(staff_id=staff.id or 0, group_id=group_id))
    code, expires = await issue_code(session, now, staff_id=staff.id)
    await audit.record(session, None, AuditAction.STAFF_ADDED, now, detail=f"{role.value} {name}")
    return IssuedCode(AuthorKind.STAFF, name, "", tuple(group_names), code, expires)
