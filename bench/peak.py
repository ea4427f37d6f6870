"""The first evening: N parents at once, over HTTP long polling against the Bot API
emulator, on the embedded default (SQLite), with the unchanged bot started by the
product's own runner in its own process.

    .venv/bin/python bench/peak.py [--parents 40 200] [--rounds 4] [--repeat 3]
                                   [--database-url postgresql+asyncpg://postgres@127.0.0.1/x]

Each parent links with the code from its letter (/start CODE), then --rounds times sends
/menu and opens Mijn gegevens on the menu it got. All N start together and each acts as
soon as it has its reply (no think time: the peak). A reply is complete when the bot has
made every Bot API call of the update (a new message; or the answer of the button press
with the edit, or with a new message for a child's data), as the parent's app would show it.

Baseline in the same run, on the same emulator server, with the same parents and steps: a
bare aiogram bot by long polling (its own process too) that makes the same Bot API calls
per update (sendMessage for a typed message, editMessageText + answerCallbackQuery for a
press) without a database.

The bots take turns, --repeat times (a window each: its own process, parents and school),
and each figure pools a bot's windows: every reply's latency, the replies per second and
the CPU over all of them. One window of 40 parents lasts about a second, and the ratios of
single windows moved by a factor of two from one run to the next on this machine.

Also counted, inside the product's process (bench only: SQLAlchemy's
before_cursor_execute event on every engine, and the update being handled): the SQL
statements per update, and those of the background jobs (outbox, expirer, scheduler).

With --database-url the product also runs on that database (its tables are dropped and
made anew: give an empty one made for this).

Targets per N on SQLite (ratios, the machines are too noisy for absolute times):
p50 and p99 <= 3x the bare bot's, replies/s >= 1/3 of the bare bot's."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import csv
import importlib.util
import io
import json
import os
import pstats
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any

from common import ROOT, parse_quick, percentile, print_cpu_table, report  # type: ignore[import-not-found]

SCRIPT = str(Path(__file__).resolve())
REPLY_TIMEOUT = 60.0
WARMUP_PARENTS = 3
# The product's profiler runs only while the parents are served (--profile).
PROFILE_ON, PROFILE_OFF = signal.SIGUSR1, signal.SIGUSR2
PROFILE_SIGNAL_PAUSE = 0.05
# The Bot API methods that are replies to a parent (the rest is the bot's own bookkeeping).
REPLY_METHODS = ("sendMessage", "editMessageText", "answerCallbackQuery", "sendDocument")


# --- the two bots, each run as a child process of this script ----------------------------


def serve_product(api_url: str, database_url: str, stats_path: str, profile: bool) -> None:
    """The product as `ouderloket run` starts it (bot.runner.run_polling), plus counters of
    SQL statements and updates that the bench reads when the process ends."""
    import logging
    from contextvars import ContextVar

    from aiogram import Dispatcher
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from bot.config import Settings
    from bot.demo import demo_settings
    from bot.runner import run_polling

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    in_update: ContextVar[bool] = ContextVar("in_update", default=False)
    counts: Counter[str] = Counter()
    started = time.perf_counter()

    def count(*_args: Any, **_kwargs: Any) -> None:
        counts["update_statements" if in_update.get() else "background_statements"] += 1

    event.listen(Engine, "before_cursor_execute", count)
    feed_update = Dispatcher.feed_update

    async def counted_feed_update(self: Dispatcher, *args: Any, **kwargs: Any) -> Any:
        token = in_update.set(True)
        counts["updates"] += 1
        begin = time.perf_counter()
        try:
            return await feed_update(self, *args, **kwargs)
        finally:
            counts["update_us"] += int((time.perf_counter() - begin) * 1e6)
            in_update.reset(token)

    Dispatcher.feed_update = counted_feed_update  # type: ignore[method-assign]

    settings = demo_settings(Settings(_env_file=None), api_url, database_url)  # type: ignore[call-arg]

    profiler = cProfile.Profile() if profile else None

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if profiler is not None:
            # Only while the parents are served (the bench signals the window): the start
            # (migrations, every template compiled) is not what a reply costs.
            loop.add_signal_handler(PROFILE_ON, profiler.enable)
            loop.add_signal_handler(PROFILE_OFF, profiler.disable)
        await run_polling(settings, stop=stop)

    asyncio.run(main())
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(stats_path + ".prof")
    counts["seconds_ms"] = int((time.perf_counter() - started) * 1000)
    # All threads of the process (aiosqlite runs SQLite in its own).
    Path(stats_path).write_text(json.dumps(dict(counts)), encoding="utf-8")


def serve_bare(api_url: str, token: str) -> None:
    """aiogram and nothing else: the same Bot API calls per update as the product makes in
    this benchmark, texts of a similar size, no database, no templates. Nothing of the
    product is imported (the token comes as an argument): importing it would give this
    bot the product's process settings too (bot.app holds aiogram's response models)."""
    from aiogram import Bot, Dispatcher, F
    from aiogram.client.default import DefaultBotProperties
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.enums import ParseMode
    from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

    menu = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Mijn gegevens", callback_data="inzage:0")]]
    )
    body = "<b>Ouder</b>\n" + "Een regel tekst van het menu.\n" * 8

    async def on_message(message: Message) -> None:
        await message.answer(body, reply_markup=menu)

    async def on_press(query: CallbackQuery) -> None:
        if isinstance(query.message, Message):
            await query.message.edit_text(body + "<i>Gegevens</i>", reply_markup=menu)
        await query.answer()

    async def main() -> None:
        bot = Bot(
            token,
            session=AiohttpSession(api=TelegramAPIServer.from_base(api_url)),
            default=DefaultBotProperties(parse_mode=ParseMode.HTML),
        )
        dp = Dispatcher()
        dp.message.register(on_message, F.text)
        dp.callback_query.register(on_press)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False))
        await stop.wait()
        await dp.stop_polling()
        with contextlib.suppress(asyncio.CancelledError):
            await polling
        await bot.session.close()

    asyncio.run(main())


# --- setup: a school whose letters just went home -----------------------------------------


def load_generator_module() -> Any:
    spec = importlib.util.spec_from_file_location(
        "generate_pupils", ROOT / "data" / "generate_pupils.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["generate_pupils"] = module  # dataclasses look the module up
    spec.loader.exec_module(module)
    return module


async def reset(database_url: str) -> None:
    """A database given with --database-url starts empty every phase."""
    from sqlmodel import SQLModel

    from storage.db import create_engine

    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.drop_all)
            await conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    finally:
        await engine.dispose()


async def seed(database_url: str, letters: int) -> list[str]:
    """Migrates, imports a generated school with a teacher per group and the vendors in
    data/vendors, and issues a code to `letters` guardians with one child each (so Mijn
    gegevens opens at once). Returns the codes as printed on the letters."""
    from sqlalchemy import func, update
    from sqlmodel import col, select

    from bot.config import Settings
    from bot.demo import VENDORS
    from flows.clock import FixedClock
    from flows.codes import display
    from flows.invites import add_staff, issue_code
    from flows.reminders import yearly_consent
    from storage.db import create_engine, create_session_factory, refresh_statistics, transaction
    from storage.importers.pupils import import_pupils
    from storage.importers.vendors import import_vendors
    from storage.migrate import upgrade
    from storage.models import GuardianPupil, Outbox, StaffRole

    generator = load_generator_module()
    # The bot runs on its own system clock: the letters are issued "now" on that clock.
    clock = FixedClock(datetime.now(UTC))
    now = clock.now()
    school_year = now.year if now.month >= 9 else now.year - 1
    rows = generator.generate(max(2 * letters, 60), seed=1, school_year=school_year)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=generator.COLUMNS, delimiter=";")
    writer.writeheader()
    writer.writerows(rows)

    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        factory = create_session_factory(engine)
        async with transaction(factory) as session:
            await import_pupils(session, buffer.getvalue().encode(), now, filename="peak.csv")
            for group in sorted({r["groep"] for r in rows}):
                await add_staff(session, f"Leerkracht {group}", StaffRole.TEACHER, [group], now)
            if VENDORS.is_dir():  # Mijn gegevens lists what each vendor receives
                await import_vendors(session, VENDORS)
        codes: list[str] = []
        async with transaction(factory) as session:
            single = (
                await session.exec(
                    select(GuardianPupil.guardian_id)
                    .group_by(col(GuardianPupil.guardian_id))
                    .having(func.count() == 1)
                    .order_by(col(GuardianPupil.guardian_id))
                    .limit(letters)
                )
            ).all()
            if len(single) < letters:
                raise SystemExit(f"only {len(single)} guardians with one child for {letters}")
            for guardian_id in single:
                code, _ = await issue_code(session, now, guardian_id=guardian_id)
                codes.append(display(code))
        # The yearly consent check would otherwise go out during the run: done beforehand,
        # its (zero or more) messages marked as sent.
        async with transaction(factory) as session:
            await yearly_consent(
                session,
                now,
                channels=Settings(_env_file=None).consent_channels,  # type: ignore[call-arg]
                not_before=dtime(0),
            )
            await session.exec(
                update(Outbox).where(col(Outbox.sent_at).is_(None)).values(sent_at=now)
            )
        # As `ouderloket import-pupils` and `ouderloket invite-codes` do once they wrote.
        await refresh_statistics(engine)
    finally:
        await engine.dispose()
    return codes


# --- the parents ------------------------------------------------------------------------


class ChatWatch:
    """Wakes exactly the parent whose chat changed (the emulator touches a chat on every
    message, edit and answer in it), so 200 waiting parents cost nothing while waiting."""

    def __init__(self, emu: Any) -> None:
        self.events: dict[int, asyncio.Event] = {}
        original = emu.touch

        def touch(chat_id: int | None = None) -> None:
            original(chat_id)
            if chat_id is not None and chat_id in self.events:
                self.events[chat_id].set()

        emu.touch = touch

    async def until(self, chat_id: int, done: Callable[[], bool]) -> None:
        event = self.events.setdefault(chat_id, asyncio.Event())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + REPLY_TIMEOUT
        while not done():
            event.clear()
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"no reply in chat {chat_id}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), left)


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)


async def parent(
    emu: Any, watch: ChatWatch, user_id: int, code: str, rounds: int, tally: Tally
) -> None:
    emu.person(user_id, f"Ouder {user_id}")

    def bot_messages() -> list[Any]:
        return [m for m in emu.chats[user_id] if m.from_bot]

    async def send(text: str) -> Any:
        before = len(bot_messages())
        start = time.perf_counter()
        await emu.user_sends(user_id, text)
        await watch.until(user_id, lambda: len(bot_messages()) > before)
        tally.latencies.append(time.perf_counter() - start)
        return bot_messages()[-1]

    async def press(message: Any, label: str) -> None:
        buttons = [b for b in message.buttons() if label in b["text"]]
        if not buttons:
            raise LookupError(f"no {label!r} on {message.text!r}")
        button = buttons[0]
        edited = message.edit_date, message.text
        before = len(bot_messages())
        start = time.perf_counter()
        record = await emu.user_presses(user_id, message.message_id, button["callback_data"])
        # The screen is either the pressed message edited, or (a child's data) a message
        # of its own under it.
        await watch.until(
            user_id,
            lambda: (
                record.answered
                and ((message.edit_date, message.text) != edited or len(bot_messages()) > before)
            ),
        )
        tally.latencies.append(time.perf_counter() - start)

    try:
        await send(f"/start {code}")
        for _ in range(rounds):
            menu = await send("/menu")
            await press(menu, "Mijn gegevens")
    except (TimeoutError, LookupError) as error:
        tally.errors[type(error).__name__] += 1
        if len(tally.errors) == 1 and sum(tally.errors.values()) == 1:
            print(f"    first error: {error}", flush=True)


def cpu_seconds(pid: int) -> float:
    """CPU time a process used so far, all its threads (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(
    emu: Any,
    watch: ChatWatch,
    first_user: int,
    codes: list[str],
    rounds: int,
    pid: int,
    profile: bool = False,
) -> Window:
    """Warm-up parents one after the other (not measured), then all the others at once."""
    warm, measured = codes[:WARMUP_PARENTS], codes[WARMUP_PARENTS:]
    for index, code in enumerate(warm):
        await parent(emu, watch, first_user + index, code, 1, Tally())
    calls = len(emu.calls)
    tally = Tally()
    if profile:
        os.kill(pid, PROFILE_ON)
        await asyncio.sleep(PROFILE_SIGNAL_PAUSE)  # taken before the first parent acts
    cpu = cpu_seconds(pid)
    start = time.perf_counter()
    await asyncio.gather(
        *(
            parent(emu, watch, first_user + WARMUP_PARENTS + i, code, rounds, tally)
            for i, code in enumerate(measured)
        )
    )
    seconds = time.perf_counter() - start
    cpu = cpu_seconds(pid) - cpu
    if profile:
        os.kill(pid, PROFILE_OFF)
    made = Counter(name for name, _ in emu.calls[calls:] if name in REPLY_METHODS)
    return Window(
        parents=len(measured),
        latencies=tally.latencies,
        seconds=seconds,
        cpu_seconds=cpu,
        api_calls=sum(made.values()),
        errors=sum(tally.errors.values()),
    )


@dataclass
class Window:
    """One bot serving one group of parents at once; a figure pools the windows of its
    bot and N (--repeat), each with parents of its own."""

    parents: int
    latencies: list[float]
    seconds: float
    # What the bot's process needed of the cores while the parents were served: less
    # noisy than times on a shared machine.
    cpu_seconds: float
    api_calls: int
    errors: int
    # The product's own counters (bench only), summed over its process's life.
    counted: Counter[str] = field(default_factory=Counter)


def pooled(windows: list[Window]) -> dict[str, Any]:
    """A bot's figures over all its windows: every reply's latency, the time and CPU of
    all the windows together."""
    latencies = [latency for window in windows for latency in window.latencies]
    replies, seconds = len(latencies), sum(window.seconds for window in windows)
    figures: dict[str, Any] = {
        "parents": windows[0].parents,
        "windows": len(windows),
        "replies": replies,
        "seconds": seconds,
        "replies_per_s": replies / seconds if seconds else 0.0,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "api_calls_per_reply": sum(w.api_calls for w in windows) / replies if replies else 0.0,
        "bot_cpu_ms_per_reply": (
            sum(w.cpu_seconds for w in windows) * 1000 / replies if replies else 0.0
        ),
        "errors": sum(window.errors for window in windows),
    }
    counted: Counter[str] = sum((window.counted for window in windows), Counter())
    if counted:
        updates = counted["updates"] or 1
        figures["sql_statements_per_update"] = counted["update_statements"] / updates
        figures["background_statements_per_s"] = counted["background_statements"] / (
            max(counted["seconds_ms"], 1) / 1000
        )
        figures["handler_ms_per_update"] = counted["update_us"] / updates / 1000
    return figures


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


async def start_bot(emu: Any, argv: list[str], log: Path) -> tuple[asyncio.subprocess.Process, Any]:
    calls = len(emu.calls)
    output = log.open("w")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, SCRIPT, *argv, stdout=output, stderr=output, env=env
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while not any(name == "getUpdates" for name, _ in emu.calls[calls:]):
        if process.returncode is not None or loop.time() > deadline:
            raise SystemExit(f"the bot did not start:\n{_read(log)}")
        await asyncio.sleep(0.05)
    return process, output


async def stop_bot(process: asyncio.subprocess.Process, output: Any) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    output.close()


async def phase(
    emu: Any,
    watch: ChatWatch,
    api_url: str,
    kind: str,
    parents: int,
    rounds: int,
    first_user: int,
    folder: Path,
    database_url: str | None = None,
    profile: bool = False,
) -> Window:
    letters = parents + WARMUP_PARENTS
    if kind == "bare":
        codes = [f"BARE-{n}" for n in range(letters)]
        argv = ["--serve", "bare", "--api", api_url, "--token", emu.token]
    else:
        assert database_url is not None
        if not database_url.startswith("sqlite"):
            await reset(database_url)
        codes = await seed(database_url, letters)
        stats = folder / f"stats-{kind}-{parents}.json"
        # Written when the process ends: none from an earlier window is read for this one.
        stats.unlink(missing_ok=True)
        argv = ["--serve", "product", "--api", api_url, "--db", database_url]
        argv += ["--stats", str(stats)] + (["--profile"] if profile else [])
    process, output = await start_bot(emu, argv, folder / f"{kind}-{parents}.log")
    try:
        window = await load(emu, watch, first_user, codes, rounds, process.pid, profile)
    finally:
        await stop_bot(process, output)
    if kind != "bare":
        window.counted.update(json.loads(_read(stats)) if stats.exists() else {})
        if profile:
            print(f"  -- where the product's time goes ({kind}, N={parents}):")
            stats_profile = pstats.Stats(str(stats) + ".prof")
            stats_profile.sort_stats("tottime").print_stats(25)
            print_cpu_table(stats_profile, f"the product's process, N={parents}")
    figures = pooled([window])
    print(
        f"  {kind:16} N={parents:<4} {figures['replies_per_s']:7.1f} replies/s  "
        f"p50 {figures['p50_ms']:7.1f} ms  p99 {figures['p99_ms']:7.1f} ms  "
        f"errors {figures['errors']}",
        flush=True,
    )
    return window


async def main(args: argparse.Namespace) -> int:
    from bot.demo import DEMO_TOKEN, DEMO_USERNAME
    from bot.emulator.server import EmulatorServer, create_app
    from bot.emulator.state import Emulator

    emu = Emulator(DEMO_TOKEN, bot_username=DEMO_USERNAME)
    watch = ChatWatch(emu)
    figures: dict[str, Any] = {}
    baseline: dict[str, Any] = {}
    ratios: dict[str, float] = {}
    met = True
    first_user = 700_000_000
    windows: dict[tuple[str, int], list[Window]] = {}
    with tempfile.TemporaryDirectory() as name:
        folder = Path(args.keep or name)
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        async with EmulatorServer(create_app(emu)) as server:
            # The bots take turns, window after window: a slow minute of the machine falls
            # on both, not on one bot's only window.
            for repeat in range(args.repeat):
                if args.repeat > 1:
                    print(f"  -- window {repeat + 1} of {args.repeat}", flush=True)
                for parents in args.parents:
                    # Each window's school anew, as the bare bot's parents are new.
                    sqlite_file = folder / f"peak-{parents}-{repeat + 1}.db"
                    databases = [("sqlite", f"sqlite+aiosqlite:///{sqlite_file}")]
                    if args.database_url:
                        databases.append(("postgresql", args.database_url))
                    for label, url in [("bare", None), *databases]:
                        window = await phase(
                            emu,
                            watch,
                            server.url,
                            label,
                            parents,
                            args.rounds,
                            first_user,
                            folder,
                            url,
                            args.profile and label != "bare",
                        )
                        first_user += 10_000
                        windows.setdefault((label, parents), []).append(window)
    for parents in args.parents:
        bare = baseline[f"n{parents}"] = pooled(windows[("bare", parents)])
        for label in ("sqlite", "postgresql"):
            if (label, parents) not in windows:
                continue
            key = f"{label}_n{parents}"
            product = figures[key] = pooled(windows[(label, parents)])
            ratios[f"{key}_p50_vs_bare"] = product["p50_ms"] / max(bare["p50_ms"], 1e-9)
            ratios[f"{key}_p99_vs_bare"] = product["p99_ms"] / max(bare["p99_ms"], 1e-9)
            ratios[f"{key}_replies_per_s_vs_bare"] = product["replies_per_s"] / max(
                bare["replies_per_s"], 1e-9
            )
            # Less noisy than the times on a shared machine: the work per update.
            ratios[f"{key}_cpu_per_reply_vs_bare"] = product["bot_cpu_ms_per_reply"] / max(
                bare["bot_cpu_ms_per_reply"], 1e-9
            )
            if label == "sqlite":
                met = met and (
                    ratios[f"{key}_p50_vs_bare"] <= 3
                    and ratios[f"{key}_p99_vs_bare"] <= 3
                    and ratios[f"{key}_replies_per_s_vs_bare"] >= 1 / 3
                    and product["errors"] == 0
                )
    report(
        "peak",
        figures={
            "rounds": args.rounds,
            "repeat": args.repeat,
            **{f"{k}_{m}": v for k, f in figures.items() for m, v in f.items()},
        },
        baseline={f"bare_{k}_{m}": v for k, f in baseline.items() for m, v in f.items()},
        ratios=ratios,
        targets={
            "sqlite p50 and p99 vs bare": "<= 3x",
            "sqlite replies/s vs bare": ">= 0.333",
        },
        met=met,
    )
    return 0


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parents", type=int, nargs="+", default=[40, 200])
    parser.add_argument("--rounds", type=int, default=4, help="/menu + Mijn gegevens per parent")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="windows per bot and N, the bots taking turns; the figures pool them",
    )
    parser.add_argument("--database-url", help="also on this (empty) database, e.g. PostgreSQL")
    parser.add_argument(
        "--profile", action="store_true", help="profile the product while the parents are served"
    )
    parser.add_argument("--keep", help="a folder to keep the databases and the bots' logs in")
    parser.add_argument("--serve", choices=("product", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--api", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    parser.add_argument("--stats", help=argparse.SUPPRESS)
    arguments = parse_quick(parser, parents=[5], rounds=1, repeat=1)
    # Imported here: the bare bot's process has no need of the product.
    from bot.app import THROTTLE_LIMIT, THROTTLE_WINDOW

    if arguments.serve is None and 1 + 2 * arguments.rounds > THROTTLE_LIMIT:
        # Each parent sends its updates within seconds: past the bot's limit per user it
        # is told to wait, and the run would count every parent as failed.
        parser.error(
            f"--rounds {arguments.rounds}: a parent would send {1 + 2 * arguments.rounds} "
            f"updates, more than the bot takes from one user in {THROTTLE_WINDOW:g} s "
            f"({THROTTLE_LIMIT}); at most {(THROTTLE_LIMIT - 1) // 2}"
        )
    return arguments


if __name__ == "__main__":
    arguments = parse()
    if arguments.serve == "product":
        serve_product(arguments.api, arguments.db, arguments.stats, arguments.profile)
    elif arguments.serve == "bare":
        serve_bare(arguments.api, arguments.token)
    else:
        raise SystemExit(asyncio.run(main(arguments)))
