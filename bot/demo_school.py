"""The fictional school of the demo: OBS de Flint. Every name and address is made up."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows.codes import display
from flows.deadlines import answer_due
from flows.invites import add_staff, issue_code
from storage.importers.pupils import import_pupils
from storage.models import (
    Guardian,
    GuardianPupil,
    Request,
    RequestKind,
    RequestStatus,
    StaffRole,
)

SCHOOL_NAME = "OBS de Flint"
GROUPS = [("1/2A", 1), ("1/2B", 2), ("3", 3), ("4", 4), ("5A", 5), ("6", 6), ("7B", 7), ("8", 8)]
HEADER = (
    "leerlingnummer;voornaam;tussenvoegsel;achternaam;geboortedatum;geslacht;groep;jaargroep;"
    "ouder1_naam;ouder1_email;ouder2_naam;ouder2_email;leerlingkey;groepskey;basispoort_id;"
    "bijzonderheden;toestemming_website;toestemming_nieuwsbrief;toestemming_parro"
)
FIRST = [
    "Lotte",
    "Sem",
    "Julia",
    "Finn",
    "Tess",
    "Lucas",
    "Mila",
    "Levi",
    "Zoë",
    "Bram",
    "Fenna",
    "Jesse",
    "Saar",
    "Thijs",
    "Isa",
    "Luuk",
    "Nina",
    "Milan",
    "Fleur",
    "Ruben",
]
LAST = [
    ("", "Jansen"),
    ("de", "Boer"),
    ("van", "Dijk"),
    ("", "Smit"),
    ("", "Mulder"),
    ("van der", "Meer"),
    ("", "Visser"),
    ("de", "Graaf"),
    ("", "Bos"),
    ("van", "Leeuwen"),
]
TEACHERS = {
    "1/2A": "Juf Ria",
    "1/2B": "Juf Wendy",
    "3": "Meester Ahmed",
    "4": "Juf Karin",
    "5A": "Juf Anouk",
    "6": "Meester Joost",
    "7B": "Juf Sophie",
    "8": "Meester Erik",
}
PARENTS = ["Anne", "Tom", "Eva", "Joris", "Marloes", "Kees", "Ilse", "Rik", "Femke", "Wouter"]


@dataclass(frozen=True)
class Persona:
    user_id: int
    name: str
    description: str
    code: str


def _birth(jaargroep: int, rng: random.Random, today: date) -> date:
    year = today.year - 4 - jaargroep - (1 if today.month < 9 else 0)
    return date(year, rng.randint(1, 12), rng.randint(1, 28))


def pupils_csv(today: date) -> str:
    """The demo export, in ParnasSys' own format, so the demo runs the real importer."""
    rng = random.Random(2026)
    rows = [HEADER]
    number = 5000

    def row(
        first: str,
        tussen: str,
        last: str,
        group: str,
        jaar: int,
        sex: str,
        parents: list[tuple[str, str]],
        special: str = "",
        consent: tuple[str, str, str] = ("ja", "ja", "ja"),
    ) -> None:
        nonlocal number
        number += 1
        p1, p2 = parents[0], parents[1] if len(parents) > 1 else ("", "")
        born = _birth(jaar, rng, today).strftime("%d-%m-%Y")
        rows.append(
            ";".join(
                [
                    str(number),
                    first,
                    tussen,
                    last,
                    born,
                    sex,
                    group,
                    str(jaar),
                    p1[0],
                    p1[1],
                    p2[0],
                    p2[1],
                    f"LK{number}",
                    f"GK-{group}",
                    f"BP{number:06d}",
                    special,
                    *consent,
                ]
            )
        )

    sanne = ("Sanne de Vries", "sanne.devries@example.org")
    mark = ("Mark de Vries", "mark.devries@example.org")
    piet = ("Piet Bakker", "piet.bakker@example.org")
    row("Emma", "de", "Vries", "5A", 5, "V", [sanne, mark], consent=("ja", "ja", "nee"))
    row("Daan", "de", "Vries", "7B", 7, "M", [sanne, mark], special="dyslexie")
    row("Noor", "", "Bakker", "3", 3, "V", [piet], consent=("nee", "ja", "ja"))
    for index in range(33):
        tussen, last = LAST[index % len(LAST)]
        group, jaar = GROUPS[index % len(GROUPS)]
        family = f"{index:02d}"
        parent = (
            f"{PARENTS[index % len(PARENTS)]} {(tussen + ' ' + last).strip()}",
            f"ouder{family}@example.nl",
        )
        parents = [parent]
        if index % 3:
            parents.append(
                (f"{PARENTS[(index + 3) % len(PARENTS)]} {last}", f"ouder{family}b@example.nl")
            )
        choices = ["ja", "ja", "nee", ""]
        consent = (rng.choice(choices), rng.choice(choices), rng.choice(choices))
        row(
            FIRST[index % len(FIRST)],
            tussen,
            last,
            group,
            jaar,
            rng.choice("MV"),
            parents,
            consent=consent,
        )
        if index % 5 == 0:  # a younger sibling with the same guardians
            young_group, young_jaar = GROUPS[max(0, index % len(GROUPS) - 2)]
            row(
                FIRST[(index + 7) % len(FIRST)], tussen, last, young_group, young_jaar, "V", parents
            )
    return "\n".join(rows) + "\n"


