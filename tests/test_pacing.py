"""The outbox's pace holds for a bot as a whole: two senders (two workers) sharing Redis
never send more than 29 messages in any one second for one bot, nor two messages to one
chat within a second. Time is virtual: it moves only when every sender waits, to the
earliest wake-up, so the runs do not depend on the speed of the machine."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from aiogram import Bot
from aiogram.utils.i18n import I18n
from redis.asyncio import Redis
from sqlalchemy import func
from sqlmodel import col, select

from bot.expiry import MessageExpirer
from bot.outbox import OutboxSender
from bot.pacing import GLOBAL_INTERVAL, PER_CHAT_INTERVAL, MemoryPacer, Pacer, RedisPacer
from flows import notify
from flows.clock import FixedClock
from storage.db import SessionFactory
from storage.expiry import schedule
from storage.models import Outbox

BOT_ID = 700000001


class VirtualTime:
    """A clock that moves only when every job waits on it, to the earliest wake-up."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.t = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.t + seconds, next(self._order), future))
        await future

    async def run(self, *jobs: Coroutine[Any, Any, int]) -> list[int]:
        tasks = [asyncio.create_task(job) for job in jobs]
        try:
            while True:
                await asyncio.wait(tasks, timeout=0.005)  # real time: the database answers
                live = [t for t in tasks if not t.done()]
                if not live:
                    return [t.result() for t in tasks]
                if len(self._sleepers) == len(live):  # every live job waits for the clock
                    wake = min(at for at, _, _ in self._sleepers)
                    self.t = wake
                    due = [s for s in self._sleepers if s[0] <= wake]
                    self._sleepers = [s for s in self._sleepers if s[0] > wake]
                    for _, _, future in due:
                        future.set_result(None)
        finally:
            for task in tasks:
                task.cancel()


@dataclass
class Telegram:
    """A bot's far end: when (virtual time) each message arrived, to which chat, and
    through which worker."""

    time: VirtualTime
    sent: list[tuple[float, int, str, int]] = field(default_factory=list)

    def bot(self, worker: int) -> Bot:
        telegram = self

        class WorkerBot:
            async def send_message(self, chat_id: int, text: str, **_: Any) -> None:
                telegram.sent.append((telegram.time.now(), chat_id, text, worker))

            async def delete_message(self, chat_id: int, message_id: int, **_: Any) -> None:
                telegram.sent.append((telegram.time.now(), chat_id, f"delete {message_id}", worker))

        return cast(Bot, WorkerBot())


