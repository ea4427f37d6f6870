"""Conversation breaks found by trying the demo as parents, a teacher and the director
would, each fixed and checked end to end: the real bot over HTTP against the emulator."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e import World, running_bot


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with running_bot(tmp_path, "polling") as world:
        yield world


def _text(world: World, chat_id: int, message_id: int) -> str:
    found = world.emu.find(chat_id, message_id)
    assert found is not None, f"message {message_id} is gone"
    return found.text or ""


def assert_telegram_accepted_everything(world: World) -> None:
    assert world.emu.unknown_methods == []
    assert all(c.answered for c in world.emu.callbacks.values())


async def test_the_used_code_after_unlinking_says_a_new_letter_is_needed(world: World) -> None:
    piet = await world.linked("Piet Bakker")
    await piet.press("Ontkoppelen")
    await piet.press("Ja, ontkoppelen")
    await piet.send(world.personas["Piet Bakker"].code)
    assert "U heeft deze code al gebruikt en daarna uw account ontkoppeld" in piet.last_text
    assert "nieuwe brief" in piet.last_text
    assert "gekoppeld." not in piet.last_text.split("ontkoppeld")[0]
    assert piet.buttons() == []  # no empty menu
    assert_telegram_accepted_everything(world)


async def test_the_data_view_is_its_own_message_and_only_it_expires(world: World) -> None:
    piet = await world.linked("Piet Bakker")
    welcome = piet.last
    await piet.press("Mijn gegevens")
    data = piet.last
    assert data.message_id != welcome.message_id
    assert "verdwijnt dit bericht om" in (data.text or "")
    assert "Uw account is gekoppeld." in _text(world, piet.user_id, welcome.message_id)
    # A button under the data message opens a new message: the data one stays as it is.
    await piet.press("Foto's en video's", message_id=data.message_id)
    assert piet.last.message_id != data.message_id
    assert "verdwijnt dit bericht om" in _text(world, piet.user_id, data.message_id)
    world.clock.advance(minutes=16)
    loop_checks = 0
    while piet.emu.find(piet.user_id, data.message_id) is not None:
        await piet.emu.wait_changed(0.2)
        loop_checks += 1
        assert loop_checks < 100, "the data message was not deleted"
    assert piet.emu.find(piet.user_id, welcome.message_id) is not None
    assert any("Foto's en video's" in t or "toestemming" in t for t in piet.texts())
    assert_telegram_accepted_everything(world)


async def test_an_old_annuleren_under_a_sent_form_says_where_it_went(world: World) -> None:
    piet = await world.linked("Piet Bakker")
    await piet.press("Vraag stellen")
    await piet.press("De leerkracht")
    prompt = piet.last  # "Typ uw vraag", with Annuleren under it
    await piet.send("Wanneer is de schoolreis?")
    await piet.press("Versturen")
    assert "Verstuurd. Uw kenmerk is OL-" in piet.last_text
    reference = piet.last_text.split("kenmerk is ")[1].split(".")[0]
    record = await piet.press("Annuleren", message_id=prompt.message_id)
    assert record.show_alert
    assert f"Dit verzoek is al verstuurd als {reference}." in (record.text or "")
    assert "Geannuleerd" not in piet.last_text
    assert_telegram_accepted_everything(world)


async def test_a_deletion_described_at_the_reason_step_is_kept(world: World) -> None:
    piet = await world.linked("Piet Bakker")
    await piet.press("Verwijdering vragen")
    await piet.press("Iets anders (zelf omschrijven)")
    await piet.send("De oude foto van de schoolreis op de website.")
    assert "uw omschrijving is bewaard" in piet.last_text
    assert "Dat begrijp ik niet" not in " ".join(piet.texts())
    await piet.press("De gegevens zijn niet meer nodig")
    assert "De oude foto van de schoolreis op de website." in piet.last_text
    await piet.press("Versturen")
    assert "Verstuurd. Uw kenmerk is OL-" in piet.last_text
    assert_telegram_accepted_everything(world)


async def test_typing_where_a_button_is_expected_says_what_to_do(world: World) -> None:
    piet = await world.linked("Piet Bakker")
    await piet.press("Correctie vragen")
    await piet.send("voornaam")
    assert "Kies hierboven een van de knoppen" in piet.last_text
    assert "Annuleren" in piet.buttons()
    await piet.press("Voornaam")  # the step still works
    assert any("Wat moet er staan bij voornaam?" in text for text in piet.texts())
    assert_telegram_accepted_everything(world)


async def test_free_text_at_the_menu_can_be_sent_as_a_question(world: World) -> None:
    piet = await world.linked("Piet Bakker")
    await piet.send("Mag Noor vrijdag eerder weg?")
    assert "Wilt u dit als vraag naar de school sturen?" in piet.last_text
    assert "Dat begrijp ik niet" not in piet.last_text
    await piet.press("Als vraag versturen")
    await piet.press("De leerkracht")
    assert "Mag Noor vrijdag eerder weg?" in piet.last_text
    await piet.press("Versturen")
    assert "Verstuurd. Uw kenmerk is OL-" in piet.last_text
    assert_telegram_accepted_everything(world)


async def test_the_whole_surname_is_shown_corrected_and_stored_once(world: World) -> None:
    anouk = await world.linked("Juf Anouk")
    sanne = await world.linked("Sanne de Vries")
    await sanne.press("Correctie vragen")
    await sanne.press("Emma de Vries")
    assert "achternaam: de Vries" in sanne.last_text
    assert "tussenvoegsel" not in sanne.last_text
    await sanne.press("Achternaam")
    assert "Nu vastgelegd: de Vries" in sanne.last_text
    assert "met het tussenvoegsel ervoor" in sanne.last_text
    await sanne.send("de Vries-Jansen")
    await sanne.press("Overslaan")
    assert "achternaam: de Vries → de Vries-Jansen" in sanne.last_text
    await sanne.press("Versturen")
    notice = await anouk.wait_for("Nieuw verzoek OL-")
    await anouk.press("Openen", message_id=notice.message_id)
    await anouk.press("Afhandelen")
    await anouk.send("Aangepast.")
    await anouk.press("Ja, aanpassen en afhandelen")
    await sanne.wait_for("is afgehandeld")
    await sanne.send("/menu")
    await sanne.press("Mijn gegevens")
    await sanne.press("Emma de Vries-Jansen")
    assert "Naam: Emma de Vries-Jansen" in sanne.last_text
    assert "de de" not in sanne.last_text
    assert_telegram_accepted_everything(world)


async def test_a_written_dutch_date_is_accepted(world: World) -> None:
    piet = await world.linked("Piet Bakker")
    await piet.press("Correctie vragen")
    await piet.press("Geboortedatum")
    assert "12 maart 2017" in piet.last_text
    await piet.send("12 februari 2017")
    assert "Wilt u iets toelichten?" in piet.last_text
    await piet.press("Overslaan")
    assert "→ 12 februari 2017" in piet.last_text
    await piet.press("Annuleren")
    await piet.press("Correctie vragen")
    await piet.press("Geboortedatum")
    await piet.send("3 feb 2017")
    await piet.press("Overslaan")
    assert "→ 3 februari 2017" in piet.last_text
    assert_telegram_accepted_everything(world)


async def _question_to_the_teacher(world: World) -> str:
    """Sanne asks Emma's teacher (Juf Anouk, 5A) a question; returns its reference."""
    sanne = await world.linked("Sanne de Vries")
    await sanne.press("Vraag stellen")
    await sanne.press("Emma de Vries")
    await sanne.press("De leerkracht")
    await sanne.send("Is er vrijdag gym?")
    await sanne.press("Versturen")
    return sanne.last_text.split("kenmerk is ")[1].split(".")[0]


