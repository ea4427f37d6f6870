"""Updates being handled when the bot stops are finished before it closes.

By long polling, Telegram forgets an update once the bot asks for the ones after it,
which aiogram does while the update is still being handled; and on a stop aiogram closes
the form storage and the Bot API session right after polling ends. So a restart (a new
version, a reboot) cut such an update short: its transaction rolled back, and Telegram
would not deliver it again. The parent had perhaps already read "Verstuurd. Uw kenmerk is
…" for a request that was never stored, and could not be told otherwise with the session
closed. A webhook server's shutdown hooks close the session too, before aiohttp waits for
the requests still running: Telegram delivers such an update again, but the parent had
two answers for one press. So both wait for the updates being handled first."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from aiohttp import web

log = logging.getLogger(__name__)
# Long enough for an update whose Bot API call Telegram makes wait (a 429's retry_after is
# seconds), short of the 90 s a service manager gives a process to stop; and for what an
# update cut short then takes back (its messages deleted), bounded too: a Bot API call may
# otherwise wait 60 s for an answer.
FINISH_WITHIN = 30.0
TAKE_BACK_WITHIN = 10.0


class TrackingDispatcher(Dispatcher):
    """aiogram's Dispatcher, keeping the task of every update it is handling: from its
    very start, before it may wait its turn behind the same user's previous update."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.in_flight: set[asyncio.Task[Any]] = set()

    async def feed_update(self, bot: Bot, update: Update, **kwargs: Any) -> Any:
        task = asyncio.current_task()
        if task is None or task in self.in_flight:
            return await super().feed_update(bot, update, **kwargs)
        self.in_flight.add(task)
        try:
            return await super().feed_update(bot, update, **kwargs)
        finally:
            self.in_flight.discard(task)

    async def emit_shutdown(self, *args: Any, **kwargs: Any) -> None:
        """Once polling stopped, aiogram shuts down (the form storage, the bot's own hooks)
        and closes the Bot API session: the updates being handled are finished first."""
        await finish(self)
        await super().emit_shutdown(*args, **kwargs)


def finish_first(app: web.Application, *dispatchers: TrackingDispatcher) -> None:
    """A webhook server's first shutdown hook: registered before aiogram's own (which
    close the Bot API sessions), it finishes the updates being handled, of every school
    it serves at once."""

    async def finishing(_app: web.Application) -> None:
        await asyncio.gather(*(finish(dp) for dp in dispatchers))

    app.on_shutdown.append(finishing)


async def finish(dp: TrackingDispatcher, within: float = FINISH_WITHIN) -> int:
    """Once the bot takes no more updates: waits for those still being handled, at most
    `within` seconds, and cancels (rolls back) the rest. Returns how many were cut short."""
    # An update handed over whose task has not run yet starts, and is counted.
    await asyncio.sleep(0)
    running = set(dp.in_flight)
    if not running:
        return 0
    _, pending = await asyncio.wait(running, timeout=within)
    for task in pending:
        task.cancel()
    if pending:
        # Counted, not described: what an update holds is a parent's.
        log.warning("%d update(s) not finished after %.0f s: cut short", len(pending), within)
        await asyncio.wait(pending, timeout=TAKE_BACK_WITHIN)
    return len(pending)
