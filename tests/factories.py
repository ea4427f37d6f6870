"""Builders for test data: a school's records in a few lines."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows import requests
from flows.actor import Actor, load_actor
from flows.invites import add_staff, issue_code
from flows.requests import Draft
from storage.importers.vendors import DATA_FIELDS
from storage.models import (
    ChatLink,
    Guardian,
    GuardianPupil,
    Pupil,
    Request,
    SchoolGroup,
    Staff,
    StaffGroup,
    StaffRole,
    Vendor,
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


# Long but real Dutch names: a list of them is as long as a school's list gets.
FIRST_NAMES = ("Anne-Sophie", "Jan-Willem", "Fleur-Marijke", "Mohammed-Amin", "Evi-Lotte")
SURNAMES = (("van der", "Berg-Janssen"), ("van den", "Heuvel-Bakker"), ("", "Oosterhuis-El Amrani"))


async def many_pupils(
    session: AsyncSession, count: int, group_names: list[str], *, first_number: int = 900_000
) -> list[Pupil]:
    """`count` pupils with long names, spread evenly over the groups, none with a
    consent choice: every one of them is on the "may not appear" lists."""
    made: list[Pupil] = []
    for index in range(count):
        tussen, last = SURNAMES[index % len(SURNAMES)]
        made.append(
            await pupil(
                session,
                f"{FIRST_NAMES[index % len(FIRST_NAMES)]}",
                f"{last}{index:03d}",
                tussen,
                group_names[index % len(group_names)],
                leerlingnummer=str(first_number + index),
                leerlingkey=f"LK-{first_number + index}-0123456789abcdef",
                basispoort_id=f"BP-{first_number + index:010d}",
            )
        )
    return made


async def vendors(session: AsyncSession, count: int) -> list[Vendor]:
    """`count` suppliers that each receive every data field there is."""
    made = [
        Vendor(
            key=f"leverancier-{number:02d}",
            name=f"Leerplatform Rekenen en Taal Plus {number:02d}",
            supplier=f"Educatieve Uitgeverij Noord-Nederland {number:02d} B.V.",
            description="Oefenprogramma voor rekenen en taal.",
            purpose="Leerlingen oefenen op hun eigen niveau.",
            data_fields=",".join(DATA_FIELDS),
        )
        for number in range(1, count + 1)
    ]
    session.add_all(made)
    await session.flush()
    return made


# The forms' requests as a parent sends them, in one call (flows.requests.create takes
# a Draft as the bot's form fills it in).


async def create_correction(
    session: AsyncSession,
    actor: Actor,
    pupil_id: int,
    field: str,
    value: str,
    text: str | None,
    now: datetime,
    update_id: int | None = None,
) -> Request:
    draft = Draft("correction", pupil_id, {"field": field}, value=value, text=text)
    return await requests.create(session, actor, draft, now, update_id)


async def create_deletion(
    session: AsyncSession,
    actor: Actor,
    pupil_id: int,
    what: str,
    ground: str,
    text: str | None,
    now: datetime,
    update_id: int | None = None,
) -> Request:
    draft = Draft("deletion", pupil_id, {"what": what, "ground": str(ground)}, text=text)
    return await requests.create(session, actor, draft, now, update_id)


async def create_question(
    session: AsyncSession,
    actor: Actor,
    pupil_id: int,
    addressee: str,
    text: str,
    now: datetime,
    update_id: int | None = None,
    *,
    shared: bool = False,
) -> Request:
    draft = Draft("question", pupil_id, {"addressee": str(addressee)}, text=text, shared=shared)
    return await requests.create(session, actor, draft, now, update_id)


async def create_access_request(
    session: AsyncSession,
    actor: Actor,
    pupil_id: int,
    text: str | None,
    now: datetime,
    update_id: int | None = None,
) -> Request:
    draft = Draft("access", pupil_id, text=text)
    return await requests.create(session, actor, draft, now, update_id)


async def check_correction(
    session: AsyncSession, actor: Actor, pupil_id: int, field: str, value: str, now: datetime
) -> str | None:
    """The correction form's value step: the value as it would be stored."""
    draft = Draft("correction", pupil_id, {"field": field})
    return (await requests.write(session, actor, draft, value, now)).value


# The school of the flow tests, with the Telegram accounts its people use.
ANOUK_TG, BRAM_TG, DIRECTOR_TG = 9001, 9002, 9100
SANNE_TG, MARK_TG, PIET_TG = 4001, 4002, 4003


@dataclass
class School:
    """Emma (5A) and Daan (7B) de Vries, with parents Sanne and Mark; Noor Bakker (5A),
    with Piet. Anouk teaches 5A, Bram 7B; Jeroen Visser is the director."""

    emma: Pupil
    daan: Pupil
    noor: Pupil
    sanne: Actor
    mark: Actor
    piet: Actor
    anouk: Actor
    bram: Actor  # without an account unless asked for: then 7B's requests go elsewhere
    director: Actor

    @property
    def anouk_id(self) -> int:
        return self.anouk.staff_id or 0

    @property
    def director_id(self) -> int:
        return self.director.staff_id or 0


async def school(session: AsyncSession, *, bram_linked: bool = False) -> School:
    """Flushed, not committed: the caller adds what its tests need and commits."""
    emma = await pupil(session, "Emma", "Vries", "de", "5A")
    daan = await pupil(session, "Daan", "Vries", "de", "7B", geslacht="M")
    noor = await pupil(session, "Noor", "Bakker", "", "5A")
    sanne = await guardian(session, "Sanne de Vries", emma, daan)
    mark = await guardian(session, "Mark de Vries", emma, daan)
    piet = await guardian(session, "Piet Bakker", noor)
    await staff(session, "Anouk Jansen", StaffRole.TEACHER, ("5A",), telegram_user_id=ANOUK_TG)
    bram_tg = BRAM_TG if bram_linked else None
    bram = await staff(session, "Bram Smit", StaffRole.TEACHER, ("7B",), telegram_user_id=bram_tg)
    await staff(session, "Jeroen Visser", StaffRole.DIRECTOR, telegram_user_id=DIRECTOR_TG)
    return School(
        emma=emma,
        daan=daan,
        noor=noor,
        sanne=await link_guardian(session, sanne, SANNE_TG),
        mark=await link_guardian(session, mark, MARK_TG),
        piet=await link_guardian(session, piet, PIET_TG),
        anouk=await load_actor(session, ANOUK_TG, "nl"),
        bram=await load_actor(session, BRAM_TG, "nl")
        if bram_linked
        else Actor(telegram_user_id=0, locale="nl", staff_id=bram.id, role=StaffRole.TEACHER),
        director=await load_actor(session, DIRECTOR_TG, "nl"),
    )
