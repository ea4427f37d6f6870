"""The reads every update makes (who is asking, a child's record, a child's consent), on
the embedded SQLite straight through the sqlite3 connection.

SQLAlchemy compiles such a statement once and caches it, but still builds an execution
context, a cursor result and a row object per run: for these small reads about 50 µs,
where SQLite's own work takes 5-10 µs. A Prepared statement is compiled once, and each
run hands its parameters to sqlite3 and converts its columns with the very processors
SQLAlchemy would use (dates, times and booleans are text and integers in SQLite), so
the rows are the same. Listeners of `before_cursor_execute` still hear every run
(storage.db.WriteGate, the benchmarks' counters). On PostgreSQL the statement runs
through SQLAlchemy as any other."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CompoundSelect, Select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import SQLCompiler

from storage.sqlite_inloop import DRIVER

Processor = Callable[[Any], Any]


@dataclass(frozen=True)
class _Plan:
    sql: str
    names: tuple[str, ...]
    fixed: Mapping[str, Any]
    binds: Mapping[str, Processor]
    columns: tuple[Processor | None, ...]

    def parameters(self, params: Mapping[str, Any]) -> list[Any]:
        values = []
        for name in self.names:
            value = params[name] if name in params else self.fixed[name]
            process = self.binds.get(name)
            values.append(value if process is None else process(value))
        return values

    def row(self, raw: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(
            value if process is None else process(value)
            for value, process in zip(raw, self.columns, strict=True)
        )


class Prepared:
    """A read built once at import, run as described above."""

    def __init__(
        self, statement: Select[*tuple[Any, ...]] | CompoundSelect[*tuple[Any, ...]]
    ) -> None:
        self.statement = statement
        self._plan: _Plan | None = None

    async def rows(
        self, connection: AsyncConnection, params: Mapping[str, Any]
    ) -> list[tuple[Any, ...]]:
        if connection.dialect.driver != DRIVER:
            return [tuple(row) for row in await connection.execute(self.statement, params)]
        plan = self._plan or self._prepare(connection.dialect)
        sync = connection.sync_connection
        assert sync is not None
        dbapi = sync.connection.dbapi_connection
        assert dbapi is not None
        values = plan.parameters(params)
        cursor = dbapi.cursor()
        try:
            sync.dispatch.before_cursor_execute(sync, cursor, plan.sql, values, None, False)
            cursor.execute(plan.sql, values)
            return [plan.row(raw) for raw in cursor.fetchall()]
        finally:
            cursor.close()

    def _prepare(self, dialect: Dialect) -> _Plan:
        compiled = self.statement.compile(dialect=dialect)
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
        columns = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in self.statement.selected_columns
        )
        plan = _Plan(
            sql=compiled.string,
            names=names,
            fixed=compiled.construct_params(_check=False),
            binds=binds,
            columns=columns,
        )
        self._plan = plan
        return plan
