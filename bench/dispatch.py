"""Dispatch cost: a mixed parent workload (menu, inzage, consent toggle, correction steps)
through the real dispatcher with a recording Bot session on SQLite, per update, as a
ratio to aiogram's own no-op handler fed the same updates in the same run. Only the
feeding is timed, not the bench building each update.

    .venv/bin/python bench/dispatch.py [--parents 400] [--cycles 2]

Target: <= 3x the no-op handler. The updates are made here, not bound to the bot, so
aiogram binds each first (a round trip through pydantic, in both). For scale, not
targets, in the same run: the product's transaction before any handler (its floor), a
bare aiogram bot that makes a screen's Bot API calls with no database
(replying_dispatcher), and both bots fed updates already bound to the bot, as polling
and the webhook hand them over ("mounted"): then the no-op does almost nothing."""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import itertools
import pstats
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from aiogram import Dispatcher, Router
from aiogram.types import (
    CallbackQuery,
    Chat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
    User,
)
from common import Stopwatch, parse_quick, percentile, print_cpu_table, report  # type: ignore[import-not-found]
from sqlalchemy import event

from bot import keyboards
from bot.app import THROTTLE_LIMIT, THROTTLE_WINDOW, create_dispatcher
from bot.callbacks import ConsentAction, ConsentCb, InzageCb
from bot.config import Settings
from bot.i18n import create_i18n
from bot.middlewares import DbSessionMiddleware
from bot.runner import settle
from flows.clock import SystemClock
from storage.db import (
    SessionFactory,
    create_engine,
    create_session_factory,
    refresh_statistics,
)
from storage.migrate import upgrade
from storage.models import ChatLink, Guardian, GuardianPupil, Pupil, RequestKind, SchoolGroup
from tests.recording import BOT_USER, RecordingSession, feed, recording_bot

FIRST_USER = 10_000_000
DB_SECONDS = [0.0]
# Parents of the warm-up's own: a parent warmed up and then measured would pass the
# bot's limit per user, and be measured being told to wait (no handler, no database).
WARMUP_PARENTS = 20


def mean_us(timings: list[float]) -> float:
    return sum(timings) / len(timings) * 1e6


def time_database_calls() -> None:
    """Bench only: adds up the time updates spend awaiting the database, to say where
    the time goes. The product is not changed."""
    from sqlalchemy.ext.asyncio import AsyncConnection
    from sqlmodel.ext.asyncio.session import AsyncSession

    # The session's calls, and the connection's: an update's read, marker and commit and
    # the hot path's Core statements go through its connection (bot.middlewares).
    session_calls = ("exec", "execute", "get", "commit", "flush", "scalar", "close", "rollback")
    connection_calls = ("start", "execute", "commit", "rollback", "close")
    for owner, name in [
        *((AsyncSession, n) for n in session_calls),
        *((AsyncConnection, n) for n in connection_calls),
    ]:
        original = getattr(owner, name)

        def timed(original=original):  # type: ignore[no-untyped-def]
            async def wrapper(self, *args, **kwargs):  # type: ignore[no-untyped-def]
                start = time.perf_counter()
                try:
                    return await original(self, *args, **kwargs)
                finally:
                    DB_SECONDS[0] += time.perf_counter() - start

            return wrapper

        setattr(owner, name, timed())


async def seed(database_url: str, parents: int) -> list[tuple[int, int]]:
    """Linked parents with one child each: (telegram user id, pupil id)."""
    engine = create_engine(database_url)
    await upgrade(engine)
    factory = create_session_factory(engine)
    pairs: list[tuple[int, int]] = []
    async with factory() as session:
        group = SchoolGroup(name="5A", groepskey="GK-5A")
        session.add(group)
        await session.flush()
        for n in range(parents):
            pupil = Pupil(
                leerlingnummer=str(50_000 + n),
                voornaam=f"Kind{n}",
                tussenvoegsel="",
                achternaam="Bench",
                geboortedatum=date(2017, 3, 12),
                geslacht="V",
                group_id=group.id or 0,
                jaargroep=5,
            )
            guardian = Guardian(name=f"Ouder {n}", email=f"ouder{n}@example.org")
            session.add_all([pupil, guardian])
            await session.flush()
            session.add(GuardianPupil(guardian_id=guardian.id or 0, pupil_id=pupil.id or 0))
            session.add(ChatLink(telegram_user_id=FIRST_USER + n, guardian_id=guardian.id))
            pairs.append((FIRST_USER + n, pupil.id or 0))
        await session.commit()
    # As the command line does once an import wrote (on PostgreSQL; nothing on SQLite).
    await refresh_statistics(engine)
    await engine.dispose()
    return pairs


