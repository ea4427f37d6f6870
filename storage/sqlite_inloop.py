"""SQLite called straight from the event loop, for the embedded default.

aiosqlite runs every call in a thread of its own and hands each result back across
threads: a handful of hand-overs per statement, each waiting for the thread to be
scheduled and for the GIL. For the small statements of an update, SQLite's own work takes
microseconds and those hand-overs took nearly all of the time. Here the sqlite3 module is
called directly, inside SQLAlchemy's greenlet, on the loop's thread.

That is safe only because nothing here ever waits inside SQLite: in WAL mode readers
never wait; writers of this process take turns on storage.db.WriteGate before they open
their transaction, and a writer that finds another process (an import) holding SQLite's
lock waits for it with asyncio.sleep, never inside SQLite (busy timeout 0)."""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL
from sqlalchemy.util import await_only

DRIVER = "ouderloket"


class InLoopCursor(sqlite3.Cursor):
    async def _async_soft_close(self) -> None:
        """What SQLAlchemy's asyncio layer calls on a result it hands out: the rows of a
        sqlite3 cursor stay readable as they are, so there is nothing to do."""


class InLoopConnection(sqlite3.Connection):
    def cursor(self, factory: Any = InLoopCursor) -> Any:
        return super().cursor(factory)


class InLoopSQLiteDialect(SQLiteDialect_pysqlite):
    driver = DRIVER
    supports_statement_cache = True
    # The calls return at once, so SQLAlchemy's asyncio layer may drive them.
    is_async = True

    # SQLAlchemy's AsyncConnection.execute insists that a statement awaited something; a
    # coroutine that returns at once passes control to the loop's side and straight back.
    def do_execute(self, cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        super().do_execute(cursor, statement, parameters, context)
        await_only(_nothing())

    def do_execute_no_params(self, cursor: Any, statement: str, context: Any = None) -> None:
        super().do_execute_no_params(cursor, statement, context)
        await_only(_nothing())

    def do_executemany(
        self, cursor: Any, statement: str, parameters: Any, context: Any = None
    ) -> None:
        super().do_executemany(cursor, statement, parameters, context)
        await_only(_nothing())

    def create_connect_args(self, url: URL) -> Any:
        args, options = super().create_connect_args(url)
        options["factory"] = InLoopConnection
        return args, options

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        if cls._is_url_file_db(url):
            # Waits for a free connection with asyncio, not by blocking the thread.
            return pool.AsyncAdaptedQueuePool
        return pool.StaticPool


async def _nothing() -> None:
    return None


registry.register(f"sqlite.{DRIVER}", __name__, "InLoopSQLiteDialect")


def in_loop_url(url: str) -> str:
    """sqlite+aiosqlite:///x.db (what settings and the README say) runs on this dialect."""
    scheme, sep, rest = url.partition("://")
    if scheme in ("sqlite", "sqlite+aiosqlite", "sqlite+pysqlite"):
        return f"sqlite+{DRIVER}{sep}{rest}"
    return url
