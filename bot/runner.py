"""Running the bot for real: long polling, or a webhook server."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import re
import signal
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.utils.i18n import I18n
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import render, secure_links
from bot.app import PREPARE_CONNECTION, create_bot, create_dispatcher, set_commands
from bot.config import Settings
from bot.expiry import MessageExpirer
from bot.i18n import create_i18n
from bot.in_flight import TrackingDispatcher, finish_first
from bot.outbox import OutboxSender
from bot.pacing import Pacer, create_pacer
from bot.scheduler import Scheduler
from bot.schools import School
from bot.secure_view import Backend, Backends, SecureViewServer, mount
from flows.clock import Clock
from storage.db import SessionFactory, create_engine, create_session_factory, fill_pool
from storage.migrate import upgrade

log = logging.getLogger(__name__)
WEBHOOK_PATH = "/telegram/webhook"
# With a schools file every school has its own path on the one server.
SCHOOL_WEBHOOK_PATH = "/telegram/{key}/webhook"


@dataclass(frozen=True)
class BoardSchool:
    """What the board's view may reach of a school: its name and its database. Only the
    figures in flows/board.py query it."""

    name: str
    session_factory: SessionFactory


# What Telegram accepts as secret_token; an empty one switches the check off, so that
# anyone who finds the URL could post updates as any user, the director included.
SECRET_FORM = re.compile(r"[A-Za-z0-9_-]{1,256}")
RECOMMENDED_SECRET_LENGTH = 32


def _(message: str) -> str:
    # The server also runs in worker processes that have no language context.
    i18n = I18n.get_current(no_error=True)
    return i18n.gettext(message) if i18n is not None else message


def webhook_secret(settings: Settings) -> str:
    """WEBHOOK_SECRET, or SystemExit with one line saying what is wrong: the webhook
    server never starts without a secret of the form Telegram allows."""
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
    if not secret:
        raise SystemExit(
            _(
                "WEBHOOK_SECRET ontbreekt of is leeg: zonder geheim start de webhook niet. "
                "Kies 32 tot 256 tekens uit A-Z, a-z, 0-9, _ en -."
            )
        )
    if not SECRET_FORM.fullmatch(secret):
        raise SystemExit(
            _(
                "WEBHOOK_SECRET mag alleen A-Z, a-z, 0-9, _ en - bevatten en hoogstens "
                "256 tekens lang zijn."
            )
        )
    if len(secret) < RECOMMENDED_SECRET_LENGTH:
        log.warning(
            "WEBHOOK_SECRET has %s characters; at least %s are recommended",
            len(secret),
            RECOMMENDED_SECRET_LENGTH,
        )
    return secret


YOUNG_OBJECTS = 10_000


@functools.cache
def settle() -> None:
    """Once per process, when the bot is built and before it serves: every template is
    compiled, and the objects of the start (modules, pydantic's models of every Telegram
    type, the templates, a quarter of a million in all) are kept out of the garbage
    collector's full collections, each of which otherwise went over all of them (60-90
    ms) while updates waited."""
    render.compile_all()
    gc.collect()
    gc.freeze()
    # An update makes thousands of objects that live until its reply (Telegram's types,
    # rows, template contexts): at Python's default of 700 the collector went over the
    # young ones several times per update (5-8 % of the time in bench/dispatch.py).
    gc.set_threshold(YOUNG_OBJECTS, *gc.get_threshold()[1:])


async def prepare(
    settings: Settings, clock: Clock | None = None
) -> tuple[AsyncEngine, Bot, TrackingDispatcher]:
    engine = create_engine(settings.database_url)
    await upgrade(engine)
    i18n = create_i18n(settings.default_locale)
    factory = create_session_factory(engine)
    dp = create_dispatcher(settings, factory, i18n=i18n, clock=clock)
    # The board's figures: a single school is a board of one.
    dp["schools"] = {"school": BoardSchool(settings.school_name, factory)}
    bot = create_bot(settings)
    await set_commands(bot, i18n)
    return engine, bot, dp


def start_sender(bot: Bot, dp: Dispatcher) -> asyncio.Task[None]:
    """The background work beside the updates: notifications, expiring messages, and the
    deadline reminders and yearly consent check. With REDIS_URL the outbox's pace is kept
    in Redis, per bot, so every worker sending for this bot keeps to one budget."""
    factory, clock, settings = dp["session_factory"], dp["clock"], dp["settings"]
    pacer = create_pacer(settings.redis_url, settings.redis_prefix, bot.id)
    sender = OutboxSender(bot, factory, dp["i18n"], clock, pacer=pacer)
    expirer = MessageExpirer(bot, factory, clock, pacer=pacer)
    scheduler = Scheduler(
        factory,
        clock,
        yearly_month=settings.consent_check_month,
        yearly_day=settings.consent_check_day,
        channels=settings.consent_channels,
        retention_days=settings.left_pupil_retention_days,
    )
    jobs = _all(pacer, sender.run(), expirer.run(), scheduler.run())
    # The task keeps the secure view's address: notifications then name no child.
    with secure_links.using(settings.secure_view_url):
        return asyncio.create_task(jobs, name="background")


async def _all(pacer: Pacer, *jobs: Coroutine[Any, Any, None]) -> None:
    try:
        await asyncio.gather(*jobs)
    finally:
        await pacer.close()


async def run_polling(
    settings: Settings, *, stop: asyncio.Event | None = None, clock: Clock | None = None
) -> None:
    """Long polling until SIGINT/SIGTERM, or until `stop` is set (the demo and tests).
    `clock` is the system clock unless a test fixes the time."""
    engine, bot, dp = await prepare(settings, clock)
    await fill_pool(engine, dp[PREPARE_CONNECTION])  # one process for the school; see run_webhook
    settle()
    view = None
    if settings.secure_view_url:
        # Long polling has no server of its own: the secure view gets a small one.
        view = SecureViewServer(settings, Backends([Backend.of(bot, dp)]))
        await view.start()
    sender = start_sender(bot, dp)
    watcher = asyncio.create_task(_stop_on(stop, dp)) if stop is not None else None
    try:
        await bot.delete_webhook(drop_pending_updates=False)
        await dp.start_polling(bot, handle_signals=stop is None)
    finally:
        if watcher is not None:
            watcher.cancel()
        sender.cancel()
        if view is not None:
            await view.stop()
        await bot.session.close()
        await engine.dispose()


async def _stop_on(stop: asyncio.Event, dp: Dispatcher) -> None:
    await stop.wait()
    await dp.stop_polling()


def webhook_app(settings: Settings, bot: Bot, dp: TrackingDispatcher) -> web.Application:
    secret = webhook_secret(settings)
    app = web.Application()
    finish_first(app, dp)
    # Answered only after the update was handled and committed: an update that was
    # acknowledged is never lost, one that was not is delivered again by Telegram.
    SimpleRequestHandler(
        dispatcher=dp, bot=bot, secret_token=secret, handle_in_background=False
    ).register(app, path=WEBHOOK_PATH)
    setup_application(app, dp, bot=bot)
    if settings.secure_view_url:
        mount(app, Backends([Backend.of(bot, dp)]), settings.secure_view_url)
    return app


async def run_webhook(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    register: bool = True,
    reuse_port: bool = False,
    clock: Clock | None = None,
) -> None:
    """The webhook server. With several workers only the first registers the webhook,
    and all listen on the same port (SO_REUSEPORT: the kernel spreads connections)."""
    if not settings.webhook_url:
        raise SystemExit(_("WEBHOOK_URL ontbreekt: zet de openbare https-URL van de bot."))
    secret = webhook_secret(settings)
    engine, bot, dp = await prepare(settings, clock)
    if not reuse_port:
        # One process for the school. Several workers (and a board's schools) keep
        # opening connections on demand: each holding a full pool from the start would
        # add up past what PostgreSQL allows (100 connections by default).
        await fill_pool(engine, dp[PREPARE_CONNECTION])
    settle()
    if register:
        url = settings.webhook_url.rstrip("/") + WEBHOOK_PATH
        await bot.set_webhook(
            url, secret_token=secret, max_connections=settings.webhook_max_connections
        )
    app = webhook_app(settings, bot, dp)
    sender = start_sender(bot, dp)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(
        runner, settings.webhook_host, settings.webhook_port, reuse_port=reuse_port or None
    )
    await site.start()
    log.info("webhook listening on %s:%s", settings.webhook_host, settings.webhook_port)
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        sender.cancel()
        await runner.cleanup()
        await bot.session.close()
        await engine.dispose()


# --- several schools in one process ---------------------------------------------------


@dataclass(frozen=True)
class Served:
    key: str
    engine: AsyncEngine
    bot: Bot
    dp: TrackingDispatcher


async def prepare_board(schools: Sequence[School], clock: Clock | None = None) -> list[Served]:
    """A dispatcher, bot and database per school; every dispatcher knows every school's
    database for the board's figures (dp["schools"]), nothing more."""
    served: list[Served] = []
    try:
        for school in schools:
            engine, bot, dp = await prepare(school.settings, clock)
            served.append(Served(school.key, engine, bot, dp))
    except BaseException:
        await _close(served)
        raise
    board = {s.key: s.dp["schools"]["school"] for s in served}
    for s in served:
        s.dp["schools"] = board
        s.dp["school_key"] = s.key
    return served


