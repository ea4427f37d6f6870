"""The Alembic migrations build exactly the tables the models describe."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

from storage.db import create_engine
from storage.migrate import upgrade


async def test_upgrade_creates_every_table_and_matches_the_models(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'school.db'}")
    await upgrade(engine)
    await upgrade(engine)  # a second run is a no-op, as on every start of the bot
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        diff = await conn.run_sync(
            lambda c: compare_metadata(MigrationContext.configure(c), SQLModel.metadata)
        )
    await engine.dispose()
    assert set(SQLModel.metadata.tables) <= tables
    assert diff == [], f"models changed without a migration: {diff}"
