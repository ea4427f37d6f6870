"""The reads every update makes (who is asking, a child's record, a child's consent),
straight through the database driver: sqlite3 for the embedded SQLite, asyncpg for
PostgreSQL.

SQLAlchemy compiles such a statement once and caches it, but still builds an execution
context, a cursor result and a row object per run, and on PostgreSQL goes through its
greenlet bridge and its asyncpg adapter: for these small reads about 50 µs on SQLite,
where SQLite's own work takes 5-10 µs. A Prepared statement is compiled once per
dialect, and each run hands its parameters to the driver and converts its columns with
the very processors SQLAlchemy would use (dates, times and booleans are text and
integers in SQLite), so the rows are the same. It runs on the update's own connection,
so inside its transaction when one is open. Listeners of `before_cursor_execute` still
hear every run (storage.db.WriteGate, the benchmarks' counters). Another driver runs the
statement through SQLAlchemy.

The small inserts of the hot path (the update's marker, a data message's deletion time,
an audit event) go the same way on SQLite, from SQLAlchemy's own side of the connection
(run_sync), where the write gate can take its turn. Those that nothing reads back wait
for the update's marker (`with_marker`) and go with it as one statement: on PostgreSQL
each in a WITH clause of the last, on SQLite as rows inserted into a view of the
connection's own whose trigger writes each row where it belongs."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from asyncpg.exceptions import IntegrityConstraintViolationError
from sqlalchemy import CompoundSelect, Delete, Insert, Select, Update
from sqlalchemy import event as orm_event
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.util import await_only

from storage.sqlite_inloop import DRIVER

Processor = Callable[[Any], Any]
ASYNCPG = "asyncpg"


@dataclass(frozen=True)
class _Plan:
    sql: str
    names: tuple[str, ...]
    fixed: Mapping[str, Any]
    binds: Mapping[str, Processor]
    # The columns SQLAlchemy converts, by place: a wide read (the arrival's 28 columns)
    # has few, and the rest are taken as the driver gives them.
    columns: tuple[tuple[int, Processor], ...]
    # The values an insert must be given.
    required: frozenset[str] = frozenset()

    def parameters(self, params: Mapping[str, Any]) -> list[Any]:
        values = []
        for name in self.names:
            value = params[name] if name in params else self.fixed[name]
            process = self.binds.get(name)
            values.append(value if process is None else process(value))
        return values

    def row(self, raw: Sequence[Any]) -> tuple[Any, ...]:
        if not self.columns:
            return tuple(raw)
        row = list(raw)
        for place, process in self.columns:
            row[place] = process(row[place])
        return tuple(row)


class Prepared:
    """A read built once at import, run as described above; or a write (an insert, an
    update, a delete), made from SQLAlchemy's own (sync) side of the connection
    (`write`)."""

    def __init__(
        self,
        statement: Select[*tuple[Any, ...]]
        | CompoundSelect[*tuple[Any, ...]]
        | Insert
        | Update
        | Delete,
    ) -> None:
        self.statement = statement
        self._plans: dict[str, _Plan] = {}
        # Its place among the inserts SQLite's view of writes together may take.
        self._together: int | None = None
        if isinstance(statement, Insert):
            self._together = len(_INSERTS)
            _INSERTS.append(self)

    async def rows(
        self, connection: AsyncConnection, params: Mapping[str, Any]
    ) -> list[tuple[Any, ...]]:
        dialect = connection.dialect
        if dialect.driver not in (DRIVER, ASYNCPG):
            return [tuple(row) for row in await connection.execute(self.statement, params)]
        plan = self._plan(dialect)
        sync = connection.sync_connection
        assert sync is not None
        values = plan.parameters(params)
        if dialect.driver == ASYNCPG:
            found = await _asyncpg(sync, plan.sql, values).fetch(plan.sql, *values)
        else:
            found = _sqlite(sync, plan, values)
        return [plan.row(raw) for raw in found]

    def write(self, sync: Connection, params: Mapping[str, Any], *, last: bool = False) -> None:
        """The write in the connection's transaction (begun here if need be, so that its
        commit is SQLAlchemy's and the listeners of the commit hear it), called inside
        `AsyncConnection.run_sync`. On SQLite straight through sqlite3; a refused row
        raises SQLAlchemy's IntegrityError, as `execute` would.

        `last`: the caller commits right after and writes nothing else. When nothing was
        written before either, on PostgreSQL the insert goes alone, without BEGIN and
        COMMIT around it (asyncpg commits a lone statement itself): one round trip instead
        of three, for the update that only read."""
        dialect = sync.dialect
        plan = self._plan(dialect)
        values = self._values(dialect, params)
        if dialect.driver == ASYNCPG and last and not sync.in_transaction():
            _lone(sync, plan.sql, values)
            return
        if dialect.driver != DRIVER:
            sync.execute(self.statement, params)
            return
        if not sync.in_transaction():
            sync.begin()
        _sqlite(sync, plan, values)

    def _plan(self, dialect: Dialect) -> _Plan:
        return self._plans.get(dialect.driver) or self._prepare(dialect)

    def _values(self, dialect: Dialect, params: Mapping[str, Any]) -> list[Any]:
        plan = self._plan(dialect)
        if not plan.required <= params.keys():
            raise ValueError(f"a Prepared insert needs {sorted(plan.required - params.keys())}")
        return plan.parameters(params)

    def _prepare(self, dialect: Dialect) -> _Plan:
        compiled = self.statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        own_id = None
        if isinstance(self.statement, Insert):
            serial = self.statement.table.autoincrement_column  # type: ignore[attr-defined]
            own_id = serial.key if serial is not None else None
            if own_id in (compiled.positiontup or ()):
                # An insert of every column: the row's own id is left out, as SQLAlchemy
                # leaves it out when no value is given (PostgreSQL refuses a NULL id).
                keys = [name for name in compiled.positiontup or () if name != own_id]
                compiled = self.statement.compile(dialect=dialect, column_keys=keys)
                assert isinstance(compiled, SQLCompiler)
        if (
            compiled.positiontup is None
            or compiled.literal_execute_params
            or compiled.post_compile_params
        ):
            raise ValueError("a Prepared read takes plain bound parameters, not IN lists")
        names = tuple(compiled.positiontup)
        binds: dict[str, Processor] = {}
        for name in names:
            process = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                binds[name] = process
        processors = (
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in (
                self.statement.selected_columns
                if isinstance(self.statement, Select | CompoundSelect)
                else ()
            )
        )
        columns = tuple(
            (place, process) for place, process in enumerate(processors) if process is not None
        )
        required: frozenset[str] = frozenset()
        if isinstance(self.statement, Insert):
            # The driver would write NULL for a value left out, where SQLAlchemy would
            # refuse it or write the column's default.
            required = frozenset(
                name for name in names if compiled.binds[name].required and name != own_id
            )
        plan = _Plan(
            required=required,
            sql=compiled.string,
            names=names,
            fixed=compiled.construct_params(_check=False),
            binds=binds,
            columns=columns,
        )
        self._plans[dialect.driver] = plan
        return plan


Write = tuple[Prepared, Mapping[str, Any]]


def per_database(make: Callable[[str], Prepared]) -> Callable[[str], Prepared]:
    """A Prepared that differs by database (an upsert: each dialect has its own
    construct), by the dialect's name. Built now for both, not at the first use: a
    connection to SQLite takes the inserts built before it opened as writes to make
    together with the update's marker (below)."""
    built = {name: make(name) for name in ("sqlite", "postgresql")}
    return built.__getitem__