async def _close(served: Sequence[Served]) -> None:
    for s in served:
        await s.bot.session.close()
        await s.engine.dispose()


def _stop_event_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop


async def run_board_polling(
    schools: Sequence[School],
    *,
    stop: asyncio.Event | None = None,
    clock: Clock | None = None,
    secure: Backends | None = None,
) -> None:
    """Long polling for every school's bot in one loop, each with its own outbox sender:
    Telegram's ~30 messages a second hold per bot, so each school keeps its own budget.
    `secure`: the secure view is served by a server that is already running (the demo's),
    which gets every school's bot; else with SECURE_VIEW_URL it gets a server here."""
    served = await prepare_board(schools, clock)
    settle()
    stop = stop or _stop_event_on_signals()
    view = None
    settings = schools[0].settings if schools else None
    if secure is not None:
        for s in served:
            secure.add(Backend.of(s.bot, s.dp))
    elif settings is not None and settings.secure_view_url:
        view = SecureViewServer(settings, Backends([Backend.of(s.bot, s.dp) for s in served]))
        await view.start()
    background = [start_sender(s.bot, s.dp) for s in served]
    polling: list[asyncio.Task[None]] = []
    watcher = asyncio.create_task(_stop_all(stop, [s.dp for s in served], polling))
    try:
        for s in served:
            await s.bot.delete_webhook(drop_pending_updates=False)
        polling += [
            asyncio.create_task(s.dp.start_polling(s.bot, handle_signals=False)) for s in served
        ]
        await asyncio.gather(*polling)
    finally:
        watcher.cancel()
        for task in background:
            task.cancel()
        if view is not None:
            await view.stop()
        await _close(served)


