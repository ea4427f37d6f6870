"""Builders for test data: a school's records in a few lines."""

from __future__ import annotations

import itertools
from datetime import date, datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows.invites import add_staff, issue_code
from storage.models import Guardian, GuardianPupil, Pupil, SchoolGroup, StaffRole

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
