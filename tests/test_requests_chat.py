"""Requests as a parent makes them in the chat: a few taps and a typed value, a reference
and a due date, Mijn verzoeken, cancelling at any step, and hostile input."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import date

from aiogram.methods import SendMessage
from sqlmodel import select

from bot.callbacks import RequestAction, RequestCb
from flows.clock import FixedClock
from storage.db import SessionFactory
from storage.models import Disclosure, Outbox, Request, RequestMessage, StaffRole
from tests import factories
from tests.recording import ChatDriver, RecordingSession


async def _school(factory: SessionFactory, clock: FixedClock) -> dict[str, object]:
    async with factory() as session:
        emma = await factories.pupil(
            session, "Emma", "Vries", "de", "5A", bijzonderheden="dyslexie"
        )
        daan = await factories.pupil(session, "Daan", "Vries", "de", "7B")
        sanne = await factories.guardian(session, "Sanne de Vries", emma, daan)
        mark = await factories.guardian(session, "Mark de Vries", emma, daan)
        noor = await factories.pupil(session, "Noor", "Bakker", "", "5A")
        piet = await factories.guardian(session, "Piet Bakker", noor)
        await factories.staff(
            session, "Juf Anouk", StaffRole.TEACHER, ("5A",), telegram_user_id=7001
        )
        await factories.staff(session, "Meester Bram", StaffRole.DIRECTOR, telegram_user_id=7002)
        session.add(
            Disclosure(
                pupil_id=emma.id or 0,
                recipient="Leerplichtambtenaar gemeente Flint",
                disclosed_on=date(2026, 10, 5),
                legal_ground="wettelijke plicht (Leerplichtwet)",
                description="",
            )
        )
        ids = {
            "emma": emma.id,
            "noor": noor.id,
            "sanne": await factories.guardian_code(session, sanne, clock.now()),
            "mark": await factories.guardian_code(session, mark, clock.now()),
            "piet": await factories.guardian_code(session, piet, clock.now()),
        }
        await session.commit()
    return ids


def seen(person: ChatDriver) -> str:
    """The last message as the parent reads it: tags gone, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", person.last_text))


async def _linked(chat: Callable[..., ChatDriver], user_id: int, code: object) -> ChatDriver:
    person = chat(user_id)
    await person.send(f"/start {code}")
    await person.send("/menu")
    return person


async def test_correction_of_a_birth_date_reaches_the_teacher_with_reference_and_due_date(
    chat: Callable[..., ChatDriver], factory: SessionFactory, clock: FixedClock
) -> None:
    school = await _school(factory, clock)
    sanne = await _linked(chat, 5001, school["sanne"])
    await sanne.press("Correctie vragen")
    assert seen(sanne) == "Over welk kind gaat het?"
    await sanne.press("Emma de Vries")
    assert "• geboortedatum: 12 maart 2017" in seen(sanne)
    await sanne.press("Geboortedatum")
    assert "Wat moet er staan bij geboortedatum?" in seen(sanne)
    await sanne.send("31-02-2017")
    assert "Dat is geen geldige geboortedatum" in seen(sanne)
    await sanne.send("12-03-2017")
    assert "Dit heeft de school al zo vastgelegd" in seen(sanne)
    await sanne.send("13-03-2017")
    assert "Wilt u iets toelichten?" in seen(sanne)
    await sanne.send("Zie het <b>paspoort</b> & geboorteakte")
    assert "geboortedatum: 12 maart 2017 → 13 maart 2017" in seen(sanne)
    # Shown as typed, not as formatting.
    assert "Zie het &lt;b&gt;paspoort&lt;/b&gt; &amp; geboorteakte" in sanne.last_text
    await sanne.press("Versturen")
    assert "Verstuurd. Uw kenmerk is OL-2026-0001." in seen(sanne)
    assert "Uw verzoek is naar Juf Anouk (de leerkracht) gestuurd." in seen(sanne)
    assert "U krijgt uiterlijk 2 december 2026 antwoord." in seen(sanne)

    async with factory() as session:
        request = (await session.exec(select(Request))).one()
        outbox = (await session.exec(select(Outbox))).all()
    assert (request.field, request.old_value, request.new_value) == (
        "geboortedatum",
        "2017-03-12",
        "2017-03-13",
    )
    assert request.text == "Zie het <b>paspoort</b> & geboorteakte"
    assert [(o.telegram_user_id, o.template) for o in outbox] == [(7001, "request_new")]

    # A double tap on Versturen sends nothing twice.
    query = await sanne.press_data(
        sanne.last_message_id, RequestCb(action=RequestAction.SEND).pack()
    )
    assert query is not None
    async with factory() as session:
        assert len((await session.exec(select(Request))).all()) == 1