def write_together(sync: Connection, writes: Sequence[Write], *, last: bool = False) -> None:
    """Writes, each as `write` would make it, as one statement. On PostgreSQL the earlier
    ones are WITH clauses of the last (PostgreSQL runs every data-modifying WITH clause
    exactly once, in the same snapshot): one round trip, and with `last` on a connection
    that wrote nothing before, none for BEGIN and COMMIT either. On SQLite the inserts
    are one row of the connection's view of writes together (`_sqlite_together`). So the
    rows must not depend on each other, nor on their order, and must not be the same row
    twice: one statement cannot upsert a row twice."""
    dialect = sync.dialect
    if dialect.driver == DRIVER and len(writes) > 1:
        _sqlite_together(sync, writes)
        return
    if dialect.driver != ASYNCPG or len(writes) < 2:
        for n, (write, params) in enumerate(writes, start=1):
            write.write(sync, params, last=last and n == len(writes))
        return
    sql = _together(tuple(write for write, _ in writes), dialect)
    values = [value for write, params in writes for value in write._values(dialect, params)]
    if last and not sync.in_transaction():
        _lone(sync, sql, values)
    else:
        sync.exec_driver_sql(sql, tuple(values))


_TOGETHER: dict[tuple[Prepared, ...], str] = {}
_PLACE = re.compile(r"\$(\d+)")


