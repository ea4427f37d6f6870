"""A parent (or a stuck client) sending too much is slowed down, told so once in their
language, and never left with a spinning button; with Redis the limit holds across
workers."""

from __future__ import annotations

from aiogram.methods import AnswerCallbackQuery, SendMessage
from aiogram.utils.i18n import I18n
from redis.asyncio import Redis

from bot.app import create_dispatcher
from bot.callbacks import MenuAction, MenuCb
from bot.config import Settings
from bot.throttle import MemoryCounter, RedisCounter
from flows.clock import FixedClock
from storage.db import SessionFactory
from tests.recording import ChatDriver, recording_bot

HELP = MenuCb(action=MenuAction.HELP).pack()
WAIT_NL = "Even geduld, u stuurt veel berichten tegelijk."
WAIT_EN = "One moment please, you are sending a lot of messages at once."


class Ticks:
    """The counters' time, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _texts(sent: list[SendMessage], user_id: int) -> list[str]:
    return [m.text for m in sent if m.chat_id == user_id]


async def test_the_first_message_over_the_limit_is_answered_once_and_later_ones_go_through(
    settings: Settings, factory: SessionFactory, clock: FixedClock, i18n: I18n
) -> None:
    ticks = Ticks()
    counter = MemoryCounter(limit=3, window=10, now=ticks)
    dp = create_dispatcher(settings, factory, clock=clock, i18n=i18n, counter=counter)
    bot, recorder = recording_bot()
    parent = ChatDriver(dp, bot, recorder, 1001)
    for _ in range(3):
        await parent.send("/help")
    assert WAIT_NL not in _texts(recorder.of(SendMessage), 1001)
    await parent.send("/help")
    await parent.send("Hallo?")
    await parent.send("/help")
    texts = _texts(recorder.of(SendMessage), 1001)
    assert texts.count(WAIT_NL) == 1 and texts[-1] == WAIT_NL
    assert len(texts) == 4  # three answers, one request to wait, then silence

    ticks.now += 10  # the window has passed
    await parent.send("/help")
    texts = _texts(recorder.of(SendMessage), 1001)
    assert len(texts) == 5 and texts[-1] != WAIT_NL
    # Over the limit again later: told again, once.
    for _ in range(4):
        await parent.send("/help")
    assert _texts(recorder.of(SendMessage), 1001).count(WAIT_NL) == 2


async def test_a_refused_button_press_is_answered_and_the_wait_is_told_in_english(
    settings: Settings, factory: SessionFactory, clock: FixedClock, i18n: I18n
) -> None:
    ticks = Ticks()
    counter = MemoryCounter(limit=1, window=10, now=ticks)
    dp = create_dispatcher(settings, factory, clock=clock, i18n=i18n, counter=counter)
    bot, recorder = recording_bot()
    parent = ChatDriver(dp, bot, recorder, 1002, language_code="en")
    await parent.send("/help")
    shown = parent.last_message_id
    await parent.press_data(shown, HELP)  # refused: answered with the request to wait
    await parent.press_data(shown, HELP)  # refused again: answered, silently
    answers = recorder.of(AnswerCallbackQuery)
    assert [a.text for a in answers] == [WAIT_EN, None]
    assert WAIT_EN not in _texts(recorder.of(SendMessage), 1002)


async def test_with_redis_the_limit_holds_across_workers_and_the_wait_is_told_once(
    settings: Settings,
    factory: SessionFactory,
    clock: FixedClock,
    i18n: I18n,
    redis_url: tuple[str, str],
) -> None:
    server, prefix = redis_url
    ticks = Ticks()
    clients = [Redis.from_url(server), Redis.from_url(server)]
    workers = [
        create_dispatcher(
            settings,
            factory,
            clock=clock,
            i18n=i18n,
            counter=RedisCounter(client, prefix, limit=4, window=10, now=ticks),
        )
        for client in clients
    ]
    bot, recorder = recording_bot()
    # One parent, whose updates land on either worker.
    chats = [ChatDriver(dp, bot, recorder, 1003) for dp in workers]
    try:
        for n in range(7):  # the updates land on either worker in turn
            await chats[n % 2].send("/help")
        texts = _texts(recorder.of(SendMessage), 1003)
        assert len(texts) == 5 and texts.count(WAIT_NL) == 1 and texts[-1] == WAIT_NL
        ticks.now += 10
        await chats[1].send("/help")
        assert _texts(recorder.of(SendMessage), 1003)[-1] != WAIT_NL
        # Another parent is counted apart.
        await ChatDriver(workers[0], bot, recorder, 1004).send("/help")
        assert WAIT_NL not in _texts(recorder.of(SendMessage), 1004)
    finally:
        for client in clients:
            await client.aclose()
