"""A board on several workers: a schools.yaml of two schools, each with its own bot and
its own PostgreSQL database, served by two webhook workers that share Redis. Every worker
serves every school's path; a parent's form goes on at whichever worker gets the next
step, in each school, and the teacher is told once though both workers run each school's
outbox sender. `ouderloket run --webhook --workers 2` with that file starts such a
board; without Redis or with a school on SQLite it refuses, saying why."""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy.engine import make_url
from sqlmodel import col, select

from bot.config import Settings
from bot.demo import DEMO_TOKEN, SECOND_TOKEN, SECOND_USERNAME, seed_database
from bot.demo_school import seed, seed_second
from bot.emulator.driver import ChatPerson
from bot.emulator.server import EmulatorServer, create_app
from bot.emulator.state import Emulator
from bot.emulator.webchat import WebPersona
from bot.runner import run_board_webhook
from bot.schools import School, load_schools
from storage.db import create_engine, create_session_factory
from storage.models import Outbox, Request
from tests.e2e import E2E_START, _until, free_port
from tests.servers import PG_SERVER, _admin, _unavailable

SECRET = "board-workers-secret"
ROOT = str(Path(__file__).resolve().parent.parent)
FLINT_TEACHER, ESCH_TEACHER = 900101, 910101


@pytest.fixture
def two_databases() -> Iterator[dict[str, str]]:
    """A fresh PostgreSQL database per school, dropped afterwards."""
    names = {key: f"ouderloket_test_{key}_{uuid.uuid4().hex[:8]}" for key in ("flint", "esch")}
    try:
        for name in names.values():
            asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except Exception as error:
        _unavailable(f"PostgreSQL at {PG_SERVER}", error)
    yield {
        key: make_url(PG_SERVER).set(database=name).render_as_string(hide_password=False)
        for key, name in names.items()
    }
    for name in names.values():
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def schools_yaml(path: Path, urls: dict[str, str]) -> Path:
    path.write_text(
        "board: Zinderonderwijs\n"
        "schools:\n"
        f"  - {{key: flint, name: OBS de Flint, token_env: FLINT_TOKEN,"
        f" database_url: '{urls['flint']}', bot_username: ouderloket_demo_bot}}\n"
        f"  - {{key: esch, name: CBS De Esch, token_env: ESCH_TOKEN,"
        f" database_url: '{urls['esch']}', bot_username: {SECOND_USERNAME}}}\n",
        encoding="utf-8",
    )
    return path


@dataclass
class Balancer:
    """Telegram's side of a load balancer: each school's updates go to the workers in
    turn (the path is kept), and it notes which worker got which school's update."""

    workers: list[str]
    seen: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    _turns: dict[str, itertools.count[int]] = field(
        default_factory=lambda: defaultdict(itertools.count)
    )

    async def forward(self, request: web.Request) -> web.Response:
        index = next(self._turns[request.path]) % len(self.workers)
        self.seen[request.path].append(index)
        async with (
            aiohttp.ClientSession() as client,
            client.post(
                self.workers[index] + request.path,
                data=await request.read(),
                headers={
                    "Content-Type": "application/json",
                    "X-Telegram-Bot-Api-Secret-Token": request.headers.get(
                        "X-Telegram-Bot-Api-Secret-Token", ""
                    ),
                },
            ) as answer,
        ):
            # As a real balancer does, with its type: an update's answer may come as the
            # webhook's reply (a multipart form with its boundary in the header).
            return web.Response(
                status=answer.status,
                body=await answer.read(),
                headers={"Content-Type": answer.headers.get("Content-Type", "text/plain")},
            )


@dataclass
class Board:
    emulators: dict[str, Emulator]
    personas: dict[str, dict[str, WebPersona]]
    balancer: Balancer
    urls: dict[str, str]
    prefix: str


