"""Messages with a child's data delete themselves after DATA_VIEW_TTL: exactly once, also
after a restart; gone messages and blocked bots end it, 5xx is retried, 429 waits."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import DeleteMessage, TelegramMethod
from aiogram.methods.base import TelegramType
from sqlmodel import select

from bot.config import Settings
from bot.expiry import MAX_ATTEMPTS, MessageExpirer
from flows.clock import FixedClock
from storage.db import SessionFactory, create_engine, create_session_factory
from storage.expiry import schedule
from storage.migrate import upgrade
from storage.models import MessageExpiry
from tests.recording import Call, RecordingSession, recording_bot

CHAT, OTHER_CHAT = 7001, 7002
TTL = Settings(_env_file=None).data_view_ttl  # type: ignore[call-arg]  # the default, 15 min
DELETE = DeleteMessage(chat_id=CHAT, message_id=1)


@dataclass
class FaultySession(RecordingSession):
    """RecordingSession that raises the given errors, in order, on deleteMessage."""

    delete_faults: list[Exception | None] = field(default_factory=list)

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109  (BaseSession's signature)
    ) -> TelegramType:
        if isinstance(method, DeleteMessage) and self.delete_faults:
            fault = self.delete_faults.pop(0)
            if fault is not None:
                self.calls.append(Call(method))
                raise fault
        return await super().make_request(bot, method, timeout)


def faulty_bot(*faults: Exception | None) -> tuple[Bot, FaultySession]:
    bot, _ = recording_bot()
    session = FaultySession(delete_faults=list(faults))
    bot.session = session
    return bot, session


def deleted(recorder: RecordingSession) -> list[tuple[int, int]]:
    return [(int(m.chat_id), m.message_id) for m in recorder.of(DeleteMessage)]


async def rows(factory: SessionFactory) -> list[MessageExpiry]:
    async with factory() as session:
        return list((await session.exec(select(MessageExpiry))).all())


async def _schedule(
    factory: SessionFactory, clock: FixedClock, chat_id: int, message_id: int
) -> None:
    async with factory() as session:
        schedule(session, chat_id, message_id, clock.now() + TTL)
        await session.commit()


def expirer(bot: Bot, factory: SessionFactory, clock: FixedClock, **kwargs: Any) -> MessageExpirer:
    return MessageExpirer(bot, factory, clock, global_interval=0, **kwargs)


async def test_deleted_after_the_ttl_exactly_once(
    factory: SessionFactory, clock: FixedClock, bot_and_session: tuple[Bot, RecordingSession]
) -> None:
    bot, recorder = bot_and_session
    await _schedule(factory, clock, CHAT, 11)
    clock.advance(minutes=5)
    await _schedule(factory, clock, OTHER_CHAT, 11)  # same message id, other chat
    sweeper = expirer(bot, factory, clock)
    clock.advance(minutes=9, seconds=59)
    assert await sweeper.delete_due() == 0
    assert deleted(recorder) == []
    clock.advance(seconds=1)
    assert await sweeper.delete_due() == 1
    assert deleted(recorder) == [(CHAT, 11)]
    assert await sweeper.delete_due() == 0  # not twice
    clock.advance(minutes=5)
    assert await sweeper.delete_due() == 1
    clock.advance(hours=1)
    assert await sweeper.delete_due() == 0
    assert deleted(recorder) == [(CHAT, 11), (OTHER_CHAT, 11)]
    assert all(r.done_at is not None for r in await rows(factory))


async def test_a_pending_deletion_survives_a_restart(tmp_path: Path, clock: FixedClock) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'school.db'}"
    engine = create_engine(url)
    await upgrade(engine)  # through the migrations, as the bot does on start
    await _schedule(create_session_factory(engine), clock, CHAT, 12)
    first_bot, first = recording_bot()
    assert await expirer(first_bot, create_session_factory(engine), clock).delete_due() == 0
    await engine.dispose()  # the bot stops before the message is due

    clock.advance(minutes=20)
    engine = create_engine(url)
    await upgrade(engine)
    bot, recorder = recording_bot()
    try:
        assert await expirer(bot, create_session_factory(engine), clock).delete_due() == 1
    finally:
        await engine.dispose()
    assert deleted(first) == []
    assert deleted(recorder) == [(CHAT, 12)]


async def test_rescheduling_moves_the_time(
    factory: SessionFactory, clock: FixedClock, bot_and_session: tuple[Bot, RecordingSession]
) -> None:
    bot, recorder = bot_and_session
    await _schedule(factory, clock, CHAT, 13)
    clock.advance(minutes=10)
    await _schedule(factory, clock, CHAT, 13)  # shown again: 15 minutes from now
    async with factory() as session:  # twice in one transaction is one row as well
        schedule(session, CHAT, 13, clock.now() + TTL)
        schedule(session, CHAT, 13, clock.now() + TTL)
        await session.commit()
    assert len(await rows(factory)) == 1
    sweeper = expirer(bot, factory, clock)
    clock.advance(minutes=10)
    assert await sweeper.delete_due() == 0
    clock.advance(minutes=5)
    assert await sweeper.delete_due() == 1
    assert deleted(recorder) == [(CHAT, 13)]

    # Earlier works too, and a message shown again after its deletion is deleted again.
    await _schedule(factory, clock, CHAT, 13)
    async with factory() as session:
        schedule(session, CHAT, 13, clock.now())
        await session.commit()
    assert await sweeper.delete_due() == 1
    assert deleted(recorder) == [(CHAT, 13), (CHAT, 13)]


async def test_a_deletion_rolled_back_is_forgotten(
    factory: SessionFactory, clock: FixedClock
) -> None:
    """The deletion time is written when the transaction commits (with the update's
    marker, storage.prepared.with_marker): a rollback before that takes it away, and a
    later commit of the same session does not bring it back."""
    async with factory() as session:
        schedule(session, CHAT, 15, clock.now() + TTL)
        await session.rollback()
        schedule(session, CHAT, 16, clock.now() + TTL)
        await session.commit()
    assert [row.message_id for row in await rows(factory)] == [16]


async def test_gone_undeletable_and_blocked_are_done_and_not_retried(
    factory: SessionFactory, clock: FixedClock
) -> None:
    bot, recorder = faulty_bot(
        TelegramBadRequest(DELETE, "Bad Request: message to delete not found"),
        TelegramBadRequest(DELETE, "Bad Request: message can't be deleted"),
        TelegramForbiddenError(DELETE, "Forbidden: bot was blocked by the user"),
    )
    for message_id in (21, 22, 23):
        await _schedule(factory, clock, CHAT, message_id)
    clock.advance(minutes=15)
    sweeper = expirer(bot, factory, clock)
    assert await sweeper.delete_due() == 0
    assert len(deleted(recorder)) == 3
    assert all(r.done_at is not None and r.attempts == 0 for r in await rows(factory))
    clock.advance(days=1)
    assert await sweeper.delete_due() == 0
    assert len(deleted(recorder)) == 3  # none tried again


async def test_5xx_and_network_errors_are_retried_then_given_up(
    factory: SessionFactory, clock: FixedClock
) -> None:
    bot, recorder = faulty_bot(
        TelegramServerError(DELETE, "Bad Gateway"),
        TelegramNetworkError(DELETE, "Request timeout error"),
        None,
    )
    await _schedule(factory, clock, CHAT, 31)
    clock.advance(minutes=15)
    sweeper = expirer(bot, factory, clock)
    assert await sweeper.delete_due() == 0
    assert await sweeper.delete_due() == 0  # backing off
    clock.advance(seconds=2)
    assert await sweeper.delete_due() == 0  # the network error
    clock.advance(seconds=4)
    assert await sweeper.delete_due() == 1
    [row] = await rows(factory)
    assert row.attempts == 2 and row.done_at is not None
    assert len(deleted(recorder)) == 3

    # A message Telegram keeps failing on is given up after MAX_ATTEMPTS, not forever.
    recorder.delete_faults = [TelegramServerError(DELETE, "Internal Server Error")] * 50
    await _schedule(factory, clock, CHAT, 32)
    clock.advance(minutes=15)
    for _ in range(MAX_ATTEMPTS + 5):
        assert await sweeper.delete_due() == 0
        clock.advance(hours=1)
    row = next(r for r in await rows(factory) if r.message_id == 32)
    assert row.attempts == MAX_ATTEMPTS and row.done_at is not None
    assert len(deleted(recorder)) == 3 + MAX_ATTEMPTS


async def test_429_waits_as_told_and_tries_again(
    factory: SessionFactory, clock: FixedClock
) -> None:
    bot, recorder = faulty_bot(
        TelegramRetryAfter(DELETE, "Too Many Requests: retry after 7", retry_after=7)
    )
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)

    await _schedule(factory, clock, CHAT, 41)
    clock.advance(minutes=15)
    sweeper = expirer(bot, factory, clock, sleep=sleep)
    assert await sweeper.delete_due() == 0
    assert waited == [7]
    [row] = await rows(factory)
    assert row.attempts == 0 and row.done_at is None
    assert await sweeper.delete_due() == 1
    assert len(deleted(recorder)) == 2
