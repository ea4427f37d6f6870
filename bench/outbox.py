"""Outbox delivery under Telegram's limits: N notifications to M chats through the real
OutboxSender (real pacing, SystemClock, SQLite file database) and a real aiogram Bot
against the local Bot API emulator, with every 10th sendMessage answered 429
(retry_after 1 s).

    .venv/bin/python bench/outbox.py [--notifications 5000] [--chats 1000]
                                     [--order interleaved|shuffled] [--bots 1]
                                     [--workers 1]

With --bots N (a board: a bot per school, one process): N emulated bots, each with its own
school database and its own OutboxSender in one event loop, the notifications split
evenly. Each bot must stay under its own ~30/s while together they send N times as much.

With --workers W > 1 (a board on several workers, as `ouderloket run --webhook --workers W`
with a schools.yaml): W worker processes, each running every bot's OutboxSender with the
pace shared in Redis (bot/pacing.py), on PostgreSQL: a throwaway database per school on
127.0.0.1:5432 (trust auth, user postgres or root; OUDERLOKET_BENCH_POSTGRES to change)
and Redis on 127.0.0.1:6379 (OUDERLOKET_BENCH_REDIS), both removed afterwards. Per bot:
the most calls (429s included) in any one second, which must stay <= 30 whatever the
number of workers, the smallest gap between two messages to one chat (>= 1 s), and every
notification delivered exactly once; the exit status is nonzero otherwise.

Measured at the emulator (a bench-only aiohttp middleware stamps every sendMessage with
time.monotonic() on arrival): delivered/s, the most accepted sendMessage calls in any
sliding 1-second window, the smallest gap between two messages to one chat, duplicates
(each notification carries a unique reference in its text) and the 429s answered.

Baseline in the same run: the pacing ceiling (30/s) and raw sequential bot.send_message
calls to the same emulator without pacing or faults (the aiogram + emulator ceiling).

Targets (issue): all delivered, none twice; <= 30/s in any 1 s window; >= 1 s apart per
chat; >= 25 delivered/s."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import re
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from common import Stopwatch, parse_quick, peak_rss_mb, percentile, report
from pydantic import SecretStr
from sqlalchemy import func
from sqlmodel import col, select

from bot import keyboards
from bot.app import create_bot
from bot.config import Settings
from bot.emulator.server import EmulatorServer, create_app
from bot.emulator.state import Emulator, Fault
from bot.i18n import create_i18n
from bot.labels import channel_label
from bot.outbox import GLOBAL_INTERVAL, PER_CHAT_INTERVAL, OutboxSender
from bot.pacing import create_pacer
from bot.render import render
from flows import notify
from flows.clock import SystemClock
from storage.db import create_engine, create_session_factory
from storage.migrate import upgrade
from storage.models import Outbox

TOKEN = "424242:BENCH"
FIRST_CHAT = 20_000_000
REFERENCE = re.compile(r"OL-B-(\d{6})")
RAW = re.compile(r"RAW-(\d{6})")
CEILING = 1 / GLOBAL_INTERVAL  # 30 a second


@dataclass
class Call:
    at: float  # time.monotonic() when the emulator received the call
    status: int
    chat_id: int | None
    text: str


@dataclass
class Recorder:
    """Bench only: what the emulator answered to each sendMessage, and when it arrived."""

    calls: list[Call] = field(default_factory=list)

    def middleware(self) -> Any:
        @web.middleware
        async def record(request: web.Request, handler: Any) -> web.StreamResponse:
            arrived = time.monotonic()
            response = await handler(request)
            if request.match_info.get("method", "").lower() != "sendmessage":
                return response
            chat_id: int | None = None
            text = ""
            if response.status == 200 and isinstance(response, web.Response) and response.body:
                result = json.loads(bytes(response.body))["result"]  # type: ignore[arg-type]
                chat_id, text = int(result["chat"]["id"]), str(result.get("text") or "")
            else:
                try:
                    chat_id = int(str((await request.post()).get("chat_id") or 0)) or None
                except (TypeError, ValueError):
                    chat_id = None
            self.calls.append(Call(arrived, response.status, chat_id, text))
            return response

        return record


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """The most timestamps in any half-open window [t, t + window)."""
    ordered = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(ordered):
        while t - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def min_gap_per_chat(calls: list[Call]) -> float:
    by_chat: dict[int, list[float]] = defaultdict(list)
    for call in calls:
        if call.chat_id is not None:
            by_chat[call.chat_id].append(call.at)
    gaps = [b - a for times in by_chat.values() for a, b in itertools.pairwise(sorted(times))]
    return min(gaps) if gaps else float("inf")


def chats_for(notifications: int, chats: int, order: str) -> list[int]:
    """Recipient of each notification in outbox (id) order: round robin, or shuffled
    (same number per chat, fixed seed) so that one chat's messages may be adjacent."""
    recipients = [FIRST_CHAT + n % chats for n in range(notifications)]
    if order == "shuffled":
        random.Random(20261102).shuffle(recipients)
    return recipients


