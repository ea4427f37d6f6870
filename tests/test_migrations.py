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


async def test_postgres_upgrade_matches_the_models_and_allows_shared_guardian_addresses(
    pg_url: str,
) -> None:
    from sqlalchemy import text

    engine = create_engine(pg_url)
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), SQLModel.metadata)
            )
            # Two parents behind one placeholder address (import --no-email-match).
            await conn.execute(
                text(
                    "INSERT INTO guardian (name, email) VALUES"
                    " ('Fatma Yilmaz', 'onbekend@school.nl'), ('Piet Bakker', 'onbekend@school.nl')"
                )
            )
    finally:
        await engine.dispose()
    assert diff == [], f"models changed without a migration: {diff}"
