"""Builders for test data: a school's records in a few lines."""

from __future__ import annotations

import itertools
from datetime import date, datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows.actor import Actor
from flows.invites import add_staff, issue_code
from storage.models import (
    ChatLink,
    Guardian,
    GuardianPupil,
    Pupil,
    SchoolGroup,
    Staff,
    StaffGroup,
    StaffRole,
)

_numbers = itertools.count(1)


async def group(session: AsyncSession, name: str = "5A") -> SchoolGroup:
    found = (await session.exec(select(SchoolGroup).where(SchoolGroup.name == name))).first()
    if found:
        return found
    made = SchoolGroup(name=name)
    session.add(made)
    await session.flush()
    return made


async def pupil(
    session: AsyncSession,
    voornaam: str = "Emma",
    achternaam: str = "Vries",
    tussenvoegsel: str = "de",
    group_name: str = "5A",
    geboortedatum: date = date(2017, 3, 12),
    **fields: object,
) -> Pupil:
    g = await group(session, group_name)
    made = Pupil(
        leerlingnummer=str(fields.pop("leerlingnummer", 10000 + next(_numbers))),
        voornaam=voornaam,
        tussenvoegsel=tussenvoegsel,
        achternaam=achternaam,
        geboortedatum=geboortedatum,
        geslacht=str(fields.pop("geslacht", "V")),
        group_id=g.id or 0,
        jaargroep=int(str(fields.pop("jaargroep", 5))),
        **fields,  # type: ignore[arg-type]
    )
    session.add(made)
    await session.flush()
    return made


async def guardian(
    session: AsyncSession, name: str = "Sanne de Vries", *children: Pupil, email: str | None = None
) -> Guardian:
    made = Guardian(name=name, email=email or f"ouder{next(_numbers)}@example.org")
    session.add(made)
    await session.flush()
    for child in children:
        session.add(GuardianPupil(guardian_id=made.id or 0, pupil_id=child.id or 0))
    await session.flush()
    return made


async def guardian_code(session: AsyncSession, who: Guardian, now: datetime) -> str:
    code, _expires = await issue_code(session, now, guardian_id=who.id)
    await session.flush()
    return code


async def staff_code(
    session: AsyncSession, name: str, role: StaffRole, groups: list[str], now: datetime
) -> str:
    for name_ in groups:
        await group(session, name_)
    return (await add_staff(session, name, role, groups, now)).code


async def staff(
    session: AsyncSession,
    name: str,
    role: StaffRole = StaffRole.TEACHER,
    groups: tuple[str, ...] = (),
    *,
    telegram_user_id: int | None = None,
    active: bool = True,
) -> Staff:
    """A member of staff in the given groups; with telegram_user_id, also a linked account."""
    made = Staff(name=name, role=role, active=active)
    session.add(made)
    await session.flush()
    for name_ in groups:
        g = await group(session, name_)
        session.add(StaffGroup(staff_id=made.id or 0, group_id=g.id or 0))
    if telegram_user_id is not None:
        session.add(ChatLink(telegram_user_id=telegram_user_id, staff_id=made.id))
    await session.flush()
    return made


async def link_guardian(session: AsyncSession, who: Guardian, telegram_user_id: int) -> Actor:
    """A linked Telegram account for the guardian, and the Actor it acts as."""
    session.add(ChatLink(telegram_user_id=telegram_user_id, guardian_id=who.id))
    await session.flush()
    return guardian_actor(who, telegram_user_id)


def guardian_actor(who: Guardian, telegram_user_id: int = 1) -> Actor:
    return Actor(telegram_user_id=telegram_user_id, locale="nl", guardian_id=who.id)
