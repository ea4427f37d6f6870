"""Engine and session factory. SQLite is the embedded default; any SQLAlchemy async
URL (postgresql+asyncpg://...) works with no code change."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    SQLColumnExpression,
    String,
    event,
    func,
    literal,
    literal_column,
    null,
    union_all,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.pool import QueuePool, StaticPool
from sqlalchemy.util import await_only
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from storage.prepared import ASYNCPG, make_view, write_together, written_later
from storage.sqlite_inloop import in_loop_url

SessionFactory = async_sessionmaker[AsyncSession]
log = logging.getLogger(__name__)


def upsert(dialect: str) -> Callable[..., Any]:
    """INSERT … ON CONFLICT for the database at hand (SQLite and PostgreSQL both know it)."""
    return postgresql_insert if dialect == "postgresql" else sqlite_insert


@dataclass(frozen=True)
class SideBySide:
    """Several reads in one statement (one round trip): the UNION ALL of their SELECTs,
    each in columns of its own and NULL in the others' (joins would multiply the rows),
    behind a tag that says whose row it is. The NULLs are CAST to the columns' types:
    PostgreSQL resolves a UNION's column types pair by pair (NULL and NULL would make
    text, which a later date column cannot join), and the rows come back typed as each
    read's own would (dates and datetimes on SQLite, enums, booleans)."""

    statement: CompoundSelect
    columns: Mapping[str, slice]

    def split(self, rows: Iterable[Sequence[Any]]) -> dict[str, list[tuple[Any, ...]]]:
        """Each read's rows, as its own columns, in its own order."""
        found: dict[str, list[tuple[Any, ...]]] = {tag: [] for tag in self.columns}
        for row in rows:
            found[row[0]].append(tuple(row[self.columns[row[0]]]))
        return found


def side_by_side(
    reads: Mapping[str, tuple[Select[*tuple[Any, ...]], Sequence[SQLColumnExpression[Any]]]],
) -> SideBySide:
    """One statement for `reads`: tag -> (the SELECT, without ORDER BY; the ORDER BY it
    wants). Build it once: SQLAlchemy caches the compiled SQL, but building it costs more
    than running it. A read's order is kept by numbering its rows (ROW_NUMBER, which
    SQLite and PostgreSQL both have), as a UNION cannot order its parts one by one."""
    everything = [c for select, _order in reads.values() for c in select.selected_columns]
    branches: list[Select[*tuple[Any, ...]]] = []
    columns: dict[str, slice] = {}
    start = 0
    for tag, (select, order) in reads.items():
        if not tag.isidentifier():
            raise ValueError(f"tag {tag!r}: it is written into the SQL")
        own = range(start, start + len(select.selected_columns))
        padded = [
            (c if i in own else sql_cast(null(), c.type)).label(f"c{i}")
            for i, c in enumerate(everything)
        ]
        branches.append(
            select.with_only_columns(
                literal_column(f"'{tag}'", String).label("part"),
                func.row_number().over(order_by=order).label("n"),
                *padded,
            )
        )
        # Past the tag and the number.
        columns[tag] = slice(2 + own.start, 2 + own.stop)
        start = own.stop
    return SideBySide(union_all(*branches).order_by(literal_column("n")), columns)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    asyncpg = make_url(url).get_driver_name() == ASYNCPG
    if is_sqlite(url):
        if ":memory:" in url or url.rstrip("/").endswith(":"):
            # One shared connection, or every session would see its own empty database.
            kwargs.setdefault("poolclass", StaticPool)
        else:
            # A session keeps its connection while its update waits for Telegram.
            kwargs.setdefault("pool_size", 20)
            kwargs.setdefault("max_overflow", 20)
        # isolation_level=None: the driver never opens a transaction by itself; WriteGate
        # opens the write transactions (see there). Timeout 0: SQLite itself never waits
        # (it would hold up the event loop, see storage.sqlite_inloop).
        kwargs["connect_args"] = {
            "check_same_thread": False,
            **kwargs.get("connect_args", {}),
            "timeout": 0,
            "isolation_level": None,
        }
        url = in_loop_url(url)
    else:
        idle = kwargs.pop("ping_after_idle", PING_AFTER_IDLE)
        # Enough kept-open connections for the updates one worker handles at once; the
        # default 5 made busy workers open and close connections all the time.
        kwargs.setdefault("pool_size", 20)
        kwargs.setdefault("max_overflow", 10)
        if asyncpg:
            # A statement's plan made once per connection, not for each of its first five
            # runs (PostgreSQL's default, before it settles on a plan for any values): the
            # bot's statements look rows up by key or read a school's small tables, where
            # a plan for any values is as good. On the first evening the pool's twenty
            # connections each planned every read of the hot path five times: some 40 %
            # of PostgreSQL's CPU over the burst of 40 parents (bench/peak.py).
            connect_args = dict(kwargs.get("connect_args", {}))
            connect_args["server_settings"] = {
                "plan_cache_mode": "force_generic_plan",
                **connect_args.get("server_settings", {}),
            }
            kwargs["connect_args"] = connect_args
    # A failing statement's error text (which handlers' error logs quote) names the SQL
    # but not the values: a parent's typed text or a child's data never reaches a log.
    kwargs["hide_parameters"] = True
    engine = create_async_engine(url, **kwargs)
    if is_sqlite(url):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        dialect = engine.sync_engine.dialect
        event.listen(
            engine.sync_engine,
            "connect",
            lambda dbapi, record: make_view(dbapi, record.info, dialect),
        )
        WriteGate().install(engine.sync_engine)
    else:
        _ping_after_idle(engine.sync_engine, idle)
        if asyncpg:
            event.listen(engine.sync_engine, "connect", _know_the_enums)
    return engine