_UPDATE_IDS = itertools.count(1)


class Workload:
    """The same updates for both dispatchers: per parent and cycle, 8 updates."""

    def __init__(self, recorder: RecordingSession | None) -> None:
        self.recorder = recorder
        # Update ids go on across runs: the warm-up's ids again would be recognised as
        # already handled and measure nothing but that check.
        self.ids = _UPDATE_IDS

    def _user(self, user_id: int) -> tuple[User, Chat]:
        return (
            User(id=user_id, is_bot=False, first_name="Ouder", language_code="nl"),
            Chat(id=user_id, type="private"),
        )

    def message(self, user_id: int, text: str) -> Update:
        user, chat = self._user(user_id)
        message = Message(
            message_id=next(self.ids), date=datetime.now(UTC), chat=chat, from_user=user, text=text
        )
        return Update(update_id=next(self.ids), message=message)

    def press(self, user_id: int, data: str) -> Update:
        user, chat = self._user(user_id)
        shown = 1
        if self.recorder is not None:
            # From the newest back: a scan of every message shown so far would grow with
            # the run and be counted against the product (the no-op's presses skip it).
            shown = next(
                (
                    s.message_id
                    for s in reversed(self.recorder.shown.values())
                    if s.chat_id == user_id
                ),
                1,
            )
        message = Message(
            message_id=shown, date=datetime.now(UTC), chat=chat, from_user=BOT_USER, text="…"
        )
        query = CallbackQuery(
            id=str(next(self.ids)), from_user=user, chat_instance="ci", message=message, data=data
        )
        return Update(update_id=next(self.ids), callback_query=query)

    def cycle(self, user_id: int, pupil_id: int, grant: bool) -> list[tuple[str, object]]:
        """Steps as (kind, payload): built lazily so a press targets the latest message."""
        ask = ConsentCb(action=ConsentAction.ASK, pupil_id=pupil_id, channel="website", grant=grant)
        confirm = ConsentCb(
            action=ConsentAction.CONFIRM, pupil_id=pupil_id, channel="website", grant=grant
        )
        return [
            ("message", "/menu"),
            ("press", InzageCb(pupil_id=pupil_id).pack()),
            ("press", ConsentCb(action=ConsentAction.SHOW, pupil_id=pupil_id).pack()),
            ("press", ask.pack()),
            ("press", confirm.pack()),
            ("press", keyboards.start_request(RequestKind.CORRECTION, pupil_id).pack()),
            # The first field the correction form offers (the first name).
            ("press", keyboards.choose_option("field", 0).pack()),
            ("message", "Anne Sophie"),
            ("message", "/annuleren"),
        ]


def noop_dispatcher() -> Dispatcher:
    """aiogram's own minimum: a handler that does nothing, and answers a button press
    (which every handler must)."""
    dp = Dispatcher()
    router = Router()

    async def on_message(message: Message) -> None:
        return None

    async def on_query(query: CallbackQuery) -> None:
        await query.answer()

    router.message.register(on_message)
    router.callback_query.register(on_query)
    dp.include_router(router)
    return dp


