"""The bot stopped (a restart, a new version) while a parent's update is being handled:
the update is finished first, so what the parent was told is what was stored."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlmodel import select

from storage.db import create_engine, create_session_factory
from storage.models import Request
from tests.e2e import running_bot


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_a_request_sent_as_the_bot_stops_is_stored_and_reaches_the_teacher(
    tmp_path: Path, mode: str
) -> None:
    async with running_bot(tmp_path, mode) as world:
        anouk = await world.linked("Juf Anouk")
        sanne = await world.linked("Sanne de Vries")
        await sanne.press("Correctie vragen")
        await sanne.press("Emma de Vries")
        await sanne.press("Voornaam")
        await sanne.send("Emma Sophie")
        await sanne.press("Overslaan")
        # The press is answered last: the bot is still handling it when it is told to stop.
        answered = world.emu.hold("answerCallbackQuery")
        pressing = asyncio.create_task(sanne.press("Versturen"))
        await asyncio.wait_for(answered.arrived.wait(), 10)
        assert "Verstuurd. Uw kenmerk is OL-" in sanne.last_text
        reference = sanne.last_text.split("kenmerk is ")[1].split(".")[0]

        stopping = asyncio.create_task(world.stop())
        # Whatever the runner does meanwhile (it waits, or it closes), it has a second.
        done, _ = await asyncio.wait([stopping], timeout=1.0)
        assert not done, "the bot stopped with an update still being handled"
        answered.release.set()
        await stopping
        await pressing

        engine = create_engine(world.settings.database_url)
        try:
            async with create_session_factory(engine)() as session:
                stored = (await session.exec(select(Request.reference))).all()
        finally:
            await engine.dispose()
        assert reference in stored

        await world.start()
        notice = await anouk.wait_for(f"Nieuw verzoek {reference}")
        assert "Correctie over Emma de Vries" in (notice.text or "")
        assert all(c.answered for c in world.emu.callbacks.values())