# The enum types of the tables (a staff member's role, a request's kind and status...).
_ENUMS = sorted(
    {
        str(column.type.name)
        for table in SQLModel.metadata.tables.values()
        for column in table.columns
        if isinstance(column.type, SAEnum) and column.type.name
    }
)


def _know_the_enums(dbapi_connection: Any, _record: Any) -> None:
    """Tells a new asyncpg connection that the enum types are text, both ways, as it
    would find out by itself. Left to itself it asks the server at the first statement
    that reads or writes one, per connection and per statement that brings a new one: a
    catalog query that costs PostgreSQL some 7 ms of CPU. The first evening's first
    updates paid that on every connection of the pool, for the arrival's read (a staff
    member's role) and again for a child's record (a request's kind and status); here it
    is one short lookup per type when the connection opens (storage.db.fill_pool opens
    the pool's before the bot serves). A type not made yet (a database before its
    migrations) is left to asyncpg's own way."""
    driver = dbapi_connection.driver_connection
    for name in _ENUMS:
        try:
            await_only(driver.set_type_codec(name, encoder=str, decoder=str, format="text"))
        except ValueError:
            continue


# A kept PostgreSQL connection is checked before an update takes it only when it has lain
# unused this long (seconds): a server restart or an idle timeout in between may have
# closed it. SQLAlchemy's pre-ping checks on every checkout, and on asyncpg that is three
# round trips (BEGIN, the ping, ROLLBACK) before each update's first statement; under load
# a connection is back in use within milliseconds.
PING_AFTER_IDLE = 10.0
_LAST_USED = "ouderloket_last_used"


def _ping_after_idle(engine: Engine, idle: float) -> None:
    dialect = engine.dialect

    def opened(_dbapi_connection: Any, record: Any) -> None:
        record.info[_LAST_USED] = time.monotonic()

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get(_LAST_USED, 0.0) < idle:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The pool drops this connection and hands out another (SQLAlchemy's own
            # answer to a DisconnectionError in a checkout listener).
            raise DisconnectionError("a kept connection no longer answers") from error

    def checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_LAST_USED] = time.monotonic()

    event.listen(engine.pool, "connect", opened)
    event.listen(engine.pool, "checkout", checkout)
    event.listen(engine.pool, "checkin", checkin)


T = TypeVar("T")


class PerLoop(Generic[T]):
    """One asyncio lock or semaphore per event loop: it belongs to the loop it was first
    waited in, and tests and the command line run several loops in turn."""

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._held: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = (
            weakref.WeakKeyDictionary()
        )

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        found = self._held.get(loop)
        if found is None:
            found = self._held[loop] = self._make()
        return found


class Turns:
    """At most as many updates at a time on the database as the pool keeps connections,
    the others waiting in the order they came. An update holds its connection from its
    first read to its commit, Telegram's answers included; with more updates than
    connections, they queued inside the pool, where a connection just given back goes to
    whoever asks first: a newcomer took it ahead of an update that had waited, which then
    queued again at the back. On the first evening (200 parents at once) one update in a
    hundred waited over a second that way. The rest of the pool (its overflow) is left to
    the bot's own jobs: the outbox, the expirer, the scheduler."""

    def __init__(self, engine: AsyncEngine) -> None:
        pool = engine.sync_engine.pool
        size = pool.size() if isinstance(pool, QueuePool) else None
        self._turns = PerLoop(lambda: asyncio.Semaphore(size)) if size is not None else None

    async def __aenter__(self) -> None:
        if self._turns is not None:
            await self._turns.get().acquire()

    async def __aexit__(self, *_exc: object) -> None:
        if self._turns is not None:
            self._turns.get().release()


