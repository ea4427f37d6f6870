from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest
from aiogram import Bot, Dispatcher
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import create_dispatcher
from bot.config import Settings
from bot.i18n import create_i18n
from flows.clock import FixedClock
from storage.db import SessionFactory, create_all, create_engine, create_session_factory
from tests.recording import ChatDriver, RecordingSession, chats, recording_bot
from tests.servers import pg_empty_url, pg_factory, pg_url, redis_url  # noqa: F401  (fixtures)

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
async def engine() -> AsyncIterator[AsyncEngine]:
    engine = create_engine("sqlite+aiosqlite:///:memory:")
    await create_all(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def factory(engine: AsyncEngine) -> SessionFactory:
    return create_session_factory(engine)


@pytest.fixture
async def session(factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    async with factory() as session:
        yield session


@pytest.fixture(scope="session")
def i18n() -> I18n:
    return create_i18n("nl")


@pytest.fixture
def settings() -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        bot_token="42:TEST",
        database_url="sqlite+aiosqlite:///:memory:",
        school_name="OBS de Flint",
        bot_username="ouderloket_test_bot",
    )


@pytest.fixture
def dispatcher(
    settings: Settings, factory: SessionFactory, clock: FixedClock, i18n: I18n
) -> Dispatcher:
    return create_dispatcher(settings, factory, clock=clock, i18n=i18n)


@pytest.fixture
def bot_and_session() -> tuple[Bot, RecordingSession]:
    return recording_bot()


@pytest.fixture
def pg_chat(
    settings: Settings,
    pg_factory: SessionFactory,  # noqa: F811  (the fixture, imported above)
    clock: FixedClock,
    i18n: I18n,
) -> Callable[[int], ChatDriver]:
    """Users talking to one bot on PostgreSQL: pg_chat(user_id)."""
    return chats(create_dispatcher(settings, pg_factory, clock=clock, i18n=i18n))


@pytest.fixture
def chat(dispatcher: Dispatcher, bot_and_session: tuple[Bot, RecordingSession]):  # type: ignore[no-untyped-def]
    """A factory of users talking to the same bot: chat(user_id)."""
    bot, recorder = bot_and_session

    def make(user_id: int = 1001, language_code: str = "nl") -> ChatDriver:
        return ChatDriver(dispatcher, bot, recorder, user_id, language_code=language_code)

    return make


@pytest.fixture
def failing_commits(monkeypatch: pytest.MonkeyPatch) -> Callable[[bool], None]:
    """failing_commits(True): every update's commit fails (the disk is full, say);
    failing_commits(False): commits work again."""
    from sqlalchemy.exc import OperationalError

    from bot import middlewares

    commit = middlewares.mark_and_commit

    async def failing(*_args: object, **_kwargs: object) -> None:
        raise OperationalError("COMMIT", None, Exception("database or disk is full"))

    return lambda on: monkeypatch.setattr(middlewares, "mark_and_commit", failing if on else commit)
