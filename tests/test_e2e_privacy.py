"""Privacy over the real bot and the emulator: the bot shows nothing in a group chat."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.callbacks import InzageCb
from bot.emulator.driver import ChatPerson
from flows.codes import display
from flows.invites import issue_code
from storage.db import create_engine, create_session_factory, transaction
from storage.models import Guardian, MessageExpiry
from tests.e2e import World, running_bot

GROUP_LINE = "Stuur mij een privébericht."


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with running_bot(tmp_path, "polling") as world:
        yield world


async def test_a_code_sent_in_a_group_gets_one_line_and_stays_unused(world: World) -> None:
    code = world.personas["Sanne de Vries"].code
    in_group = world.in_group("Sanne de Vries")
    await in_group.send(f"/start@{world.emu.bot_username} {code}")
    assert in_group.texts() == [GROUP_LINE]
    await in_group.send("Weet iemand wanneer de schoolreis is?")
    await in_group.send(f"/menu@{world.emu.bot_username}")
    await in_group.send("/help@een_andere_bot")
    assert in_group.texts() == [GROUP_LINE, GROUP_LINE]
    everything = " ".join(m.text or "" for m in world.emu.visible(in_group.chat_id))
    assert "Emma" not in everything and "Daan" not in everything

    private = world.person("Sanne de Vries")
    await private.send(f"/start {code}", reply=True)
    assert "Uw account is gekoppeld." in private.last_text


async def test_a_button_pressed_in_a_group_is_answered_with_the_line_and_shows_nothing(
    world: World,
) -> None:
    await world.linked("Sanne de Vries")
    in_group = world.in_group("Sanne de Vries")
    await in_group.send("/start")
    record = await in_group.press_data(InzageCb(pupil_id=0).pack())
    assert record.answered and record.show_alert and record.text == GROUP_LINE
    assert in_group.texts() == [GROUP_LINE]
    assert all(c.answered for c in world.emu.callbacks.values())


async def test_the_line_is_in_the_users_language(world: World) -> None:
    piet = await world.linked("Piet Bakker")
    await piet.send("/taal", reply=True)
    await piet.press("English")
    in_group = world.in_group("Piet Bakker")
    await in_group.send("/start")
    assert in_group.texts() == ["Send me a private message."]


async def _ask_the_director(world: World, text: str) -> str:
    sanne = await world.linked("Sanne de Vries")
    await sanne.press("Vraag stellen")
    await sanne.press("Emma de Vries")
    await sanne.press("De directeur")
    await sanne.send(text, reply=True)
    await sanne.press("Versturen")
    assert "Uw kenmerk is OL-" in sanne.last_text
    return sanne.last_text.split("kenmerk is ")[1].split(".")[0]


async def _teacher_reads_the_log(world: World) -> str:
    anouk = world.person("Juf Anouk")
    await anouk.send("/logboek", reply=True)
    await anouk.send("Emma", reply=True)
    await anouk.press("Emma de Vries")
    return anouk.last_text


async def test_a_teachers_log_leaves_out_what_a_parent_sent_to_the_director(
    world: World,
) -> None:
    await world.linked("Juf Anouk")
    reference = await _ask_the_director(world, "Ik maak mij zorgen over de juf.")
    log = await _teacher_reads_the_log(world)
    assert "verzoek ingediend" not in log and reference not in log
    director = await world.linked("Meester Bram")
    await director.send("/logboek", reply=True)
    await director.send("Emma de Vries", reply=True)
    await director.press("Emma de Vries")
    assert reference in director.last_text and "verzoek ingediend" in director.last_text


async def test_the_parent_sees_the_teachers_log_views_grouped_with_their_time(
    world: World,
) -> None:
    await world.linked("Juf Anouk")
    sanne = await world.linked("Sanne de Vries")
    await sanne.press("Mijn gegevens")
    await sanne.press("Emma de Vries")
    await sanne.press("Wie heeft de gegevens bekeken?")
    assert "Nog niemand van de school heeft de gegevens bekeken" in sanne.last_text
    for _minute in range(3):
        await _teacher_reads_the_log(world)
        world.clock.advance(minutes=1)
    await sanne.press("Naar het menu")
    await sanne.press("Mijn gegevens")
    await sanne.press("Emma de Vries")
    await sanne.press("Wie heeft de gegevens bekeken?")
    # E2E_START is 09:00 UTC, 10:00 on the school's clock in March.
    line = "16 maart 2027, 10:00–10:02 · de leerkracht · logboek bekeken (3 keer)"
    assert line in sanne.last_text
    assert "Anouk" not in sanne.last_text


async def test_one_open_of_a_request_card_is_one_view_whatever_the_teacher_does_next(
    world: World,
) -> None:
    anouk = await world.linked("Juf Anouk")
    sanne = await world.linked("Sanne de Vries")
    await sanne.press("Vraag stellen")
    await sanne.press("Emma de Vries")
    await sanne.press("De leerkracht")
    await sanne.send("Hoe gaat het met rekenen?", reply=True)
    await sanne.press("Versturen")
    notice = await anouk.wait_for("Nieuw verzoek OL-")
    await anouk.press("Openen", message_id=notice.message_id)
    await anouk.press("Oppakken")
    await anouk.press("Antwoorden")
    await anouk.send("Goed!", reply=True)
    assert "Bericht aan de ouder: wordt bezorgd." in anouk.last_text
    await sanne.wait_for("is beantwoord")
    await sanne.send("/menu", reply=True)
    await sanne.press("Mijn gegevens")
    await sanne.press("Emma de Vries")
    await sanne.press("Wie heeft de gegevens bekeken?")
    seen = sanne.last_text
    assert seen.count("gegevens bekeken") == 1 and "keer)" not in seen
    assert "verzoek opgepakt" in seen and "verzoek afgehandeld" in seen


async def _question_from_sanne(world: World, text: str, *, share: bool) -> str:
    sanne = await world.linked("Sanne de Vries")
    await sanne.press("Vraag stellen")
    await sanne.press("Emma de Vries")
    await sanne.press("De leerkracht")
    await sanne.send(text, reply=True)
    assert "Wie dit ziet: alleen u en de school." in sanne.last_text
    assert "Ook zichtbaar voor de andere ouder" in sanne.buttons()
    if share:
        await sanne.press("Ook zichtbaar voor de andere ouder")
        assert "Wie dit ziet: u, de school en de andere ouder" in sanne.last_text
        assert "Alleen voor mij" in sanne.buttons()
    await sanne.press("Versturen")
    return sanne.last_text.split("kenmerk is ")[1].split(".")[0]


async def _linked_mark(world: World) -> ChatPerson:
    """Emma's other parent, who is no persona of the demo: a letter of his own."""
    engine = create_engine(world.settings.database_url)
    try:
        async with transaction(create_session_factory(engine)) as session:
            mark = (
                await session.exec(select(Guardian).where(Guardian.name == "Mark de Vries"))
            ).one()
            code, _expires = await issue_code(session, world.clock.now(), guardian_id=mark.id)
    finally:
        await engine.dispose()
    person = ChatPerson(world.emu, 900003, "Mark")
    await person.send(f"/start {display(code)}", reply=True)
    assert "Uw account is gekoppeld." in person.last_text
    return person


