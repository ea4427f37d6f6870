"""The staff side in the chat: a teacher's queue and request card, the director's
approvals, and what the parent then sees."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from sqlmodel import select

from bot.callbacks import StaffAction, StaffCb
from bot.outbox import OutboxSender
from flows.clock import FixedClock
from flows.requests import Action
from storage.db import SessionFactory
from storage.models import ConsentEvent, ConsentSource, Outbox, Pupil, Request, StaffRole
from tests import factories
from tests.recording import ChatDriver, recording_bot

PARENT, TEACHER, OTHER_TEACHER, DIRECTOR = 8001, 8101, 8102, 8201


def seen(person: ChatDriver) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", person.last_text))


async def _school(factory: SessionFactory, clock: FixedClock) -> dict[str, object]:
    async with factory() as session:
        emma = await factories.pupil(session, "Emma", "Vries", "de", "5A")
        sem = await factories.pupil(session, "Sem", "Jansen", "", "7B")
        sanne = await factories.guardian(session, "Sanne de Vries", emma)
        await factories.guardian(session, "Tom Jansen", sem)
        await factories.staff(
            session, "Juf Anouk", StaffRole.TEACHER, ("5A",), telegram_user_id=TEACHER
        )
        await factories.staff(
            session, "Juf Sophie", StaffRole.TEACHER, ("7B",), telegram_user_id=OTHER_TEACHER
        )
        await factories.staff(
            session, "Meester Bram", StaffRole.DIRECTOR, telegram_user_id=DIRECTOR
        )
        session.add(
            ConsentEvent(
                pupil_id=emma.id or 0,
                channel="website",
                granted=False,
                at=clock.now(),
                source=ConsentSource.IMPORT,
            )
        )
        ids = {
            "emma": emma.id,
            "sem": sem.id,
            "sanne": await factories.guardian_code(session, sanne, clock.now()),
        }
        await session.commit()
    return ids


async def _parent_asks_correction(chat: Callable[..., ChatDriver], code: object) -> ChatDriver:
    sanne = chat(PARENT)
    await sanne.send(f"/start {code}")
    await sanne.send("/menu")
    await sanne.press("Correctie vragen")
    await sanne.press("Voornaam")
    await sanne.send("Emma Sophie")
    await sanne.send("Zo staat het in het <b>paspoort</b>")
    await sanne.press("Versturen")
    return sanne


async def test_teacher_resolves_a_correction_and_the_stored_value_changes(
    chat: Callable[..., ChatDriver], factory: SessionFactory, clock: FixedClock
) -> None:
    school = await _school(factory, clock)
    sanne = await _parent_asks_correction(chat, school["sanne"])
    assert "naar Juf Anouk (de leerkracht) gestuurd" in seen(sanne)

    # The notification to the teacher carries an Openen button.
    bot, recorder = recording_bot()
    sender = OutboxSender(bot, factory, chat(TEACHER).dp["i18n"], clock, per_chat_interval=0)
    await sender.deliver_due()
    notice = [s for s in recorder.shown.values() if s.chat_id == TEACHER][-1]
    assert "Nieuw verzoek OL-2026-0001" in notice.text
    assert notice.markup is not None and notice.markup.inline_keyboard[0][0].text == "Openen"

    anouk = chat(TEACHER)
    await anouk.send("/wachtrij")
    assert "OL-2026-0001" in seen(anouk) and "Emma de Vries (5A)" in seen(anouk)
    await anouk.press("OL-2026-0001 · Emma de Vries")
    card = seen(anouk)
    assert "voornaam: Emma → Emma Sophie" in card
    assert "Zo staat het in het <b>paspoort</b>" in card  # escaped, shown as typed
    await anouk.press("Oppakken")
    assert "U heeft dit verzoek opgepakt." in seen(anouk)
    await anouk.press("Afhandelen")
    await anouk.send("")
    await anouk.send("Aangepast, dank u wel.")
    # A changed value is shown as it will be, and nothing changes until it is confirmed.
    preview = seen(anouk)
    assert "Voornaam wordt in Ouderloket aangepast:\nEmma → Emma Sophie" in preview
    assert "Aangepast, dank u wel." in preview and "Er is nog niets veranderd." in preview
    assert "De ouders krijgen bericht." in preview  # the parent is linked
    async with factory() as session:
        unchanged = await session.get(Pupil, school["emma"])
        assert unchanged is not None and unchanged.voornaam == "Emma"
        assert (await session.exec(select(Request))).one().status == "in_progress"
    await anouk.press("Ja, aanpassen en afhandelen")
    assert "Afgehandeld." in seen(anouk) and "Bericht aan de ouder: wordt bezorgd." in seen(anouk)
    assert "Opgeslagen: voornaam" in seen(anouk)
    assert "Pas dit ook aan in ParnasSys" in seen(anouk)

    async with factory() as session:
        emma = await session.get(Pupil, school["emma"])
        outbox = (await session.exec(select(Outbox).where(Outbox.telegram_user_id == PARENT))).all()
    assert emma is not None and emma.voornaam == "Emma Sophie"
    assert "request_resolved" in [o.template for o in outbox]

    await sanne.send("/menu")
    await sanne.press("Mijn verzoeken")
    assert "Status: afgehandeld" in seen(sanne)
    # The button names the request by what it is, not only by its reference.
    await sanne.press("Correctie voornaam · Emma")
    assert "Aangepast, dank u wel." in seen(sanne)
    await sanne.send("/menu")
    await sanne.press("Mijn gegevens")
    assert "Naam: Emma Sophie de Vries" in seen(sanne)
    await sanne.press("Wie heeft de gegevens bekeken?")
    assert "de leerkracht · gegevens bekeken" in seen(sanne)
    assert "Anouk" not in seen(sanne)


async def test_the_teacher_of_5a_never_sees_a_request_of_7b(
    chat: Callable[..., ChatDriver], factory: SessionFactory, clock: FixedClock
) -> None:
    school = await _school(factory, clock)
    await _parent_asks_correction(chat, school["sanne"])
    async with factory() as session:
        request_id = (await session.exec(select(Request))).one().id or 0

    sophie = chat(OTHER_TEACHER)
    await sophie.send("/wachtrij")
    assert "Er staan geen open verzoeken voor u klaar." in seen(sophie)
    buttons = [StaffCb(action=StaffAction.OPEN, request_id=request_id)] + [
        StaffCb(action=StaffAction.COMMAND, command=action, request_id=request_id, confirmed=yes)
        for action in (Action.PICK_UP, Action.RESOLVE, Action.FORWARD)
        for yes in (False, True)
    ]
    for button in buttons:
        await sophie.press_data(sophie.last_message_id, button.pack())
        assert "Emma" not in seen(sophie) and "OL-2026" not in seen(sophie)
    await sophie.press_data(
        sophie.last_message_id,
        StaffCb(action=StaffAction.LOG, pupil_id=int(str(school["emma"]))).pack(),
    )
    assert "Emma" not in seen(sophie)
    answers = [a.text for a in sophie.answered_callbacks() if a.text]
    assert answers and all(a == "Niet gevonden." for a in answers)
    async with factory() as session:
        assert (await session.exec(select(Request))).one().status == "open"


async def test_director_rejects_a_deletion_and_the_reason_reaches_the_parent(
    chat: Callable[..., ChatDriver], factory: SessionFactory, clock: FixedClock
) -> None:
    school = await _school(factory, clock)
    sanne = chat(PARENT)
    await sanne.send(f"/start {school['sanne']}")
    await sanne.send("/menu")
    await sanne.press("Verwijdering vragen")
    await sanne.press("Foto's en video's van het kind")
    await sanne.press("De toestemming is ingetrokken")
    await sanne.press("Overslaan")
    await sanne.press("Versturen")

    bram = chat(DIRECTOR)
    await bram.send("/wachtrij")
    await bram.press("OL-2026-0001 · Emma de Vries")
    assert "Goedkeuren" in bram.buttons() and "Afwijzen" in bram.buttons()
    await bram.press("Termijn verlengen")
    await bram.send("De fotograaf moet de bestanden nog opzoeken.")
    assert "De termijn is verlengd" in seen(bram)
    assert "Termijn verlengen" not in bram.buttons()
    await bram.press("Afwijzen")
    await bram.send("   ")
    assert "Dit mag niet leeg zijn" in seen(bram)
    await bram.send("De schoolfoto is al verwijderd; er is niets meer.")
    assert "Afgewezen." in seen(bram) and "Bericht aan de ouder: wordt bezorgd." in seen(bram)

    await sanne.send("/menu")
    await sanne.press("Mijn verzoeken")
    await sanne.press("Verwijdering van foto's en video's van het kind · Emma")
    assert "Status: afgewezen" in seen(sanne)
    assert "De schoolfoto is al verwijderd; er is niets meer." in seen(sanne)
    assert "De fotograaf moet de bestanden nog opzoeken." in seen(sanne)


async def test_a_teacher_sees_who_may_not_appear_in_their_group(
    chat: Callable[..., ChatDriver], factory: SessionFactory, clock: FixedClock
) -> None:
    await _school(factory, clock)
    anouk = chat(TEACHER)
    await anouk.send("/toestemmingen")
    text = seen(anouk)
    assert "Groep 5A – Website" in text and "• Emma de Vries" in text
    assert "Sem" not in text  # 7B is not her group