def max_in_any_second(times: list[float]) -> int:
    """The most sends in any half-open window [t, t + 1)."""
    ordered, best, start = sorted(times), 0, 0
    for end, at in enumerate(ordered):
        while at - ordered[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def min_gap_per_chat(sent: list[tuple[float, int, str, int]]) -> float:
    by_chat: dict[int, list[float]] = defaultdict(list)
    for at, chat_id, _text, _worker in sent:
        by_chat[chat_id].append(at)
    return min(b - a for times in by_chat.values() for a, b in itertools.pairwise(sorted(times)))


@pytest.fixture
async def redis_clients(redis_url: tuple[str, str]) -> AsyncIterator[tuple[list[Redis], str]]:
    server, prefix = redis_url
    clients = [Redis.from_url(server), Redis.from_url(server)]
    yield clients, prefix
    for client in clients:
        await client.aclose()


async def _queue(factory: SessionFactory, clock: FixedClock, chats: int, each: int) -> None:
    async with factory() as session:
        for n in range(chats * each):
            await notify.enqueue(
                session,
                930000 + (n * 7) % chats,  # one chat's rows now adjacent, now far apart
                "request_withdrawn",
                clock.now(),
                reference=f"OL-2026-{n:04d}",
                pupil_full="Emma de Vries",
                request_id=0,
            )
        await session.commit()


async def _unsent(factory: SessionFactory) -> int:
    async with factory() as session:
        query = select(func.count()).select_from(Outbox).where(col(Outbox.sent_at).is_(None))
        return int((await session.exec(query)).one())


async def _two_workers_send(
    factory: SessionFactory, clock: FixedClock, i18n: I18n, pacers: list[Pacer], time: VirtualTime
) -> Telegram:
    telegram = Telegram(time)
    senders = [
        OutboxSender(telegram.bot(n), factory, i18n, clock, pacer=pacer, sleep=time.sleep)
        for n, pacer in enumerate(pacers)
    ]

    async def drain(sender: OutboxSender) -> int:
        delivered = 0
        while True:
            delivered += await sender.deliver_due()
            if await _unsent(factory) == 0:
                return delivered
            await time.sleep(0.01)  # what is left is the other worker's, or not yet due

    await asyncio.wait_for(time.run(*(drain(s) for s in senders)), 120)
    return telegram


async def test_two_senders_sharing_redis_keep_the_bots_pace_and_each_chats_second(
    pg_factory: SessionFactory,
    clock: FixedClock,
    i18n: I18n,
    redis_clients: tuple[list[Redis], str],
) -> None:
    clients, prefix = redis_clients
    await _queue(pg_factory, clock, chats=40, each=6)  # 240 notifications
    time = VirtualTime()
    pacers: list[Pacer] = [RedisPacer(c, prefix, BOT_ID, now=time.now) for c in clients]
    telegram = await _two_workers_send(pg_factory, clock, i18n, pacers, time)

    texts = Counter(text for _at, _chat, text, _worker in telegram.sent)
    assert len(texts) == 240 and set(texts.values()) == {1}  # each once
    assert {worker for *_, worker in telegram.sent} == {0, 1}  # both workers sent
    times = [at for at, *_ in telegram.sent]
    assert max_in_any_second(times) <= 29
    assert min_gap_per_chat(telegram.sent) >= PER_CHAT_INTERVAL - 1e-6
    # Not slower than one worker alone: the slots follow each other without gaps.
    assert max(times) - min(times) <= 240 * GLOBAL_INTERVAL + 1


async def test_without_a_shared_pace_two_senders_would_send_twice_as_fast(
    pg_factory: SessionFactory, clock: FixedClock, i18n: I18n
) -> None:
    """The problem the shared pace solves: each worker pacing itself alone."""
    await _queue(pg_factory, clock, chats=40, each=6)
    time = VirtualTime()
    pacers: list[Pacer] = [MemoryPacer(now=time.now), MemoryPacer(now=time.now)]
    telegram = await _two_workers_send(pg_factory, clock, i18n, pacers, time)
    assert max_in_any_second([at for at, *_ in telegram.sent]) > 30
    assert min_gap_per_chat(telegram.sent) < 1


async def test_a_chat_in_its_second_is_refused_by_the_other_worker_without_taking_a_turn(
    redis_clients: tuple[list[Redis], str],
) -> None:
    clients, prefix = redis_clients
    time = VirtualTime()
    first, second = (RedisPacer(c, prefix, BOT_ID, now=time.now) for c in clients)
    to_seven = await first.take(7)
    assert to_seven.granted
    busy = await second.take(7)  # the same chat, through the other worker, in flight
    assert busy.chat_busy and busy.wait == pytest.approx(PER_CHAT_INTERVAL)
    other = await second.take(8)  # another chat waits for the bot's next turn only
    assert not other.chat_busy and other.wait == pytest.approx(GLOBAL_INTERVAL, abs=1e-6)
    time.t += other.wait
    to_eight = await second.take(8)  # chat 7's refusal took nothing
    assert to_eight.granted
    await second.done(8, to_eight)
    time.t += 5  # a slow answer: chat 7 stays busy while its message is in flight
    assert (await second.take(7)).chat_busy
    await first.done(7, to_seven)
    assert (await second.take(7)).wait == pytest.approx(PER_CHAT_INTERVAL)
    time.t += PER_CHAT_INTERVAL
    assert (await second.take(7)).granted
    # Another bot (another school) has a pace of its own.
    elsewhere = RedisPacer(clients[0], prefix, BOT_ID + 1, now=time.now)
    assert (await elsewhere.take(7)).granted


async def test_turns_taken_by_two_workers_are_spread_over_the_second(
    redis_clients: tuple[list[Redis], str],
) -> None:
    clients, prefix = redis_clients
    time = VirtualTime()
    pacers = [RedisPacer(c, prefix, BOT_ID, now=time.now) for c in clients]
    sent: list[float] = []
    for n in range(120):  # both workers ask for every turn; one gets it
        pacer = pacers[n % 2]
        while not (turn := await pacer.take(100 + n)).granted:
            time.t += turn.wait
        sent.append(time.now())
        assert not (await pacers[(n + 1) % 2].take(500 + n)).granted  # the other waits
        await pacer.done(100 + n, turn)
    assert max_in_any_second(sent) == 29
    assert min(b - a for a, b in itertools.pairwise(sent)) >= GLOBAL_INTERVAL - 1e-6


@pytest.mark.parametrize("shared", [True, False])
async def test_messages_in_flight_count_until_answered_and_a_second_after(
    shared: bool, redis_clients: tuple[list[Redis], str]
) -> None:
    """A message reaches Telegram somewhere between its turn and its answer: with 30 in
    flight (a slow network, a worker that stalls), the 31st waits, however long."""
    clients, prefix = redis_clients
    time = VirtualTime()
    pacer: Pacer = (
        RedisPacer(clients[0], prefix, BOT_ID, now=time.now)
        if shared
        else MemoryPacer(now=time.now)
    )
    turns = []
    for n in range(30):
        while not (turn := await pacer.take(n)).granted:
            assert turn.wait <= GLOBAL_INTERVAL + 1e-6  # only the bot's pace
            time.t += turn.wait
        turns.append(turn)
    time.t += 10
    waiting = await pacer.take(99)
    assert not waiting.granted and not waiting.chat_busy
    for n, turn in enumerate(turns):
        await pacer.done(n, turn)
    assert not (await pacer.take(99)).granted  # answered now: they count one more second
    time.t += 1.0001
    assert (await pacer.take(99)).granted


async def test_one_process_passes_a_busy_chat_over_and_keeps_the_pace() -> None:
    time = VirtualTime()
    pacer = MemoryPacer(now=time.now)
    first = await pacer.take(1)
    await pacer.done(1, first)
    busy = await pacer.take(1)
    assert busy.chat_busy and busy.wait == pytest.approx(PER_CHAT_INTERVAL)
    other = await pacer.take(2)
    assert not other.chat_busy and other.wait == pytest.approx(GLOBAL_INTERVAL)
    time.t += 0.5  # a sender that wakes late: the next turn counts from now
    assert (await pacer.take(2)).granted
    assert (await pacer.take(3)).wait == pytest.approx(GLOBAL_INTERVAL)


async def _outbox_and_expirer_at_once(
    factory: SessionFactory, clock: FixedClock, i18n: I18n, shared: bool
) -> Telegram:
    """60 notifications and 60 data messages due for deletion, on one bot: the outbox
    and the expirer working together, with one pace between them or each its own."""
    await _queue(factory, clock, chats=30, each=2)
    async with factory() as session:
        for n in range(60):
            schedule(session, 940000 + n, 7, clock.now())
        await session.commit()
    time = VirtualTime()
    telegram = Telegram(time)
    pacer = MemoryPacer(now=time.now)
    sender = OutboxSender(telegram.bot(0), factory, i18n, clock, pacer=pacer, sleep=time.sleep)
    # Unshared, the expirer keeps its own 30 a second.
    expirer = MessageExpirer(
        telegram.bot(1), factory, clock, sleep=time.sleep, pacer=pacer if shared else None
    )

    async def drain() -> int:
        delivered = 0
        while await _unsent(factory):
            delivered += await sender.deliver_due()
        return delivered

    await asyncio.wait_for(time.run(drain(), expirer.delete_due()), 120)
    return telegram


async def test_deletions_of_data_messages_keep_the_same_pace_as_notifications(
    pg_factory: SessionFactory, clock: FixedClock, i18n: I18n
) -> None:
    telegram = await _outbox_and_expirer_at_once(pg_factory, clock, i18n, shared=True)
    kinds = Counter(text.startswith("delete") for _at, _chat, text, _worker in telegram.sent)
    assert kinds == {True: 60, False: 60}
    assert max_in_any_second([at for at, *_ in telegram.sent]) <= 30


async def test_deletions_on_their_own_pace_would_go_past_the_bots_limit(
    pg_factory: SessionFactory, clock: FixedClock, i18n: I18n
) -> None:
    telegram = await _outbox_and_expirer_at_once(pg_factory, clock, i18n, shared=False)
    assert max_in_any_second([at for at, *_ in telegram.sent]) > 40
