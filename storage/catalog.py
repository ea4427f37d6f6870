"""Tables that change only on an import (the vendor leaflets), cached in each process.

Every flush that adds, changes or deletes such rows raises the table's counter in
`catalog_version` in the same transaction. A process keeps its copy with the counter it
was read under, and the read every update makes first (flows.actor.arrive) brings the
counter along: a copy under another counter is read again. So an import by the command
line, or by another worker, is seen by the next update everywhere, for no statement of
its own."""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import event, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import upsert
from storage.models import CatalogVersion, Vendor

T = TypeVar("T")

# The cached tables, by the model whose rows they hold.
WATCHED: dict[type, str] = {Vendor: "vendor"}
# What arrive() read of each counter, for the rest of the update.
_READ = "ouderloket_catalog_versions"
# Per database (engine) and table: (counter, the cached value).
_CACHE: weakref.WeakKeyDictionary[Engine, dict[str, tuple[int, Any]]] = weakref.WeakKeyDictionary()


def version(name: str) -> ColumnElement[Any]:
    """The table's counter as a column of another read (NULL before its first import)."""
    return (
        select(col(CatalogVersion.version))
        .where(col(CatalogVersion.name) == name)
        .scalar_subquery()
    )


_COLUMNS = {f"catalog:{name}": version(name) for name in WATCHED.values()}


def columns() -> dict[str, ColumnElement[Any]]:
    """Every watched table's counter, labelled for note_read."""
    return dict(_COLUMNS)


def note_read(session: AsyncSession, found: dict[str, Any]) -> None:
    """Keeps the counters a read of columns() found, for cached() in this update."""
    session.info[_READ] = {
        key.removeprefix("catalog:"): value or 0
        for key, value in found.items()
        if key.startswith("catalog:")
    }


async def cached(session: AsyncSession, name: str, load: Callable[[], Awaitable[T]]) -> T:
    """The table as `load` reads it, from this process's copy when the counter read at
    the start of this update says it is current. Without such a read (the command line,
    the scheduler), or after this session changed the table, `load` runs."""
    read: dict[str, int] | None = session.info.get(_READ)
    bind = session.get_bind()
    # An update's session is bound to its connection (bot.middlewares).
    engine = bind.engine if isinstance(bind, Connection) else bind
    if read is None or name not in read or not isinstance(engine, Engine):
        return await load()
    held = _CACHE.setdefault(engine, {}).get(name)
    if held is not None and held[0] == read[name]:
        return held[1]
    value = await load()
    _CACHE[engine][name] = (read[name], value)
    return value


@event.listens_for(Session, "after_flush")
def _count_changes(session: Session, _context: Any) -> None:
    changed = {
        name
        for obj in (*session.new, *session.dirty, *session.deleted)
        for model, name in WATCHED.items()
        if isinstance(obj, model)
    }
    if not changed:
        return
    connection = session.connection()
    insert = upsert(connection.dialect.name)
    for name in sorted(changed):
        connection.execute(
            insert(CatalogVersion)
            .values(name=name, version=1)
            .on_conflict_do_update(
                index_elements=[col(CatalogVersion.name)],
                set_={"version": CatalogVersion.version + 1},
            )
        )
    # What this update read before its own change no longer describes the table.
    session.info.pop(_READ, None)
