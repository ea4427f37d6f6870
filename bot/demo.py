"""`ouderloket demo`: the whole product on a laptop without Telegram. Seeds the fictional
board's two schools, OBS de Flint and CBS De Esch, each into its own SQLite file, starts a
Bot API emulator per school (De Esch's under /esch/) with a web chat on one port, and runs
the unchanged bots against them by long polling in one process, as a board would."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

from pydantic import SecretStr
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import Settings
from bot.demo_school import SCHOOL_NAME, SECOND_NAME, Persona, seed, seed_second
from bot.emulator.server import EmulatorServer, create_app
from bot.emulator.state import Emulator
from bot.emulator.webchat import WebPersona, add_web_chat
from bot.runner import run_board_polling
from bot.schools import School
from bot.secure_view import Backends, mount
from flows.clock import SystemClock
from storage.db import create_engine, create_session_factory, transaction
from storage.importers.vendors import import_vendors
from storage.migrate import upgrade

log = logging.getLogger(__name__)
DEMO_TOKEN = "700000001:OUDERLOKET-DEMO"
DEMO_USERNAME = "ouderloket_demo_bot"
SECOND_TOKEN = "700000002:OUDERLOKET-ESCH"
SECOND_USERNAME = "ouderloket_esch_bot"
SECOND_PREFIX = "/esch"
# The secure view on the demo's own server: on by default, so anyone can try it.
SECURE_PATH = "/secure"
Seeder = Callable[[AsyncSession, datetime, bool], Awaitable[list[Persona]]]
VENDORS = Path(__file__).resolve().parent.parent / "data" / "vendors"


async def seed_database(
    database_url: str,
    now: datetime | None = None,
    seeder: Seeder = seed,
    *,
    history: bool = False,
) -> list[WebPersona]:
    """The school and its personas; with `history`, also requests of past months (the
    board's figures and the report show them; tests of one request leave them out)."""
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        async with transaction(create_session_factory(engine)) as session:
            personas = await seeder(session, now or SystemClock().now(), history)
            if VENDORS.is_dir():
                await import_vendors(session, VENDORS)
    finally:
        await engine.dispose()
    return [WebPersona(p.user_id, p.name, p.description, p.code) for p in personas]


def demo_settings(
    settings: Settings,
    api_url: str,
    database_url: str,
    *,
    token: str = DEMO_TOKEN,
    username: str = DEMO_USERNAME,
    school_name: str = SCHOOL_NAME,
    secure_view_url: str | None = None,
) -> Settings:
    return settings.model_copy(
        update={
            "bot_token": SecretStr(token),
            "telegram_api_url": api_url,
            "database_url": database_url,
            "bot_username": username,
            "school_name": school_name,
            "webhook_url": None,
            "secure_view_url": secure_view_url,
        }
    )


def second_database(database: Path) -> Path:
    """De Esch's own SQLite file, beside the first school's."""
    return database.with_name(database.stem + "-esch" + database.suffix)


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
    second = second_database(database)
    for path in (database, second):
        await asyncio.to_thread(path.unlink, missing_ok=True)
    database_url = f"sqlite+aiosqlite:///{database}"
    second_url = f"sqlite+aiosqlite:///{second}"
    personas = await seed_database(database_url, history=True)
    second_personas = await seed_database(second_url, seeder=seed_second, history=True)
    emulator = Emulator(DEMO_TOKEN, bot_username=DEMO_USERNAME, bot_name="Ouderloket")
    app = create_app(emulator)
    schools = ((SCHOOL_NAME, "/"), (SECOND_NAME, SECOND_PREFIX + "/"))
    add_web_chat(app, emulator, personas, schools=schools)
    emulator_esch = Emulator(SECOND_TOKEN, bot_username=SECOND_USERNAME, bot_name="Ouderloket")
    app_esch = create_app(emulator_esch)
    add_web_chat(app_esch, emulator_esch, second_personas, prefix=SECOND_PREFIX, schools=schools)
    app.add_subapp(SECOND_PREFIX + "/", app_esch)
    # Both schools' bots open their data screens here; each bot's init data is checked
    # with its own token.
    secure = Backends()
    mount(app, secure, SECURE_PATH)
    async with EmulatorServer(app, host, port) as server:
        announce(f"{server.url}/")
        view_url = server.url + SECURE_PATH
        served = [
            School(
                "flint",
                demo_settings(settings, server.url, database_url, secure_view_url=view_url),
            ),
            School(
                "esch",
                demo_settings(
                    settings,
                    server.url + SECOND_PREFIX,
                    second_url,
                    token=SECOND_TOKEN,
                    username=SECOND_USERNAME,
                    school_name=SECOND_NAME,
                    secure_view_url=view_url,
                ),
            ),
        ]
        await run_board_polling(served, stop=stop, secure=secure)
