"""Webhook load: simulated parents over HTTP against `ouderloket run --webhook --workers 2`
on PostgreSQL and Redis. The load generator plays Telegram: it POSTs updates straight to
the workers' webhook (they answer after handling, so the HTTP latency is the handling
latency); the Bot API emulator, in this process, receives the bot's replies.

    .venv/bin/python bench/webhook_load.py [--seconds 20] [--parents 200] [--concurrency 16]

The default concurrency is the product's default WEBHOOK_MAX_CONNECTIONS (16): Telegram
never has more updates in flight to the webhook than that.

Needs PostgreSQL at 127.0.0.1:5432 (trust auth, user postgres) and Redis at
127.0.0.1:6379. Makes its own database (ouderloket_bench_<random>) and Redis key prefix,
both removed at the end, also on Ctrl+C.

Each parent (a linked guardian with its own Telegram id) loops through: /menu, Mijn
gegevens, the consent screen, a consent confirmation screen, the consent history, a
correction start, a field choice (an FSM state in Redis) and Annuleren. A parent sends at
most one update per --interval seconds (default 0.6: below the bot's throttle of 20 per
10 s), so the offered load is capped at parents / interval.

Baseline in the same run, with the same generator, updates and concurrency: a trivial
aiohttp endpoint that answers 200 at once (the generator's own ceiling here), and
aiogram's own webhook handler with a dispatcher without handlers (parsing and dispatch
only), each in two processes on one port like the workers, without per-parent pacing.

Targets on this 2-core machine: >= 200 updates/s sustained, p99 <= 250 ms."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import importlib.util
import io
import itertools
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any

from common import ROOT, Stopwatch, parse_quick, percentile, report  # type: ignore[import-not-found]

PG_SERVER = os.environ.get(
    "OUDERLOKET_BENCH_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432"
)
REDIS_SERVER = os.environ.get("OUDERLOKET_BENCH_REDIS", "redis://127.0.0.1:6379/0")
SECRET = "bench-webhook-secret"
WEBHOOK_PATH = "/telegram/webhook"
FIRST_USER_ID = 810_000_000
WARMUP = 3.0
SCRIPT = str(Path(__file__).resolve())


def summary(figures: dict[str, Any]) -> str:
    return (
        f"  {figures['updates_per_s']:.0f} updates/s, p50 {figures['p50_ms']:.1f} ms, "
        f"p99 {figures['p99_ms']:.1f} ms, errors {figures['errors']}"
    )


# --- the baseline servers (run as child processes of this script) -----------------------


def serve_baseline(kind: str, port: int) -> None:
    """A child process: `plain` answers 200 at once; `aiogram` runs aiogram's webhook
    handler with a dispatcher that has no handlers (the update is parsed and dispatched,
    nothing else). Prints `ready` once it listens."""
    from aiohttp import web

    async def serve() -> None:
        app = web.Application()
        closers: list[Any] = []
        if kind == "plain":

            async def ok(request: web.Request) -> web.Response:
                await request.read()
                return web.json_response({})

            app.router.add_post(WEBHOOK_PATH, ok)
        else:
            from aiogram import Bot, Dispatcher
            from aiogram.client.session.aiohttp import AiohttpSession
            from aiogram.client.telegram import TelegramAPIServer
            from aiogram.webhook.aiohttp_server import SimpleRequestHandler

            from bot.demo import DEMO_TOKEN

            bot = Bot(
                DEMO_TOKEN,
                session=AiohttpSession(api=TelegramAPIServer.from_base("http://127.0.0.1:9")),
            )
            SimpleRequestHandler(
                dispatcher=Dispatcher(), bot=bot, secret_token=SECRET, handle_in_background=False
            ).register(app, path=WEBHOOK_PATH)
            closers.append(bot.session.close)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, reuse_port=True).start()
        print("ready", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await runner.cleanup()
        for close in closers:
            await close()

    asyncio.run(serve())


# --- helpers --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def pg_admin(statement: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(PG_SERVER).set(drivername="postgresql", database="postgres")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False), timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def load_generator_module() -> Any:
    spec = importlib.util.spec_from_file_location(
        "generate_pupils", ROOT / "data" / "generate_pupils.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["generate_pupils"] = module  # dataclasses look the module up
    spec.loader.exec_module(module)
    return module


async def terminate(process: asyncio.subprocess.Process, within: float = 20.0) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), within)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


# --- setup: a school with many linked parents -------------------------------------------


async def seed(database_url: str, parents: int) -> list[tuple[int, int]]:
    """Migrates, imports a generated school, adds a teacher per group, a director and the
    vendors, and links `parents` guardians directly (no codes). Returns (telegram user id,
    one of their children's pupil id) per parent."""
    from sqlalchemy import func, update
    from sqlmodel import col, select

    from bot.config import Settings
    from bot.demo import VENDORS
    from flows.invites import add_staff
    from flows.reminders import yearly_consent
    from storage.db import create_engine, create_session_factory, transaction
    from storage.importers.pupils import import_pupils
    from storage.importers.vendors import import_vendors
    from storage.migrate import upgrade
    from storage.models import ChatLink, GuardianPupil, Outbox, StaffRole

    generator = load_generator_module()
    now = datetime.now(UTC)
    school_year = now.year if now.month >= 9 else now.year - 1
    rows = generator.generate(max(parents, 50), seed=1, school_year=school_year)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=generator.COLUMNS, delimiter=";")
    writer.writeheader()
    writer.writerows(rows)

    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        factory = create_session_factory(engine)
        async with transaction(factory) as session:
            await import_pupils(session, buffer.getvalue().encode(), now, filename="bench.csv")
            for group in sorted({r["groep"] for r in rows}):
                await add_staff(session, f"Leerkracht {group}", StaffRole.TEACHER, [group], now)
            await add_staff(session, "Directeur Bench", StaffRole.DIRECTOR, [], now)
            if VENDORS.is_dir():
                await import_vendors(session, VENDORS)
        async with transaction(factory) as session:
            guardians = (
                await session.exec(
                    select(GuardianPupil.guardian_id, func.min(GuardianPupil.pupil_id))
                    .group_by(col(GuardianPupil.guardian_id))
                    .order_by(col(GuardianPupil.guardian_id))
                    .limit(parents)
                )
            ).all()
            if len(guardians) < parents:
                raise SystemExit(f"only {len(guardians)} guardians for {parents} parents")
            linked = []
            for index, (guardian_id, pupil_id) in enumerate(guardians):
                user_id = FIRST_USER_ID + index
                session.add(
                    ChatLink(
                        telegram_user_id=user_id,
                        guardian_id=guardian_id,
                        locale="nl",
                        linked_at=now,
                    )
                )
                linked.append((user_id, int(pupil_id)))
        # The yearly consent check would otherwise go to every parent during the run
        # (after 08:00 school time): do it now and mark its messages as sent.
        async with transaction(factory) as session:
            await yearly_consent(
                session,
                now,
                channels=Settings(_env_file=None).consent_channels,  # type: ignore[call-arg]
                not_before=dtime(0),
            )
        async with transaction(factory) as session:
            await session.exec(
                update(Outbox).where(col(Outbox.sent_at).is_(None)).values(sent_at=now)
            )
    finally:
        await engine.dispose()
    return linked