async def test_a_question_is_the_askers_own_unless_they_share_it(world: World) -> None:
    anouk = await world.linked("Juf Anouk")
    private = await _question_from_sanne(world, "Thuis gaat het niet goed.", share=False)
    shared = await _question_from_sanne(world, "Wanneer is de ouderavond?", share=True)
    mark = await _linked_mark(world)
    await mark.press("Mijn verzoeken")
    assert shared in mark.last_text and private not in mark.last_text
    await mark.press("Naar het menu")
    await mark.press("Mijn gegevens")
    await mark.press("Emma de Vries")
    assert shared in mark.last_text and private not in mark.last_text

    notice = await anouk.wait_for(f"Nieuw verzoek {private}")
    await anouk.press("Openen", message_id=notice.message_id)
    await anouk.press("Antwoorden")
    await anouk.send("Fijn dat u het laat weten; ik bel u.", reply=True)
    sanne = world.person("Sanne de Vries")
    await sanne.wait_for(f"({private}) is beantwoord")
    assert not any(private in text for text in mark.texts())


async def test_a_correction_says_that_both_parents_see_it_and_both_do(world: World) -> None:
    sanne = await world.linked("Sanne de Vries")
    await sanne.press("Correctie vragen")
    await sanne.press("Emma de Vries")
    await sanne.press("Achternaam")
    await sanne.send("Vries-Jansen", reply=True)
    await sanne.press("Overslaan")
    # Mark has not linked yet: he will see it once he does, but no message is promised.
    assert "de andere ouder of verzorger van uw kind zodra die de bot gebruikt" in sanne.last_text
    assert "Nu krijgt alleen u bericht over het besluit." in sanne.last_text
    assert "Alleen voor mij" not in sanne.buttons()
    assert "Ook zichtbaar voor de andere ouder" not in sanne.buttons()
    await sanne.press("Versturen")
    reference = sanne.last_text.split("kenmerk is ")[1].split(".")[0]
    mark = await _linked_mark(world)
    await mark.press("Mijn verzoeken")
    assert reference in mark.last_text


