"""Mijn gegevens: a parent sees what the school holds, never special category data, and
never another family's child."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from aiogram.methods import DeleteMessage
from sqlmodel import select

from bot.callbacks import InzageCb
from bot.expiry import MessageExpirer
from flows.clock import FixedClock
from storage.db import SessionFactory
from storage.importers.vendors import import_vendors
from storage.models import Pupil
from tests import factories
from tests.recording import ChatDriver, recording_bot

VENDORS = Path(__file__).resolve().parent.parent / "data" / "vendors"


async def _family(factory: SessionFactory, clock: FixedClock) -> tuple[str, int]:
    async with factory() as session:
        await import_vendors(session, VENDORS)
        emma = await factories.pupil(
            session,
            "Emma",
            "Vries",
            "de",
            "5A",
            geboortedatum=date(2017, 3, 12),
            leerlingnummer="4711",
            basispoort_id="BP-998877",
            bijzonderheden="dyslexie",
        )
        daan = await factories.pupil(session, "Daan", "Vries", "de", "7B")
        sanne = await factories.guardian(session, "Sanne de Vries", emma, daan)
        await factories.guardian(session, "Mark de Vries", emma)
        noor = await factories.pupil(session, "Noor", "Bakker", "", "5A")
        await factories.guardian(session, "Piet Bakker", noor)
        code = await factories.guardian_code(session, sanne, clock.now())
        await session.commit()
        return code, noor.id or 0


async def test_parent_sees_the_record_and_what_basispoort_knows_but_no_special_data(
    chat: Callable[..., ChatDriver], factory: SessionFactory, clock: FixedClock
) -> None:
    code, _noor = await _family(factory, clock)
    parent = chat(6001)
    await parent.send(f"/start {code}")
    await parent.press("Mijn gegevens")
    await parent.press("Emma de Vries")
    text = parent.last_text
    assert "Naam: Emma de Vries\nGeboortedatum: 12 maart 2017\nGeslacht: meisje\n" in text
    assert "Leerlingnummer: 4711" in text and "Groep: 5A (jaargroep 5)" in text
    assert "Ouders/verzorgers: Mark de Vries, Sanne de Vries" in text
    assert "Wat weet Basispoort over Emma?" in text
    assert "• Basispoort-nummer: BP-998877" in text
    assert "• geboortedatum: 12 maart 2017" in text
    assert "Website: nog niet gekozen" in text
    assert "bijzondere persoonsgegevens" in text
    assert "dyslexie" not in text.lower()
    assert all("dyslexie" not in repr(c.method) for c in parent.session.calls)

    await parent.send("/taal")
    await parent.press("English")
    await parent.send("/menu")
    await parent.press("Your data")
    await parent.press("Emma de Vries")
    assert "Date of birth: 12 March 2017\nGender: girl" in parent.last_text
    assert "What does Basispoort know about Emma?" in parent.last_text


async def test_forged_pupil_id_of_another_family_reveals_nothing(
    chat: Callable[..., ChatDriver], factory: SessionFactory, clock: FixedClock
) -> None:
    code, noor = await _family(factory, clock)
    parent = chat(6002)
    await parent.send(f"/start {code}")
    before = parent.last_text
    query = await parent.press_data(parent.last_message_id, InzageCb(pupil_id=noor).pack())
    answer = next(a for a in parent.answered_callbacks() if a.callback_query_id == query.id)
    assert answer.text == "Niet gevonden."
    assert parent.last_text == before
    async with factory() as session:
        assert (await session.exec(select(Pupil).where(Pupil.id == noor))).one().voornaam == "Noor"
    for call in parent.session.calls:
        assert "Noor" not in repr(call.method)


async def test_the_data_message_says_when_it_goes_and_is_deleted_after_a_restart(
    chat: Callable[..., ChatDriver], factory: SessionFactory, clock: FixedClock
) -> None:
    code, _noor = await _family(factory, clock)
    parent = chat(6003)
    await parent.send(f"/start {code}")
    await parent.send("/menu")
    await parent.press("Mijn gegevens")
    await parent.press("Emma de Vries")
    # 09:00 UTC is 10:00 in Amsterdam; the default DATA_VIEW_TTL is 15 minutes.
    assert "verdwijnt dit bericht om 10:15 uur uit deze chat" in parent.last_text
    shown = parent.last_message_id

    # The bot restarts: a new Bot and a new expirer, the same database.
    bot, recorder = recording_bot()
    expirer = MessageExpirer(bot, factory, clock)
    clock.advance(minutes=14)
    assert await expirer.delete_due() == 0
    clock.advance(minutes=1)
    assert await expirer.delete_due() == 1
    deleted = recorder.of(DeleteMessage)
    assert [(d.chat_id, d.message_id) for d in deleted] == [(6003, shown)]
    assert await expirer.delete_due() == 0
