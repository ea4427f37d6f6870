"""Alembic driven from code, so `ouderloket db upgrade` needs no alembic.ini next to it."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.prepared import view_set_aside

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def upgrade(engine: AsyncEngine) -> None:
    """Bring the database to the newest revision, on a connection we already hold."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade_on, str(engine.url.render_as_string(hide_password=False)))


def _upgrade_on(connection: Connection, url: str) -> None:
    config = alembic_config(url)
    config.attributes["connection"] = connection
    with view_set_aside(connection):
        command.upgrade(config, "head")
