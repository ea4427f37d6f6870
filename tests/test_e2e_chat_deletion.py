"""Over the emulator, the real bot: what the bot says about an erasure is true. The
parent's own message that carried the erased note is deleted from the chat while
Telegram allows it (48 hours), and the parent is told plainly when it could not be."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.emulator.driver import ChatPerson
from tests.e2e import World, _until, running_bot

NOTE = "dyslexie"  # Daan de Vries's note in the demo school
TYPED = f"De {NOTE} is na onderzoek niet meer van toepassing."


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with running_bot(tmp_path, "polling") as world:
        yield world


def _own_messages(world: World, person: ChatPerson) -> list[str]:
    """What the parent's chat still holds of her own messages."""
    return [m.text or "" for m in world.emu.chats[person.user_id] if not m.from_bot]


async def _ask_and_approve(world: World, *, hours_between: float) -> ChatPerson:
    sanne = await world.linked("Sanne de Vries")
    await sanne.press("Verwijdering vragen")
    await sanne.press("Daan de Vries")
    await sanne.press("Notitie over gezondheid of leren")
    await sanne.press("De gegevens zijn niet meer nodig")
    await sanne.send(TYPED)
    await sanne.press("Versturen")
    assert "OL-2027-0001" in sanne.last_text
    assert TYPED in _own_messages(world, sanne)

    world.clock.advance(hours=hours_between)
    bram = await world.linked("Meester Bram")
    await bram.send("/wachtrij")
    await bram.press("OL-2027-0001 · Daan de Vries")
    await bram.press("Goedkeuren")
    await bram.send("Akkoord, de notitie is niet meer nodig.")
    await bram.press("Ja, wissen en goedkeuren")
    assert "Verwijderd uit Ouderloket: Notitie over gezondheid of leren" in bram.last_text
    return sanne


async def test_an_erasure_deletes_the_parents_own_message_from_the_chat(world: World) -> None:
    sanne = await _ask_and_approve(world, hours_between=2)
    told = await sanne.wait_for(
        "Verwijdering van notitie over gezondheid of leren voor Daan (OL-2027-0001) is afgehandeld."
    )
    text = told.text or ""
    assert "Het bericht in de chat met de bot waarin dit stond, wordt ook verwijderd." in text
    assert "ouder dan 48 uur" not in text
    await sanne.wait_for("Kies Bekijken")  # the sender has had its turn at this chat
    assert TYPED not in _own_messages(world, sanne)  # the emulator no longer holds it
    # Nor the bot's own summary that quoted it ("Klopt dit?"): its expiry came forward.
    await _until(lambda: not any(NOTE in (m.text or "") for m in world.emu.chats[sanne.user_id]))
    assert ("deleteMessage", sanne.user_id) in {
        (name, int(params.get("chat_id", 0))) for name, params in world.emu.calls
    }
    # Her words are not rewritten into a sentence she never wrote: replaced whole.
    with sqlite3.connect(world.settings.database_url.split("///", 1)[1]) as db:
        stored = [t for (t,) in db.execute("SELECT text FROM request_message")]
        stored += [t for (t,) in db.execute("SELECT text FROM request")]
    assert stored == ["[verwijderd op verzoek]"] * 2


async def test_a_message_older_than_48_hours_is_kept_and_the_parent_is_told(
    world: World,
) -> None:
    sanne = await _ask_and_approve(world, hours_between=49)
    told = await sanne.wait_for(
        "Verwijdering van notitie over gezondheid of leren voor Daan (OL-2027-0001) is afgehandeld."
    )
    text = told.text or ""
    assert (
        "Eén bericht in de chat waarin dit stond, is ouder dan 48 uur. Telegram laat de bot "
        "het niet verwijderen; u kunt het zelf verwijderen" in text
    )
    assert "wordt ook verwijderd" not in text
    assert TYPED in _own_messages(world, sanne)  # still there: nothing claimed otherwise
    assert "deleteMessage" not in {name for name, _ in world.emu.calls}
