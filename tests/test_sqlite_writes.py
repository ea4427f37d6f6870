"""The embedded SQLite under a whole school at once: writers take turns without 'database
is locked', readers never wait for a writer, nothing is lost, and the background jobs and
an import in another process fit in."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
from aiogram.utils.i18n import I18n
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.app import create_dispatcher
from bot.callbacks import ConsentAction, ConsentCb
from bot.config import Settings
from bot.expiry import MessageExpirer
from bot.outbox import OutboxSender
from bot.scheduler import Scheduler
from flows.clock import FixedClock
from storage.db import SessionFactory, create_all, create_engine, create_session_factory
from storage.models import (
    ChatLink,
    ConsentEvent,
    Outbox,
    ProcessedUpdate,
    Pupil,
    SchoolGroup,
    StaffRole,
)
from tests import factories
from tests.recording import ChatDriver, recording_bot

PARENTS = 60
TEACHER = 5000


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "school.db"


@pytest.fixture
async def file_factory(database: Path) -> AsyncIterator[SessionFactory]:
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    await create_all(engine)
    yield create_session_factory(engine)
    await engine.dispose()


async def _count(factory: SessionFactory, model: type, *where: object) -> int:
    async with factory() as session:
        query = select(func.count()).select_from(model)
        for condition in where:
            query = query.where(condition)  # type: ignore[arg-type]
        return int((await session.exec(query)).one())


async def test_a_whole_school_at_once_links_and_chooses_with_nothing_lost(
    file_factory: SessionFactory, database: Path, clock: FixedClock, i18n: I18n
) -> None:
    async with file_factory() as session:
        await factories.staff(
            session, "Juf Anouk", StaffRole.TEACHER, ("5A",), telegram_user_id=TEACHER
        )
        families = []
        for n in range(PARENTS):
            child = await factories.pupil(session, f"Kind{n}", "School", "", "5A")
            parent = await factories.guardian(session, f"Ouder {n}", child)
            families.append(
                (child.id or 0, await factories.guardian_code(session, parent, clock.now()))
            )
        await session.commit()
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        bot_token="42:TEST",
        database_url=f"sqlite+aiosqlite:///{database}",
    )
    dp = create_dispatcher(settings, file_factory, clock=clock, i18n=i18n)
    bot, recorder = recording_bot()
    sender = OutboxSender(bot, file_factory, i18n, clock, per_chat_interval=0, global_interval=0)
    expirer = MessageExpirer(bot, file_factory, clock, global_interval=0)
    scheduler = Scheduler(file_factory, clock)

    async def parent(user_id: int, pupil_id: int, code: str) -> str:
        chat = ChatDriver(dp, bot, recorder, user_id)
        await chat.send(f"/start {code}")
        withdraw = ConsentCb(
            action=ConsentAction.CONFIRM, pupil_id=pupil_id, channel="website", grant=False
        )
        await chat.press_data(chat.last_message_id, withdraw.pack())
        return chat.last_text

    async def background(parents_done: asyncio.Event) -> None:
        # The jobs of bot.runner beside the updates, round after round, until all is said.
        while not parents_done.is_set():
            await sender.deliver_due()
            await expirer.delete_due()
            await scheduler.tick()
            await asyncio.sleep(0)

    done = asyncio.Event()
    jobs = asyncio.create_task(background(done))
    texts = await asyncio.gather(
        *(parent(10_000 + n, pupil_id, code) for n, (pupil_id, code) in enumerate(families))
    )
    done.set()
    await jobs
    while await sender.deliver_due():  # what the jobs queued last (the yearly check too)
        pass

    assert all("Website" in text for text in texts)
    assert await _count(file_factory, ChatLink) == PARENTS + 1
    withdrawn = col(ConsentEvent.granted).is_(False)
    assert await _count(file_factory, ConsentEvent, withdrawn) == PARENTS
    assert await _count(file_factory, ProcessedUpdate) == 2 * PARENTS
    # The teacher hears of every withdrawal, once.
    assert await _count(file_factory, Outbox, col(Outbox.sent_at).is_(None)) == 0
    to_teacher = [m for m in recorder.shown.values() if m.chat_id == TEACHER]
    assert len(to_teacher) == PARENTS


async def test_a_reader_does_not_wait_for_a_writer_and_the_next_writer_waits_its_turn(
    file_factory: SessionFactory,
) -> None:
    second_wrote = asyncio.Event()

    async def second_writer() -> None:
        async with file_factory() as session:
            session.add(SchoolGroup(name="6"))
            await session.flush()
            second_wrote.set()
            await session.commit()

    async with file_factory() as first:
        first.add(SchoolGroup(name="5A"))
        await first.flush()  # the first writer's turn, until it commits
        async with file_factory() as reader:
            seen = await asyncio.wait_for(reader.exec(select(SchoolGroup.name)), 5)
            assert list(seen) == []  # not committed yet: not seen
        second = asyncio.create_task(second_writer())
        waited = asyncio.create_task(second_wrote.wait())
        done, _ = await asyncio.wait({waited}, timeout=0.3)
        assert not done, "the second writer wrote while the first held its turn"
        await first.commit()
    await asyncio.wait_for(second, 5)
    waited.cancel()
    async with file_factory() as reader:
        assert sorted((await reader.exec(select(SchoolGroup.name))).all()) == ["5A", "6"]


async def test_an_update_cancelled_while_writing_passes_the_turn_on(
    file_factory: SessionFactory,
) -> None:
    holding = asyncio.Event()

    async def stuck_writer() -> None:
        async with file_factory() as session:
            session.add(SchoolGroup(name="weg"))
            await session.flush()
            holding.set()
            await asyncio.Event().wait()  # a Bot API call that never returns

    stuck = asyncio.create_task(stuck_writer())
    await asyncio.wait_for(holding.wait(), 5)
    stuck.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stuck
    async with file_factory() as session:
        session.add(SchoolGroup(name="5A"))
        await asyncio.wait_for(session.commit(), 5)
    async with file_factory() as reader:
        assert (await reader.exec(select(SchoolGroup.name))).all() == ["5A"]


async def test_an_import_in_another_process_is_waited_for_and_readers_go_on(
    file_factory: SessionFactory, database: Path
) -> None:
    # Another process's connection: SQLite's own lock, not this process's turns.
    other = sqlite3.connect(database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO school_group (name) VALUES ('uit import')")

    async def writer() -> None:
        async with file_factory() as session:
            session.add(SchoolGroup(name="5A"))
            await session.commit()

    written = asyncio.create_task(writer())
    done, _ = await asyncio.wait({written}, timeout=0.3)
    assert not done
    async with file_factory() as reader:  # reading is not held up by the import
        assert (await asyncio.wait_for(reader.exec(select(SchoolGroup.name)), 5)).all() == []
    other.execute("COMMIT")
    other.close()
    await asyncio.wait_for(written, 10)
    async with file_factory() as reader:
        names = sorted((await reader.exec(select(SchoolGroup.name))).all())
    assert names == ["5A", "uit import"]


async def test_a_database_error_does_not_carry_the_stored_values(
    file_factory: SessionFactory,
) -> None:
    async with file_factory() as session:
        group = await factories.group(session, "5A")
        session.add(
            Pupil(
                leerlingnummer="77",
                voornaam="Geheimnaam",
                tussenvoegsel="",
                achternaam="X",
                geboortedatum=date(2017, 1, 2),
                geslacht="V",
                group_id=group.id or 0,
                jaargroep=5,
            )
        )
        await session.commit()
    async with file_factory() as session:
        session.add(
            Pupil(
                leerlingnummer="77",
                voornaam="Geheimnaam",
                tussenvoegsel="",
                achternaam="X",
                geboortedatum=date(2017, 1, 2),
                geslacht="V",
                group_id=group.id or 0,
                jaargroep=5,
            )
        )
        with pytest.raises(IntegrityError) as raised:
            await session.commit()
    assert "Geheimnaam" not in str(raised.value)
    # and the turn to write was given back
    async with file_factory() as session:
        session.add(SchoolGroup(name="6"))
        await asyncio.wait_for(session.commit(), 5)
