"""What a parent's busiest taps cost the database: the statements an update makes are
counted on the engine, so a change that adds a query to the hot path fails here (the
time it takes is the benchmarks' business, bench/dispatch.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from unittest.mock import ANY

from aiogram.types import Message, MessageEntity, Update
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from flows.clock import FixedClock
from storage.db import SessionFactory
from storage.models import AuditEvent, ChatLink, CodeAttempt, ConsentEvent, MessageExpiry, Outbox
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
    # The arrival; the data message's deletion time with the marker, in one statement
    # (storage.prepared.write_together).
    assert form_step == ["SELECT", "INSERT"]
    assert "Welk gegeven klopt niet?" in parent.last_text

    with counted(engine) as inzage:
        await parent.send("/menu")
        await parent.press("Mijn gegevens")
    assert "Basispoort" in parent.last_text
    # The menu's two (its arrival and marker); then Mijn gegevens' two: the arrival with
    # the child's guardians, requests, disclosures and consent events (a UNION ALL,
    # flows.actor.Alongside; the leaflets from the cache), and the data message's
    # deletion time with the marker.
    assert inzage == ["SELECT", "INSERT", "SELECT", "INSERT"]

    with counted(engine) as consent_screen:
        await parent.send("/menu")
        await parent.press("Foto's en video's")
    assert "Website" in parent.last_text
    # The menu again (two); then the consent screen of the only child: the arrival with
    # the child's choices, and the deletion time with the marker.
    assert consent_screen == ["SELECT", "INSERT", "SELECT", "INSERT"]


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
    # The arrival; the code held against a second account sending it at the same moment
    # (tests/test_linking_race.py); the recent wrong codes, the code and the account as
    # the code links it (its children, for the profile and the menu), in one read; then,
    # with the marker, the code used, and the link and the audit with the marker in one
    # statement. No wrong codes were tried, so there are none to clear.
    assert linking == ["SELECT", "UPDATE", "SELECT", "UPDATE", "INSERT"]


async def test_linking_in_four_statements_on_postgresql(
    pg_factory: SessionFactory, pg_chat: Callable[[int], ChatDriver], clock: FixedClock
) -> None:
    """On PostgreSQL the link, the code used, the wrong codes forgotten, the audit and
    the marker are one statement, in the transaction that holds the code's row from
    before it is read (so a second account sending it at the same moment reads it as
    used): four statements for every parent's first update. All of it is stored: the
    account is linked, and the code cannot be used again."""
    async with pg_factory() as session:
        emma = await factories.pupil(session, "Emma")
        sanne = await factories.guardian(session, "Sanne de Vries", emma)
        code = await factories.guardian_code(session, sanne, clock.now())
        await session.commit()
    parent = pg_chat(3105)
    await parent.send("/start 0000-0000")  # a wrong code first: one to forget
    async with pg_factory() as session:
        assert len((await session.exec(select(CodeAttempt))).all()) == 1
    with counted(pg_factory.kw["bind"]) as linking:
        await parent.send(f"/start {code}")
    assert "Uw account is gekoppeld" in parent.last_text and "Emma" in parent.last_text
    assert linking == ["SELECT", "UPDATE", "SELECT", "WITH"]
    async with pg_factory() as session:
        link = await session.get(ChatLink, 3105)
        assert link is not None and link.guardian_id == sanne.id
        assert (await session.exec(select(CodeAttempt))).all() == []
        audited = await session.exec(select(AuditEvent.action))
        assert "account_linked" in audited.all()
    other = pg_chat(3106)
    await other.send(f"/start {code}")
    assert "al gebruikt" in other.last_text


async def test_mijn_gegevens_in_two_statements_on_postgresql(
    pg_factory: SessionFactory, pg_chat: Callable[[int], ChatDriver], clock: FixedClock
) -> None:
    """On PostgreSQL the data message's deletion time goes in the marker's statement
    (storage.prepared.with_marker), and the child's record comes with the arrival
    (flows.actor.Alongside): two statements, outside any transaction. The deletion is
    stored all the same."""
    code = await leaflets_and_a_parent(pg_factory, clock)
    parent = pg_chat(3104)
    await parent.send(f"/start {code}")
    await parent.press("Leveranciers en privacybijsluiters")  # the leaflets are now cached
    await parent.send("/menu")
    engine = pg_factory.kw["bind"]
    with counted(engine) as inzage:
        await parent.press("Mijn gegevens")
    assert "Basispoort" in parent.last_text
    assert inzage == ["SELECT", "WITH"]
    async with engine.connect() as connection:
        pending = await connection.execute(
            select(col(MessageExpiry.message_id)).where(col(MessageExpiry.done_at).is_(None))
        )
        assert parent.last_message_id in set(pending.scalars())


async def _toggle(factory: SessionFactory, parent: ChatDriver) -> list[str]:
    """Sanne gives consent for the website for Emma, whose teacher Anouk and other parent
    Mark are linked; the statements the choice made."""
    await parent.send("/menu")
    await parent.press("Foto's en video's")
    await parent.press("Emma de Vries")
    await parent.press("Website: toestemming geven")
    with counted(factory.kw["bind"]) as toggle:
        await parent.press("Ja, toestemming geven")
    assert "Website: ✅ toestemming" in parent.last_text
    async with factory() as session:
        told = await session.exec(
            select(Outbox.telegram_user_id, Outbox.staff_id, Outbox.guardian_id)
        )
        assert sorted(told.all()) == sorted(
            [(factories.ANOUK_TG, ANY, None), (factories.MARK_TG, None, ANY)]
        )
        given = await session.exec(select(ConsentEvent.channel, ConsentEvent.granted))
        assert given.all() == [("website", True)]
        audited = await session.exec(select(AuditEvent.action, AuditEvent.detail))
        assert ("consent_given", "website") in audited.all()
    return toggle


async def test_a_consent_choice_in_few_statements(
    chat: Callable[..., ChatDriver], factory: SessionFactory
) -> None:
    async with factory() as session:
        await factories.school(session)
        await session.commit()
    toggle = await _toggle(factory, chat(factories.SANNE_TG))
    # The arrival with the child's events and whom to tell (with their accounts' owners,
    # so no lookup per notice: flows.consent.CHOICE); then the two notices, the choice,
    # its audit, the screen's deletion time and the marker in one statement (rows of the
    # connection's view of writes together, storage.prepared).
    assert toggle == ["SELECT", "INSERT"]


async def test_a_consent_choice_in_few_statements_on_postgresql(
    pg_factory: SessionFactory, pg_chat: Callable[[int], ChatDriver]
) -> None:
    async with pg_factory() as session:
        await factories.school(session)
        await session.commit()
    toggle = await _toggle(pg_factory, pg_chat(factories.SANNE_TG))
    # The arrival with the child's events and whom to tell; the two notices, the choice,
    # its audit, the deletion time and the marker in one statement.
    assert toggle == ["SELECT", "WITH"]
