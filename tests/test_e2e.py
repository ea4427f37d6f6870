"""The real bot over real HTTP against the emulator, by long polling and by webhook: what
a parent and a teacher see, with Telegram's checks applied to every call."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e import World, running_bot


@pytest.fixture(params=["polling", "webhook"])
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    async with running_bot(tmp_path, request.param) as world:
        yield world


def assert_telegram_accepted_everything(world: World) -> None:
    """No call the bot made was refused or used a parameter the current Bot API does not
    list, and every button press was answered."""
    assert world.emu.unknown_methods == []
    assert world.emu.unknown_parameters == []
    assert all(c.answered for c in world.emu.callbacks.values())


async def test_parent_links_with_the_code_from_the_letter(world: World) -> None:
    sanne = world.person("Sanne de Vries")
    await sanne.send("/start")
    assert "Stuur de code uit de brief" in sanne.last_text
    await sanne.send("ABCD-EFGH-JKLM")
    assert "Deze code kennen wij niet" in sanne.last_text or "code" in sanne.last_text
    await sanne.send(world.personas["Sanne de Vries"].code.lower())
    assert "Uw account is gekoppeld." in sanne.last_text
    assert "Emma de Vries" in sanne.last_text and "Daan de Vries" in sanne.last_text
    assert "Mijn gegevens" in sanne.buttons()
    assert_telegram_accepted_everything(world)


async def test_withdrawn_consent_reaches_the_teacher(world: World) -> None:
    anouk = await world.linked("Juf Anouk")
    assert "leerkracht (Juf Anouk) van groep 5A" in anouk.last_text
    sanne = await world.linked("Sanne de Vries")
    await sanne.press("Foto's en video's")
    await sanne.press("Emma de Vries")
    assert "Website: ✅ toestemming" in sanne.last_text
    await sanne.press("Website: intrekken")
    await sanne.press("Ja, intrekken")
    assert "Website: ❌ geen toestemming" in sanne.last_text
    notice = await anouk.wait_for("Toestemming ingetrokken: Emma de Vries (5A)")
    assert "(5A), kanaal Website." in (notice.text or "")
    assert_telegram_accepted_everything(world)


async def test_forged_button_gets_an_answer_and_reveals_nothing(world: World) -> None:
    piet = await world.linked("Piet Bakker")
    before = len(piet.bot_messages())
    record = await piet.press_data("c:k:1:website:0")
    assert record.answered
    assert "Emma" not in piet.last_text and "Vries" not in piet.last_text
    assert len(piet.bot_messages()) >= before
    assert_telegram_accepted_everything(world)


async def test_correction_request_reaches_the_teacher_and_survives_in_mijn_verzoeken(
    world: World,
) -> None:
    anouk = await world.linked("Juf Anouk")
    sanne = await world.linked("Sanne de Vries")
    await sanne.press("Correctie vragen")
    await sanne.press("Emma de Vries")
    await sanne.press("Voornaam")
    await sanne.send("<b>Emma</b> & " + "x" * 300)
    assert "maximaal 200 tekens" in sanne.last_text
    await sanne.send("Emma Sophie")
    await sanne.press("Overslaan")
    assert "voornaam: Emma → Emma Sophie" in sanne.last_text
    await sanne.press("Versturen")
    assert "Verstuurd. Uw kenmerk is OL-" in sanne.last_text
    reference = sanne.last_text.split("kenmerk is ")[1].split(".")[0]
    await world.restart()  # before the teacher has seen it
    notice = await anouk.wait_for(f"Nieuw verzoek {reference}")
    assert "Correctie over Emma de Vries (groep 5A)" in (notice.text or "")
    await sanne.press("Mijn verzoeken")
    # The rig runs on the real clock, so the yearly consent check may arrive right after
    # the restart as a newer message: the list is read where it was shown.
    shown = [t for t in sanne.texts() if t.startswith("Mijn verzoeken")]
    assert shown and reference in shown[-1]
    assert_telegram_accepted_everything(world)


async def test_copy_download_has_everything_but_the_special_category_note(world: World) -> None:
    sanne = await world.linked("Sanne de Vries")
    await sanne.press("Mijn gegevens")
    await sanne.press("Daan de Vries")
    assert "verdwijnt dit bericht om" in sanne.last_text
    assert "dyslexie" not in sanne.last_text
    await sanne.press("Kopie downloaden")
    (page, html), (data, raw) = (sanne.download(m) for m in sanne.documents())
    assert page.startswith("gegevens-daan-de-vries-") and page.endswith(".html")
    assert data.endswith(".json")
    assert "Daan" in html.decode() and "Basispoort" in html.decode()
    assert json.loads(raw)["special_category_recorded"] is True
    for content in (html, raw):
        assert b"dyslexie" not in content
    assert "het verdwijnt om" in (sanne.documents()[0].caption or "")
    assert_telegram_accepted_everything(world)


async def test_teacher_opens_the_notification_and_resolves_the_correction(world: World) -> None:
    anouk = await world.linked("Juf Anouk")
    sanne = await world.linked("Sanne de Vries")
    await sanne.press("Correctie vragen")
    await sanne.press("Emma de Vries")
    await sanne.press("Achternaam")
    await sanne.send("de Vries-Jansen")
    await sanne.press("Overslaan")
    await sanne.press("Versturen")
    notice = await anouk.wait_for("Nieuw verzoek OL-")
    await anouk.press("Openen", message_id=notice.message_id)
    assert "achternaam: de Vries → de Vries-Jansen" in anouk.last_text
    await anouk.press("Afhandelen")
    await anouk.send("Aangepast in onze administratie.")
    await anouk.press("Ja, aanpassen en afhandelen")
    assert "Opgeslagen: achternaam" in anouk.last_text
    told = await sanne.wait_for("is afgehandeld")
    await sanne.press("Bekijken", message_id=told.message_id)
    assert "Aangepast in onze administratie." in sanne.last_text
    await sanne.press("Naar het menu")
    await sanne.press("Mijn gegevens")
    await sanne.press("Emma de Vries")
    assert "Naam: Emma de Vries-Jansen" in sanne.last_text
    assert_telegram_accepted_everything(world)


async def test_deactivated_teacher_is_refused_at_once_and_her_open_request_moves(
    world: World,
) -> None:
    from sqlmodel import select

    from flows import staff_admin
    from storage.db import create_engine, create_session_factory, transaction
    from storage.models import AuditEvent, Request, Staff

    anouk = await world.linked("Juf Anouk")
    bram = await world.linked("Meester Bram")
    sanne = await world.linked("Sanne de Vries")
    await sanne.press("Correctie vragen")
    await sanne.press("Emma de Vries")
    await sanne.press("Achternaam")
    await sanne.send("de Vries-Jansen")
    await sanne.press("Overslaan")
    await sanne.press("Versturen")
    reference = sanne.last_text.split("kenmerk is ")[1].split(".")[0]
    notice = await anouk.wait_for(f"Nieuw verzoek {reference}")
    await anouk.press("Openen", message_id=notice.message_id)
    assert "achternaam: de Vries → de Vries-Jansen" in anouk.last_text

    # The administrator runs `ouderloket staff deactivate "Juf Anouk"` while the bot runs.
    engine = create_engine(world.settings.database_url)
    try:
        async with transaction(create_session_factory(engine)) as session:
            change = await staff_admin.deactivate(session, "juf  anouk", world.clock.now())
        assert [(m.reference, m.name) for m in change.moved] == [(reference, "Meester Bram")]

        # Her next tap, on the card she has open, is refused and shows nothing.
        shown = anouk.last_text
        tap = await anouk.press("Afhandelen")
        assert tap.answered and tap.show_alert
        assert tap.text == "Deze knop werkt niet meer. Kies opnieuw in het menu: /menu"
        assert anouk.last_text == shown
        # So is every staff button of her menu, however old.
        menu_tap = await anouk.press("Wachtrij")
        assert menu_tap.show_alert and menu_tap.text == tap.text
        assert anouk.last_text == shown
        await anouk.send("/wachtrij")
        assert reference not in anouk.last_text and "Wachtrij" not in anouk.last_text

        # The director is told as of a new request and can open it.
        moved = await bram.wait_for(f"Nieuw verzoek {reference}")
        await bram.press("Openen", message_id=moved.message_id)
        assert "achternaam: de Vries → de Vries-Jansen" in bram.last_text

        async with create_session_factory(engine)() as session:
            request = (await session.exec(select(Request))).one()
            staff = {s.id: s for s in (await session.exec(select(Staff))).all()}
            actions = [e.action for e in (await session.exec(select(AuditEvent))).all()]
        assert staff[request.assignee_staff_id].name == "Meester Bram"
        assert {"staff_deactivated", "request_reassigned"} <= set(actions)
    finally:
        await engine.dispose()
    assert_telegram_accepted_everything(world)
