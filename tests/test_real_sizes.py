"""The screens that matter most at a real school: the director's consent overview for
300 pupils, and Mijn gegevens with 20 suppliers for a family of four children. Over the
emulator, which refuses what Telegram refuses (more than 4096 characters, callback data
over 64 bytes), so a screen that does not fit fails here as it would for a parent."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import select

from bot.emulator.driver import ChatPerson
from bot.emulator.state import StoredMessage
from flows.codes import display
from storage.db import create_engine, create_session_factory, transaction
from storage.models import SchoolGroup, StaffRole
from tests import factories
from tests.e2e import World, running_bot

FAMILY_CHILDREN = ("Mila", "Sem", "Lotte", "Bram")
ADDED = re.compile(r"(?:Berg-Janssen|Heuvel-Bakker|Oosterhuis-El Amrani)\d{3}")


def _length(message: StoredMessage) -> int:
    return len((message.text or "").encode("utf-16-le")) // 2


def _assert_fits(person: ChatPerson) -> None:
    for message in person.bot_messages():
        assert _length(message) <= 4096
        for button in message.buttons():
            assert len(button.get("callback_data", "").encode()) <= 64


def _assert_accepted(world: World) -> None:
    assert all(c.answered for c in world.emu.callbacks.values())


# The bot drops a user's updates beyond 20 in 10 seconds; a test that reads every page
# as fast as the emulator answers would exceed that, so the pages are shared among a
# few people: the directors of a school board, the two parents of the family.
DIRECTORS = range(950_001, 950_009)
PARENTS = (900_777, 900_778)


@pytest.fixture
async def school(tmp_path: Path) -> AsyncIterator[tuple[World, list[str]]]:
    """The demo school grown to 300 more pupils, 20 suppliers and a family of four."""
    async with running_bot(tmp_path, "polling") as world:
        engine = create_engine(world.settings.database_url)
        try:
            async with transaction(create_session_factory(engine)) as session:
                groups = [g.name for g in (await session.exec(select(SchoolGroup))).all()]
                await factories.many_pupils(session, 300, groups)
                await factories.vendors(session, 19)  # and the demo's Basispoort: 20
                children = [
                    await factories.pupil(
                        session, name, "Heuvel-Bakker", "van den", groups[i], leerlingnummer=f"8{i}"
                    )
                    for i, name in enumerate(FAMILY_CHILDREN)
                ]
                codes = []
                for name in ("Fatima van den Heuvel-Bakker", "Joost van den Heuvel"):
                    parent = await factories.guardian(session, name, *children)
                    codes.append(await factories.guardian_code(session, parent, world.clock.now()))
                for number, user_id in enumerate(DIRECTORS):
                    await factories.staff(
                        session, f"Directeur {number}", StaffRole.DIRECTOR, telegram_user_id=user_id
                    )
        finally:
            await engine.dispose()
        yield world, [display(code) for code in codes]


async def test_the_directors_consent_overview_of_a_300_pupil_school_fits_telegram(
    school: tuple[World, list[str]],
) -> None:
    world, _codes = school
    first = ChatPerson(world.emu, DIRECTORS[0], "Directeur")
    await first.send("/toestemmingen", reply=True)
    assert "Kies een groep" in first.last_text
    groups = [label for label in first.buttons() if label.startswith("Groep ")]
    assert len(groups) == 8
    named = 0
    for user_id, label in zip(DIRECTORS, groups, strict=True):
        director = ChatPerson(world.emu, user_id, "Directeur")
        await director.send("/toestemmingen", reply=True)
        await director.press(label)
        page = director.last
        assert "Wie mag NIET op beeld" in (page.text or "")
        named += len(ADDED.findall(page.text or ""))
        # A group too large for one message is shown one channel at a time.
        for channel in [b for b in director.buttons() if b.strip("• ") in ("Nieuwsbrief", "Parro")]:
            await director.press(channel)
            named += len(ADDED.findall(director.last_text))
    # None of the 300 has a consent choice: each is listed once in each of the 3 channels.
    assert named == 300 * 3
    for user_id in DIRECTORS:
        _assert_fits(ChatPerson(world.emu, user_id))
    _assert_accepted(world)


async def test_mijn_gegevens_with_20_suppliers_and_four_children_fits_telegram(
    school: tuple[World, list[str]],
) -> None:
    world, codes = school
    parents = [ChatPerson(world.emu, user_id, "Ouder") for user_id in PARENTS]
    for parent, code in zip(parents, codes, strict=True):
        await parent.send(f"/start {code}", reply=True)
        assert "Uw account is gekoppeld." in parent.last_text
        assert all(child in parent.last_text for child in FAMILY_CHILDREN)
    for number, child in enumerate(FAMILY_CHILDREN):
        parent = parents[number % 2]
        await parent.send("/menu", reply=True)
        await parent.press("Mijn gegevens")
        await parent.press(f"{child} van den Heuvel-Bakker")
        record = parent.last_text
        assert f"Wat de school vastlegt over {child}" in record
        assert "20 leveranciers krijgen gegevens van" in record
        await parent.press("Wat weten de leveranciers?")
        seen: list[str] = []
        while True:
            text = parent.last_text
            seen += [n for n in range(1, 20) if f"Plus {n:02d} over {child}?" in text]
            seen += [0] if f"Wat weet Basispoort over {child}?" in text else []
            if "Volgende »" not in parent.buttons():
                break
            await parent.press("Volgende »")
        assert "Pagina 4 van 4" in parent.last_text
        assert sorted(seen) == list(range(20))
        await parent.press("« Vorige")
        assert "Pagina 3 van 4" in parent.last_text
        assert "verdwijnt dit bericht om" in parent.last_text
    for parent in parents:
        _assert_fits(parent)
    _assert_accepted(world)
