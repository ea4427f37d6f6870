"""`ouderloket demo`: the whole product on a laptop without Telegram. Seeds the fictional
OBS de Flint into its own SQLite file, starts the Bot API emulator with the web chat on
one port, and runs the unchanged bot against it by long polling."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from pydantic import SecretStr

from bot.config import Settings
from bot.demo_school import SCHOOL_NAME, seed
from bot.emulator.server import EmulatorServer, create_app
from bot.emulator.state import Emulator
from bot.emulator.webchat import WebPersona, add_web_chat
from bot.runner import run_polling
from flows.clock import SystemClock
from storage.db import create_engine, create_session_factory, transaction
from storage.importers.vendors import import_vendors
from storage.migrate import upgrade

log = logging.getLogger(__name__)
DEMO_TOKEN = "700000001:OUDERLOKET-DEMO"
DEMO_USERNAME = "ouderloket_demo_bot"
VENDORS = Path(__file__).resolve().parent.parent / "data" / "vendors"


async def seed_database(database_url: str, now: datetime | None = None) -> list[WebPersona]:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        async with transaction(create_session_factory(engine)) as session:
            personas = await seed(session, now or SystemClock().now())
            if VENDORS.is_dir():
                await import_vendors(session, VENDORS)
    finally:
        await engine.dispose()
    return [WebPersona(p.user_id, p.name, p.description, p.code) for p in personas]


def demo_settings(settings: Settings, api_url: str, database_url: str) -> Settings:
    return settings.model_copy(
        update={
            "bot_token": SecretStr(DEMO_TOKEN),
            "telegram_api_url": api_url,
            "database_url": database_url,
            "bot_username": DEMO_USERNAME,
            "school_name": SCHOOL_NAME,
            "webhook_url": None,
        }
    )


async def run_demo(
    settings: Settings,
    *,
    host: str,
    port: int,
    database: Path,
    announce: Callable[[str], None] = print,
    stop: asyncio.Event | None = None,
) -> None:
    # A new school every start: the demo is for trying, not for keeping.
    await asyncio.to_thread(database.unlink, missing_ok=True)
    database_url = f"sqlite+aiosqlite:///{database}"
    personas = await seed_database(database_url)
    emulator = Emulator(DEMO_TOKEN, bot_username=DEMO_USERNAME, bot_name="Ouderloket")
    app = create_app(emulator)
    add_web_chat(app, emulator, personas)
    async with EmulatorServer(app, host, port) as server:
        announce(f"{server.url}/")
        await run_polling(demo_settings(settings, server.url, database_url), stop=stop)