# --- the load generator -----------------------------------------------------------------


@dataclass
class Parent:
    user_id: int
    pupil_id: int
    step: int = 0
    next_at: float = 0.0
    message: Any = None  # the emulator's bot message pressed on before the bot sent one

    @property
    def user(self) -> dict[str, Any]:
        return {
            "id": self.user_id,
            "is_bot": False,
            "first_name": f"Ouder {self.user_id}",
            "language_code": "nl",
        }


def script(pupil_id: int) -> list[tuple[str, str]]:
    """One loop of a parent: ("text", ...) a typed message, ("press", data) a button."""
    from bot import keyboards
    from bot.callbacks import ConsentAction, ConsentCb, InzageCb, RequestAction, RequestCb
    from storage.models import RequestKind

    return [
        ("text", "/menu"),
        ("press", InzageCb(pupil_id=pupil_id).pack()),
        ("press", ConsentCb(action=ConsentAction.SHOW, pupil_id=pupil_id).pack()),
        (
            "press",
            ConsentCb(
                action=ConsentAction.ASK, pupil_id=pupil_id, channel="website", grant=False
            ).pack(),
        ),
        ("press", ConsentCb(action=ConsentAction.HISTORY, pupil_id=pupil_id).pack()),
        ("press", keyboards.start_request(RequestKind.CORRECTION, pupil_id).pack()),
        # The first field the correction form offers (the first name).
        ("press", keyboards.choose_option("field", 0).pack()),
        ("press", RequestCb(action=RequestAction.CANCEL, pupil_id=pupil_id).pack()),
    ]