def replying_dispatcher(factory: SessionFactory | None = None) -> Dispatcher:
    """For scale, not a target: a bare aiogram bot that makes a screen's Bot API calls
    with no database, no language and no template: a message with three buttons for a
    typed message, and for a press the answer and a new message with three buttons.

    With `factory`, each update in the product's transaction (bot.middlewares: its
    connection, its one read, its marker and its commit) around the same handler: the
    least any bot costs here that keeps what issue 24 keeps (every update idempotent, and
    what an update that fails had sent taken back; it shows no child's data, so it has no
    view to audit) and replies, before routing, a template or a keyboard."""
    dp = Dispatcher()
    if factory is not None:
        dp["clock"] = SystemClock()
        dp.update.outer_middleware(DbSessionMiddleware(factory, "nl"))
    router = Router()
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=f"Knop {n}", callback_data=f"x:{n}")] for n in range(3)
        ]
    )

    async def on_message(message: Message) -> None:
        await message.answer("<b>Menu</b>\nKies wat u wilt doen.", reply_markup=markup)

    async def on_query(query: CallbackQuery) -> None:
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.answer("<b>Scherm</b>\nEen tekst.", reply_markup=markup)

    router.message.register(on_message)
    router.callback_query.register(on_query)
    dp.include_router(router)
    return dp


async def run(
    dp: Dispatcher,
    pairs: list[tuple[int, int]],
    cycles: int,
    product: bool,
    profile: bool,
    *,
    mounted: bool = False,
) -> list[float]:
    """The seconds each update took to feed (the bench building it is not counted).
    `mounted`: each update bound to the bot beforehand, as polling and the webhook hand
    them over; otherwise aiogram binds it first, by a round trip through pydantic."""
    # Telegram, not the bot, checks a message against its limits: the tests do that here
    # (tests.telegram_limits), the benchmark measures the bot.
    bot, recorder = recording_bot(checks=False)
    workload = Workload(recorder if product else None)
    timings: list[float] = []
    profiler = cProfile.Profile() if profile else None
    for cycle in range(cycles):
        for user_id, pupil_id in pairs:
            for kind, payload in workload.cycle(user_id, pupil_id, grant=cycle % 2 == 1):
                update = (
                    workload.message(user_id, str(payload))
                    if kind == "message"
                    else workload.press(user_id, str(payload))
                )
                if mounted:
                    update = Update.model_validate(update.model_dump(), context={"bot": bot})
                if profiler is not None:
                    profiler.enable()
                start = time.perf_counter()
                # As polling does: a method the handler returned is made after the update.
                await feed(dp, bot, update)
                timings.append(time.perf_counter() - start)
                if profiler is not None:
                    profiler.disable()
    if profiler is not None:
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(30)
        print_cpu_table(stats, "dispatch, per update")
    return timings


