"""The pool's connections are open before the bot serves (storage.db.fill_pool): the
first burst of parents does not wait for connections to be made."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiogram import Dispatcher
from aiogram.utils.i18n import I18n
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from bot.app import PREPARE_CONNECTION, create_dispatcher
from bot.config import Settings
from flows.actor import ALONGSIDE, arrive
from flows.clock import FixedClock
from storage.db import SessionFactory, create_engine, create_session_factory, fill_pool
from storage.migrate import upgrade
from storage.models import Request, RequestKind, RequestStatus, StaffRole
from tests import factories
from tests.recording import chats
from tests.test_vendors import leaflets_and_a_parent


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


async def _backend(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_a_connection_the_server_closed_while_idle_is_replaced(pg_url: str) -> None:
    """PostgreSQL restarted, or closed an idle connection, during a quiet night: the first
    parent's update still gets a working connection, because one that lay idle is checked
    before it is used (storage.db.PING_AFTER_IDLE)."""
    engine = create_engine(pg_url, ping_after_idle=0.0)
    killer = create_engine(pg_url)
    try:
        first = await _backend(engine)
        async with killer.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        assert await _backend(engine) != first
    finally:
        await engine.dispose()
        await killer.dispose()


async def test_a_connection_in_steady_use_is_not_pinged(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under load a connection is back in use within milliseconds: no check before each
    update (SQLAlchemy's pre-ping made three round trips before every one)."""
    pings: list[object] = []

    def counting(engine: AsyncEngine) -> None:
        ping = engine.dialect.do_ping
        monkeypatch.setattr(engine.dialect, "do_ping", lambda c: pings.append(c) or ping(c))

    steady = create_engine(pg_url, ping_after_idle=3600.0)
    idle = create_engine(pg_url, ping_after_idle=0.0)
    try:
        counting(steady)
        counting(idle)
        for _ in range(5):
            await _backend(steady)
        assert pings == []
        for _ in range(5):
            await _backend(idle)
        # With no idle time allowed, every checkout is checked, as with pre-ping.
        assert len(pings) == 5
    finally:
        await steady.dispose()
        await idle.dispose()


async def test_updates_take_the_database_in_the_order_they_came(tmp_path: Path) -> None:
    """More updates at once than the pool keeps connections: each waits its turn in the
    order it came (storage.db.Turns). A newcomer that asks just as a connection is given
    back does not take it ahead of the updates that waited (in the pool's own queue it
    could, and on the first evening one update in a hundred waited over a second)."""
    from aiogram.types import CallbackQuery, Chat, Message, Update, User

    from bot.middlewares import DbSessionMiddleware
    from flows.clock import FixedClock
    from storage.db import create_all, create_session_factory

    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'school.db'}", pool_size=2)
    await create_all(engine)
    middleware = DbSessionMiddleware(create_session_factory(engine), "nl")
    clock = FixedClock(datetime(2026, 12, 4, 19, 0, tzinfo=UTC))
    started: list[int] = []
    inside = [0, 0]  # now, most at once
    changed = asyncio.Event()
    done = {n: asyncio.Event() for n in range(6)}

    async def handler(event: Update, _data: dict[str, object]) -> None:
        started.append(event.update_id)
        inside[0] += 1
        inside[1] = max(inside)
        changed.set()
        await done[event.update_id].wait()
        inside[0] -= 1

    async def until(count: int) -> None:
        while len(started) < count:
            changed.clear()
            await changed.wait()

    def run(n: int) -> asyncio.Task[object]:
        user = User(id=5000 + n, is_bot=False, first_name="Ouder")
        chat = Chat(id=user.id, type="private")
        message = Message(message_id=1, date=clock.now(), chat=chat, text="…")
        query = CallbackQuery(id=str(n), from_user=user, chat_instance="c", message=message)
        data = {"event_from_user": user, "clock": clock}
        return asyncio.create_task(
            middleware(handler, Update(update_id=n, callback_query=query), data)
        )

    try:
        tasks = [run(n) for n in range(5)]
        await asyncio.wait_for(until(2), 5)
        # The pool's overflow is left to the bot's own jobs (the outbox, the expirer).
        async with engine.connect() as job:
            assert (await job.execute(text("SELECT 1"))).scalar_one() == 1
        # Update 0 finishes and gives its connection back just as update 5 arrives.
        done[0].set()
        tasks.append(run(5))
        for n in range(1, 6):
            await asyncio.wait_for(until(n + 2 if n < 4 else 6), 5)
            done[n].set()
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
        assert started == [0, 1, 2, 3, 4, 5]
        assert inside[1] == 2
    finally:
        await engine.dispose()


async def test_a_new_connection_reads_and_writes_enums_without_asking_the_catalog(
    pg_factory: SessionFactory, pg_url: str, clock: FixedClock
) -> None:
    """asyncpg asks PostgreSQL what an enum type is the first time a statement on a
    connection meets it: a catalog query of some 7 ms of the server's CPU, on every
    connection of the pool, during the first evening's first updates. A connection is
    told the types when it opens (storage.db), so the staff member's role in the
    arrival's read, and a request's kind and status written and read, are the only
    statements the server gets; and they come back as they were written."""
    async with pg_factory() as session:
        anouk = await factories.staff(session, "Anouk", groups=("5A",), telegram_user_id=77)
        emma = await factories.pupil(session, "Emma")
        sanne = await factories.guardian(session, "Sanne", emma)
        await session.commit()
    engine = create_engine(pg_url)
    sent: list[str] = []
    try:
        async with engine.connect() as connection:
            driver = (await connection.get_raw_connection()).driver_connection
            driver.add_query_logger(lambda logged: sent.append(logged.query))
            arrival = await arrive(connection, 77, "nl")
            assert arrival.actor.role is StaffRole.TEACHER
            assert arrival.actor.staff_id == anouk.id
            async with create_session_factory(engine)(bind=connection) as session:
                actor = await factories.link_guardian(session, sanne, 78)
                made = await factories.create_correction(
                    session, actor, emma.id or 0, "voornaam", "Emmy", None, clock.now()
                )
                await session.commit()
                stored = await session.get(Request, made.id, populate_existing=True)
                assert stored is not None
                assert (stored.kind, stored.status) == (RequestKind.CORRECTION, RequestStatus.OPEN)
    finally:
        await engine.dispose()
    assert sent and not [query for query in sent if "pg_catalog" in query or "pg_type" in query]


