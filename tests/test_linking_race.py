"""Two accounts send the same letter's code at the same moment (two phones, one QR code
on the letter): one account is linked, and the other is told the code was used. Neither
is told "gekoppeld" without being linked."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiogram.utils.i18n import I18n
from sqlmodel import col, select

from bot.app import create_dispatcher
from bot.config import Settings
from flows import linking
from flows.actor import Arrival
from flows.clock import FixedClock
from storage.db import SessionFactory, create_all, create_engine, create_session_factory
from storage.models import ChatLink
from tests import factories
from tests.recording import HoldFirst, chats

FIRST, SECOND = 4101, 4102


async def _race(
    factory: SessionFactory,
    settings: Settings,
    clock: FixedClock,
    i18n: I18n,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with factory() as session:
        emma = await factories.pupil(session, "Emma")
        sanne = await factories.guardian(session, "Sanne de Vries", emma)
        code = await factories.guardian_code(session, sanne, clock.now())
        await session.commit()
    chat = chats(create_dispatcher(settings, factory, clock=clock, i18n=i18n))
    first, second = chat(FIRST), chat(SECOND)

    # Whichever update first has read the code and is about to answer waits for the other
    # to read the code as well: the moment the two would both find it unused.
    race = HoldFirst()
    as_linked, profile = linking.as_linked, linking.profile

    def noting(rows: Any, telegram_user_id: int, locale: str) -> Arrival:
        race.mark()
        return as_linked(rows, telegram_user_id, locale)

    async def holding_on(session: Any, telegram_user_id: int) -> linking.Profile:
        await race.hold()
        return await profile(session, telegram_user_id)

    monkeypatch.setattr(linking, "as_linked", noting)
    monkeypatch.setattr(linking, "profile", holding_on)
    await asyncio.gather(first.send(f"/start {code}"), second.send(f"/start {code}"))

    # Either may come first; one is linked, and the other is told the code was used.
    async with factory() as session:
        linked = await session.exec(
            select(ChatLink.telegram_user_id).where(col(ChatLink.guardian_id) == sanne.id)
        )
        winners = linked.all()
    assert len(winners) == 1, f"accounts linked with the one code: {winners}"
    won, lost = (first, second) if winners[0] == FIRST else (second, first)
    assert "Uw account is gekoppeld" in won.last_text
    assert "al gebruikt" in lost.last_text and "Emma" not in lost.last_text


async def test_one_letters_code_sent_twice_at_once_links_one_account(
    tmp_path: Path,
    settings: Settings,
    clock: FixedClock,
    i18n: I18n,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A file, as the product runs: an in-memory database has one connection for all.
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'school.db'}")
    try:
        await create_all(engine)
        await _race(create_session_factory(engine), settings, clock, i18n, monkeypatch)
    finally:
        await engine.dispose()


async def test_one_letters_code_sent_twice_at_once_links_one_account_on_postgresql(
    pg_factory: SessionFactory,
    settings: Settings,
    clock: FixedClock,
    i18n: I18n,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await _race(pg_factory, settings, clock, i18n, monkeypatch)