@dataclass
class Generator:
    """Builds the updates Telegram would send; with an emulator, each button press is on a
    real bot message of that chat and its query id is known to the emulator, so the bot's
    edits and answerCallbackQuery succeed as with Telegram."""

    emu: Any = None
    bot_user: dict[str, Any] = field(default_factory=dict)
    update_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1_000_000))
    scripts: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    sent: Counter[str] = field(default_factory=Counter)

    def body(self, parent: Parent) -> bytes:
        steps = self.scripts.setdefault(parent.pupil_id, script(parent.pupil_id))
        kind, value = steps[parent.step % len(steps)]
        parent.step += 1
        chat = {"id": parent.user_id, "type": "private", "first_name": f"Ouder {parent.user_id}"}
        now = int(time.time())
        if kind == "text":
            self.sent["message"] += 1
            update: dict[str, Any] = {
                "update_id": next(self.update_ids),
                "message": {
                    "message_id": next(self.message_ids),
                    "from": parent.user,
                    "chat": chat,
                    "date": now,
                    "text": value,
                    "entities": [
                        {"type": "bot_command", "offset": 0, "length": len(value.split()[0])}
                    ],
                },
            }
        else:
            self.sent["callback_query"] += 1
            query_id = secrets.token_hex(8)
            if self.emu is not None:
                from bot.emulator.state import CallbackRecord

                # Pressed on the bot's newest message in the chat, as a parent presses the
                # screen in front of them. Always the first one, the bot edited it into a
                # screen it already showed ("Geannuleerd"), which Telegram refuses.
                chat_messages = self.emu.chats.get(parent.user_id, [])
                pressed = next((m for m in reversed(chat_messages) if m.from_bot), parent.message)
                self.emu.callbacks[query_id] = CallbackRecord(
                    query_id, parent.user_id, pressed.message_id, value
                )
                message = self.emu.message_to_api(pressed)
            else:
                message = {
                    "message_id": 1,
                    "from": self.bot_user,
                    "chat": chat,
                    "date": now,
                    "text": "Menu",
                }
            update = {
                "update_id": next(self.update_ids),
                "callback_query": {
                    "id": query_id,
                    "from": parent.user,
                    "message": message,
                    "chat_instance": str(parent.user_id * 7919),
                    "data": value,
                },
            }
        return json.dumps(update).encode()


async def run_load(
    url: str,
    generator: Generator,
    parents: list[Parent],
    *,
    concurrency: int,
    seconds: float,
    interval: float,
    warmup: float = WARMUP,
) -> dict[str, Any]:
    """A closed loop of `concurrency` in-flight requests, each slot taking the next parent
    in turn (a parent is never in flight twice, and waits `interval` between updates).
    Warm-up first, then `seconds` measured: the requests that complete in the window."""
    import aiohttp

    queue: asyncio.Queue[Parent] = asyncio.Queue()
    for parent in parents:
        queue.put_nowait(parent)
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    loop = asyncio.get_running_loop()
    start = loop.time() + warmup
    end = start + seconds
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    paced = 0.0

    async def slot(client: aiohttp.ClientSession) -> None:
        nonlocal paced
        while loop.time() < end:
            parent = await queue.get()
            wait = parent.next_at - loop.time()
            if wait > 0:
                if loop.time() >= start:
                    paced += wait
                await asyncio.sleep(wait)
            if loop.time() >= end:
                queue.put_nowait(parent)
                return
            body = generator.body(parent)
            began = loop.time()
            t0 = time.perf_counter()
            try:
                async with client.post(url, data=body, headers=headers) as answer:
                    await answer.read()
                    status = str(answer.status)
            except Exception as error:  # counted, the run goes on
                status = type(error).__name__
            elapsed = time.perf_counter() - t0
            done = loop.time()
            parent.next_at = began + interval
            queue.put_nowait(parent)
            if start <= done < end:
                statuses[status] += 1
                if status.startswith("2"):
                    latencies.append(elapsed * 1000)

    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:
        await asyncio.gather(*(slot(client) for _ in range(concurrency)))
    ok = len(latencies)
    return {
        "updates_per_s": ok / seconds,
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies, default=0.0),
        "ok": ok,
        "errors": sum(n for s, n in statuses.items() if not s.startswith("2")),
        "statuses": dict(statuses),
        "slot_seconds_paced": paced,  # time slots waited for a parent's interval
    }


