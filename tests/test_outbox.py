"""Notifications: queued with the change, delivered in the recipient's language, retried
on 429 and 5xx, recorded as undeliverable on 403, never sent twice."""

from __future__ import annotations

from collections.abc import Callable

from aiogram import Bot
from aiogram.exceptions import TelegramForbiddenError, TelegramRetryAfter, TelegramServerError
from aiogram.methods import SendMessage
from aiogram.utils.i18n import I18n
from sqlmodel import select

from bot.outbox import OutboxSender
from flows.actor import Actor
from flows.clock import FixedClock
from flows.linking import redeem, set_locale
from storage.db import SessionFactory
from storage.models import Outbox, StaffRole
from tests import factories
from tests.recording import ChatDriver, RecordingSession

TEACHER, MARK, SANNE = 5001, 5002, 5003


async def _withdraw_with_teacher_and_other_parent(
    factory: SessionFactory, clock: FixedClock, chat: Callable[..., ChatDriver]
) -> None:
    async with factory() as session:
        emma = await factories.pupil(session, "Emma", "Vries", "de", "5A")
        sanne = await factories.guardian(session, "Sanne de Vries", emma)
        mark = await factories.guardian(session, "Mark de Vries", emma)
        juf = await factories.staff_code(
            session, "Juf Anouk", StaffRole.TEACHER, ["5A"], clock.now()
        )
        await factories.staff_code(session, "Juf Sophie", StaffRole.TEACHER, ["7B"], clock.now())
        await redeem(session, Actor(telegram_user_id=TEACHER, locale="nl"), juf, clock.now())
        mark_code = await factories.guardian_code(session, mark, clock.now())
        mark_actor = Actor(telegram_user_id=MARK, locale="nl")
        await redeem(session, mark_actor, mark_code, clock.now())
        await set_locale(session, mark_actor, "en")
        code = await factories.guardian_code(session, sanne, clock.now())
        await session.commit()
    parent = chat(SANNE)
    await parent.send(f"/start {code}")
    await parent.press("Foto's en video's")
    await parent.press("Website: toestemming geven")
    await parent.press("Ja, toestemming geven")
    await parent.press("Website: intrekken")
    await parent.press("Ja, intrekken")


def _sent_to(recorder: RecordingSession, chat_id: int) -> list[str]:
    return [m.text for m in recorder.of(SendMessage) if m.chat_id == chat_id]


async def test_withdrawal_reaches_the_teacher_and_the_other_parent_in_their_language(
    factory: SessionFactory,
    clock: FixedClock,
    chat: Callable[..., ChatDriver],
    bot_and_session: tuple[Bot, RecordingSession],
    i18n: I18n,
) -> None:
    await _withdraw_with_teacher_and_other_parent(factory, clock, chat)
    bot, recorder = bot_and_session
    sender = OutboxSender(bot, factory, i18n, clock, per_chat_interval=0, global_interval=0)
    assert await sender.deliver_due() == 4
    assert await sender.deliver_due() == 0  # nothing twice
    to_teacher = _sent_to(recorder, TEACHER)
    assert "Toestemming gegeven: Emma de Vries (5A), kanaal Website." in to_teacher[0]
    assert "Toestemming ingetrokken: Emma de Vries (5A), kanaal Website." in to_teacher[1]
    to_mark = _sent_to(recorder, MARK)
    assert "Sanne de Vries has withdrawn the consent for photos and videos of Emma" in to_mark[1]
    # Not told of her own change: the four notifications went to the others.
    assert not any("Sanne de Vries heeft" in text for text in _sent_to(recorder, SANNE))


async def test_429_and_502_are_retried_and_403_is_recorded_not_retried(
    factory: SessionFactory,
    clock: FixedClock,
    chat: Callable[..., ChatDriver],
    bot_and_session: tuple[Bot, RecordingSession],
    i18n: I18n,
) -> None:
    await _withdraw_with_teacher_and_other_parent(factory, clock, chat)
    bot, recorder = bot_and_session
    method = SendMessage(chat_id=0, text="x")
    recorder.send_faults = [
        TelegramRetryAfter(
            method=method, message="Too Many Requests: retry after 5", retry_after=5
        ),
        TelegramServerError(method=method, message="Bad Gateway"),
        TelegramForbiddenError(method=method, message="Forbidden: bot was blocked by the user"),
        None,
    ]
    sender = OutboxSender(bot, factory, i18n, clock, per_chat_interval=0, global_interval=0)
    assert await sender.deliver_due() == 1
    assert await sender.deliver_due() == 0  # the others wait for their time
    clock.advance(seconds=5)
    assert await sender.deliver_due() == 2
    async with factory() as session:
        rows = (await session.exec(select(Outbox).order_by(Outbox.id))).all()  # type: ignore[arg-type]
    failed = [r for r in rows if r.failed_at is not None]
    assert len(failed) == 1 and "blocked" in (failed[0].error or "")
    assert sum(1 for r in rows if r.sent_at is not None) == 3
    clock.advance(hours=1)
    assert await sender.deliver_due() == 0  # the blocked one is not retried