def _together(writes: tuple[Prepared, ...], dialect: Dialect) -> str:
    """The asyncpg text of `write_together`, built once per sequence of statements: each
    statement's numbered parameters ($1, $2, ...) move up past the ones before it."""
    sql = _TOGETHER.get(writes)
    if sql is None:
        parts, offset = [], 0
        for write in writes:
            plan = write._plan(dialect)
            parts.append(_PLACE.sub(_moved_up(offset), plan.sql))
            offset += len(plan.names)
        clauses = ", ".join(f"w{n} AS ({part})" for n, part in enumerate(parts[:-1]))
        sql = _TOGETHER[writes] = f"WITH {clauses} {parts[-1]}"
    return sql


def _moved_up(offset: int) -> Callable[[re.Match[str]], str]:
    return lambda place: f"${int(place[1]) + offset}"


def _lone(sync: Connection, sql: str, values: list[Any]) -> None:
    """A statement outside any transaction, straight through asyncpg, which commits a
    lone statement itself; a refused row raises SQLAlchemy's IntegrityError."""
    try:
        await_only(_asyncpg(sync, sql, values).execute(sql, *values))
    except IntegrityConstraintViolationError as error:
        raise IntegrityError(sql, None, error) from error


# SQLite writes one table per statement. The writes kept for the marker go as one all the
# same: a row each, inserted into a view of the connection's own (a TEMP view: nothing of
# it is in the database file) whose INSTEAD OF trigger inserts the row into its table as
# its Prepared's own statement would: the row says which (k) and carries that
# statement's bound values (c0, c1, ...), as the driver binds them, so each is stored as
# the statement alone would store it. All in the one statement's transaction: a refused
# row refuses them all. The view is made on each connection from the inserts known then,
# and again when more became known (a Prepared built later), outside any transaction so
# that a rollback cannot take it away unseen; an insert it does not know goes on its own.
_INSERTS: list[Prepared] = []
_VIEW = "ouderloket_together"
_KNOWN = "ouderloket_together_known"
# The shape of an insert the trigger can make from a row of the view: a value per
# column, each bound or a plain literal, and an ON CONFLICT clause that binds nothing.
_SHAPE = re.compile(
    r"INSERT INTO (?P<table>\S+) \((?P<columns>[^()]*)\) VALUES \((?P<values>[^()]*)\)"
    r"(?P<rest>(?: ON CONFLICT [^?]*)?)",
    re.DOTALL,
)
_LITERAL = re.compile(r"\?|NULL|-?\d+|'[^']*'")


@dataclass(frozen=True)
class _View:
    """What a connection's view takes: the number of inserts known when it was made,
    those of them it takes, and its number of value columns."""

    built: int
    known: frozenset[int]
    width: int


