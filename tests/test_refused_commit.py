"""An update that does not commit. When its commit is refused by the database because
another worker handled the same update first (Telegram delivered it twice), its changes
stand and this one says nothing more; any other refusal is an error, raised for the
error handler and the log, and never taken for a duplicate (a parent's choice silently
lost). Either way, what it had sent goes again (bot.sent). An update that fails or is
cancelled leaves nothing behind and gives its connection (and on SQLite the turn to
write) back for the next one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiogram.methods import DeleteMessage
from aiogram.types import CallbackQuery, Chat, Message, Update, User
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.middlewares import DbSessionMiddleware
from flows.clock import FixedClock
from storage.db import SessionFactory, create_all, create_engine, create_session_factory
from storage.models import ProcessedUpdate
from storage.prepared import Prepared, with_marker
from tests.recording import recording_bot

NOW = datetime(2026, 12, 4, 19, 0, tzinfo=UTC)
_MARKERS = ProcessedUpdate.__table__  # type: ignore[attr-defined]
_MARK = Prepared(insert(_MARKERS))


def _press(update_id: int) -> tuple[Update, dict[str, object]]:
    user = User(id=5001, is_bot=False, first_name="Ouder")
    message = Message(message_id=1, date=NOW, chat=Chat(id=user.id, type="private"), text="…")
    query = CallbackQuery(id="q", from_user=user, chat_instance="c", message=message)
    return Update(update_id=update_id, callback_query=query), {
        "event_from_user": user,
        "clock": FixedClock(NOW),
    }


async def _markers(factory: SessionFactory) -> list[int]:
    async with factory() as session:
        return sorted((await session.exec(select(_MARKERS.c.update_id))).scalars())  # type: ignore[call-overload]


async def _refusals(factory: SessionFactory) -> None:
    engine = factory.kw["bind"]
    middleware = DbSessionMiddleware(factory, "nl")
    bot, recorder = recording_bot()

    # Telegram delivered update 10 to two workers: the other one committed it while this
    # one was handling it. Both answered; this one's answer goes again.
    async def other_worker_first(_event: object, data: dict[str, object]) -> str:
        await bot.send_message(5001, "Uw keuze is opgeslagen.")
        async with engine.begin() as other:
            await other.execute(insert(_MARKERS).values(update_id=10, at=NOW))
        return "the answer"

    update, data = _press(10)
    data["bot"] = bot
    assert await middleware(other_worker_first, update, data) is None  # no second answer
    assert await _markers(factory) == [10]
    assert recorder.shown == {}

    # A write of the update refused for its own sake (here: a row that is already there).
    async def refused(_event: object, data: dict[str, object]) -> str:
        session = data["session"]
        assert isinstance(session, AsyncSession)
        with_marker(session, _MARK, {"update_id": 10, "at": NOW})
        await bot.send_message(5001, "Uw keuze is opgeslagen.")
        return "the answer"

    update, data = _press(11)
    data["bot"] = bot
    with pytest.raises(IntegrityError):
        await middleware(refused, update, data)
    assert await _markers(factory) == [10]  # update 11 left nothing: it is handled afresh
    assert recorder.shown == {}
    assert len(recorder.of(DeleteMessage)) == 2


async def test_a_refused_commit_is_a_duplicate_only_when_it_is_one(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'school.db'}")
    try:
        await create_all(engine)
        await _refusals(create_session_factory(engine))
    finally:
        await engine.dispose()


async def test_a_refused_commit_is_a_duplicate_only_when_it_is_one_on_postgresql(
    pg_factory: SessionFactory,
) -> None:
    await _refusals(pg_factory)


async def _left_behind(factory: SessionFactory) -> None:
    engine = factory.kw["bind"]
    pool = engine.sync_engine.pool
    middleware = DbSessionMiddleware(factory, "nl")
    writing = asyncio.Event()

    async def fails(_event: object, data: dict[str, object]) -> None:
        session = data["session"]
        assert isinstance(session, AsyncSession)
        session.add(ProcessedUpdate(update_id=99, at=NOW))
        await session.flush()
        raise RuntimeError("a handler's bug")

    async def stuck(_event: object, data: dict[str, object]) -> None:
        session = data["session"]
        assert isinstance(session, AsyncSession)
        session.add(ProcessedUpdate(update_id=98, at=NOW))
        await session.flush()
        writing.set()
        await asyncio.Event().wait()  # a Bot API call that never returns

    update, data = _press(20)
    with pytest.raises(RuntimeError):
        await middleware(fails, update, data)
    update, data = _press(21)
    task = asyncio.create_task(middleware(stuck, update, data))
    await asyncio.wait_for(writing.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert pool.checkedout() == 0
    # The next update writes its marker at once (on SQLite, the turn to write was passed
    # on) and commits; the two before left nothing, not even their markers.
    update, data = _press(22)
    assert await asyncio.wait_for(middleware(_answer, update, data), 5)
    assert await _markers(factory) == [22]


async def _answer(_event: object, _data: dict[str, object]) -> str:
    return "the answer"


async def test_a_failed_or_cancelled_update_leaves_nothing_and_frees_its_connection(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'school.db'}")
    try:
        await create_all(engine)
        await _left_behind(create_session_factory(engine))
    finally:
        await engine.dispose()


async def test_a_failed_or_cancelled_update_leaves_nothing_and_frees_its_connection_on_postgresql(
    pg_factory: SessionFactory,
) -> None:
    await _left_behind(pg_factory)
