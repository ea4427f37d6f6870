"""An outbox that cannot jam: a row that cannot be rendered, that Telegram refuses, that
keeps meeting 5xx, or whose recipient is gone fails on its own, with its reason; the next
notification to the same person still arrives, the sender keeps running, and the
director's "Niet bezorgd" lists what did not arrive."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramServerError
from aiogram.methods import SendMessage
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from bot.outbox import MAX_ATTEMPTS, OutboxSender, backoff
from flows import notify
from flows.actor import Actor, load_actor
from flows.clock import FixedClock
from flows.linking import unlink
from flows.requests import commands
from storage.db import SessionFactory, create_all, create_engine
from storage.models import GuardianPupil, Outbox, StaffRole
from tests import factories
from tests.recording import ChatDriver, RecordingSession

SANNE, MARK, DIRECTOR = 6001, 6002, 6009


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A database file, not one shared in-memory connection: stopping the running
    sender mid-query must not close the connection the test reads through next."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'school.db'}")
    await create_all(engine)
    yield engine
    await engine.dispose()


@dataclass
class Family:
    emma_id: int
    sanne: Actor
    mark: Actor


async def _family(factory: SessionFactory) -> Family:
    async with factory() as session:
        emma = await factories.pupil(session, "Emma", "Vries", "de", "5A")
        sanne = await factories.guardian(session, "Sanne de Vries", emma)
        mark = await factories.guardian(session, "Mark de Vries", emma)
        await factories.staff(
            session, "Jeroen Visser", StaffRole.DIRECTOR, telegram_user_id=DIRECTOR
        )
        family = Family(
            emma.id or 0,
            await factories.link_guardian(session, sanne, SANNE),
            await factories.link_guardian(session, mark, MARK),
        )
        await session.commit()
    return family


def _sender(bot: Bot, factory: SessionFactory, i18n: I18n, clock: FixedClock) -> OutboxSender:
    return OutboxSender(bot, factory, i18n, clock, per_chat_interval=0, global_interval=0)


def _texts(recorder: RecordingSession, chat_id: int) -> list[str]:
    """What arrived in the chat (refused calls are not shown)."""
    return [m.text for _, m in sorted(recorder.shown.items()) if m.chat_id == chat_id]


async def _rows(factory: SessionFactory) -> list[Outbox]:
    async with factory() as session:
        return list((await session.exec(select(Outbox).order_by(col(Outbox.id)))).all())


async def test_a_row_whose_template_raises_fails_alone_and_the_director_sees_it(
    factory: SessionFactory,
    clock: FixedClock,
    chat: Callable[..., ChatDriver],
    bot_and_session: tuple[Bot, RecordingSession],
    i18n: I18n,
) -> None:
    await _family(factory)
    bot, recorder = bot_and_session
    async with factory() as session:
        # "2027-02-30" makes long_date raise, as the full timestamp did before.
        await notify.enqueue(
            session, SANNE, "request_extended", clock.now(), reference="OL-2026-0001",
            request_id=1, due="2027-02-30",
        )  # fmt: skip
        await notify.enqueue(
            session, SANNE, "request_extended", clock.now(), reference="OL-2026-0002",
            request_id=2, due=datetime(2027, 2, 28, 18, 13, 16, tzinfo=UTC).isoformat(),
        )  # fmt: skip
        await session.commit()

    sender = _sender(bot, factory, i18n, clock)
    running = asyncio.create_task(sender.run(idle=0.01))
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while any(r.sent_at is None and r.failed_at is None for r in await _rows(factory)):
            assert loop.time() < deadline, "the sender did not settle both rows"
            await asyncio.sleep(0.01)
        assert not running.done()  # the sender keeps running
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running

    (text,) = _texts(recorder, SANNE)  # the next notification to the same parent arrives
    assert "OL-2026-0002" in text and "uiterlijk 28 februari 2027 antwoord" in text
    bad, good = await _rows(factory)
    assert bad.failed_at == clock.now() and bad.sent_at is None
    assert bad.reason == "render" and "ValueError" in (bad.error or "")
    assert good.sent_at is not None

    director = chat(DIRECTOR)
    await director.send("/menu")
    await director.press("Niet bezorgd")
    assert "Sanne de Vries" in director.last_text
    assert "termijn verlengd" in director.last_text
    assert "De bot kon dit bericht niet maken" in director.last_text
    assert "Alle berichten zijn bezorgd" not in director.last_text

    clock.advance(hours=1)
    assert await sender.deliver_due() == 0  # never retried
    assert len(_texts(recorder, SANNE)) == 1


async def test_an_extended_deadline_reaches_the_parents_with_the_new_date(
    factory: SessionFactory,
    clock: FixedClock,
    bot_and_session: tuple[Bot, RecordingSession],
    i18n: I18n,
) -> None:
    family = await _family(factory)
    async with factory() as session:
        # An access request has a legal deadline (a question has none to extend), and
        # both parents see it.
        made = await factories.create_access_request(
            session, family.sanne, family.emma_id, "Graag alles.", clock.now()
        )
        director = await load_actor(session, DIRECTOR, "nl")
        await commands.extend(session, director, made.id or 0, "Het archief is dicht.", clock.now())
        await session.commit()
    bot, recorder = bot_and_session
    await _sender(bot, factory, i18n, clock).deliver_due()
    for parent in (SANNE, MARK):
        (text,) = _texts(recorder, parent)
        assert "U krijgt uiterlijk 2 februari 2027 antwoord" in text
    assert all(r.sent_at is not None for r in await _rows(factory))


async def test_a_400_fails_the_row_at_once_and_it_is_not_retried(
    factory: SessionFactory,
    clock: FixedClock,
    chat: Callable[..., ChatDriver],
    bot_and_session: tuple[Bot, RecordingSession],
    i18n: I18n,
) -> None:
    await _family(factory)
    bot, recorder = bot_and_session
    async with factory() as session:
        for n in (1, 2):
            await notify.enqueue(
                session, SANNE, "pupil_erased", clock.now(), pupil_full=f"Kind {n}"
            )
        await session.commit()
    recorder.send_faults = [
        TelegramBadRequest(
            method=SendMessage(chat_id=SANNE, text="x"),
            message="Bad Request: can't parse entities",
        )
    ]
    sender = _sender(bot, factory, i18n, clock)
    assert await sender.deliver_due() == 1  # the second still goes, at once
    refused, delivered = await _rows(factory)
    assert refused.reason == "rejected" and "can't parse entities" in (refused.error or "")
    assert refused.attempts == 0 and delivered.sent_at is not None
    clock.advance(hours=3)
    assert await sender.deliver_due() == 0
    assert len(recorder.of(SendMessage)) == 2  # one refused, one delivered: no retry

    director = chat(DIRECTOR)
    await director.send("/menu")
    await director.press("Niet bezorgd")
    assert "Telegram weigerde dit bericht" in director.last_text


async def test_5xx_is_retried_on_a_bounded_schedule_and_never_delays_the_next_row(
    factory: SessionFactory,
    clock: FixedClock,
    chat: Callable[..., ChatDriver],
    bot_and_session: tuple[Bot, RecordingSession],
    i18n: I18n,
) -> None:
    await _family(factory)
    bot, recorder = bot_and_session
    async with factory() as session:
        for n in (1, 2):
            await notify.enqueue(
                session, SANNE, "pupil_erased", clock.now(), pupil_full=f"Kind {n}"
            )
        await session.commit()
    method = SendMessage(chat_id=SANNE, text="x")
    recorder.send_faults = [TelegramServerError(method=method, message="Bad Gateway"), None]
    sender = _sender(bot, factory, i18n, clock)
    assert await sender.deliver_due() == 1
    assert "Kind 2" in _texts(recorder, SANNE)[0]  # not held up behind the first

    # A Telegram that keeps failing: retried with growing waits, then given up.
    director = chat(DIRECTOR)
    await director.send("/menu")
    clock.advance(minutes=11)
    await director.press("Niet bezorgd")
    assert "Nog niet bezorgd; de bot probeert het opnieuw." in director.last_text
    recorder.send_faults = [TelegramServerError(method=method, message="Bad Gateway")] * 50
    for attempt in range(1, MAX_ATTEMPTS):
        assert await sender.deliver_due() == 0  # not due yet: waiting
        clock.advance(seconds=backoff(attempt).total_seconds())
        await sender.deliver_due()
    first, _second = await _rows(factory)
    assert first.attempts == MAX_ATTEMPTS and first.reason == "gave_up"
    assert first.failed_at is not None and first.sent_at is None
    calls = len(recorder.of(SendMessage))
    clock.advance(days=1)
    assert await sender.deliver_due() == 0
    assert len(recorder.of(SendMessage)) == calls
    recorder.send_faults = []  # Telegram is back for the director
    await director.send("/menu")
    await director.press("Niet bezorgd")
    assert "Telegram was urenlang niet bereikbaar" in director.last_text


async def test_a_recipient_who_unlinked_or_lost_the_child_gets_nothing(
    factory: SessionFactory,
    clock: FixedClock,
    chat: Callable[..., ChatDriver],
    bot_and_session: tuple[Bot, RecordingSession],
    i18n: I18n,
) -> None:
    family = await _family(factory)
    about = {
        "pupil": "Emma",
        "pupil_full": "Emma de Vries",
        "group": "5A",
        "channel": "website",
        "granted": False,
        "by": "Iemand",
    }
    async with factory() as session:
        for parent in (SANNE, MARK):
            await notify.enqueue(
                session,
                parent,
                "consent_changed_guardian",
                clock.now(),
                about_pupil=family.emma_id,
                **about,
            )
        await session.commit()
    async with factory() as session:
        await unlink(session, family.sanne, clock.now())  # Sanne unlinked since
        link = await session.get(GuardianPupil, (family.mark.guardian_id, family.emma_id))
        await session.delete(link)  # Mark is no longer Emma's guardian
        await session.commit()
    bot, recorder = bot_and_session
    assert await _sender(bot, factory, i18n, clock).deliver_due() == 0
    assert recorder.of(SendMessage) == []
    rows = await _rows(factory)
    assert [r.reason for r in rows] == ["recipient_gone", "recipient_gone"]

    director = chat(DIRECTOR)
    await director.send("/menu")
    await director.press("Niet bezorgd")
    assert "Sanne de Vries" in director.last_text and "Mark de Vries" in director.last_text
    assert "ontkoppeld of hoort niet meer bij dit kind" in director.last_text


async def test_the_staff_card_says_wordt_bezorgd_until_the_parents_have_it(
    factory: SessionFactory,
    clock: FixedClock,
    chat: Callable[..., ChatDriver],
    bot_and_session: tuple[Bot, RecordingSession],
    i18n: I18n,
) -> None:
    family = await _family(factory)
    async with factory() as session:
        # An access request: the director writes to the parent before deciding it.
        made = await factories.create_access_request(
            session, family.sanne, family.emma_id, "Graag alles.", clock.now()
        )
        await session.commit()
    bot, recorder = bot_and_session
    sender = _sender(bot, factory, i18n, clock)
    await sender.deliver_due()  # the director's "new request"
    director = chat(DIRECTOR)
    await director.send("/menu")
    await director.press("Wachtrij")
    await director.press(f"{made.reference} · Emma de Vries")
    await director.press("Antwoorden")
    await director.send("Ja, dat mag.")
    assert "Uw bericht is opgeslagen bij het verzoek." in director.last_text
    assert "Bericht aan de ouder: wordt bezorgd." in director.last_text
    assert "naar de ouder gestuurd" not in director.last_text
    recorder.send_faults = [
        TelegramBadRequest(method=SendMessage(chat_id=MARK, text="x"), message="Bad Request")
    ]
    await sender.deliver_due()  # one parent's copy is refused, the other's arrives
    await director.send("/menu")
    await director.press("Wachtrij")
    await director.press(f"{made.reference} · Emma de Vries")
    assert "Bericht aan de ouder: niet bezorgd." in director.last_text


async def test_a_decision_nobody_is_told_of_says_so_on_the_card_and_under_niet_bezorgd(
    factory: SessionFactory,
    clock: FixedClock,
    chat: Callable[..., ChatDriver],
    bot_and_session: tuple[Bot, RecordingSession],
    i18n: I18n,
) -> None:
    family = await _family(factory)
    async with factory() as session:
        made = await factories.create_question(
            session, family.sanne, family.emma_id, StaffRole.DIRECTOR, "Vraag?", clock.now()
        )
        # Both parents unlink before the director answers: nobody is left to tell.
        await unlink(session, family.sanne, clock.now())
        await unlink(session, family.mark, clock.now())
        await session.commit()
    director = chat(DIRECTOR)
    await director.send("/menu")
    await director.press("Wachtrij")
    await director.press(f"{made.reference} · Emma de Vries")
    assert "Bericht aan de ouder" not in director.last_text  # nothing said yet
    await director.press("Afwijzen")
    await director.send("Dat kan niet.")
    assert "Afgewezen." in director.last_text
    assert "Niemand gekoppeld: de ouders krijgen geen bericht." in director.last_text
    assert "wordt bezorgd" not in director.last_text and "bezorgd." not in director.last_text
    assert [r for r in await _rows(factory) if r.guardian_id is not None] == []
    await director.send("/menu")
    await director.press("Niet bezorgd")
    assert "Alle berichten zijn bezorgd" not in director.last_text
    assert "Sanne de Vries" in director.last_text and made.reference in director.last_text
    assert "niemand kreeg bericht van het besluit" in director.last_text


async def test_the_confirmation_promises_the_other_parent_a_message_only_when_linked(
    factory: SessionFactory, clock: FixedClock
) -> None:
    from flows import requests

    family = await _family(factory)
    async with factory() as session:
        assert await requests.others_linked(session, family.sanne, family.emma_id)
        await unlink(session, family.mark, clock.now())
        await session.commit()
        assert not await requests.others_linked(session, family.sanne, family.emma_id)