@pytest.fixture
async def board(
    tmp_path: Path, two_databases: dict[str, str], redis_url: tuple[str, str]
) -> AsyncIterator[Board]:
    urls = two_databases
    personas = {
        "flint": {p.name: p for p in await seed_database(urls["flint"], E2E_START, seed)},
        "esch": {p.name: p for p in await seed_database(urls["esch"], E2E_START, seed_second)},
    }
    emulators = {
        "flint": Emulator(DEMO_TOKEN, bot_username="ouderloket_demo_bot"),
        "esch": Emulator(SECOND_TOKEN, bot_username=SECOND_USERNAME),
    }
    server, prefix = redis_url
    ports = [free_port(), free_port()]
    balancer = Balancer([f"http://127.0.0.1:{port}" for port in ports])
    front = web.Application()
    front.router.add_post("/telegram/{key}/webhook", balancer.forward)
    async with (
        EmulatorServer(create_app(emulators["flint"])) as flint_api,
        EmulatorServer(create_app(emulators["esch"])) as esch_api,
        EmulatorServer(front) as lb,
    ):
        base = Settings(  # type: ignore[call-arg]
            _env_file=None,
            redis_url=server,
            redis_prefix=prefix,
            webhook_url=lb.url,
            webhook_secret=SecretStr(SECRET),
        )
        schools = load_schools(
            base,
            schools_yaml(tmp_path / "schools.yaml", urls),
            environ={"FLINT_TOKEN": DEMO_TOKEN, "ESCH_TOKEN": SECOND_TOKEN},
        )
        # Each emulated bot at its own address (Telegram is one address for all bots).
        api = {"flint": flint_api.url, "esch": esch_api.url}
        schools = [
            School(s.key, s.settings.model_copy(update={"telegram_api_url": api[s.key]}))
            for s in schools
        ]
        stops = [asyncio.Event(), asyncio.Event()]
        tasks = []
        for index, (port, stop) in enumerate(zip(ports, stops, strict=True)):
            worker = base.model_copy(update={"webhook_port": port})
            tasks.append(
                asyncio.create_task(
                    run_board_webhook(worker, schools, stop=stop, register=index == 0)
                )
            )
            if index == 0:  # the first registers the webhooks, the second does not
                for emu in emulators.values():
                    await _until(lambda emu=emu: emu.webhook is not None)
        await _until(lambda: all(_listening(port) for port in ports))
        try:
            yield Board(emulators, personas, balancer, urls, prefix)
        finally:
            for stop in stops:
                stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks), 30)


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def _outbox_to(url: str, user_id: int) -> list[Outbox]:
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as session:
            query = select(Outbox).where(Outbox.telegram_user_id == user_id)
            return list((await session.exec(query.order_by(col(Outbox.id)))).all())
    finally:
        await engine.dispose()


async def _requests(url: str) -> list[Request]:
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as session:
            return list((await session.exec(select(Request))).all())
    finally:
        await engine.dispose()


async def _fsm_keys(prefix: str) -> list[bytes]:
    from tests.servers import REDIS_SERVER

    client = Redis.from_url(REDIS_SERVER)
    try:
        return [key async for key in client.scan_iter(match=f"{prefix}:*fsm*")]
    finally:
        await client.aclose()


async def test_a_parents_form_goes_on_at_either_worker_in_each_school_and_the_teacher_is_told_once(
    board: Board,
) -> None:
    forms = {
        "flint": ("Sanne de Vries", "Juf Anouk", FLINT_TEACHER, "Emma de Vries", "Emma Sophie"),
        "esch": ("Kees Mulder", "Juf Mirjam", ESCH_TEACHER, "Jesse Mulder", "Jesse Daan"),
    }
    for key, (parent_name, teacher_name, teacher_id, child, first_name) in forms.items():
        emu, personas = board.emulators[key], board.personas[key]
        teacher = ChatPerson(emu, teacher_id, teacher_name.split()[1])
        await teacher.send(f"/start {personas[teacher_name].code}", reply=True)
        parent = ChatPerson(emu, personas[parent_name].user_id, parent_name.split()[0])
        await parent.send(f"/start {personas[parent_name].code}", reply=True)
        assert "Uw account is gekoppeld." in parent.last_text
        path = f"/telegram/{key}/webhook"
        before = len(board.balancer.seen[path])
        await parent.press("Correctie vragen")
        if any(child in label for label in parent.buttons()):  # a choice with two children
            await parent.press(child)
        await parent.press("Voornaam")
        # Half-way, the form is in Redis under this school's own prefix.
        assert await _fsm_keys(f"{board.prefix}:{key}")
        await parent.send(first_name, reply=True)  # a typed step
        await parent.press("Overslaan")
        await parent.press("Versturen")
        assert "Verstuurd. Uw kenmerk is OL-" in parent.last_text
        steps = board.balancer.seen[path][before:]
        assert len(steps) >= 5 and set(steps) == {0, 1}, steps  # both workers took steps
        (request,) = await _requests(board.urls[key])
        # Both workers run this school's outbox sender: the teacher is told once.
        await teacher.wait_for(f"Nieuw verzoek {request.reference}", within=15)
        await asyncio.sleep(2.5)  # time for a second sender to send it again, if it would
        told = [t for t in teacher.texts() if f"Nieuw verzoek {request.reference}" in t]
        assert len(told) == 1, told
        rows = [
            r for r in await _outbox_to(board.urls[key], teacher_id) if r.template == "request_new"
        ]
        assert len(rows) == 1 and rows[0].sent_at is not None
    # Neither bot saw the other school's people.
    assert FLINT_TEACHER not in board.emulators["esch"].chats
    assert ESCH_TEACHER not in board.emulators["flint"].chats


