"""Two webhook workers on the real PostgreSQL and Redis of this machine, behind one URL:
a parent's consecutive updates land on different workers and the flow still works (the
FSM is in Redis), a re-delivered update changes nothing, and two outbox senders never
send a notification twice."""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr
from sqlmodel import select

from bot.app import create_bot, create_dispatcher
from bot.config import Settings
from bot.demo import DEMO_TOKEN, demo_settings
from bot.demo_school import seed
from bot.emulator.driver import ChatPerson
from bot.emulator.server import EmulatorServer, create_app
from bot.emulator.state import Emulator
from bot.outbox import OutboxSender
from bot.runner import WEBHOOK_PATH, webhook_app
from bot.scheduler import Scheduler
from flows import notify
from flows.clock import FixedClock
from storage.db import SessionFactory
from storage.models import ConsentEvent, Outbox, Request
from storage.updates import handled, mark_and_commit
from tests.e2e import free_port

SECRET = "scale-out-secret"
ROOT = str(Path(__file__).resolve().parent.parent)


@dataclass
class Balancer:
    """Telegram's side of a load balancer: each update goes to the next worker in turn."""

    workers: list[str]
    seen: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    _turn: itertools.count[int] = field(default_factory=itertools.count)

    async def forward(self, request: web.Request) -> web.Response:
        body = await request.json()
        index = next(self._turn) % len(self.workers)
        self.seen.append((index, body))
        return await post(self.workers[index], body)


async def post(url: str, body: dict[str, Any], secret: str = SECRET) -> web.Response:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
    async with (
        aiohttp.ClientSession() as client,
        client.post(url, json=body, headers=headers) as answer,
    ):
        # As a real balancer does, with its type: an update's answer may come as the
        # webhook's reply (a multipart form with its boundary in the header).
        return web.Response(
            status=answer.status,
            body=await answer.read(),
            headers={"Content-Type": answer.headers.get("Content-Type", "text/plain")},
        )


@dataclass
class Cluster:
    emu: Emulator
    balancer: Balancer
    workers: list[str]
    codes: dict[str, str]
    factory: SessionFactory
    settings: Settings