async def transaction_floor(
    factory: SessionFactory, pairs: list[tuple[int, int]], updates: int
) -> float:
    """What every update costs the product before any handler runs, in seconds per
    update: the middleware that gives it its connection, its one read, its marker and
    its commit (bot.middlewares), around a handler that does nothing."""
    middleware = DbSessionMiddleware(factory, "nl")
    workload = Workload(None)
    clock = SystemClock()
    presses = [workload.press(pairs[n % len(pairs)][0], "x") for n in range(updates)]

    async def nothing(_event: object, _data: dict[str, object]) -> None:
        return None

    with Stopwatch() as watch:
        for update in presses:
            assert update.callback_query is not None
            user = update.callback_query.from_user
            await middleware(nothing, update, {"event_from_user": user, "clock": clock})
    return watch.seconds / updates


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parents", type=int, default=400)
    parser.add_argument("--cycles", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="print where the time goes")
    parser.add_argument("--database-url", help="an EMPTY database (default: a new SQLite file)")
    args = parse_quick(parser, parents=20, cycles=1)
    per_parent = len(Workload(None).cycle(0, 0, grant=False)) * args.cycles
    if per_parent > THROTTLE_LIMIT:
        # As in bench/peak.py: past the bot's limit per user, a parent's updates would be
        # refused before any handler and measure nothing of the product.
        parser.error(
            f"--cycles {args.cycles}: a parent would send {per_parent} updates, more than "
            f"the bot takes from one user in {THROTTLE_WINDOW:g} s ({THROTTLE_LIMIT})"
        )

    with tempfile.TemporaryDirectory() as folder:
        database_url = args.database_url or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        seeded = await seed(database_url, 2 * args.parents + WARMUP_PARENTS)
        warm, pairs = (
            seeded[:WARMUP_PARENTS],
            seeded[WARMUP_PARENTS : WARMUP_PARENTS + args.parents],
        )
        # Parents of their own again for the mounted run, for the bot's limit per user.
        others = seeded[WARMUP_PARENTS + args.parents :]
        settings = Settings(_env_file=None, bot_token="42:TEST", database_url=database_url)  # type: ignore[call-arg]
        engine = create_engine(database_url)
        statements = itertools.count()
        event.listen(engine.sync_engine, "before_cursor_execute", lambda *a, **k: next(statements))
        i18n = create_i18n("nl")
        product = create_dispatcher(
            settings, create_session_factory(engine), clock=SystemClock(), i18n=i18n
        )
        # As the runner leaves the process before it serves (templates compiled, the start's
        # objects out of the collector's way).
        settle()
        # Warm-up on both (imports, template compilation, statement caches): not measured.
        await run(product, warm, 1, True, False)
        await run(noop_dispatcher(), warm, 1, False, False)
        await run(replying_dispatcher(), warm, 1, False, False)
        least = replying_dispatcher(create_session_factory(engine))
        await run(least, warm, 1, False, False)
        base = await run(noop_dispatcher(), pairs, args.cycles, False, False)
        replied = await run(replying_dispatcher(), pairs, args.cycles, False, False)
        replied_in_transaction = await run(least, pairs, args.cycles, False, False)
        base_mounted = await run(noop_dispatcher(), others, args.cycles, False, False, mounted=True)
        before = next(statements)
        time_database_calls()
        timings = await run(product, pairs, args.cycles, True, args.profile)
        queries = next(statements) - before - 1
        database_seconds = DB_SECONDS[0]
        mounted = await run(product, others, args.cycles, True, False, mounted=True)
        floor = await transaction_floor(create_session_factory(engine), pairs, len(timings))
        await engine.dispose()

    per_update, per_base = mean_us(timings), mean_us(base)
    per_reply, per_least, per_mounted, per_base_mounted = (
        mean_us(replied),
        mean_us(replied_in_transaction),
        mean_us(mounted),
        mean_us(base_mounted),
    )
    ratio = per_update / per_base
    report(
        "dispatch",
        figures={
            "updates": len(timings),
            "us_per_update": per_update,
            "p50_us": percentile(timings, 50) * 1e6,
            "p99_us": percentile(timings, 99) * 1e6,
            "sql_statements_per_update": queries / len(timings),
            "database_share": database_seconds / sum(timings),
            # Not the target: fed as polling and the webhook hand updates over.
            "us_per_update_mounted": per_mounted,
        },
        baseline={
            "noop_us_per_update": per_base,
            "noop_p50_us": percentile(base, 50) * 1e6,
            # Not a target: the part of the product's figure that no handler can save.
            "transaction_floor_us_per_update": floor * 1e6,
            # Not a target either: a screen's Bot API calls alone, from a bare bot.
            "bare_reply_us_per_update": per_reply,
            # Nor this: the same calls in the product's transaction, before the product's
            # own middlewares, routers, handlers, templates and keyboards.
            "bare_reply_in_transaction_us_per_update": per_least,
            # The no-op fed updates already bound to the bot: what aiogram itself costs
            # an update in production, without the round trip that binds it here.
            "noop_mounted_us_per_update": per_base_mounted,
        },
        ratios={
            "product_vs_noop": ratio,
            "product_vs_noop_mounted": per_mounted / per_base_mounted,
            "transaction_floor_vs_noop": floor * 1e6 / per_base,
            "bare_reply_vs_noop": per_reply / per_base,
            "bare_reply_in_transaction_vs_noop": per_least / per_base,
        },
        targets={"product_vs_noop": "<= 3x"},
        met=ratio <= 3,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