async def fill_pool(
    engine: AsyncEngine, prepare: Callable[[AsyncConnection], Awaitable[None]] | None = None
) -> None:
    """Opens the pool's kept connections before the bot serves, and runs `prepare` on
    each (the statements every update makes, for the database to compile them once per
    connection now). Opened on demand, the first evening's burst of parents paid for
    them while they waited: on PostgreSQL a connection, its authentication and its first
    statements, per update of the first twenty at once."""
    pool = engine.sync_engine.pool
    if not isinstance(pool, QueuePool):
        return
    held: list[AsyncConnection] = []
    try:
        for _ in range(pool.size()):
            held.append(await engine.connect().start())
            if prepare is not None:
                await prepare(held[-1])
    finally:
        for connection in held:
            await connection.close()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # Switching to WAL (once, for a new database) needs a moment alone with the file.
    _unlocked(lambda: cursor.execute("PRAGMA journal_mode=WAL"))
    # WAL lets the bot read while the outbox sender or an import writes.
    # In WAL mode NORMAL still survives a crash of the bot (only a power cut can lose the
    # last commits) and spares an fsync per update.
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Deleted and overwritten content is zeroed in the file, not left in free pages: an
    # erased child's note must not be readable from the database file afterwards.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def among(column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """`column IN (...)` for values fixed when the statement is built, each bound on its
    own. SQLAlchemy's in_ with a list makes one "expanding" parameter instead, and
    writes it into the statement's text again on every execution: for the inzage's one
    read, 4 kB of SQL rewritten per update."""
    return column.in_([literal(v, column.type) for v in values])


async def core(session: AsyncSession) -> AsyncConnection:
    """The session's connection, for a Core statement (a read of rows, a write on a
    table): half the cost of the same statement through session.exec. What the session
    has pending is written first, as session.exec's autoflush would, so the statement
    sees it: the ORM's objects, and the writes kept for the marker
    (storage.prepared.with_marker)."""
    if session.new or session.dirty or session.deleted:
        await session.flush()
    connection = await session.connection()
    if writes := written_later(session):
        await connection.run_sync(write_together, writes)
    return connection


def close_both(sync: Connection, session: Session | None) -> None:
    """An update's session (on this connection) and the connection, closed: a
    transaction still open is rolled back, and the connection goes back to the pool."""
    if session is not None:
        session.close()
    sync.close()


async def close_for_sure(connection: AsyncConnection, session: AsyncSession | None) -> None:
    """`close_both` in one hop, finished even when the caller is cancelled meanwhile (then
    the cancellation goes on): a connection left half-closed would stay out of the pool
    until the collector finds it."""
    closing = asyncio.ensure_future(
        connection.run_sync(close_both, session.sync_session if session is not None else None)
    )
    try:
        await asyncio.shield(closing)
    except asyncio.CancelledError:
        await asyncio.wait([closing])
        raise


_ERASED = "ouderloket_erased"


def mark_erased(session: AsyncSession) -> None:
    """The transaction erases personal data: whoever commits it calls after_commit."""
    session.info[_ERASED] = True


async def after_commit(session: AsyncSession) -> None:
    """Once the session's transaction is committed: an erasure leaves no copy behind."""
    bind = session.bind
    if session.info.pop(_ERASED, False) and bind is not None:
        # An update's session is bound to its connection (bot.middlewares).
        await flush_erased(bind.engine if isinstance(bind, AsyncConnection) else bind)


