"""`ouderloket run --webhook --workers N`: N processes serving one webhook port, sharing
PostgreSQL and Redis. The parent migrates once, starts the workers, and stops them all
on SIGINT/SIGTERM (or when one of them dies, so a process manager can restart the lot).

With a schools.yaml every worker serves every school's path (a bot and a database per
school, as in one process): the parent migrates each school's database, and a parent's
next update may land on any worker, since the FSM, a user's turn and each bot's outbox
pace are in Redis, under keys of that bot."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import signal
from collections.abc import Sequence

from bot.config import Settings
from bot.logs import configure_logging
from bot.runner import run_board_webhook, run_webhook
from bot.schools import School
from storage.db import create_engine
from storage.migrate import upgrade

log = logging.getLogger(__name__)


def _worker(settings: Settings, index: int, schools: Sequence[School] = ()) -> None:
    configure_logging(fmt=f"%(asctime)s worker-{index} %(levelname)s %(name)s: %(message)s")

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if schools:
            await run_board_webhook(
                settings, schools, stop=stop, register=index == 0, reuse_port=True
            )
        else:
            await run_webhook(settings, stop=stop, register=index == 0, reuse_port=True)

    asyncio.run(serve())


async def run_workers(settings: Settings, count: int, schools: Sequence[School] = ()) -> int:
    """`schools`: the schools of schools.yaml, each served by every worker; without them
    the one school of the usual settings."""
    for database_url in [s.settings.database_url for s in schools] or [settings.database_url]:
        engine = create_engine(database_url)
        try:
            await upgrade(engine)  # once, before the workers race to do it
        finally:
            await engine.dispose()
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(
            target=_worker, args=(settings, i, tuple(schools)), name=f"ouderloket-worker-{i}"
        )
        for i in range(count)
    ]
    for worker in workers:
        worker.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    while not stop.is_set() and all(w.is_alive() for w in workers):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
    for worker in workers:
        if worker.is_alive():
            worker.terminate()
    for worker in workers:
        await asyncio.to_thread(worker.join, 15)
    if not stop.is_set():
        log.error("a worker stopped; all workers were stopped")
        return 1
    return 0