async def test_deletion_goes_to_the_director_and_mijn_verzoeken_shows_it(
    chat: Callable[..., ChatDriver], factory: SessionFactory, clock: FixedClock
) -> None:
    school = await _school(factory, clock)
    sanne = await _linked(chat, 5002, school["sanne"])
    await sanne.press("Verwijdering vragen")
    await sanne.press("Emma de Vries")
    await sanne.press("Foto's en video's van het kind")
    await sanne.press("De toestemming is ingetrokken")
    assert "Overslaan" in sanne.buttons()
    await sanne.press("Overslaan")
    assert "Verwijderen: Foto's en video's van het kind" in seen(sanne)
    await sanne.press("Versturen")
    assert "naar Meester Bram (de directeur) gestuurd" in seen(sanne)
    assert "De directeur beslist over uw verzoek." in seen(sanne)

    await sanne.press("Mijn verzoeken")
    assert "OL-2026-0001" in seen(sanne)
    assert "Status: wacht op besluit van de directeur" in seen(sanne)
    await sanne.press("Verwijdering van foto's en video's van het kind · Emma")
    await sanne.press("Bericht toevoegen")
    await sanne.send("Het gaat vooral om de schoolfoto van 2025.")
    assert "Uw bericht is toegevoegd." in seen(sanne)
    assert "Het gaat vooral om de schoolfoto van 2025." in seen(sanne)
    await sanne.press("Verzoek intrekken")
    await sanne.press("Ja, intrekken")
    assert "Uw verzoek is ingetrokken." in seen(sanne)
    assert "Status: ingetrokken" in seen(sanne)
    async with factory() as session:
        templates = [o.template for o in (await session.exec(select(Outbox))).all()]
        messages = (await session.exec(select(RequestMessage))).all()
    assert templates == ["request_new", "request_message", "request_withdrawn"]
    assert [m.text for m in messages] == ["Het gaat vooral om de schoolfoto van 2025."]


async def test_question_cancelled_with_annuleren_stores_nothing(
    chat: Callable[..., ChatDriver], factory: SessionFactory, clock: FixedClock
) -> None:
    school = await _school(factory, clock)
    piet = await _linked(chat, 5003, school["piet"])
    await piet.press("Vraag stellen")
    await piet.press("De leerkracht")  # Piet has one child: no need to pick
    assert "Typ uw vraag aan de leerkracht." in seen(piet)
    await piet.send("/annuleren")
    assert "Geannuleerd. Er is niets verstuurd." in seen(piet)
    await piet.send("Mag Noor op woensdag eerder weg?")
    # The form is gone: a typed text is no longer a question.
    async with factory() as session:
        assert (await session.exec(select(Request))).all() == []
    await piet.send("/annuleren")
    assert "Er was niets om te annuleren." in seen(piet)


async def test_ten_thousand_characters_are_refused_with_a_clear_message(
    chat: Callable[..., ChatDriver],
    factory: SessionFactory,
    clock: FixedClock,
    bot_and_session: tuple[object, RecordingSession],
) -> None:
    school = await _school(factory, clock)
    piet = await _linked(chat, 5004, school["piet"])
    await piet.press("Vraag stellen")
    await piet.press("De directeur")
    await piet.send("<b>&" * 5000)
    assert "Uw tekst is te lang: er passen maximaal 2000 tekens in." in seen(piet)
    await piet.send("<b>Waarom</b> & wanneer?")
    await piet.press("Versturen")
    assert "Uw verzoek is naar Meester Bram (de directeur) gestuurd." in seen(piet)
    # Every message passed the limits check of the recording session.
    assert bot_and_session[1].of(SendMessage)