async def flush_erased(engine: AsyncEngine) -> None:
    """After an erasure is committed: SQLite copies the WAL into the database (whose
    freed pages secure_delete has zeroed) and truncates it, so the old values are in
    neither file. Readers active at that moment keep their pages: the bot's checkpoints
    on later commits finish the job. PostgreSQL needs nothing here: its VACUUM (autovacuum)
    reclaims the dead row versions (see the README)."""
    if engine.dialect.name != "sqlite":
        return
    try:
        async with engine.connect() as conn:
            busy, *_ = (await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")).one()
    except OperationalError:
        busy = 1
    if busy:
        # The erasure stands; the next checkpoint (SQLite's own, every 1000 pages) ends it.
        log.warning("WAL checkpoint after an erasure was busy")


async def refresh_statistics(engine: AsyncEngine) -> None:
    """After a command that wrote a school's worth of rows at once (an import, the
    letters' codes): PostgreSQL's planner learns the tables' new sizes now, rather than
    when autovacuum next looks. Until then it plans for the empty tables it last saw, and
    the update's first statement, planned once per connection and kept, took 2.9 ms of
    the server's time instead of 0.36 ms for a parent opening Mijn gegevens: on the
    evening the letters go home, that is the server's time the parents wait for. SQLite
    keeps no statistics unless asked (ANALYZE), and its plans do not depend on them."""
    if engine.dialect.name != "postgresql":
        return
    async with engine.connect() as connection:
        await connection.exec_driver_sql("ANALYZE")
        await connection.commit()


_WRITES = re.compile(
    r"\s*(INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER|SAVEPOINT)\b", re.IGNORECASE
)
_HOLDS = "ouderloket_write_gate"


class WriteGate:
    """SQLite allows one writer at a time; this process lets them take turns in order
    instead of having SQLite refuse the second and sleep and retry.

    Reads run outside any transaction (the driver's autocommit), each on the newest
    committed state in WAL, side by side with a writer. The first statement that writes
    waits its turn on an asyncio lock (no thread blocked, no polling sleep), then opens
    the transaction with BEGIN IMMEDIATE: the write lock is taken at the start, so no
    transaction ever has to upgrade from read to write (which SQLite may refuse after
    another commit). COMMIT or ROLLBACK ends the turn. The handlers thus hold the turn
    only from their first write to their commit; the busy timeout is left for another
    process (an import) that holds SQLite's own lock."""

    def __init__(self) -> None:
        self._locks = PerLoop(asyncio.Lock)
        self._owner: asyncio.Task[Any] | None = None

    def install(self, engine: Engine) -> None:
        event.listen(engine, "before_cursor_execute", self._before_execute)
        event.listen(engine, "commit", self._commit)
        event.listen(engine, "rollback", self._rollback)
        event.listen(engine.pool, "reset", self._reset)
        event.listen(engine.pool, "invalidate", self._invalidate)

    def _lock(self) -> asyncio.Lock:
        return self._locks.get()

    def _before_execute(self, conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        info = conn.connection.info
        if info.get(_HOLDS) or not _WRITES.match(statement):
            return
        lock = self._lock()
        task = asyncio.current_task()
        if lock.locked() and task is not None and task is self._owner:
            # The same task writing on a second connection would wait for itself forever.
            raise RuntimeError("a second write transaction in the task that holds the first")
        await_only(lock.acquire())
        try:
            _unlocked(lambda: _raw(conn.connection.dbapi_connection, "BEGIN IMMEDIATE"))
        except BaseException:
            lock.release()
            raise
        info[_HOLDS] = True
        self._owner = task

    def _end(self, info: dict[Any, Any], dbapi_connection: Any, statement: str | None) -> None:
        if not info.get(_HOLDS):
            return
        try:
            if statement is not None:
                # Ended here rather than by the driver afterwards, so that the turn passes
                # on only once SQLite has released its lock.
                _raw(dbapi_connection, statement)
        finally:
            info[_HOLDS] = False
            self._owner = None
            self._lock().release()

    def _commit(self, conn: Connection) -> None:
        self._end(conn.connection.info, conn.connection.dbapi_connection, "COMMIT")

    def _rollback(self, conn: Connection) -> None:
        self._end(conn.connection.info, conn.connection.dbapi_connection, "ROLLBACK")

    def _reset(self, dbapi_connection: Any, record: Any, _reset_state: Any) -> None:
        # A connection returned to the pool with its transaction still open (a cancelled
        # update): the pool rolls it back, and the turn passes on.
        self._end(record.info, dbapi_connection, "ROLLBACK")

    def _invalidate(self, _dbapi_connection: Any, record: Any, *_args: Any) -> None:
        # The connection is closed: SQLite drops its transaction with it.
        self._end(record.info, None, None)


# Another process (an import from the command line) may hold SQLite's write lock for a
# while; this process waits for it without holding up the event loop.
CROSS_PROCESS_WAIT = 30.0


def _unlocked(call: Callable[[], object]) -> None:
    """Runs `call`, and while SQLite answers that another process holds the lock, tries
    again after a growing pause (asyncio.sleep inside SQLAlchemy's greenlet)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CROSS_PROCESS_WAIT
    pause = 0.002
    while True:
        try:
            call()
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or loop.time() + pause > deadline:
                raise
        await_only(asyncio.sleep(pause))
        pause = min(pause * 2, 0.1)


def _raw(dbapi_connection: Any, statement: str) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(statement)
    finally:
        cursor.close()


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


async def create_all(engine: AsyncEngine) -> None:
    """Tables straight from the models: for in-memory test databases. Real databases
    go through Alembic (storage.migrate)."""
    async with engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.create_all)


@asynccontextmanager
async def transaction(factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    """A session that commits when the block ends without error, else rolls back."""
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
        await after_commit(session)
