"""The real PostgreSQL and Redis on this machine, for the tests that need them. Each
test session gets its own database and each test its own Redis key prefix, removed
afterwards, so runs never see each other's data. Outside CI a missing server skips those
tests; under CI (where .ci/run starts both) it fails them."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from storage.db import SessionFactory, create_engine, create_session_factory
from storage.migrate import upgrade

REDIS_SERVER = os.environ.get("OUDERLOKET_TEST_REDIS", "redis://127.0.0.1:6379/0")


def _unavailable(what: str, error: Exception) -> None:
    if os.environ.get("CI"):
        raise RuntimeError(f"{what} is not reachable, but .ci/run starts it") from error
    pytest.skip(f"{what} not reachable: {error}")


PG_SERVER = os.environ.get(
    "OUDERLOKET_TEST_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432"
)


async def _admin(statement: str) -> None:
    import asyncpg

    url = make_url(PG_SERVER).set(drivername="postgresql", database="postgres")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False), timeout=3)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def _database() -> Iterator[str]:
    """A new, empty database, dropped afterwards; skipped without a server."""
    name = f"ouderloket_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # no server, no driver, no rights: all mean "not here"
        _unavailable(f"PostgreSQL at {PG_SERVER}", error)
    yield make_url(PG_SERVER).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh database per test session (its tests make their tables anew)."""
    yield from _database()


@pytest.fixture
def pg_empty_url() -> Iterator[str]:
    """A database of this test alone, empty, as a school's new server has it: for the
    command line, which makes its own tables (a synchronous test: it runs its own loop)."""
    yield from _database()


@pytest.fixture
async def pg_factory(pg_url: str) -> AsyncIterator[SessionFactory]:
    engine = create_engine(pg_url)
    async with engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.drop_all)
        await conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    # The real migrations, so PostgreSQL is shown to work through Alembic too.
    await upgrade(engine)
    yield create_session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def redis_url() -> AsyncIterator[tuple[str, str]]:
    """The Redis server and a key prefix of this test alone; its keys are removed after."""
    from redis.asyncio import Redis

    prefix = f"ouderloket-test-{uuid.uuid4().hex[:12]}"
    client = Redis.from_url(REDIS_SERVER)
    try:
        await client.ping()
    except Exception as error:
        await client.aclose()
        _unavailable(f"Redis at {REDIS_SERVER}", error)
    yield REDIS_SERVER, prefix
    async for key in client.scan_iter(match=f"{prefix}:*"):
        await client.delete(key)
    await client.aclose()
