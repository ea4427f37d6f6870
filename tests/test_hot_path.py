"""What a parent's busiest taps cost the database: the statements an update makes are
counted on the engine, so a change that adds a query to the hot path fails here (the
time it takes is the benchmarks' business, bench/dispatch.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from aiogram.types import Message, MessageEntity, Update
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from flows.clock import FixedClock
from storage.db import SessionFactory
from tests import factories
from tests.recording import ChatDriver
from tests.test_vendors import leaflets_and_a_parent


@contextmanager
def counted(engine: AsyncEngine) -> Iterator[list[str]]:
    statements: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement.split()[0])

    event.listen(engine.sync_engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", note)


async def test_the_menu_a_form_step_and_mijn_gegevens_in_few_statements(
    chat: Callable[..., ChatDriver], factory: SessionFactory, engine: AsyncEngine, clock: FixedClock
) -> None:
    code = await leaflets_and_a_parent(factory, clock)
    parent = chat(3101)
    await parent.send(f"/start {code}")
    await parent.press("Leveranciers en privacybijsluiters")  # the leaflets are now cached

    with counted(engine) as menu:
        await parent.send("/menu")
    # The arrival (actor, re-delivery check, catalog counter) and the update's marker.
    assert menu == ["SELECT", "INSERT"]

    with counted(engine) as form_step:
        await parent.press("Correctie vragen")
    # The arrival and the data message's deletion time, with the marker.
    assert form_step == ["SELECT", "INSERT", "INSERT"]
    assert "Welk gegeven klopt niet?" in parent.last_text

    with counted(engine) as inzage:
        await parent.send("/menu")
        await parent.press("Mijn gegevens")
    assert "Basispoort" in parent.last_text
    # The menu's two (its arrival and marker); then Mijn gegevens' four: the arrival, the
    # one read of the child's guardians, requests, disclosures and consent events (a UNION
    # ALL; the leaflets from the cache), the data message's deletion time and the marker.
    assert inzage == ["SELECT", "INSERT", "SELECT", "SELECT", "INSERT", "INSERT"]


async def test_a_redelivered_update_is_recognised_in_the_one_read(
    chat: Callable[..., ChatDriver], factory: SessionFactory, engine: AsyncEngine, clock: FixedClock
) -> None:
    async with factory() as session:
        sanne = await factories.guardian(session, "Sanne", await factories.pupil(session))
        code = await factories.guardian_code(session, sanne, clock.now())
        await session.commit()
    parent = chat(3102)
    await parent.send(f"/start {code}")
    command = MessageEntity(type="bot_command", offset=0, length=len("/menu"))
    message = Message(
        message_id=900,
        date=clock.now(),
        chat=parent.chat,
        from_user=parent.user,
        text="/menu",
        entities=[command],
    )
    update = Update(update_id=987_654, message=message)
    await parent.dp.feed_update(parent.bot, update)
    shown = len(parent.my_messages())
    with counted(engine) as again:
        await parent.dp.feed_update(parent.bot, update)  # Telegram delivers it again
    assert again == ["SELECT"]
    assert len(parent.my_messages()) == shown  # no second menu


async def test_linking_with_the_letters_code_in_few_statements(
    chat: Callable[..., ChatDriver], factory: SessionFactory, engine: AsyncEngine, clock: FixedClock
) -> None:
    async with factory() as session:
        emma = await factories.pupil(session, "Emma")
        sanne = await factories.guardian(session, "Sanne de Vries", emma)
        code = await factories.guardian_code(session, sanne, clock.now())
        await session.commit()
    parent = chat(3103)
    with counted(engine) as linking:
        await parent.send(f"/start {code}")
    assert "Emma" in parent.last_text  # the profile and menu of the linked account
    # The arrival; the recent wrong codes and the code, in one read; the account linked,
    # the code used, the audit; the account read again (its children for the profile and
    # the menu); the marker. No wrong codes were tried, so there are none to clear.
    assert linking == [
        "SELECT",
        "SELECT",
        "INSERT",
        "UPDATE",
        "INSERT",
        "SELECT",
        "INSERT",
    ]