async def seed(database_url: str, recipients: list[int]) -> None:
    engine = create_engine(database_url)
    await upgrade(engine)
    factory = create_session_factory(engine)
    now = datetime.now(UTC)
    async with factory() as session:
        for n, chat_id in enumerate(recipients):
            await notify.enqueue(
                session,
                chat_id,
                "request_new",
                now,
                reference=f"OL-B-{n:06d}",
                kind="question",
                pupil_full="Emma de Vries",
                group="5A",
                request_id=n + 1,
            )
        await session.commit()
    await engine.dispose()


async def raw_baseline(bot: Any, recorder: Recorder, chats: list[int], sample: int) -> float:
    """Sequential bot.send_message calls, no pacing, no faults: calls a second."""
    i18n = create_i18n("nl")
    with i18n.context(), i18n.use_locale("nl"):
        params = {"kind": "question", "pupil_full": "Emma de Vries", "group": "5A"}
        markup = keyboards.for_notification("request_new", {"request_id": 1})
        texts = [
            render("notify/request_new.j2", label=channel_label, reference=f"RAW-{n:06d}", **params)
            for n in range(sample)
        ]
    with Stopwatch() as watch:
        for n, text in enumerate(texts):
            await bot.send_message(chats[n % len(chats)], text, reply_markup=markup)
    accepted = sum(1 for c in recorder.calls if c.status == 200 and RAW.search(c.text))
    assert accepted == sample, f"raw baseline: {accepted} of {sample} accepted"
    return sample / watch.seconds