async def wait_ready(process: asyncio.subprocess.Process, lines: int, within: float = 30.0) -> None:
    assert process.stdout is not None
    for _ in range(lines):
        line = await asyncio.wait_for(process.stdout.readline(), within)
        if line.strip() != b"ready":
            raise RuntimeError(f"baseline server did not start: {line!r}")


async def baseline_run(
    kind: str, args: argparse.Namespace, linked: list[tuple[int, int]]
) -> dict[str, Any]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            SCRIPT,
            "--serve-baseline",
            kind,
            "--port",
            str(port),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        for _ in range(args.workers)
    ]
    try:
        for process in processes:
            await wait_ready(process, 1)
        from bot.demo import DEMO_TOKEN

        bot_user = {
            "id": int(DEMO_TOKEN.split(":")[0]),
            "is_bot": True,
            "first_name": "Ouderloket",
            "username": "ouderloket_demo_bot",
        }
        parents = [Parent(uid, pid) for uid, pid in linked]
        return await run_load(
            f"http://127.0.0.1:{port}{WEBHOOK_PATH}",
            Generator(bot_user=bot_user),
            parents,
            concurrency=args.concurrency,
            seconds=args.seconds,
            interval=0.0,
        )
    finally:
        for process in processes:
            await terminate(process)


# --- the product run ----------------------------------------------------------------------


@dataclass
class ApiErrors:
    counts: Counter[str] = field(default_factory=Counter)


def handled_durations(log_text: str) -> list[float]:
    """aiogram logs `Update id=N is handled. Duration D ms by bot id=...` per update."""
    return [
        float(m) for m in re.findall(r"is (?:handled|not handled)\. Duration (\d+) ms", log_text)
    ]