async def seed(session: AsyncSession, now: datetime, history: bool = False) -> list[Persona]:
    """Loads the school and returns the people one can be in the web chat, each with the
    code from their letter."""
    await import_pupils(session, pupils_csv(now.date()).encode("utf-8"), now, filename="demo.csv")
    personas: list[Persona] = []

    async def guardian_persona(user_id: int, email: str, description: str) -> None:
        guardian = (await session.exec(select(Guardian).where(Guardian.email == email))).one()
        code, _ = await issue_code(session, now, guardian_id=guardian.id)
        personas.append(Persona(user_id, guardian.name, description, display(code)))

    await guardian_persona(900001, "sanne.devries@example.org", "Ouder van Emma (5A) en Daan (7B)")
    await guardian_persona(900002, "piet.bakker@example.org", "Ouder van Noor (groep 3)")
    for group, teacher in TEACHERS.items():
        issued = await add_staff(session, teacher, StaffRole.TEACHER, [group], now)
        if group == "5A":
            code = display(issued.code)
            personas.append(Persona(900101, teacher, "Leerkracht van groep 5A", code))
    director = await add_staff(session, "Meester Bram", StaffRole.DIRECTOR, [], now)
    personas.append(Persona(900201, "Meester Bram", "Directeur", display(director.code)))
    personas.append(await _board_persona(session, now))
    if history:
        await _history(session, now, "FL", 11)
    return personas


# The board member has one Telegram account and links it in each school's bot.
BOARD_USER_ID = 900301
BOARD_NAME = "Mevrouw Hendriks"


async def _board_persona(session: AsyncSession, now: datetime) -> Persona:
    issued = await add_staff(session, BOARD_NAME, StaffRole.BOARD, [], now)
    return Persona(BOARD_USER_ID, BOARD_NAME, "Bestuurder", display(issued.code))


async def _history(session: AsyncSession, now: datetime, prefix: str, count: int) -> None:
    """Requests of the past months, decided (mostly on time), so the board's figures and
    the accountability report have something to show."""
    rng = random.Random(prefix)
    # Not the children of the personas one chats as: their lists stay as they were.
    rows = await session.exec(
        select(GuardianPupil)
        .where(col(GuardianPupil.pupil_id) > 3)
        .order_by(col(GuardianPupil.pupil_id), col(GuardianPupil.guardian_id))
    )
    links = list(rows.all())
    if not links:
        return
    kinds = list(RequestKind)
    for index in range(count):
        link = links[(index * 7) % len(links)]
        received = now - timedelta(days=20 + 17 * index)
        late = index % 4 == 3
        decided = received + timedelta(days=40 if late else rng.randint(2, 20))
        session.add(
            Request(
                reference=f"{prefix}-{received.year}-{900 + index}",
                pupil_id=link.pupil_id,
                guardian_id=link.guardian_id,
                kind=kinds[index % len(kinds)],
                status=RequestStatus.RESOLVED if index % 5 else RequestStatus.REJECTED,
                assignee_role=StaffRole.DIRECTOR,
                received_at=received,
                due_at=answer_due(received),
                decided_at=min(decided, now),
                text="",
            )
        )
    await session.flush()


SECOND_NAME = "CBS De Esch"


def second_pupils_csv(today: date) -> str:
    """The second, smaller demo school: other children, other parents."""
    rng = random.Random(2027)
    rows = [HEADER]
    for index in range(12):
        number = 7001 + index
        group, jaar = GROUPS[index % len(GROUPS)]
        tussen, last = LAST[(index + 4) % len(LAST)]
        born = _birth(jaar, rng, today).strftime("%d-%m-%Y")
        parent = f"{PARENTS[(index + 5) % len(PARENTS)]} {last}"
        choices = ["ja", "ja", "nee", ""]
        rows.append(
            ";".join(
                [
                    str(number),
                    FIRST[(index + 11) % len(FIRST)],
                    tussen,
                    last,
                    born,
                    rng.choice("MV"),
                    group,
                    str(jaar),
                    parent,
                    f"esch{index:02d}@example.nl",
                    "",
                    "",
                    f"LK{number}",
                    f"GK-E{group}",
                    f"BP{number:06d}",
                    "",
                    rng.choice(choices),
                    rng.choice(choices),
                    rng.choice(choices),
                ]
            )
        )
    return "\n".join(rows) + "\n"


async def seed_second(session: AsyncSession, now: datetime, history: bool = False) -> list[Persona]:
    """CBS De Esch, the board's second school in the demo, in its own database."""
    csv = second_pupils_csv(now.date()).encode("utf-8")
    await import_pupils(session, csv, now, filename="esch.csv")
    guardian = (
        await session.exec(select(Guardian).where(Guardian.email == "esch00@example.nl"))
    ).one()
    code, _ = await issue_code(session, now, guardian_id=guardian.id)
    personas = [Persona(910001, guardian.name, "Ouder (De Esch)", display(code))]
    teacher = await add_staff(session, "Juf Mirjam", StaffRole.TEACHER, ["1/2A"], now)
    personas.append(
        Persona(910101, "Juf Mirjam", "Leerkracht van groep 1/2A", display(teacher.code))
    )
    director = await add_staff(session, "Meester Henk", StaffRole.DIRECTOR, [], now)
    personas.append(Persona(910201, "Meester Henk", "Directeur (De Esch)", display(director.code)))
    personas.append(await _board_persona(session, now))
    if history:
        await _history(session, now, "ES", 6)
    return personas