def _from_row(plan: _Plan, key: int) -> str | None:
    """The insert of `plan` made from a row of the view whose k is `key`."""
    shape = _SHAPE.fullmatch(plan.sql)
    if shape is None:
        return None
    values = shape["values"].split(", ")
    if not all(_LITERAL.fullmatch(v) for v in values) or values.count("?") != len(plan.names):
        return None
    places = iter(range(len(plan.names)))
    picked = [f"NEW.c{next(places)}" if v == "?" else v for v in values]
    # The WHERE is on NEW alone, so SQLite tests it once, before anything else; and it
    # reads an ON CONFLICT after a SELECT only behind a WHERE.
    return (
        f"INSERT INTO {shape['table']} ({shape['columns']}) SELECT {', '.join(picked)} "
        f"WHERE NEW.k = {key}{shape['rest']}"
    )


def make_view(
    dbapi: sqlite3.Connection,
    info: dict[Any, Any],
    dialect: Dialect,
    *,
    in_transaction: bool = False,
) -> bool:
    """The view and its trigger on a connection, for every insert known now (storage.db
    makes them when it opens a connection). False when the connection is in a
    transaction: then they are left as they are, unless `in_transaction` (a migration,
    which commits them with itself)."""
    if dbapi.in_transaction and not in_transaction:
        return False
    plans = [write._plan(dialect) for write in _INSERTS]
    taken = [(n, sql) for n, plan in enumerate(plans) if (sql := _from_row(plan, n)) is not None]
    width = max((len(plans[n].names) for n, _ in taken), default=0)
    columns = "".join(f", NULL AS c{place}" for place in range(width))
    body = "".join(f"{sql};\n" for _, sql in taken)
    cursor = dbapi.cursor()
    try:
        cursor.execute(f"DROP VIEW IF EXISTS temp.{_VIEW}")
        if taken:
            cursor.execute(f"CREATE TEMP VIEW {_VIEW} AS SELECT NULL AS k{columns}")
            cursor.execute(
                f"CREATE TEMP TRIGGER {_VIEW} INSTEAD OF INSERT ON {_VIEW} BEGIN\n{body}END"
            )
    finally:
        cursor.close()
    info[_KNOWN] = _View(len(_INSERTS), frozenset(n for n, _ in taken), width)
    return True


@contextmanager
def view_set_aside(sync: Connection) -> Iterator[None]:
    """For a migration on this connection: SQLite checks the tables a trigger names when
    a table is renamed (as Alembic's batch mode does), and the view's trigger names
    tables the migration may be making. Made again afterwards, in its transaction."""
    dbapi = sync.connection.dbapi_connection
    if sync.dialect.driver != DRIVER or not isinstance(dbapi, sqlite3.Connection):
        yield
        return
    dbapi.execute(f"DROP VIEW IF EXISTS temp.{_VIEW}")
    sync.connection.info.pop(_KNOWN, None)
    yield
    make_view(dbapi, sync.connection.info, sync.dialect, in_transaction=True)


_NOTHING = _View(0, frozenset(), 0)
# The statement for a number of rows, on a view of a width.
_ROWS: dict[tuple[int, int], _Plan] = {}
# SQLite's limit on the values one statement binds (32,766 since 3.32): a longer list of
# rows (a notice to every parent, say) goes as several statements.
_MOST_VALUES = 32_766


def _rows_plan(rows: int, width: int) -> _Plan:
    plan = _ROWS.get((rows, width))
    if plan is None:
        row = "(" + ", ".join("?" * (width + 1)) + ")"
        columns = "".join(f", c{place}" for place in range(width))
        sql = f"INSERT INTO {_VIEW} (k{columns}) VALUES {', '.join([row] * rows)}"
        plan = _ROWS[(rows, width)] = _Plan(sql=sql, names=(), fixed={}, binds={}, columns=())
    return plan