def exit_status(checks: dict[str, bool], quick: bool) -> int:
    """A quick run (tiny sizes, start-up included, on a test machine busy with other
    tests) fails only when a notification was lost or sent twice; the pace, measured where
    the emulator receives the calls, and the speed are checked by a full run."""
    if quick:
        return 0 if checks["delivered"] else 1
    return 0 if all(checks.values()) else 1


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--notifications", type=int, default=5000)
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--order", choices=("interleaved", "shuffled"), default="interleaved")
    parser.add_argument("--raw-sample", type=int, default=500, help="raw send_message calls")
    parser.add_argument("--every", type=int, default=10, help="every Nth sendMessage is a 429")
    parser.add_argument("--timeout", type=float, help="give up after this many seconds")
    parser.add_argument("--name", default="outbox", help="results file bench/results/<name>")
    parser.add_argument("--bots", type=int, default=1, help="bots (schools) in one process")
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes (PostgreSQL + Redis)"
    )
    parser.add_argument("--sender-worker", help=argparse.SUPPRESS)  # one worker process
    args = parse_quick(parser, notifications=120, chats=40, raw_sample=40)
    if args.sender_worker:
        return await sender_worker(json.loads(args.sender_worker))
    if args.workers > 1:
        return await several_workers(args)
    if args.bots > 1:
        return await several_bots(args)
    timeout = args.timeout or max(120.0, args.notifications / 10)

    recipients = chats_for(args.notifications, args.chats, args.order)
    chat_ids = sorted(set(recipients))
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        with Stopwatch() as seeding:
            await seed(url, recipients)

        emu = Emulator(TOKEN)
        for chat_id in chat_ids:
            emu.person(chat_id).started = True  # every recipient has pressed Start
        recorder = Recorder()
        app = create_app(emu)
        app.middlewares.append(recorder.middleware())
        async with EmulatorServer(app) as server:
            settings = Settings(
                _env_file=None,  # type: ignore[call-arg]
                bot_token=SecretStr(TOKEN),
                database_url=url,
                school_name="OBS de Flint",
                bot_username="ouderloket_bench_bot",
                telegram_api_url=server.url,
            )
            bot = create_bot(settings)
            try:
                raw_per_s = await raw_baseline(
                    bot, recorder, chat_ids, min(args.raw_sample, args.notifications)
                )
                # A clean world for the measured run.
                recorder.calls.clear()
                emu.calls.clear()
                for chat_id in chat_ids:
                    emu.chats[chat_id] = []
                emu.faults.append(
                    Fault(
                        429,
                        "Too Many Requests: retry after 1",
                        retry_after=1,
                        every=args.every,
                        methods=frozenset({"sendmessage"}),
                    )
                )
                engine = create_engine(url)
                factory = create_session_factory(engine)
                sender = OutboxSender(bot, factory, create_i18n("nl"), SystemClock())
                started = time.monotonic()
                task = asyncio.create_task(sender.run())
                left = args.notifications
                next_progress = started + 10
                while left and time.monotonic() - started < timeout:
                    await asyncio.sleep(0.25)
                    async with factory() as session:
                        left = (
                            await session.exec(
                                select(func.count())
                                .select_from(Outbox)
                                .where(
                                    col(Outbox.sent_at).is_(None), col(Outbox.failed_at).is_(None)
                                )
                            )
                        ).one()
                    if time.monotonic() >= next_progress:
                        next_progress += 10
                        done = args.notifications - left
                        print(
                            f"  .. {done}/{args.notifications} in {time.monotonic() - started:.0f}s"
                        )
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                async with factory() as session:
                    failed = (
                        await session.exec(
                            select(func.count())
                            .select_from(Outbox)
                            .where(col(Outbox.failed_at).is_not(None))
                        )
                    ).one()
                await engine.dispose()
            finally:
                await bot.session.close()

    calls = recorder.calls
    accepted = [c for c in calls if c.status == 200]
    refused = [c for c in calls if c.status == 429]
    other = [c for c in calls if c.status not in (200, 429)]
    references = Counter(m.group(1) for c in accepted if (m := REFERENCE.search(c.text)))
    # Cross-check with what the emulator's chats hold.
    stored = Counter(
        m.group(1)
        for chat_id in chat_ids
        for message in emu.chats[chat_id]
        if message.from_bot and (m := REFERENCE.search(message.text or ""))
    )
    delivered = len(references)
    duplicates = sum(n - 1 for n in references.values() if n > 1)
    stored_duplicates = sum(n - 1 for n in stored.values() if n > 1)
    if calls:
        first = min(c.at for c in calls)
        last = max(c.at for c in accepted) if accepted else first
        seconds = last - first
    else:
        seconds = time.monotonic() - started
    attempts = sorted(c.at for c in calls)
    spacing = [b - a for a, b in itertools.pairwise(attempts)]
    rate = delivered / seconds if seconds > 0 else 0.0
    window_sent = max_in_window([c.at for c in accepted])
    window_attempts = max_in_window(attempts)
    gap_sent = min_gap_per_chat(accepted)
    gap_attempts = min_gap_per_chat(calls)
    # The tail: from 99% delivered to the last one, where only retried rows are left.
    times = sorted(c.at for c in accepted if REFERENCE.search(c.text))
    tail = times[-1] - times[int(0.99 * (len(times) - 1))] if times else 0.0

    figures: dict[str, Any] = {
        "notifications": args.notifications,
        "chats": args.chats,
        "order": args.order,
        "seed_seconds": round(seeding.seconds, 3),
        "delivered": delivered,
        "missing": args.notifications - delivered,
        "duplicates": duplicates,
        "duplicates_in_chats": stored_duplicates,
        "failed_rows": failed,
        "unsent_rows_at_end": left,
        "sendmessage_calls": len(calls),
        "http_429": len(refused),
        "other_errors": len(other),
        "seconds": round(seconds, 3),
        "delivered_per_s": round(rate, 3),
        "attempts_per_s": round(len(calls) / seconds, 3) if seconds > 0 else 0.0,
        "max_sent_in_any_1s": window_sent,
        "max_attempts_in_any_1s": window_attempts,
        "min_gap_same_chat_s": round(gap_sent, 6),
        "min_gap_same_chat_attempts_s": round(gap_attempts, 6),
        "tail_last_1pct_s": round(tail, 3),
        "spacing_p50_ms": round(percentile(spacing, 50) * 1000, 2),
        "spacing_p99_ms": round(percentile(spacing, 99) * 1000, 2),
        "spacing_min_ms": round(min(spacing) * 1000, 2) if spacing else 0.0,
        "spacing_max_ms": round(max(spacing) * 1000, 2) if spacing else 0.0,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    baseline = {
        "pacing_ceiling_per_s": CEILING,
        "per_chat_interval_s": PER_CHAT_INTERVAL,
        "raw_send_message_per_s": round(raw_per_s, 1),
        "raw_sample": min(args.raw_sample, args.notifications),
    }
    ratios = {
        "delivered_per_s_vs_ceiling": round(rate / CEILING, 3),
        "delivered_per_s_vs_raw": round(rate / raw_per_s, 4) if raw_per_s else 0.0,
    }
    checks = {
        "delivered": delivered == args.notifications and duplicates == 0 and not stored_duplicates,
        "overall_rate": window_sent <= CEILING,
        "per_chat": gap_sent >= PER_CHAT_INTERVAL,
        "throughput": rate >= 25,
    }
    figures["checks"] = checks
    report(
        args.name,
        figures=figures,
        baseline=baseline,
        ratios=ratios,
        targets={
            "delivered": "all, none twice",
            "overall_rate": "<= 30/s in any 1 s window",
            "per_chat": ">= 1 s apart",
            "throughput": ">= 25/s",
        },
        met=all(checks.values()),
    )
    return exit_status(checks, args.quick)


async def _left(factory: Any) -> int:
    async with factory() as session:
        return int(
            (
                await session.exec(
                    select(func.count())
                    .select_from(Outbox)
                    .where(col(Outbox.sent_at).is_(None), col(Outbox.failed_at).is_(None))
                )
            ).one()
        )


async def _deliver(
    args: argparse.Namespace, bots: int, per_bot: int
) -> tuple[list[Recorder], int, float]:
    """`bots` school bots, each with its own database, emulator and OutboxSender, all in
    this one loop; returns each bot's recorded calls, rows left and the seeding time."""
    timeout = args.timeout or max(120.0, per_bot / 10)
    recipients = chats_for(per_bot, args.chats, args.order)
    chat_ids = sorted(set(recipients))
    recorders: list[Recorder] = []
    with tempfile.TemporaryDirectory() as tmp:
        async with contextlib.AsyncExitStack() as stack:
            urls = [f"sqlite+aiosqlite:///{Path(tmp) / f'school{n}.db'}" for n in range(bots)]
            with Stopwatch() as seeding:
                for url in urls:
                    await seed(url, recipients)
            senders, factories, engines, clients = [], [], [], []
            for n, url in enumerate(urls):
                token = f"42424{n}:BENCH"
                emu = Emulator(token)
                for chat_id in chat_ids:
                    emu.person(chat_id).started = True
                recorder = Recorder()
                app = create_app(emu)
                app.middlewares.append(recorder.middleware())
                emu.faults.append(
                    Fault(
                        429,
                        "Too Many Requests: retry after 1",
                        retry_after=1,
                        every=args.every,
                        methods=frozenset({"sendmessage"}),
                    )
                )
                server = await stack.enter_async_context(EmulatorServer(app))
                settings = Settings(
                    _env_file=None,  # type: ignore[call-arg]
                    bot_token=SecretStr(token),
                    database_url=url,
                    telegram_api_url=server.url,
                )
                bot = create_bot(settings)
                stack.push_async_callback(bot.session.close)
                engine = create_engine(url)
                stack.push_async_callback(engine.dispose)
                factory = create_session_factory(engine)
                recorders.append(recorder)
                factories.append(factory)
                engines.append(engine)
                clients.append(bot)
                senders.append(OutboxSender(bot, factory, create_i18n("nl"), SystemClock()))
            started = time.monotonic()
            tasks = [asyncio.create_task(s.run()) for s in senders]
            left = per_bot * bots
            while left and time.monotonic() - started < timeout:
                await asyncio.sleep(0.25)
                left = sum([await _left(f) for f in factories])
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    return recorders, left, seeding.seconds


def _rate(recorders: list[Recorder]) -> float:
    calls = [c for r in recorders for c in r.calls]
    accepted = [c for c in calls if c.status == 200 and REFERENCE.search(c.text)]
    seconds = max(c.at for c in accepted) - min(c.at for c in calls)
    return len(accepted) / seconds


async def several_bots(args: argparse.Namespace) -> int:
    """A board's process: one sender per school bot, all in one loop. Baseline in the
    same run: one bot alone with the same number of notifications per bot."""
    bots = args.bots
    per_bot = args.notifications // bots
    print(f"  baseline: one bot, {per_bot} notifications")
    alone, _, _ = await _deliver(args, 1, per_bot)
    one_bot_rate = _rate(alone)
    print(f"  {bots} bots, {per_bot} notifications each")
    recorders, left, seed_seconds = await _deliver(args, bots, per_bot)
    per_bot_figures = []
    all_accepted: list[Call] = []
    for n, recorder in enumerate(recorders):
        accepted = [c for c in recorder.calls if c.status == 200]
        all_accepted += accepted
        references = Counter(m.group(1) for c in accepted if (m := REFERENCE.search(c.text)))
        first = min(c.at for c in recorder.calls)
        last = max(c.at for c in accepted)
        per_bot_figures.append(
            {
                "bot": n,
                "delivered": len(references),
                "duplicates": sum(k - 1 for k in references.values() if k > 1),
                "http_429": sum(1 for c in recorder.calls if c.status == 429),
                "seconds": round(last - first, 3),
                "delivered_per_s": round(len(references) / (last - first), 3),
                "max_sent_in_any_1s": max_in_window([c.at for c in accepted]),
                "min_gap_same_chat_s": round(min_gap_per_chat(accepted), 6),
            }
        )
    first = min(c.at for r in recorders for c in r.calls)
    last = max(c.at for c in all_accepted)
    delivered = sum(int(f["delivered"]) for f in per_bot_figures)
    overall = delivered / (last - first)
    figures: dict[str, Any] = {
        "bots": bots,
        "notifications": per_bot * bots,
        "chats_per_bot": args.chats,
        "order": args.order,
        "seed_seconds": round(seed_seconds, 3),
        "delivered": delivered,
        "unsent_rows_at_end": left,
        "seconds": round(last - first, 3),
        "delivered_per_s_overall": round(overall, 3),
        "max_sent_in_any_1s_overall": max_in_window([c.at for c in all_accepted]),
        "per_bot": per_bot_figures,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    baseline = {
        "pacing_ceiling_per_bot_per_s": CEILING,
        "one_bot_alone_delivered_per_s": round(one_bot_rate, 3),
    }
    ratios = {
        "overall_vs_one_bot_alone": round(overall / one_bot_rate, 3),
        "overall_vs_bots_x_one_bot_alone": round(overall / (bots * one_bot_rate), 3),
        "overall_vs_bots_x_ceiling": round(overall / (bots * CEILING), 3),
    }
    checks = {
        "delivered": all(
            f["delivered"] == per_bot and f["duplicates"] == 0 for f in per_bot_figures
        ),
        "each_bot_paced": all(f["max_sent_in_any_1s"] <= CEILING for f in per_bot_figures),
        "per_chat": all(f["min_gap_same_chat_s"] >= PER_CHAT_INTERVAL for f in per_bot_figures),
        # Each bot as fast as one bot alone: the budgets add up.
        "throughput": overall >= 0.9 * bots * one_bot_rate,
    }
    figures["checks"] = checks
    report(
        args.name,
        figures=figures,
        baseline=baseline,
        ratios=ratios,
        targets={
            "delivered": "all, none twice, per bot",
            "each_bot_paced": "<= 30/s in any 1 s window, per bot",
            "per_chat": ">= 1 s apart",
            "throughput": f">= 0.9 x {bots} x one bot alone",
        },
        met=all(checks.values()),
    )
    return exit_status(checks, args.quick)


# --- a board on several workers: PostgreSQL and Redis ---------------------------------------

PG_SERVERS = [
    os.environ.get("OUDERLOKET_BENCH_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432"),
    "postgresql+asyncpg://root@127.0.0.1:5432",
]
REDIS_SERVER = os.environ.get("OUDERLOKET_BENCH_REDIS", "redis://127.0.0.1:6379/0")
SCRIPT = str(Path(__file__).resolve())


async def pg_admin(server: str, statement: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(server).set(drivername="postgresql", database="postgres")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False), timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def pg_server() -> str | None:
    """The first PostgreSQL server (user postgres, then root) that lets us in."""
    for server in PG_SERVERS:
        try:
            await pg_admin(server, "SELECT 1")
        except Exception as error:  # no server, no such role: try the next
            print(f"  {server}: {type(error).__name__}: {error}")
            continue
        return server
    return None


async def sender_worker(spec: dict[str, Any]) -> int:
    """One worker process: every bot's OutboxSender, as `start_sender` runs it in each
    worker (the pace of each bot in Redis, under its school's prefix), until SIGTERM; then
    prints how many notifications it delivered per bot."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    i18n = create_i18n("nl")
    delivered = [0] * len(spec["bots"])
    senders, bots, engines, pacers = [], [], [], []
    for entry in spec["bots"]:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            bot_token=SecretStr(entry["token"]),
            database_url=entry["database_url"],
            telegram_api_url=entry["api"],
            redis_url=spec["redis"],
            redis_prefix=entry["prefix"],
        )
        bot = create_bot(settings)
        engine = create_engine(settings.database_url)
        pacer = create_pacer(settings.redis_url, settings.redis_prefix, bot.id)
        sender = OutboxSender(bot, create_session_factory(engine), i18n, SystemClock(), pacer=pacer)
        senders.append(sender)
        bots.append(bot)
        engines.append(engine)
        pacers.append(pacer)

    async def run(n: int, sender: OutboxSender, idle: float = 1.0) -> None:
        # OutboxSender.run, counting what this worker delivered.
        while True:
            try:
                got = await sender.deliver_due()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                print(f"worker: {type(error).__name__}: {error}", file=sys.stderr)
                got = 0
            delivered[n] += got
            if got == 0:
                await asyncio.sleep(idle)

    print("READY", flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # every worker starts at once
    tasks = [asyncio.create_task(run(n, s)) for n, s in enumerate(senders)]
    await stop.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for pacer, bot, engine in zip(pacers, bots, engines, strict=True):
        await pacer.close()
        await bot.session.close()
        await engine.dispose()
    print("DELIVERED " + json.dumps(delivered), flush=True)
    return 0


async def _start_worker(spec: dict[str, Any]) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        SCRIPT,
        "--sender-worker",
        json.dumps(spec),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 60)
    assert line.strip() == b"READY", line
    return process


async def _stop_worker(process: asyncio.subprocess.Process) -> list[int]:
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    for line in out.decode().splitlines():
        if line.startswith("DELIVERED "):
            return [int(n) for n in json.loads(line.split(" ", 1)[1])]
    return []


@dataclass
class WorkersRun:
    recorders: list[Recorder]
    by_worker: list[list[int]]  # per worker, per bot: notifications delivered
    left: int
    seed_seconds: float


async def _workers_run(
    args: argparse.Namespace, server: str, bots: int, shared: bool
) -> WorkersRun:
    """One run: a throwaway database per school, an emulator per bot, `args.workers`
    worker processes; with `shared`, the pace of each bot is kept in Redis (REDIS_URL
    set), otherwise each worker paces itself alone (the baseline)."""
    from redis.asyncio import Redis
    from sqlalchemy.engine import make_url

    per_bot = args.notifications // bots
    timeout = args.timeout or max(120.0, per_bot / 10)
    recipients = chats_for(per_bot, args.chats, args.order)
    chat_ids = sorted(set(recipients))
    run_id = uuid.uuid4().hex[:10]
    names = [f"ouderloket_bench_outbox_{run_id}_{n}" for n in range(bots)]
    prefix = f"ouderloket-bench-outbox-{run_id}"
    urls = [make_url(server).set(database=n).render_as_string(hide_password=False) for n in names]
    created: list[str] = []
    recorders: list[Recorder] = []
    by_worker: list[list[int]] = []
    left = per_bot * bots
    try:
        for name in names:
            await pg_admin(server, f'CREATE DATABASE "{name}"')
            created.append(name)
        with Stopwatch() as seeding:
            for url in urls:
                await seed(url, recipients)
        async with contextlib.AsyncExitStack() as stack:
            spec: dict[str, Any] = {"redis": REDIS_SERVER if shared else None, "bots": []}
            for n, url in enumerate(urls):
                token = f"42424{n}:BENCH"
                emu = Emulator(token)
                for chat_id in chat_ids:
                    emu.person(chat_id).started = True
                recorder = Recorder()
                app = create_app(emu)
                app.middlewares.append(recorder.middleware())
                emu.faults.append(
                    Fault(
                        429,
                        "Too Many Requests: retry after 1",
                        retry_after=1,
                        every=args.every,
                        methods=frozenset({"sendmessage"}),
                    )
                )
                api = await stack.enter_async_context(EmulatorServer(app))
                recorders.append(recorder)
                spec["bots"].append(
                    {
                        "token": token,
                        "api": api.url,
                        "database_url": url,
                        # As load_schools gives each school of schools.yaml.
                        "prefix": f"{prefix}:school{n}",
                    }
                )
            engines = [create_engine(url) for url in urls]
            factories = [create_session_factory(engine) for engine in engines]
            processes = [await _start_worker(spec) for _ in range(args.workers)]
            for process in processes:
                assert process.stdin is not None
                process.stdin.write(b"GO\n")
                await process.stdin.drain()
            try:
                started = time.monotonic()
                next_progress = started + 10
                while left and time.monotonic() - started < timeout:
                    await asyncio.sleep(0.25)
                    left = sum([await _left(f) for f in factories])
                    if time.monotonic() >= next_progress:
                        next_progress += 10
                        done = per_bot * bots - left
                        print(f"  .. {done}/{per_bot * bots} in {time.monotonic() - started:.0f}s")
            finally:
                by_worker = [await _stop_worker(p) for p in processes]
                for engine in engines:
                    await engine.dispose()
    finally:
        for name in created:
            await pg_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if shared:
            redis = Redis.from_url(REDIS_SERVER)
            keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
            if keys:
                await redis.delete(*keys)
            await redis.aclose()
    return WorkersRun(recorders, by_worker, left, seeding.seconds)


def _bot_figures(run: WorkersRun, per_bot: int) -> list[dict[str, Any]]:
    figures = []
    for n, recorder in enumerate(run.recorders):
        calls = recorder.calls
        accepted = [c for c in calls if c.status == 200]
        references = Counter(m.group(1) for c in accepted if (m := REFERENCE.search(c.text)))
        first = min(c.at for c in calls) if calls else 0.0
        last = max(c.at for c in accepted) if accepted else first
        seconds = last - first
        figures.append(
            {
                "bot": n,
                "delivered": len(references),
                "missing": per_bot - len(references),
                "duplicates": sum(k - 1 for k in references.values() if k > 1),
                "by_worker": [counts[n] for counts in run.by_worker if len(counts) > n],
                "sendmessage_calls": len(calls),
                "http_429": sum(1 for c in calls if c.status == 429),
                "seconds": round(seconds, 3),
                "delivered_per_s": round(len(references) / seconds, 3) if seconds > 0 else 0.0,
                "max_calls_in_any_1s": max_in_window([c.at for c in calls]),
                "max_sent_in_any_1s": max_in_window([c.at for c in accepted]),
                "min_gap_same_chat_s": round(min_gap_per_chat(accepted), 6),
                "min_gap_same_chat_attempts_s": round(min_gap_per_chat(calls), 6),
            }
        )
    return figures


def _print_bots(title: str, figures: list[dict[str, Any]], per_bot: int) -> None:
    print(f"  {title}:")
    for f in figures:
        print(
            f"    bot {f['bot']}: {f['delivered']}/{per_bot} delivered, {f['duplicates']} twice,"
            f" by worker {f['by_worker']}; at most {f['max_calls_in_any_1s']} calls in any"
            f" 1 s; min gap per chat {f['min_gap_same_chat_s']:.3f} s;"
            f" {f['delivered_per_s']:.1f} delivered/s"
        )


async def several_workers(args: argparse.Namespace) -> int:
    """A board on `args.workers` processes: every worker runs every bot's sender, the pace
    of each bot shared in Redis. Baseline in the same run: the same workers each pacing
    alone, as they did before the pace was shared."""
    from redis.asyncio import Redis

    bots = max(args.bots, 2)
    per_bot = args.notifications // bots
    redis = Redis.from_url(REDIS_SERVER)
    try:
        await redis.ping()
    except Exception as error:
        print(f"Redis at {REDIS_SERVER} not reachable: {error}")
        return 2
    finally:
        await redis.aclose()
    server = await pg_server()
    if server is None:
        print("PostgreSQL on 127.0.0.1:5432 not reachable (users postgres and root tried)")
        return 2
    print(f"  baseline: {args.workers} workers each pacing alone, {bots} bots x {per_bot}")
    alone = _bot_figures(await _workers_run(args, server, bots, shared=False), per_bot)
    _print_bots("each worker pacing alone", alone, per_bot)
    print(f"  {args.workers} workers sharing each bot's pace in Redis, {bots} bots x {per_bot}")
    run = await _workers_run(args, server, bots, shared=True)
    per_bot_figures = _bot_figures(run, per_bot)
    _print_bots("shared pace", per_bot_figures, per_bot)

    every = [c for r in run.recorders for c in r.calls]
    accepted = [c for c in every if c.status == 200]
    seconds = max(c.at for c in accepted) - min(c.at for c in every) if accepted else 0.0
    delivered = sum(int(f["delivered"]) for f in per_bot_figures)
    overall = delivered / seconds if seconds > 0 else 0.0
    figures: dict[str, Any] = {
        "workers": args.workers,
        "bots": bots,
        "notifications": per_bot * bots,
        "chats_per_bot": args.chats,
        "order": args.order,
        "database": "postgresql",
        "seed_seconds": round(run.seed_seconds, 3),
        "delivered": delivered,
        "unsent_rows_at_end": run.left,
        "seconds": round(seconds, 3),
        "delivered_per_s_overall": round(overall, 3),
        "max_calls_in_any_1s_per_bot": max(int(f["max_calls_in_any_1s"]) for f in per_bot_figures),
        "min_gap_same_chat_s": min(float(f["min_gap_same_chat_s"]) for f in per_bot_figures),
        "per_bot": per_bot_figures,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    slowest = min(float(f["delivered_per_s"]) for f in per_bot_figures)
    alone_rate = min(float(f["delivered_per_s"]) for f in alone)
    baseline = {
        "pacing_ceiling_per_bot_per_s": CEILING,
        "alone_max_calls_in_any_1s_per_bot": max(int(f["max_calls_in_any_1s"]) for f in alone),
        "alone_min_gap_same_chat_s": min(float(f["min_gap_same_chat_s"]) for f in alone),
        "alone_delivered_per_s_slowest_bot": alone_rate,
        "alone_per_bot": alone,
    }
    ratios = {
        "slowest_bot_vs_ceiling": round(slowest / CEILING, 3),
        "slowest_bot_vs_alone": round(slowest / alone_rate, 3) if alone_rate else 0.0,
    }
    checks = {
        "delivered": all(
            f["delivered"] == per_bot and f["duplicates"] == 0 for f in per_bot_figures
        ),
        "each_bot_paced": all(f["max_calls_in_any_1s"] <= 30 for f in per_bot_figures),
        "per_chat": all(f["min_gap_same_chat_s"] >= 1.0 for f in per_bot_figures),
    }
    figures["checks"] = checks
    report(
        args.name,
        figures=figures,
        baseline=baseline,
        ratios=ratios,
        targets={
            "delivered": "all, none twice, per bot",
            "each_bot_paced": "<= 30 calls in any 1 s window, per bot, all workers together",
            "per_chat": ">= 1 s apart, all workers together",
        },
        met=all(checks.values()),
    )
    return exit_status(checks, args.quick)


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
