"""The fictional school of the demo: OBS de Flint. Every name and address is made up."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows.codes import display
from flows.invites import add_staff, issue_code
from storage.importers.pupils import import_pupils
from storage.models import Guardian, StaffRole

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


async def seed(session: AsyncSession, now: datetime) -> list[Persona]:
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
    return personas
