"""Over the emulator, the real bot: a parent asks to delete the note about health or
learning, the director approves, and afterwards no table of the database holds the note,
Mijn gegevens no longer announces it, and the parent's message says so. The director
ticks off ParnasSys, and erases a whole child from its logboek."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e import World, running_bot

NOTE = "dyslexie"  # Daan de Vries's note in the demo school


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with running_bot(tmp_path, "polling") as world:
        yield world


def _tables_holding(world: World, needle: str) -> list[str]:
    """Every table with a text cell containing `needle`, read from the database file
    itself: what a dump of the school's database would show."""
    path = world.settings.database_url.split("///", 1)[1]
    found: list[str] = []
    with sqlite3.connect(path) as db:
        tables = [
            name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):
                if any(isinstance(cell, str) and needle in cell.lower() for cell in row):
                    found.append(table)
                    break
    return found


async def test_an_approved_note_deletion_leaves_no_trace_of_the_note(world: World) -> None:
    assert _tables_holding(world, NOTE) == ["pupil"]  # the scan sees the note before
    sanne = await world.linked("Sanne de Vries")
    await sanne.press("Mijn gegevens")
    await sanne.press("Daan de Vries")
    assert "Bijzondere persoonsgegevens" in sanne.last_text

    await sanne.send("/menu")
    await sanne.press("Verwijdering vragen")
    await sanne.press("Daan de Vries")
    # Name, birth date, gender and group are kept and explained; a correction is offered.
    assert "Niet te verwijderen: voornaam, achternaam, geboortedatum, geslacht en groep" in (
        sanne.last_text
    )
    assert "Liever een correctie vragen" in sanne.buttons()
    assert "Voornaam" not in sanne.buttons() and NOTE not in sanne.last_text
    await sanne.press("Liever een correctie vragen")
    assert "Voornaam" in sanne.buttons()  # the correction form, for the same child
    await sanne.press("Annuleren")
    await sanne.send("/menu")
    await sanne.press("Verwijdering vragen")
    await sanne.press("Daan de Vries")
    await sanne.press("Notitie over gezondheid of leren")
    await sanne.press("De gegevens zijn niet meer nodig")
    await sanne.send(f"De {NOTE} is na onderzoek niet meer van toepassing.")
    await sanne.press("Versturen")
    assert "OL-2027-0001" in sanne.last_text

    bram = await world.linked("Meester Bram")
    await bram.send("/wachtrij")
    await bram.press("OL-2027-0001 · Daan de Vries")
    await bram.press("Goedkeuren")
    await bram.send("Akkoord, de notitie is niet meer nodig.")
    await bram.press("Ja, wissen en goedkeuren")
    assert "Verwijderd uit Ouderloket: Notitie over gezondheid of leren" in bram.last_text
    assert '"Nog te doen door de school"' in bram.last_text

    told = await sanne.wait_for(
        "Verwijdering van notitie over gezondheid of leren voor Daan (OL-2027-0001) is afgehandeld."
    )
    text = told.text or ""
    assert "De notitie over gezondheid of leren van Daan is uit Ouderloket verwijderd" in text
    assert "De school verwijdert haar ook uit ParnasSys" in text

    # No table holds the note: not the pupil, the request, its messages, the audit
    # trail or the outbox.
    assert _tables_holding(world, NOTE) == []
    await sanne.send("/menu")
    await sanne.press("Mijn gegevens")
    await sanne.press("Daan de Vries")
    assert "Bijzondere persoonsgegevens" not in sanne.last_text

    # The director's checklist: listed, ticked off on the card, then gone.
    await bram.send("/menu")
    await bram.press("Nog te doen door de school")
    assert "OL-2027-0001" in bram.last_text and "Daan de Vries" in bram.last_text
    assert "Verwijderen in ParnasSys: notitie over gezondheid of leren" in bram.last_text
    await bram.press("✓ OL-2027-0001 gedaan")
    assert "Niets meer te doen." in bram.last_text
    assert all(c.answered for c in world.emu.callbacks.values())


async def test_the_director_erases_a_whole_child_after_confirming(world: World) -> None:
    bram = await world.linked("Meester Bram")
    await bram.press("Logboek van een leerling")
    await bram.send("Noor")
    await bram.press("Noor Bakker")
    await bram.press("Alle gegevens van dit kind wissen")
    assert "Alle gegevens van Noor Bakker (3) wissen?" in bram.last_text
    assert "Dit kan niet ongedaan worden gemaakt." in bram.last_text
    await bram.press("Ja, alles wissen")
    assert "De gegevens van Noor Bakker zijn uit Ouderloket gewist." in bram.last_text
    piet = world.person("Piet Bakker")
    await piet.send(f"/start {world.personas['Piet Bakker'].code}")
    assert "Noor" not in piet.last_text
    assert _tables_holding(world, "noor") == []
    assert all(c.answered for c in world.emu.callbacks.values())