async def _stop_all(
    stop: asyncio.Event, dispatchers: Sequence[Dispatcher], polling: Sequence[asyncio.Task[None]]
) -> None:
    await stop.wait()
    for index, dp in enumerate(dispatchers):
        # A stop that comes before this dispatcher started polling waits for the start:
        # otherwise that bot would poll on after everything else stopped.
        while True:
            try:
                await dp.stop_polling()
                break
            except RuntimeError:
                if index < len(polling) and polling[index].done():
                    break
                await asyncio.sleep(0.05)


def board_webhook_app(settings: Settings, served: Sequence[Served]) -> web.Application:
    """One server; Telegram posts each bot's updates to its school's own path."""
    secret = webhook_secret(settings)
    app = web.Application()
    finish_first(app, *(s.dp for s in served))
    for s in served:
        SimpleRequestHandler(
            dispatcher=s.dp, bot=s.bot, secret_token=secret, handle_in_background=False
        ).register(app, path=SCHOOL_WEBHOOK_PATH.format(key=s.key))
        setup_application(app, s.dp, bot=s.bot)
    if settings.secure_view_url:
        backends = Backends([Backend.of(s.bot, s.dp) for s in served])
        mount(app, backends, settings.secure_view_url)
    return app


async def run_board_webhook(
    settings: Settings,
    schools: Sequence[School],
    *,
    stop: asyncio.Event | None = None,
    clock: Clock | None = None,
    register: bool = True,
    reuse_port: bool = False,
) -> None:
    """Every school's path on one server. As one of several workers (bot/workers.py)
    only the first registers the webhooks, and all listen on the same port; each worker
    serves every school, and the FSM, a user's turn and each bot's pace are in Redis."""
    if not settings.webhook_url:
        raise SystemExit(_("WEBHOOK_URL ontbreekt: zet de openbare https-URL van de bot."))
    secret = webhook_secret(settings)
    served = await prepare_board(schools, clock)
    settle()
    stop = stop or _stop_event_on_signals()
    try:
        for s in served if register else ():
            url = settings.webhook_url.rstrip("/") + SCHOOL_WEBHOOK_PATH.format(key=s.key)
            await s.bot.set_webhook(
                url, secret_token=secret, max_connections=settings.webhook_max_connections
            )
        app = board_webhook_app(settings, served)
    except BaseException:
        await _close(served)
        raise
    background = [start_sender(s.bot, s.dp) for s in served]
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(
        runner, settings.webhook_host, settings.webhook_port, reuse_port=reuse_port or None
    )
    await site.start()
    log.info(
        "webhook for %s schools listening on %s:%s",
        len(served),
        settings.webhook_host,
        settings.webhook_port,
    )
    try:
        await stop.wait()
    finally:
        for task in background:
            task.cancel()
        await runner.cleanup()
        await _close(served)