async def test_a_question_is_answered_once_and_promises_no_deadline(world: World) -> None:
    anouk = await world.linked("Juf Anouk")
    reference = await _question_to_the_teacher(world)
    sanne = world.person("Sanne de Vries")
    assert "uiterlijk" not in sanne.last_text  # the receipt: a question has no deadline
    assert "U krijgt het antwoord hier in de chat." in sanne.last_text
    notice = await anouk.wait_for(f"Nieuw verzoek {reference}")
    await anouk.press("Openen", message_id=notice.message_id)
    assert "Antwoord uiterlijk" not in anouk.last_text and "Afhandelen" not in str(
        anouk.last.reply_markup
    )
    await anouk.press("Antwoorden")
    assert f"daarmee is de vraag {reference} beantwoord" in anouk.last_text
    await anouk.send("Ja, vrijdag is er gym.")
    # Answered is done: nothing is left to close, no second answer asked.
    assert "Beantwoord." in anouk.last_text and "Status: afgehandeld" in anouk.last_text
    assert "Antwoorden" not in str(anouk.last.reply_markup)
    told = await sanne.wait_for(f"Uw vraag over Emma ({reference}) is beantwoord.")
    await sanne.press("Bekijken", message_id=told.message_id)
    assert "Ja, vrijdag is er gym." in sanne.last_text
    assert "nog niet in behandeling" not in sanne.last_text
    assert_telegram_accepted_everything(world)