async def test_the_hot_read_is_planned_once_per_connection(
    pg_factory: SessionFactory, pg_url: str
) -> None:
    """PostgreSQL plans a prepared statement afresh for each of its first five runs on a
    connection before it settles on one plan; with the pool's twenty connections that was
    much of the server's CPU in the first evening's burst. The read every update starts
    with, run three times on a new connection, is planned once, for any values."""
    engine = create_engine(pg_url)
    try:
        async with engine.connect() as connection:
            for user in (1, 2, 3):
                await arrive(connection, user, "nl")
            plans = await connection.execute(
                text(
                    "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                    " WHERE statement LIKE 'SELECT chat_link.telegram_user_id%'"
                )
            )
            assert plans.all() == [(3, 0)]
    finally:
        await engine.dispose()


# The statement an update starts with (flows.actor.arrive), in any of its forms.
_ARRIVAL = ("SELECT chat_link.telegram_user_id", "SELECT 'arrival' AS part")
QUOTE = "'"


async def _a_parent_taps(dp: Dispatcher, factory: SessionFactory, clock: FixedClock) -> None:
    """A parent links, opens Mijn gegevens, the consent screen, and gives a consent."""
    code = await leaflets_and_a_parent(factory, clock)
    parent = chats(dp)(3101)
    await parent.send(f"/start {code}")
    await parent.send("/menu")
    await parent.press("Mijn gegevens")
    await parent.send("/menu")
    await parent.press("Foto's en video's")
    await parent.press("Website: toestemming geven")
    await parent.press("Ja, toestemming geven")
    assert "opgeslagen" in parent.last_text


async def _each_connection(engine: AsyncEngine, query: str) -> list[set[str]]:
    """`query`'s first column on every connection the pool keeps, all held at once."""
    pool = engine.sync_engine.pool
    assert isinstance(pool, QueuePool)
    held = [await engine.connect().start() for _ in range(pool.size())]
    try:
        return [set((await held_one.execute(text(query))).scalars()) for held_one in held]
    finally:
        for connection in held:
            await connection.close()


async def test_the_first_read_of_every_update_is_compiled_before_the_first_update_on_postgresql(
    pg_factory: SessionFactory, settings: Settings, clock: FixedClock, i18n: I18n
) -> None:
    """On the first evening, each of the pool's twenty connections compiled the update's
    first statement the first time a parent's update used it, in each of its forms (a
    typed message, a press, a press that reads the child's record or consent with it),
    while the parent waited. They are compiled before the bot serves; a parent's taps
    add none."""
    engine = pg_factory.kw["bind"]
    dp = create_dispatcher(settings, pg_factory, clock=clock, i18n=i18n)
    prepared = "SELECT statement FROM pg_prepared_statements WHERE " + " OR ".join(
        f"statement LIKE '{start.replace(QUOTE, QUOTE * 2)}%'" for start in _ARRIVAL
    )
    await fill_pool(engine, dp[PREPARE_CONNECTION])
    before = await _each_connection(engine, prepared)
    assert all(forms == before[0] for forms in before)
    # A typed message, a press, and a press with each read alongside.
    assert len(before[0]) == 2 + len(ALONGSIDE)

    await _a_parent_taps(dp, pg_factory, clock)
    assert await _each_connection(engine, prepared) == before


async def test_the_first_read_of_every_update_is_compiled_before_the_first_update(
    tmp_path: Path, settings: Settings, clock: FixedClock, i18n: I18n
) -> None:
    """As above, on the embedded SQLite: every connection of the pool ran each form of the
    update's first statement before the bot served (SQLite keeps a connection's compiled
    statements), and a parent's taps start with one of them."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'school.db'}")
    try:
        await upgrade(engine)
        factory = create_session_factory(engine)
        dp = create_dispatcher(settings, factory, clock=clock, i18n=i18n)
        ran: dict[int, set[str]] = {}
        first: list[str] = []

        def note(conn: Connection, _cursor: object, statement: str, *_: object) -> None:
            if statement.startswith(_ARRIVAL):
                ran.setdefault(id(conn.connection.dbapi_connection), set()).add(statement)

        event.listen(engine.sync_engine, "before_cursor_execute", note)
        await fill_pool(engine, dp[PREPARE_CONNECTION])
        event.remove(engine.sync_engine, "before_cursor_execute", note)
        pool = engine.sync_engine.pool
        assert isinstance(pool, QueuePool) and len(ran) == pool.size()
        forms = next(iter(ran.values()))
        assert all(each == forms for each in ran.values())
        assert len(forms) == 2 + len(ALONGSIDE)

        def note_first(_conn: Connection, _cursor: object, statement: str, *_: object) -> None:
            if statement.startswith(_ARRIVAL):
                first.append(statement)

        event.listen(engine.sync_engine, "before_cursor_execute", note_first)
        await _a_parent_taps(dp, factory, clock)
        # The link, two menus, Mijn gegevens, the consent screen, the channel and the choice.
        assert len(first) == 7 and set(first) <= forms
    finally:
        await engine.dispose()