def _cli_env(tmp_path: Path, urls: dict[str, str], **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("BOT_TOKEN", "DATABASE_URL", "REDIS_URL", "REDIS_PREFIX")
    }
    return {
        **env,
        "SCHOOLS_FILE": str(schools_yaml(tmp_path / "schools.yaml", urls)),
        "FLINT_TOKEN": DEMO_TOKEN,
        "ESCH_TOKEN": SECOND_TOKEN,
        "WEBHOOK_URL": "http://127.0.0.1:1",
        "WEBHOOK_SECRET": SECRET,
        "PYTHONPATH": ROOT,
        **extra,
    }


def test_workers_for_a_board_are_refused_without_redis_or_with_a_school_on_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    monkeypatch.chdir(tmp_path)  # no stray .env or schools.yaml
    pg = {
        "flint": "postgresql+asyncpg://x@127.0.0.1/flint",
        "esch": "postgresql+asyncpg://x@127.0.0.1/esch",
    }
    for name in ("BOT_TOKEN", "DATABASE_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in _cli_env(tmp_path, pg).items():
        monkeypatch.setenv(name, value)
    assert main(["run", "--webhook", "--workers", "2"]) == 2
    assert "Redis (REDIS_URL)" in capsys.readouterr().err
    schools_yaml(tmp_path / "schools.yaml", {**pg, "esch": "sqlite+aiosqlite:///esch.db"})
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    assert main(["run", "--webhook", "--workers", "2"]) == 2
    err = capsys.readouterr().err
    assert "PostgreSQL" in err and "esch" in err and "flint" not in err, err
    assert main(["run", "--workers", "2"]) == 2  # long polling: one process
    assert "--webhook" in capsys.readouterr().err


async def test_run_webhook_with_two_worker_processes_serves_every_school(
    tmp_path: Path, two_databases: dict[str, str], redis_url: tuple[str, str]
) -> None:
    """`ouderloket run --webhook --workers 2` with a schools.yaml, as an administrator
    starts it: the parent migrates both databases, the first worker registers both bots'
    webhooks, and each school's parent links and sends a question."""
    urls = two_databases
    port = free_port()
    emulators = {
        "flint": Emulator(DEMO_TOKEN, bot_username="ouderloket_demo_bot"),
        "esch": Emulator(SECOND_TOKEN, bot_username=SECOND_USERNAME),
    }
    # One Telegram address for both bots, as in real life: the token picks the emulator.
    api = web.Application()

    async def route(request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        target = apps[token]
        async with (
            aiohttp.ClientSession() as client,
            client.request(
                request.method,
                f"{target}/bot{token}/{request.match_info['method']}",
                data=await request.read(),
                headers={"Content-Type": request.headers.get("Content-Type", "")},
            ) as answer,
        ):
            return web.Response(
                status=answer.status,
                body=await answer.read(),
                content_type=answer.content_type,
            )

    api.router.add_route("*", "/bot{token}/{method}", route)
    async with (
        EmulatorServer(create_app(emulators["flint"])) as flint_api,
        EmulatorServer(create_app(emulators["esch"])) as esch_api,
        EmulatorServer(api) as telegram,
    ):
        apps = {DEMO_TOKEN: flint_api.url, SECOND_TOKEN: esch_api.url}
        env = _cli_env(
            tmp_path,
            urls,
            TELEGRAM_API_URL=telegram.url,
            REDIS_URL=redis_url[0],
            REDIS_PREFIX=redis_url[1],
            WEBHOOK_URL=f"http://127.0.0.1:{port}",
            WEBHOOK_PORT=str(port),
        )
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
            for emu in emulators.values():
                await _until(lambda emu=emu: emu.webhook is not None, within=60)
            assert emulators["flint"].webhook is not None
            assert emulators["flint"].webhook.url.endswith("/telegram/flint/webhook")
            # The parent process migrated both databases: now the schools are seeded.
            personas = {
                "flint": await seed_database(urls["flint"], seeder=seed),
                "esch": await seed_database(urls["esch"], seeder=seed_second),
            }
            for key, name in (("flint", "Piet Bakker"), ("esch", "Kees Mulder")):
                persona = next(p for p in personas[key] if p.name == name)
                parent = ChatPerson(emulators[key], persona.user_id, name.split()[0])
                await parent.send(f"/start {persona.code}", reply=True, within=30)
                assert "Uw account is gekoppeld." in parent.last_text
                await parent.press("Vraag stellen")
                await parent.press("De directeur")
                await parent.send("Wanneer is de schoolfoto?", reply=True)
                await parent.press("Versturen")
                assert "gestuurd" in parent.last_text and "OL-" in parent.last_text
        finally:
            process.terminate()
            _out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()[-2000:]