async def test_forged_request_and_pupil_ids_of_another_family_reveal_nothing(
    chat: Callable[..., ChatDriver], factory: SessionFactory, clock: FixedClock
) -> None:
    school = await _school(factory, clock)
    sanne = await _linked(chat, 5005, school["sanne"])
    await sanne.press("Vraag stellen")
    await sanne.press("Emma de Vries")
    await sanne.press("De leerkracht")
    await sanne.send("Hoe gaat het met lezen?")
    await sanne.press("Versturen")
    async with factory() as session:
        request_id = (await session.exec(select(Request))).one().id or 0

    piet = await _linked(chat, 5006, school["piet"])
    forged = [
        RequestCb(action=RequestAction.OPEN, request_id=request_id),
        RequestCb(action=RequestAction.WITHDRAW_CONFIRM, request_id=request_id),
        RequestCb(action=RequestAction.ADD_MESSAGE, request_id=request_id),
        RequestCb(
            action=RequestAction.START, pupil_id=int(str(school["emma"])), value="correction"
        ),
        RequestCb(action=RequestAction.CHOOSE, pupil_id=int(str(school["emma"])), value="field.0"),
        RequestCb(action=RequestAction.START, pupil_id=int(str(school["emma"])), value="access"),
    ]
    for data in forged:
        query = await piet.press_data(piet.last_message_id, data.pack())
        assert query is not None
        shown = [m.text for m in piet.my_messages()]
        shown += [a.text or "" for a in piet.answered_callbacks()]
        for text in shown:
            assert "Emma" not in text and "lezen" not in text and "OL-2026" not in text
    async with factory() as session:
        request = (await session.exec(select(Request))).one()
    assert request.status == "open"


async def test_inzage_offers_access_request_for_special_category_and_lists_disclosures(
    chat: Callable[..., ChatDriver], factory: SessionFactory, clock: FixedClock
) -> None:
    school = await _school(factory, clock)
    sanne = await _linked(chat, 5007, school["sanne"])
    await sanne.press("Mijn gegevens")
    await sanne.press("Emma de Vries")
    assert "dyslexie" not in seen(sanne)
    assert "Leerplichtambtenaar gemeente Flint" in seen(sanne)
    await sanne.press("Inzage aanvragen")
    await sanne.press("Overslaan")
    await sanne.press("Versturen")
    assert "naar Meester Bram (de directeur) gestuurd" in seen(sanne)
    await sanne.send("/menu")
    await sanne.press("Mijn gegevens")
    await sanne.press("Emma de Vries")
    assert "Lopende verzoeken" in seen(sanne) and "Inzageverzoek" in seen(sanne)
    await sanne.send("/menu")
    await sanne.press("Gegevens delen met anderen")
    await sanne.press("Emma de Vries")
    assert "leerplichtambtenaar" in seen(sanne)
    assert "5 oktober 2026: Leerplichtambtenaar gemeente Flint" in seen(sanne)


async def test_a_correction_in_english(
    chat: Callable[..., ChatDriver], factory: SessionFactory, clock: FixedClock
) -> None:
    school = await _school(factory, clock)
    mark = await _linked(chat, 5008, school["mark"])
    await mark.send("/taal")
    await mark.press("English")
    await mark.send("/menu")
    await mark.press("Ask for a correction")
    await mark.press("Daan de Vries")
    await mark.press("First name")
    await mark.send("")
    await mark.send("Daniël")
    await mark.press("Skip")
    assert "Is this right?" in seen(mark)
    assert "first name: Daan → Daniël" in seen(mark)
    await mark.press("Send")
    assert "Sent. Your reference is OL-2026-0001." in seen(mark)
    # Group 7B has no linked teacher: the director takes it.
    assert "Your request has been sent to Meester Bram (the director)." in seen(mark)
    assert "You will get an answer by 2 December 2026." in seen(mark)