@pytest.fixture
async def cluster(
    pg_factory: SessionFactory, pg_url: str, redis_url: tuple[str, str], clock: FixedClock
) -> AsyncIterator[Cluster]:
    async with pg_factory() as session:
        personas = await seed(session, clock.now())
        await session.commit()
    emu = Emulator(DEMO_TOKEN, bot_username="ouderloket_demo_bot")
    server_url, prefix = redis_url
    async with EmulatorServer(create_app(emu)) as telegram:
        settings = demo_settings(Settings(_env_file=None), telegram.url, pg_url)  # type: ignore[call-arg]
        settings = settings.model_copy(
            update={
                "redis_url": server_url,
                "redis_prefix": prefix,
                "webhook_secret": SecretStr(SECRET),
            }
        )
        runners, urls, closers = [], [], []
        for _ in range(2):  # two workers, each with its own dispatcher, bot and pool
            dp = create_dispatcher(settings, pg_factory, clock=clock)
            bot = create_bot(settings)
            runner = web.AppRunner(webhook_app(settings, bot, dp), access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            runners.append(runner)
            urls.append(f"http://127.0.0.1:{runner.addresses[0][1]}{WEBHOOK_PATH}")
            closers.append(dp.storage.close)
        balancer = Balancer(urls)
        front = web.Application()
        front.router.add_post("/hook", balancer.forward)
        async with EmulatorServer(front) as lb:
            setup = create_bot(settings)
            await setup.set_webhook(f"{lb.url}/hook", secret_token=SECRET)
            await setup.session.close()
            try:
                codes = {p.name: p.code for p in personas}
                yield Cluster(emu, balancer, urls, codes, pg_factory, settings)
            finally:
                emu.webhook = None
                for runner in runners:
                    await runner.cleanup()
                for close in closers:
                    await close()


async def test_a_parents_flow_across_two_workers_and_a_redelivered_update(
    cluster: Cluster,
) -> None:
    sanne = ChatPerson(cluster.emu, 900001, "Sanne")
    await sanne.send(f"/start {cluster.codes['Sanne de Vries']}")
    await sanne.press("Correctie vragen")
    await sanne.press("Emma de Vries")
    await sanne.press("Voornaam")
    await sanne.send("Emma Sophie")  # a typed step: the FSM state must be in Redis
    await sanne.press("Overslaan")
    await sanne.press("Versturen")
    assert "Verstuurd. Uw kenmerk is OL-" in sanne.last_text
    workers = [index for index, _body in cluster.balancer.seen]
    assert workers == [0, 1, 0, 1, 0, 1, 0][: len(workers)] and len(set(workers)) == 2

    # Telegram sends the confirmation again (its webhook call timed out), to the other
    # worker: it is recognised and creates nothing.
    index, confirm = cluster.balancer.seen[-1]
    answer = await post(cluster.workers[1 - index], confirm)
    assert answer.status == 200
    async with cluster.factory() as session:
        assert len((await session.exec(select(Request))).all()) == 1

    # The same for a consent withdrawal.
    await sanne.press("Naar het menu")
    await sanne.press("Foto's en video's")
    await sanne.press("Emma de Vries")
    await sanne.press("Website: intrekken")
    await sanne.press("Ja, intrekken")
    index, withdraw = cluster.balancer.seen[-1]
    await post(cluster.workers[1 - index], withdraw)
    await post(cluster.workers[index], withdraw)
    async with cluster.factory() as session:
        events = (
            await session.exec(select(ConsentEvent).where(ConsentEvent.source == "bot"))
        ).all()
    assert len(events) == 1


async def test_a_forged_secret_is_refused(cluster: Cluster) -> None:
    answer = await post(cluster.workers[0], {"update_id": 1}, secret="wrong")
    assert answer.status == 401


async def test_two_senders_on_postgres_never_send_twice(
    cluster: Cluster, clock: FixedClock, i18n: Any
) -> None:
    users = [900001, 900002, 900101, 900201]
    for user_id in users:
        await cluster.emu.user_sends(user_id, "/help")
    await cluster.emu.wait_idle()
    async with cluster.factory() as session:
        for n in range(15):
            for user_id in users:
                await notify.enqueue(
                    session,
                    user_id,
                    "request_withdrawn",
                    clock.now(),
                    reference=f"OL-2026-{n:04d}",
                    pupil_full="Emma de Vries",
                    request_id=0,
                )
        await session.commit()
    bots = [create_bot(cluster.settings) for _ in range(2)]
    senders = [
        OutboxSender(bot, cluster.factory, i18n, clock, per_chat_interval=0, global_interval=0)
        for bot in bots
    ]
    try:
        counts = await asyncio.gather(*(s.deliver_due() for s in senders))
    finally:
        for bot in bots:
            await bot.session.close()
    assert sum(counts) == 60 and all(counts)  # both took part
    texts = [
        m.text or ""
        for user_id in users
        for m in cluster.emu.visible(user_id)
        if m.from_bot and "ingetrokken" in (m.text or "")
    ]
    assert len(texts) == 60 and len(set(texts)) == 15  # each of 15 per user, once
    async with cluster.factory() as session:
        rows = (await session.exec(select(Outbox))).all()
    assert all(r.sent_at is not None for r in rows)


async def test_run_webhook_with_two_worker_processes(
    pg_factory: SessionFactory, pg_url: str, redis_url: tuple[str, str], clock: FixedClock
) -> None:
    """`ouderloket run --webhook --workers 2` as an administrator starts it."""
    async with pg_factory() as session:
        personas = await seed(session, clock.now())
        await session.commit()
    code = next(p.code for p in personas if p.name == "Piet Bakker")
    emu = Emulator(DEMO_TOKEN, bot_username="ouderloket_demo_bot")
    port = free_port()
    async with EmulatorServer(create_app(emu)) as telegram:
        env = {
            **os.environ,
            "BOT_TOKEN": DEMO_TOKEN,
            "TELEGRAM_API_URL": telegram.url,
            "DATABASE_URL": pg_url,
            "REDIS_URL": redis_url[0],
            "REDIS_PREFIX": redis_url[1],
            "WEBHOOK_URL": f"http://127.0.0.1:{port}",
            "WEBHOOK_PORT": str(port),
            "WEBHOOK_SECRET": SECRET,
            "PYTHONPATH": ROOT,
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "run",
            "--webhook",
            "--workers",
            "2",
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            for _ in range(300):
                if emu.webhook is not None:
                    break
                await asyncio.sleep(0.1)
            assert emu.webhook is not None, "the workers did not register the webhook"
            piet = ChatPerson(emu, 900002, "Piet")
            await piet.send(f"/start {code}")
            assert "Uw account is gekoppeld." in piet.last_text
            await piet.press("Vraag stellen")
            await piet.press("De directeur")
            await piet.send("Wanneer is de schoolfoto?")
            await piet.press("Versturen")
            assert "naar Meester Bram (de directeur) gestuurd" in piet.last_text
        finally:
            process.terminate()
            _out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()[-2000:]


async def test_update_markers_are_kept_a_week_then_dropped(
    factory: SessionFactory, clock: FixedClock
) -> None:
    """An update's marker (storage.updates) recognises a re-delivery for a week (Telegram
    re-delivers for at most a day), then the scheduler drops it."""
    engine = factory.kw["bind"]
    async with engine.connect() as connection:
        await mark_and_commit(connection, 77, clock.now())
    clock.advance(days=6)
    await Scheduler(factory, clock).tick()
    async with engine.connect() as connection:
        assert await handled(connection, 77)
    clock.advance(days=2)
    await Scheduler(factory, clock).tick()
    async with engine.connect() as connection:
        assert not await handled(connection, 77)
