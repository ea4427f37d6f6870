"""Privacy over the real bot and the emulator: the bot shows nothing in a group chat."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.callbacks import InzageCb
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
    await private.send(f"/start {code}")
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
    await piet.send("/taal")
    await piet.press("English")
    in_group = world.in_group("Piet Bakker")
    await in_group.send("/start")
    assert in_group.texts() == ["Send me a private message."]