async def test_an_extension_shows_its_new_date_and_that_the_request_is_handled(
    world: World,
) -> None:
    bram = await world.linked("Meester Bram")
    sanne = await world.linked("Sanne de Vries")
    await sanne.press("Correctie vragen")
    await sanne.press("Emma de Vries")
    await sanne.press("Achternaam")
    await sanne.send("de Vries-Jansen")
    await sanne.press("Overslaan")
    await sanne.press("Versturen")
    reference = sanne.last_text.split("kenmerk is ")[1].split(".")[0]
    await bram.send("/wachtrij")
    await bram.press(f"{reference} · Emma de Vries")
    await bram.press("Termijn verlengen")
    await bram.send("Wij moeten het nakijken in het archief.")
    assert "De termijn is verlengd." in bram.last_text
    told = await sanne.wait_for(f"meer tijd nodig voor uw verzoek {reference}")
    until = (told.text or "").split("U krijgt uiterlijk ")[1].split(" antwoord")[0]
    await sanne.send("/menu")
    await sanne.press("Mijn verzoeken")
    listed = sanne.last_text
    assert "Status: in behandeling" in listed and "nog niet in behandeling" not in listed
    assert f"Antwoord uiterlijk {until}" in listed
    await sanne.send("/menu")
    await sanne.press("Mijn gegevens")
    await sanne.press("Emma de Vries")
    assert f"antwoord uiterlijk {until}" in sanne.last_text
    assert_telegram_accepted_everything(world)


async def test_withdrawing_asks_the_question_above_the_buttons(world: World) -> None:
    await _question_to_the_teacher(world)
    sanne = world.person("Sanne de Vries")
    await sanne.press("Mijn verzoeken")
    await sanne.press("Vraag · Emma")
    await sanne.press("Verzoek intrekken")
    assert "Weet u zeker dat u dit verzoek wilt intrekken?" in sanne.last_text
    # The question closes the screen; only the note that the message goes follows it.
    screen = sanne.last_text.split("Om uw privacy te beschermen")[0]
    assert screen.rstrip().endswith("Dit kunt u niet ongedaan maken.")
    assert sanne.buttons() == ["Ja, intrekken", "Nee, terug"]
    await sanne.press("Ja, intrekken")
    assert "Uw verzoek is ingetrokken." in sanne.last_text
    assert_telegram_accepted_everything(world)


async def test_each_file_of_the_copy_says_what_it_is_for(world: World) -> None:
    piet = await world.linked("Piet Bakker")
    await piet.press("Mijn gegevens")
    await piet.press("Kopie downloaden")
    page, data = piet.documents()
    assert page.document is not None and page.document.file_name.endswith(".html")
    assert "Om te lezen of af te drukken" in (page.caption or "")
    assert data.document is not None and data.document.file_name.endswith(".json")
    assert "Voor een ander systeem" in (data.caption or "")
    assert page.caption != data.caption
    assert all("het verdwijnt om" in (d.caption or "") for d in (page, data))
    assert_telegram_accepted_everything(world)