async def product_run(
    args: argparse.Namespace,
    database_url: str,
    database_name: str,
    prefix: str,
    linked: list[tuple[int, int]],
    workdir: Path,
    cleanup: list[Any],
) -> dict[str, Any]:
    from aiohttp import web

    from bot.demo import DEMO_TOKEN
    from bot.emulator.server import EmulatorServer, create_app
    from bot.emulator.state import Emulator

    emu = Emulator(DEMO_TOKEN, bot_username="ouderloket_demo_bot")
    app = create_app(emu)
    api_errors: Counter[str] = Counter()

    @web.middleware
    async def count_errors(request: web.Request, handler: Any) -> web.StreamResponse:
        response = await handler(request)
        if response.status >= 400:
            body = getattr(response, "body", b"") or b""
            try:
                description = json.loads(bytes(body)).get("description", "")
            except ValueError:
                description = ""
            api_errors[
                f"{request.match_info.get('method', '?')}: {response.status} {description}"
            ] += 1
        return response

    app.middlewares.append(count_errors)
    parents = []
    for user_id, pupil_id in linked:
        emu.person(user_id, f"Ouder {user_id}").started = True
        message = emu.store_bot_message(user_id, text="Menu", entities=[], reply_markup=None)
        parents.append(Parent(user_id, pupil_id, message=message))

    port = free_port()
    log_path = workdir / "workers.log"
    async with EmulatorServer(app) as telegram:
        env = {
            **os.environ,
            "BOT_TOKEN": DEMO_TOKEN,
            "TELEGRAM_API_URL": telegram.url,
            "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_SERVER,
            "REDIS_PREFIX": prefix,
            "WEBHOOK_URL": f"http://127.0.0.1:{port}",
            "WEBHOOK_HOST": "127.0.0.1",
            "WEBHOOK_PORT": str(port),
            "WEBHOOK_SECRET": SECRET,
            "BOT_USERNAME": "ouderloket_demo_bot",
            "PYTHONPATH": str(ROOT),
        }
        with log_path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot.cli",
                "run",
                "--webhook",
                "--workers",
                str(args.workers),
                env=env,
                stdout=log,
                stderr=log,
                cwd=ROOT,
            )
        cleanup.append(process)
        try:
            with Stopwatch() as startup:
                for _ in range(600):
                    if emu.webhook is not None or process.returncode is not None:
                        break
                    await asyncio.sleep(0.1)
            if emu.webhook is None:
                raise RuntimeError(
                    "the workers did not register the webhook:\n" + log_path.read_text()[-3000:]
                )
            emu.webhook = None  # we deliver the updates ourselves
            # Both workers listen once the log says so (the second does not register).
            for _ in range(300):
                if (
                    log_path.read_text(errors="replace").count("webhook listening on")
                    >= args.workers
                ):
                    break
                await asyncio.sleep(0.1)
            log_offset = log_path.stat().st_size
            calls_before = len(emu.calls)
            generator = Generator(emu=emu)
            janitor = asyncio.create_task(housekeeping(emu, parents))
            cpu = asyncio.create_task(cpu_during(process.pid, args.seconds, database_name))
            try:
                figures = await run_load(
                    f"http://127.0.0.1:{port}{WEBHOOK_PATH}",
                    generator,
                    parents,
                    concurrency=args.concurrency,
                    seconds=args.seconds,
                    interval=args.interval,
                )
            except BaseException:
                cpu.cancel()
                raise
            finally:
                janitor.cancel()
            figures["cpu"] = await cpu
            await asyncio.sleep(0.5)
            methods = (
                Counter(name for name, _params in emu.calls[calls_before:])
                if emu.calls
                else Counter()
            )
        finally:
            await terminate(process)
            cleanup.remove(process)
        if args.profile:
            figures["profile"] = await profile_in_process(
                args, telegram.url, database_url, prefix, parents, generator
            )
    text = log_path.read_text(errors="replace")
    run_log = text[log_offset:] if len(text) >= log_offset else text
    durations = handled_durations(run_log)
    figures["startup_s"] = startup.seconds
    figures["updates_sent"] = dict(generator.sent)
    figures["bot_api_calls"] = dict(methods)
    figures["bot_api_errors"] = dict(api_errors)
    figures["unanswered_callbacks"] = sum(not c.answered for c in emu.callbacks.values())
    figures["worker_log_errors"] = len(re.findall(r" (?:ERROR|CRITICAL) ", run_log))
    figures["worker_tracebacks"] = run_log.count("Traceback")
    if durations:
        figures["aiogram_handled_ms_p50"] = percentile(durations, 50)
        figures["aiogram_handled_ms_p99"] = percentile(durations, 99)
    figures["worker_exit_code"] = process.returncode
    figures["log_tail"] = (
        run_log[-1500:] if figures["worker_log_errors"] or figures["worker_tracebacks"] else ""
    )
    return figures


async def profile_in_process(
    args: argparse.Namespace,
    api_url: str,
    database_url: str,
    prefix: str,
    parents: list[Parent],
    generator: Generator,
) -> dict[str, Any]:
    """Where a worker's time goes: the same updates fed one at a time to a dispatcher in
    this process (same database, Redis and emulator) under cProfile. Prints the top
    functions; returns the time per update with and without the profiler."""
    import cProfile
    import pstats

    from pydantic import SecretStr

    from bot.app import create_bot, create_dispatcher
    from bot.config import Settings
    from bot.demo import demo_settings
    from storage.db import create_engine, create_session_factory

    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    settings = demo_settings(defaults, api_url, database_url)
    settings = settings.model_copy(
        update={
            "redis_url": REDIS_SERVER,
            "redis_prefix": prefix,
            "webhook_secret": SecretStr(SECRET),
        }
    )
    engine = create_engine(database_url)
    dp = create_dispatcher(settings, create_session_factory(engine))
    bot = create_bot(settings)
    count = args.profile
    try:

        async def feed(n: int) -> float:
            began = time.perf_counter()
            for i in range(n):
                parent = parents[i % len(parents)]
                await dp.feed_webhook_update(bot, json.loads(generator.body(parent)))
            return (time.perf_counter() - began) / n * 1000

        await feed(min(count, 100))  # warm caches and the pool
        plain_ms = await feed(count)
        profiler = cProfile.Profile()
        profiler.enable()
        profiled_ms = await feed(count)
        profiler.disable()
    finally:
        await bot.session.close()
        await dp.storage.close()
        await engine.dispose()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime")
    stats.print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)
    print(
        f"profile: {count} updates fed sequentially in-process, {plain_ms:.1f} ms each "
        f"({profiled_ms:.1f} ms under cProfile)"
    )
    print(out.getvalue())
    return {"updates": count, "ms_per_update_sequential": plain_ms}


