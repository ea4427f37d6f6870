"""An update's commit refused by the database: when another worker handled the same
update first (Telegram delivered it twice), its changes stand and this one says nothing
more; any other refusal is an error, raised for the error handler and the log, and never
taken for a duplicate (a parent's choice silently lost)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiogram.types import CallbackQuery, Chat, Message, Update, User
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.middlewares import DbSessionMiddleware
from flows.clock import FixedClock
from storage.db import SessionFactory, create_all, create_engine, create_session_factory
from storage.models import ProcessedUpdate
from storage.prepared import Prepared, with_marker

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

    # Telegram delivered update 10 to two workers: the other one committed it while this
    # one was handling it.
    async def other_worker_first(_event: object, data: dict[str, object]) -> str:
        async with engine.begin() as other:
            await other.execute(insert(_MARKERS).values(update_id=10, at=NOW))
        return "the answer"

    update, data = _press(10)
    assert await middleware(other_worker_first, update, data) is None  # no second answer
    assert await _markers(factory) == [10]

    # A write of the update refused for its own sake (here: a row that is already there).
    async def refused(_event: object, data: dict[str, object]) -> str:
        session = data["session"]
        assert isinstance(session, AsyncSession)
        with_marker(session, _MARK, {"update_id": 10, "at": NOW})
        return "the answer"

    update, data = _press(11)
    with pytest.raises(IntegrityError):
        await middleware(refused, update, data)
    assert await _markers(factory) == [10]  # update 11 left nothing: it is handled afresh


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