async def _pending_deletions(world: World, chat_id: int) -> set[int]:
    engine = create_engine(world.settings.database_url)
    try:
        async with create_session_factory(engine)() as session:
            rows = await session.exec(
                select(MessageExpiry.message_id).where(
                    MessageExpiry.chat_id == chat_id, col(MessageExpiry.done_at).is_(None)
                )
            )
            return set(rows.all())
    finally:
        await engine.dispose()


async def test_every_screen_with_a_childs_data_goes_and_the_menu_and_next_step_stay(
    world: World,
) -> None:
    sanne = await world.linked("Sanne de Vries")
    # Mijn gegevens is a message of its own; the menu under it comes as a new message
    # and stays, while the data message goes.
    await sanne.press("Mijn gegevens")
    await sanne.press("Emma de Vries")
    record = sanne.last.message_id
    assert record in await _pending_deletions(world, sanne.user_id)
    await sanne.press("Naar het menu", message_id=record)
    menu_message = sanne.last.message_id
    assert menu_message != record and "Mijn gegevens" in sanne.buttons(menu_message)
    assert menu_message not in await _pending_deletions(world, sanne.user_id)

    # The consent screen.
    await sanne.send("/menu", reply=True)
    await sanne.press("Foto's en video's")
    await sanne.press("Emma de Vries")
    consent_screen = sanne.last
    assert "verdwijnt dit bericht om 10:15 uur" in (consent_screen.text or "")

    # The correction form shows the name and birth date; its confirmation the new value.
    await sanne.send("/menu", reply=True)
    await sanne.press("Correctie vragen")
    await sanne.press("Emma de Vries")
    fields = sanne.last
    assert "• voornaam: Emma" in (fields.text or "") and "2017" in (fields.text or "")
    assert "verdwijnt dit bericht" in (fields.text or "")
    await sanne.press("Voornaam")
    await sanne.send("Emma Sophie", reply=True)
    prompt_for_explanation = sanne.last
    assert "verdwijnt" not in (prompt_for_explanation.text or "")
    await sanne.press("Overslaan")
    confirmation = sanne.last
    assert "Emma → Emma Sophie" in (confirmation.text or "")
    assert "verdwijnt dit bericht" in (confirmation.text or "")

    pending = await _pending_deletions(world, sanne.user_id)
    assert {consent_screen.message_id, fields.message_id, confirmation.message_id} <= pending
    assert menu_message not in pending

    world.clock.advance(minutes=16)
    gone = {record, consent_screen.message_id, fields.message_id, confirmation.message_id}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while gone & {m.message_id for m in sanne.bot_messages()}:
        assert loop.time() < deadline, "the data messages were not deleted"
        await world.emu.wait_changed(0.5)
    assert world.emu.find(sanne.user_id, menu_message) is not None
    # The form itself goes on: the parent can still send what they confirmed.
    await sanne.send("/menu", reply=True)
    assert "Mijn gegevens" in sanne.buttons()


async def test_a_request_view_says_it_goes_and_is_scheduled(world: World) -> None:
    await _ask_the_director(world, "Mag Emma eerder weg?")
    sanne = world.person("Sanne de Vries")
    await sanne.press("Mijn verzoeken")
    await sanne.press("Vraag · Emma")
    view = sanne.last
    assert "Mag Emma eerder weg?" in (view.text or "")
    assert "Alleen u en de school zien deze vraag." in (view.text or "")
    assert "verdwijnt dit bericht om" in (view.text or "")
    assert view.message_id in await _pending_deletions(world, sanne.user_id)
