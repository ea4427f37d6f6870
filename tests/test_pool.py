"""The pool's connections are open before the bot serves (storage.db.fill_pool): the
first burst of parents does not wait for connections to be made."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.pool import QueuePool

from storage.db import create_engine, fill_pool


async def _filled(url: str) -> tuple[int, int]:
    engine = create_engine(url)
    try:
        await fill_pool(engine)
        pool = engine.sync_engine.pool
        assert isinstance(pool, QueuePool)
        return pool.checkedin(), pool.size()
    finally:
        await engine.dispose()


async def test_the_pool_is_open_before_the_first_update(tmp_path: Path) -> None:
    kept, size = await _filled(f"sqlite+aiosqlite:///{tmp_path / 'school.db'}")
    assert kept == size == 20


async def test_the_pool_is_open_before_the_first_update_on_postgresql(pg_url: str) -> None:
    kept, size = await _filled(pg_url)
    assert kept == size == 20


async def test_a_database_in_memory_has_no_pool_to_fill() -> None:
    # One shared connection (StaticPool): nothing to open, and the database still answers.
    engine = create_engine("sqlite+aiosqlite:///:memory:")
    try:
        await fill_pool(engine)
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT 41 + 1"))).scalar_one() == 42
    finally:
        await engine.dispose()
