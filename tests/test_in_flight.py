"""bot.in_flight: what the bot waits for when it stops, and what it gives up on."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from aiogram import Router
from aiogram.types import Chat, Message, Update, User

from bot.in_flight import TrackingDispatcher, finish
from tests.recording import recording_bot


def _update(update_id: int) -> Update:
    user = User(id=7, is_bot=False, first_name="Ouder")
    message = Message(
        message_id=update_id,
        date=datetime(2027, 3, 16, 9, 0, tzinfo=UTC),
        chat=Chat(id=7, type="private"),
        from_user=user,
        text="Emma Sophie",
    )
    return Update(update_id=update_id, message=message)


def _dispatcher(release: asyncio.Event, finished: list[int]) -> TrackingDispatcher:
    dp = TrackingDispatcher()
    router = Router()

    async def typed(message: Message) -> None:
        await release.wait()
        finished.append(message.message_id)

    router.message.register(typed)
    dp.include_router(router)
    return dp


async def test_an_update_being_handled_is_waited_for() -> None:
    release, finished = asyncio.Event(), []
    dp = _dispatcher(release, finished)
    bot, _ = recording_bot()
    handling = asyncio.create_task(dp.feed_update(bot, _update(1)))
    await asyncio.sleep(0)
    assert dp.in_flight == {handling}
    finishing = asyncio.create_task(finish(dp, within=30))
    for _ in range(20):  # every step the loop can take meanwhile
        await asyncio.sleep(0)
    assert not finishing.done()
    release.set()
    assert await finishing == 0
    assert finished == [1] and dp.in_flight == set()


async def test_an_update_that_does_not_end_is_cut_short_after_the_bound() -> None:
    dp = _dispatcher(asyncio.Event(), finished := [])
    bot, _ = recording_bot()
    handling = asyncio.create_task(dp.feed_update(bot, _update(2)))
    await asyncio.sleep(0)
    assert await finish(dp, within=0.05) == 1
    assert handling.cancelled() and finished == []


async def test_an_update_handed_over_but_not_started_is_waited_for_too() -> None:
    release, finished = asyncio.Event(), []
    dp = _dispatcher(release, finished)
    bot, _ = recording_bot()
    asyncio.get_running_loop().call_later(0.05, release.set)
    # As polling does: the task is made, and has not run a step when the stop comes.
    handling = asyncio.create_task(dp.feed_update(bot, _update(3)))
    assert await finish(dp, within=30) == 0
    assert handling.done() and finished == [3]


async def test_a_webhook_server_finishes_every_schools_updates_before_its_other_hooks() -> None:
    """The board's one server: its first shutdown hook waits for each school's updates,
    before aiogram's hooks close the Bot API sessions."""
    from aiohttp import web

    from bot.in_flight import finish_first

    releases, finished = [asyncio.Event(), asyncio.Event()], []
    schools = [_dispatcher(release, finished) for release in releases]
    bot, _ = recording_bot()
    app = web.Application()
    finish_first(app, *schools)
    closed_with: list[list[int]] = []

    async def aiograms_own(_app: web.Application) -> None:
        closed_with.append(sorted(finished))

    app.on_shutdown.append(aiograms_own)
    for n, dp in enumerate(schools, start=4):
        asyncio.create_task(dp.feed_update(bot, _update(n)))  # noqa: RUF006  (held in dp.in_flight)
    # The second school's update takes longer.
    for seconds, release in zip((0.02, 0.1), releases, strict=True):
        asyncio.get_running_loop().call_later(seconds, release.set)
    app.freeze()
    await app.shutdown()
    assert closed_with == [[4, 5]]


async def test_an_update_cut_short_gets_a_bounded_time_to_take_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cut short, an update deletes what it had sent: a Bot API call that hangs there
    does not keep the bot from stopping."""
    from bot import in_flight

    monkeypatch.setattr(in_flight, "TAKE_BACK_WITHIN", 0.05)
    dp = TrackingDispatcher()
    router = Router()

    async def hanging_take_back(message: Message) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await asyncio.Event().wait()  # a deletion Telegram never answers

    router.message.register(hanging_take_back)
    dp.include_router(router)
    bot, _ = recording_bot()
    handling = asyncio.create_task(dp.feed_update(bot, _update(6)))
    await asyncio.sleep(0)
    assert await asyncio.wait_for(finish(dp, within=0.05), 2) == 1
    handling.cancel()  # as the process's end would
    with pytest.raises(asyncio.CancelledError):
        await handling