def _sqlite_together(sync: Connection, writes: Sequence[Write]) -> None:
    """The inserts the connection's view knows as one statement through it (above); the
    other writes (an update, a delete) each on its own, first."""
    info = sync.connection.info
    if info.get(_KNOWN, _NOTHING).built < len(_INSERTS):
        dbapi = sync.connection.dbapi_connection
        assert isinstance(dbapi, sqlite3.Connection)
        make_view(dbapi, info, sync.dialect)
    view: _View = info.get(_KNOWN, _NOTHING)
    together = [(write, params) for write, params in writes if write._together in view.known]
    if len(together) < 2:
        together = []
    # Each row as the view takes it, checked before anything is written.
    rows = [
        [write._together, *values, *[None] * (view.width - len(values))]
        for write, params in together
        for values in [write._values(sync.dialect, params)]
    ]
    for write, params in writes:
        if write._together not in view.known or not together:
            write.write(sync, params)
    if not rows:
        return
    if not sync.in_transaction():
        sync.begin()
    at_once = _MOST_VALUES // (view.width + 1)
    for start in range(0, len(rows), at_once):
        chunk = rows[start : start + at_once]
        _sqlite(sync, _rows_plan(len(chunk), view.width), [v for row in chunk for v in row])


def _sqlite(sync: Connection, plan: _Plan, values: list[Any]) -> Sequence[Any]:
    """The statement on the connection's own sqlite3 connection, told to the listeners
    first (for a write, the write gate takes this process's turn there, storage.db); a
    refused row raises SQLAlchemy's IntegrityError, as `execute` would."""
    dbapi = sync.connection.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    try:
        sync.dispatch.before_cursor_execute(sync, cursor, plan.sql, values, None, False)
        cursor.execute(plan.sql, values)
        return cursor.fetchall()
    except sqlite3.IntegrityError as error:
        raise IntegrityError(plan.sql, None, error) from error
    finally:
        cursor.close()


def _asyncpg(sync: Connection, sql: str, values: list[Any]) -> Any:
    """The connection's own asyncpg connection, the statement told to the listeners."""
    sync.dispatch.before_cursor_execute(sync, None, sql, values, None, False)
    driver = sync.connection.driver_connection
    assert driver is not None
    return driver


_LATER = "ouderloket_with_the_marker"


def with_marker(
    session: AsyncSession, write: Prepared, params: Mapping[str, Any], key: Hashable = None
) -> None:
    """A write that nothing in the update reads back (a data message's deletion time, a
    link), made when the update commits, together with its marker: on PostgreSQL in the same
    statement, so a screen of data costs one round trip to write instead of four (BEGIN,
    the insert, the marker, COMMIT). A second write with the same `key` replaces the
    first: one statement cannot upsert a row twice.

    Like the ORM's autoflush, they are written before the session's next statement, so
    whatever comes after sees them: an ORM statement (below) or a Core one through
    storage.db.core. Also when the session commits otherwise (a job, a test). A rollback
    forgets them."""
    if not session.in_transaction():
        # So that a rollback, even before the session's first statement, is one to hear
        # (a session not yet begun rolls back without telling anyone). Begins no work on
        # the database: the session connects at its first statement, as ever.
        session.sync_session.begin()
    later: dict[tuple[Prepared, Hashable], Mapping[str, Any]] = session.info.setdefault(_LATER, {})
    later[(write, key if key is not None else object())] = params


def written_later(session: AsyncSession | Session) -> list[Write]:
    """The session's writes for the commit, handed over once."""
    later = session.info.pop(_LATER, {})
    return [(write, params) for (write, _), params in later.items()]


@orm_event.listens_for(Session, "before_commit")
def _write_before_commit(session: Session) -> None:
    if writes := written_later(session):
        # What the ORM holds first: a row written here may refer to one of those.
        session.flush()
        write_together(session.connection(), writes)


@orm_event.listens_for(Session, "do_orm_execute")
def _write_before_a_statement(state: ORMExecuteState) -> None:
    if writes := written_later(state.session):
        write_together(state.session.connection(), writes)


@orm_event.listens_for(Session, "after_rollback")
def _forget_on_rollback(session: Session) -> None:
    session.info.pop(_LATER, None)