async def test_the_card_and_the_logboek_speak_the_staff_member_s_language(world: World) -> None:
    anouk = await world.linked("Juf Anouk")
    reference = await _question_to_the_teacher(world)
    notice = await anouk.wait_for(f"Nieuw verzoek {reference}")
    await anouk.press("Openen", message_id=notice.message_id)
    assert anouk.last_text.count("Is er vrijdag gym?") == 1  # the question once
    await anouk.send("/logboek")
    await anouk.send("Emma")
    await anouk.press("Emma de Vries")
    log = anouk.last_text
    assert f"{reference} vraag" in log
    assert "Sanne de Vries (ouder)" in log and "Juf Anouk (leerkracht)" in log
    assert "question" not in log and "guardian" not in log
    assert "16 maart 2027" in log and "2027-03-16" not in log and "T09:" not in log
    assert_telegram_accepted_everything(world)


async def test_english_screens_show_the_english_commands_and_plain_words(world: World) -> None:
    piet = await world.linked("Piet Bakker")
    await piet.press("Taal / Language")
    await piet.press("English")
    await piet.send("/help")
    assert "/cancel" in piet.last_text and "/annuleren" not in piet.last_text
    assert "/language" in piet.last_text
    english = {c["command"] for c in world.emu.commands.get("en", [])}
    assert {"cancel", "language"} <= english
    await piet.send("/menu")
    await piet.press("Ask a question")
    await piet.press("The teacher")
    assert "With /cancel you stop" in piet.last_text
    await piet.send("/cancel")
    await piet.press("Suppliers and privacy leaflets")
    assert "A privacy leaflet is a supplier's short explanation" in piet.last_text
    await piet.send("/taal")
    await piet.press("Nederlands")
    await piet.send("/menu")
    await piet.press("Gegevens delen met anderen")
    assert "Een verstrekking is een keer dat de school gegevens" in piet.last_text
    assert_telegram_accepted_everything(world)


STATIC = Path(__file__).resolve().parent.parent / "bot" / "emulator" / "static"


def test_the_web_chat_paints_its_emoji_without_a_font_and_speaks_formally() -> None:
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    script = (STATIC / "app.js").read_text(encoding="utf-8")
    style = (STATIC / "style.css").read_text(encoding="utf-8")
    visible = re.sub(r"<[^>]+>", " ", page)
    assert not re.search(r"\b(je|jij|jou|jouw)\b", visible, re.IGNORECASE)
    assert "U chat met de bot alsof u deze persoon bent" in page
    # Every ✅, ❌, ⚠, ⛔ and 🔒 in a message or on a button is wrapped and painted by CSS.
    assert "paintEmoji(text)" in script and "paintEmoji(keyboard)" in script
    for char, css in (
        ("\\u2705", "emoji-check"),
        ("\\u274C", "emoji-cross"),
        ("\\u26A0", "emoji-warning"),
        ("\\u26D4", "emoji-stop"),
        ("\\u{1F512}", "emoji-lock"),
    ):
        assert f'"{char}": "{css}"' in script
        rule = style.split(f".{css} {{", 1)[1].split("}", 1)[0]
        assert 'url("data:image/svg+xml,' in rule
    # Nothing is loaded from a network: every url() is inline data.
    assert all(u.startswith(("data:", '"data:')) for u in re.findall(r"url\(([^)]*)", style))


async def test_the_receipt_stays_in_the_chat_after_the_menu_and_the_data_expire(
    world: World,
) -> None:
    piet = await world.linked("Piet Bakker")
    await piet.press("Vraag stellen")
    await piet.press("De leerkracht")
    await piet.send("Wanneer is de schoolreis?")
    await piet.press("Versturen")
    receipt = piet.last
    assert "Verstuurd. Uw kenmerk is OL-" in (receipt.text or "")
    await piet.press("Naar het menu")
    assert piet.last.message_id != receipt.message_id
    await piet.press("Mijn verzoeken")
    # The receipt is still its own message, with its words and without buttons.
    kept = next(m for m in piet.bot_messages() if m.message_id == receipt.message_id)
    assert kept.text == receipt.text
    assert not (kept.reply_markup or {}).get("inline_keyboard")
    assert_telegram_accepted_everything(world)
