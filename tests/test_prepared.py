"""A read run straight through the driver (storage.prepared) gives the rows SQLAlchemy
gives for the same statement, typed the same, on the update's own connection and inside
its transaction, and still counts as a statement to whoever listens."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import bindparam, event, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlmodel import col
from sqlmodel import select as model_select

from flows import audit, consent, notify
from storage.db import SessionFactory, among, core
from storage.expiry import deletion_write
from storage.models import (
    ConsentEvent,
    ConsentSource,
    MessageExpiry,
    Outbox,
    ProcessedUpdate,
    Pupil,
)
from storage.prepared import Prepared, Write, with_marker, write_together
from tests import factories

# Every kind of column the hot reads bring back: integers, text, a date, a boolean, a
# time; a time as a parameter, and a fixed list bound one by one.
_READ = Prepared(
    select(
        col(Pupil.id),
        col(Pupil.voornaam),
        col(Pupil.geboortedatum),
        col(ConsentEvent.granted),
        col(ConsentEvent.at),
        col(ConsentEvent.source),
    )
    .join(ConsentEvent, col(ConsentEvent.pupil_id) == col(Pupil.id))
    .where(
        col(Pupil.id) == bindparam("pupil_id"),
        col(ConsentEvent.at) >= bindparam("since", type_=ConsentEvent.__table__.c.at.type),  # type: ignore[attr-defined]
        among(col(ConsentEvent.channel), ["website", "social"]),
    )
    .order_by(col(ConsentEvent.id))
)
SINCE = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
_MARK = Prepared(insert(ProcessedUpdate.__table__))  # type: ignore[attr-defined]


async def _child_with_choices(factory: SessionFactory) -> int:
    async with factory() as session:
        pupil = await factories.pupil(session, "Emma", geboortedatum=date(2017, 3, 12))
        for channel, granted, day in (
            ("website", True, 2),
            ("social", False, 3),
            ("newsletter", True, 4),
            ("website", False, 5),
        ):
            session.add(
                ConsentEvent(
                    pupil_id=pupil.id or 0,
                    channel=channel,
                    granted=granted,
                    at=datetime(2026, 9, day, 10, 30, 15, 250000, tzinfo=UTC),
                    source=ConsentSource.BOT,
                )
            )
        await session.commit()
        return pupil.id or 0


async def test_a_prepared_read_gives_what_sqlalchemy_gives(factory: SessionFactory) -> None:
    await _same_rows(factory)


async def test_a_prepared_read_gives_what_sqlalchemy_gives_on_postgresql(
    pg_factory: SessionFactory,
) -> None:
    await _same_rows(pg_factory)


async def _same_rows(factory: SessionFactory) -> None:
    pupil_id = await _child_with_choices(factory)
    params = {"pupil_id": pupil_id, "since": SINCE}
    async with factory() as session:
        connection = await session.connection()
        expected = [tuple(row) for row in await connection.execute(_READ.statement, params)]
        found = await _READ.rows(connection, params)
    assert found == expected
    assert [type(value) for value in found[0]] == [type(value) for value in expected[0]]
    assert [(row[3], row[4]) for row in found] == [
        (True, datetime(2026, 9, 2, 10, 30, 15, 250000, tzinfo=UTC)),
        (False, datetime(2026, 9, 3, 10, 30, 15, 250000, tzinfo=UTC)),
        (False, datetime(2026, 9, 5, 10, 30, 15, 250000, tzinfo=UTC)),
    ]
    assert found[0][2] == date(2017, 3, 12)


async def test_a_prepared_read_sees_its_own_transaction_and_is_counted(
    factory: SessionFactory,
) -> None:
    await _own_transaction(factory)


async def test_a_prepared_read_sees_its_own_transaction_on_postgresql(
    pg_factory: SessionFactory,
) -> None:
    await _own_transaction(pg_factory)


async def _own_transaction(factory: SessionFactory) -> None:
    pupil_id = await _child_with_choices(factory)
    statements: list[str] = []
    async with factory() as session:
        connection = await session.connection()
        event.listen(
            connection.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2])
        )
        await connection.execute(
            insert(ConsentEvent.__table__),  # type: ignore[attr-defined]
            {
                "pupil_id": pupil_id,
                "channel": "social",
                "granted": True,
                "at": datetime(2026, 10, 1, tzinfo=UTC),
                "source": ConsentSource.BOT,
            },
        )
        found = await _READ.rows(connection, {"pupil_id": pupil_id, "since": SINCE})
        # Not committed: the read ran in the transaction that wrote it.
        assert found[-1][3:5] == (True, datetime(2026, 10, 1, tzinfo=UTC))
        assert len(found) == 4
        await session.rollback()
    assert len(statements) == 2
    assert statements[1].lstrip().upper().startswith("SELECT")


async def test_a_read_with_an_in_list_is_refused(factory: SessionFactory) -> None:
    expanding = Prepared(select(col(Pupil.id)).where(col(Pupil.id).in_([1, 2])))
    async with factory() as session:
        with pytest.raises(ValueError, match="IN lists"):
            await expanding.rows(await session.connection(), {})


_WRITE = Prepared(insert(ConsentEvent.__table__))  # type: ignore[attr-defined]


async def test_a_prepared_insert_writes_what_sqlalchemy_writes(factory: SessionFactory) -> None:
    await _same_write(factory)


async def test_a_prepared_insert_writes_what_sqlalchemy_writes_on_postgresql(
    pg_factory: SessionFactory,
) -> None:
    await _same_write(pg_factory)


async def _same_write(factory: SessionFactory) -> None:
    """Written from SQLAlchemy's side of the connection and committed there, as the
    update's marker is (storage.updates.mark_and_commit): read back the same as a row
    SQLAlchemy wrote itself; a refused row is SQLAlchemy's IntegrityError and leaves the
    connection able to write again."""
    pupil_id = await _child_with_choices(factory)
    row = {
        "pupil_id": pupil_id,
        "channel": "social",
        "granted": True,
        "at": datetime(2026, 10, 1, 9, 15, tzinfo=UTC),
        "source": ConsentSource.BOT,
        "guardian_id": None,
    }

    def write_and_commit(sync: Connection, values: dict[str, object]) -> None:
        _WRITE.write(sync, values)
        sync.commit()

    async with factory() as session:
        connection = await session.connection()
        # A value left out is refused, not written as NULL past the column's default.
        with pytest.raises(ValueError, match="guardian_id"):
            await connection.run_sync(
                _WRITE.write, {k: v for k, v in row.items() if k != "guardian_id"}
            )
        await connection.run_sync(write_and_commit, row)
    async with factory() as session:
        connection = await session.connection()
        await connection.execute(_WRITE.statement, {**row, "channel": "website"})
        await connection.commit()
    async with factory() as session:
        found = await _READ.rows(await session.connection(), {"pupil_id": pupil_id, "since": SINCE})
    ours, theirs = found[-2], found[-1]
    assert ours[1:] == theirs[1:] == ("Emma", date(2017, 3, 12), True, row["at"], ConsentSource.BOT)

    # On a bare connection, as an update's (bot.middlewares): nothing began its transaction.
    marker = Prepared(insert(ProcessedUpdate.__table__))  # type: ignore[attr-defined]
    at = datetime(2026, 10, 1, tzinfo=UTC)
    engine = factory.kw["bind"]
    async with engine.connect() as connection:
        await connection.run_sync(marker.write, {"update_id": 41, "at": at})
        with pytest.raises(IntegrityError):
            await connection.run_sync(marker.write, {"update_id": 41, "at": at})
        await connection.rollback()
    async with engine.connect() as connection:
        # The write turn passed on with the rollback: this one does not wait for it.
        await asyncio.wait_for(connection.run_sync(marker.write, {"update_id": 41, "at": at}), 5)
        await connection.commit()
    async with engine.connect() as connection:
        # Committed: another connection sees it.
        assert (await connection.execute(select(col(ProcessedUpdate.update_id)))).all() == [(41,)]


async def test_a_lone_last_insert_goes_without_a_transaction_on_postgresql(
    pg_factory: SessionFactory,
) -> None:
    """The marker of an update that only read (storage.updates.mark_and_commit): on
    PostgreSQL the insert goes alone, with no BEGIN or COMMIT around it, and is stored at
    once; a refused row is still SQLAlchemy's IntegrityError; after a write of the same
    transaction it goes in that transaction, committed with it."""
    marker = Prepared(insert(ProcessedUpdate.__table__))  # type: ignore[attr-defined]
    at = datetime(2026, 10, 1, tzinfo=UTC)
    engine = pg_factory.kw["bind"]
    statements: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))

    in_transaction: list[bool] = []

    def alone(sync: Connection, update_id: int) -> None:
        marker.write(sync, {"update_id": update_id, "at": at}, last=True)
        driver = sync.connection.driver_connection
        assert driver is not None
        in_transaction.append(driver.is_in_transaction())
        sync.commit()

    async with engine.connect() as connection:
        await connection.run_sync(alone, 51)
    assert [s.split()[0] for s in statements] == ["INSERT"]
    assert in_transaction == [False]  # no BEGIN was sent, so no COMMIT is owed
    async with engine.connect() as connection:
        with pytest.raises(IntegrityError):
            await connection.run_sync(alone, 51)
    async with engine.connect() as connection:
        # After another write, inside its transaction: rolled back with it.
        await connection.execute(
            insert(ProcessedUpdate.__table__),
            {"update_id": 52, "at": at},  # type: ignore[attr-defined]
        )
        await connection.run_sync(
            lambda sync: marker.write(sync, {"update_id": 53, "at": at}, last=True)
        )
        await connection.rollback()
    async with engine.connect() as connection:
        found = await connection.execute(select(col(ProcessedUpdate.update_id)))
        assert sorted(found.scalars()) == [51]


async def test_writes_together_are_one_statement_on_postgresql(pg_factory: SessionFactory) -> None:
    await _together(pg_factory)


async def test_writes_together_are_one_statement_on_sqlite(factory: SessionFactory) -> None:
    await _together(factory)


async def _together(factory: SessionFactory) -> None:
    """A data message's deletion time and the update's marker, as an update that only
    read ends (storage.prepared.with_marker): one statement (on PostgreSQL outside any
    transaction); both stored, or neither when the marker is refused."""
    upsert = deletion_write(factory.kw["bind"].dialect.name)
    marker = Prepared(insert(ProcessedUpdate.__table__))  # type: ignore[attr-defined]
    at = datetime(2026, 10, 1, tzinfo=UTC)
    engine = factory.kw["bind"]
    statements: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))

    def end(sync: Connection, update_id: int, delete_at: datetime) -> None:
        writes: list[Write] = [
            (upsert, {"chat": 5, "message": 7, "at": delete_at}),
            (marker, {"update_id": update_id, "at": at}),
        ]
        write_together(sync, writes, last=True)
        if sync.dialect.driver == "asyncpg":
            driver = sync.connection.driver_connection
            assert driver is not None and not driver.is_in_transaction()
        sync.commit()

    first, later = at + timedelta(minutes=15), at + timedelta(minutes=30)
    async with engine.connect() as connection:
        await connection.run_sync(end, 61, first)
    assert len(statements) == 1
    async with engine.connect() as connection:
        with pytest.raises(IntegrityError):  # the same update again: the marker is refused
            await connection.run_sync(end, 61, later)
        await connection.rollback()
    async with engine.connect() as connection:
        # After another write, inside its transaction: rolled back with it.
        await connection.execute(insert(ProcessedUpdate.__table__), {"update_id": 62, "at": at})  # type: ignore[attr-defined]
        await connection.run_sync(
            lambda sync: write_together(sync, [(marker, {"update_id": 63, "at": at})], last=True)
        )
        await connection.rollback()
    async with engine.connect() as connection:
        found = await connection.execute(select(col(ProcessedUpdate.update_id)))
        assert sorted(found.scalars()) == [61]
        # The refused update moved nothing: the deletion time is the first one's.
        times = await connection.execute(select(col(MessageExpiry.delete_at)))
        assert [t.astimezone(UTC) for t in times.scalars()] == [first]


async def test_a_write_kept_for_the_marker_is_seen_by_the_next_statement(
    factory: SessionFactory,
) -> None:
    """As the ORM's autoflush: whatever the session reads after `with_marker`, through
    the ORM or a Core statement on storage.db.core, finds the row written."""
    marker = Prepared(insert(ProcessedUpdate.__table__))  # type: ignore[attr-defined]
    at = datetime(2026, 10, 1, tzinfo=UTC)
    async with factory() as session:
        with_marker(session, marker, {"update_id": 71, "at": at})
        orm = await session.exec(model_select(ProcessedUpdate.update_id))
        assert orm.all() == [71]
        with_marker(session, marker, {"update_id": 72, "at": at})
        found = await (await core(session)).execute(select(col(ProcessedUpdate.update_id)))
        assert sorted(found.scalars()) == [71, 72]
        with_marker(session, marker, {"update_id": 73, "at": at})
        await session.commit()
    async with factory() as session:
        stored = await session.exec(model_select(ProcessedUpdate.update_id))
        assert sorted(stored.all()) == [71, 72, 73]


async def test_writes_together_on_sqlite_store_what_each_alone_stores(
    factory: SessionFactory,
) -> None:
    """A consent choice's writes (the choice, its audit, a notice, a data message's
    deletion time, the marker) through SQLite's view of writes together are stored as
    each statement alone stores them: every value of the same type (a time, a boolean, a
    member of an enum, NULL, text with quotes, markup and accents, JSON), a deletion time
    moved by its upsert, and nothing of the view in the database file."""
    pupil_id = await _child_with_choices(factory)
    at = datetime(2026, 10, 1, 9, 15, 30, 123456, tzinfo=UTC)
    said = json.dumps({"by": "Sanne \"'<b>&</b>' Ëlif", "granted": True}, ensure_ascii=False)

    def writes(update_id: int, chat: int) -> list[Write]:
        notice = Outbox(
            telegram_user_id=chat,
            template="consent_changed_staff",
            params=said,
            created_at=at,
            next_attempt_at=at,
            pupil_id=pupil_id,
        )
        return [
            (
                consent._RECORD,
                {
                    "pupil_id": pupil_id,
                    "channel": f"social-{chat}",
                    "granted": True,
                    "at": at,
                    "source": ConsentSource.BOT,
                    "guardian_id": None,
                },
            ),
            (
                audit._WRITE,
                {
                    "at": at,
                    "actor_kind": "guardian",
                    "actor_id": chat,
                    "action": audit.AuditAction.CONSENT_GIVEN,
                    "pupil_id": pupil_id,
                    "detail": said,
                },
            ),
            (notify._QUEUE, notice.model_dump(exclude={"id"})),
            (notify._QUEUE, {**notice.model_dump(exclude={"id"}), "staff_id": None}),
            (deletion_write("sqlite"), {"chat": chat, "message": 7, "at": at}),
            (_MARK, {"update_id": update_id, "at": at}),
        ]

    engine = factory.kw["bind"]
    statements: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))

    def alone(sync: Connection) -> None:
        for write, params in writes(81, 1):
            write.write(sync, params)
        sync.commit()

    def together(sync: Connection, update_id: int, chat: int) -> None:
        write_together(sync, writes(update_id, chat))
        sync.commit()

    async with engine.connect() as connection:
        await connection.run_sync(alone)
        statements.clear()
        await connection.run_sync(together, 82, 2)
        assert len(statements) == 1
        # Again for chat 2's message: the upsert moves its time.
        later = at + timedelta(minutes=15)
        await connection.run_sync(
            lambda sync: write_together(
                sync,
                [
                    (deletion_write("sqlite"), {"chat": 2, "message": 7, "at": later}),
                    (_MARK, {"update_id": 83, "at": at}),
                ],
            )
        )
        await connection.commit()

    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        sqlite = raw.driver_connection
        assert sqlite is not None

        def rows(table: str, by: str) -> dict[Any, list[tuple[Any, ...]]]:
            names = [
                name
                for (name,) in sqlite.execute(f"SELECT name FROM pragma_table_info('{table}')")
                if name not in ("id", by)
            ]
            picked = ", ".join(f"{name}, typeof({name})" for name in names)
            found: dict[Any, list[tuple[Any, ...]]] = {}
            for key, *values in sqlite.execute(f"SELECT {by}, {picked} FROM {table} ORDER BY id"):
                found.setdefault(key, []).append(tuple(values))
            return found

        events = rows("consent_event", "channel")
        assert events["social-1"] == events["social-2"]
        audited = rows("audit_event", "actor_id")
        assert audited[1] == audited[2]
        queued = rows("outbox", "telegram_user_id")
        assert len(queued[1]) == len(queued[2]) == 2 and queued[1] == queued[2]
        expiry = dict(sqlite.execute("SELECT chat_id, delete_at FROM message_expiry"))
        assert expiry == {1: "2026-10-01 09:15:30.123456", 2: "2026-10-01 09:30:30.123456"}
        assert sorted(u for (u,) in sqlite.execute("SELECT update_id FROM processed_update")) == [
            81,
            82,
            83,
        ]
    # The view is the connection's own: the database file has no view or trigger.
    async with engine.connect() as connection:
        schema = await connection.exec_driver_sql("SELECT type, name FROM sqlite_master")
        assert not [row for row in schema if row[0] in ("view", "trigger")]


async def test_on_sqlite_an_insert_built_later_joins_and_other_writes_go_alone(
    factory: SessionFactory,
) -> None:
    """An insert built after the connection opened is written with the others once the
    connection's view is made again (outside a transaction); an UPDATE goes on its own,
    before them; a lone insert goes as itself."""
    engine = factory.kw["bind"]
    connection = await engine.connect()
    await connection.exec_driver_sql("SELECT 1")  # the connection opened: its view made
    await connection.rollback()
    late = Prepared(insert(ProcessedUpdate.__table__))  # type: ignore[attr-defined]
    clear = Prepared(
        update(ProcessedUpdate.__table__)  # type: ignore[attr-defined]
        .where(col(ProcessedUpdate.update_id) == bindparam("gone"))
        .values(at=bindparam("at", type_=ProcessedUpdate.__table__.c.at.type))  # type: ignore[attr-defined]
    )
    at = datetime(2026, 10, 1, tzinfo=UTC)
    statements: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))

    def end(sync: Connection) -> None:
        write_together(
            sync,
            [
                (late, {"update_id": 91, "at": at}),
                (clear, {"gone": 91, "at": at}),
                (_MARK, {"update_id": 92, "at": at}),
            ],
        )
        write_together(sync, [(_MARK, {"update_id": 93, "at": at})])
        sync.commit()

    await connection.run_sync(end)
    await connection.close()
    assert [s.split()[0:3] for s in statements] == [
        ["UPDATE", "processed_update", "SET"],
        ["INSERT", "INTO", "ouderloket_together"],
        ["INSERT", "INTO", "processed_update"],
    ]
    async with engine.connect() as connection:
        found = await connection.execute(select(col(ProcessedUpdate.update_id)))
        assert sorted(found.scalars()) == [91, 92, 93]


async def test_on_sqlite_many_rows_together_stay_within_what_a_statement_binds(
    factory: SessionFactory,
) -> None:
    """Five thousand rows (a notice to every parent of a large school, say) are more
    values than one SQLite statement binds: they go as a few statements, all stored."""
    engine = factory.kw["bind"]
    at = datetime(2026, 10, 1, tzinfo=UTC)
    statements: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))

    def end(sync: Connection) -> None:
        write_together(sync, [(_MARK, {"update_id": n, "at": at}) for n in range(5_000)])
        sync.commit()

    async with engine.connect() as connection:
        await connection.run_sync(end)
        assert 1 < len(statements) <= 5
        assert all(s.startswith("INSERT INTO ouderloket_together") for s in statements)
        found = await connection.execute(select(col(ProcessedUpdate.update_id)))
        assert sorted(found.scalars()) == list(range(5_000))