def cpu_seconds(root_pid: int) -> dict[str, float]:
    """CPU seconds (user + system) so far, by who spent them: the bot's processes (the
    descendants of `root_pid`), this process (load generator and emulator), PostgreSQL
    and Redis."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    spent: dict[int, tuple[str, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        rest = raw[raw.rindex(")") + 2 :].split()
        parents[int(entry)] = int(rest[1])
        # utime, stime, and cutime, cstime of reaped children (short-lived backends)
        spent[int(entry)] = (comm, sum(int(v) for v in rest[11:15]) / tick)
    totals = {"bot_workers": 0.0, "loadgen_and_emulator": 0.0, "postgres": 0.0, "redis": 0.0}
    for pid, (comm, seconds) in spent.items():
        ancestor = pid
        while ancestor > 1 and ancestor != root_pid:
            ancestor = parents.get(ancestor, 1)
        if ancestor == root_pid:
            totals["bot_workers"] += seconds
        elif pid == os.getpid():
            totals["loadgen_and_emulator"] += seconds
        elif comm.startswith(("postgres", "postmaster")):
            totals["postgres"] += seconds
        elif comm.startswith("redis"):
            totals["redis"] += seconds
    return totals


async def pg_sessions(database: str) -> int:
    """Connections ever opened to `database` (PostgreSQL 14+), 0 if unknown."""
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(PG_SERVER).set(drivername="postgresql", database="postgres")
    try:
        conn = await asyncpg.connect(url.render_as_string(hide_password=False), timeout=5)
    except Exception:
        return 0
    try:
        value = await conn.fetchval(
            "SELECT sessions FROM pg_stat_database WHERE datname = $1", database
        )
        return int(value or 0)
    except Exception:
        return 0
    finally:
        await conn.close()


async def cpu_during(root_pid: int, seconds: float, database: str) -> dict[str, float]:
    """Share of one core each spent during the measured window (after the warm-up), and
    the PostgreSQL connections opened in it."""
    await asyncio.sleep(WARMUP)
    before, sessions = cpu_seconds(root_pid), await pg_sessions(database)
    await asyncio.sleep(seconds)
    after, opened = cpu_seconds(root_pid), await pg_sessions(database) - sessions
    found = {f"{k}_cores": (after[k] - before[k]) / seconds for k in before}
    found["pg_connections_opened_per_s"] = opened / seconds
    return found


async def housekeeping(emu: Any, parents: list[Parent]) -> None:
    """Keeps the emulator's memory flat: the bot's sent messages (only the one each
    parent presses on is needed), answered queries and the call log."""
    keep = {p.user_id: p.message for p in parents}
    while True:
        await asyncio.sleep(5)
        for user_id, message in keep.items():
            chat = emu.chats.get(user_id)
            if chat is not None and len(chat) > 50:
                chat[:] = [m for m in chat[-20:] if m is not message] + [message]
        for key in [k for k, c in emu.callbacks.items() if c.answered]:
            del emu.callbacks[key]


# --- main ---------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> int:
    from redis.asyncio import Redis
    from sqlalchemy.engine import make_url

    name = f"ouderloket_bench_{uuid.uuid4().hex[:12]}"
    prefix = f"ouderloket-bench-{uuid.uuid4().hex[:12]}"
    database_url = make_url(PG_SERVER).set(database=name).render_as_string(hide_password=False)
    cleanup: list[Any] = []
    created = False
    workdir = Path(tempfile.mkdtemp(prefix="webhook_load_"))
    try:
        await pg_admin(f'CREATE DATABASE "{name}"')
        created = True
        print(f"database {name}, redis prefix {prefix}", flush=True)
        with Stopwatch() as seeding:
            linked = await seed(database_url, args.parents)
        print(f"seeded and linked {len(linked)} parents in {seeding.seconds:.1f} s", flush=True)

        baselines: dict[str, dict[str, Any]] = {}
        for kind in ("plain", "aiogram"):
            print(f"baseline {kind}: {WARMUP:.0f} s warm-up + {args.seconds:.0f} s ...", flush=True)
            baselines[kind] = await baseline_run(kind, args, linked)
            b = baselines[kind]
            print(summary(b), flush=True)

        print(
            f"product: {args.workers} workers, {WARMUP:.0f} s warm-up + {args.seconds:.0f} s ...",
            flush=True,
        )
        product = await product_run(args, database_url, name, prefix, linked, workdir, cleanup)
        print(summary(product), flush=True)

        cap = len(linked) / args.interval if args.interval > 0 else float("inf")
        plain = baselines["plain"]
        met = (
            product["updates_per_s"] >= 200
            and product["p99_ms"] <= 250
            and product["errors"] == 0
            and not product["bot_api_errors"]
        )
        figures = {
            "updates_per_s": product["updates_per_s"],
            "p50_ms": product["p50_ms"],
            "p95_ms": product["p95_ms"],
            "p99_ms": product["p99_ms"],
            "max_ms": product["max_ms"],
            "errors": product["errors"],
            "workers": args.workers,
            "parents": len(linked),
            "concurrency": args.concurrency,
            "seconds": args.seconds,
            "offered_cap_updates_per_s": cap,
            "detail": {
                k: v
                for k, v in product.items()
                if k not in {"updates_per_s", "p50_ms", "p95_ms", "p99_ms", "max_ms", "errors"}
            },
        }
        baseline = {
            "updates_per_s": plain["updates_per_s"],
            "p50_ms": plain["p50_ms"],
            "p99_ms": plain["p99_ms"],
            "errors": plain["errors"],
            "aiogram_noop_updates_per_s": baselines["aiogram"]["updates_per_s"],
            "aiogram_noop_p50_ms": baselines["aiogram"]["p50_ms"],
            "aiogram_noop_p99_ms": baselines["aiogram"]["p99_ms"],
            "aiogram_noop_errors": baselines["aiogram"]["errors"],
        }

        def ratio(a: float, b: float) -> float:
            return a / b if b else float("nan")

        ratios = {
            "updates_per_s_vs_plain": ratio(product["updates_per_s"], plain["updates_per_s"]),
            "p99_vs_plain": ratio(product["p99_ms"], plain["p99_ms"]),
            "updates_per_s_vs_aiogram_noop": ratio(
                product["updates_per_s"], baselines["aiogram"]["updates_per_s"]
            ),
            "p99_vs_aiogram_noop": ratio(product["p99_ms"], baselines["aiogram"]["p99_ms"]),
        }
        report(
            "webhook_load",
            figures=figures,
            baseline=baseline,
            ratios=ratios,
            targets={"updates_per_s": ">= 200", "p99_ms": "<= 250"},
            met=met,
        )
        if product["updates_per_s"] >= 0.9 * cap:
            print(
                f"note: throughput is near the offered cap ({cap:.0f}/s = parents / interval):"
                " use more --parents"
            )
        # A quick run (tiny sizes) checks that every update was answered without an
        # error; the speed targets are for a full run.
        sound = product["errors"] == 0 and not product["bot_api_errors"]
        return 0 if met or (args.quick and sound) else 1
    finally:
        for process in list(cleanup):
            await terminate(process)
        if created:
            with contextlib.suppress(Exception):
                await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        redis = Redis.from_url(REDIS_SERVER)
        try:
            keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
            for start in range(0, len(keys), 500):
                await redis.delete(*keys[start : start + 500])
        finally:
            await redis.aclose()
        shutil.rmtree(workdir, ignore_errors=True)
        print(f"cleaned up: database {name} dropped, redis prefix {prefix} removed", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds (20)")
    parser.add_argument("--parents", type=int, default=200, help="simulated linked parents (200)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=16,  # bot.config.Settings.webhook_max_connections
        help="requests in flight (WEBHOOK_MAX_CONNECTIONS, 16)",
    )
    parser.add_argument("--workers", type=int, default=2, help="webhook worker processes (2)")
    parser.add_argument(
        "--interval", type=float, default=0.6, help="seconds between one parent's updates (0.6)"
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="after the run, feed N updates in-process under cProfile and print the top",
    )
    parser.add_argument("--serve-baseline", choices=("plain", "aiogram"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    return parse_quick(parser, argv, seconds=2.0, parents=20, workers=1)


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.serve_baseline:
        serve_baseline(arguments.serve_baseline, arguments.port)
        raise SystemExit(0)
    try:
        raise SystemExit(asyncio.run(main(arguments)))
    except KeyboardInterrupt:
        print("interrupted; cleaned up", file=sys.stderr)
        raise SystemExit(130) from None
