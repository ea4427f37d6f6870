"""Notifications through a flaky Telegram: every 3rd call refused (429 with retry_after,
then 502), the sender restarted halfway, one recipient who blocked the bot. Each message
arrives exactly once, nothing is lost, and the blocked one is reported to the director."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.utils.i18n import I18n
from sqlmodel import col, select

from bot.app import create_bot
from bot.config import Settings
from bot.emulator.server import EmulatorServer, create_app
from bot.emulator.state import Emulator, Fault
from bot.outbox import OutboxSender
from flows import delivery, notify
from flows.actor import load_actor
from flows.clock import FixedClock
from storage.db import SessionFactory
from storage.models import ChatLink, Outbox, StaffRole
from tests import factories

TOKEN = "42:TEST"  # the token of the settings fixture
RECIPIENTS = [9101, 9102, 9103, 9104, 9105]
BLOCKED = 9105
PER_RECIPIENT = 6


@pytest.fixture
async def telegram() -> AsyncIterator[tuple[Emulator, str]]:
    emu = Emulator(TOKEN)
    async with EmulatorServer(create_app(emu)) as server:
        yield emu, server.url


def _bot(settings: Settings, url: str) -> Bot:
    """The product's own bot factory, pointed at the emulator."""
    return create_bot(settings.model_copy(update={"telegram_api_url": url}))


async def test_every_notification_arrives_once_through_faults_and_a_restart(
    telegram: tuple[Emulator, str],
    factory: SessionFactory,
    clock: FixedClock,
    i18n: I18n,
    settings: Settings,
) -> None:
    emu, url = telegram
    for user_id in RECIPIENTS:
        await emu.user_sends(user_id, "/start")
    emu.block(BLOCKED)
    async with factory() as session:
        director = await factories.staff(session, "Meester Bram", StaffRole.DIRECTOR)
        session.add(ChatLink(telegram_user_id=9999, staff_id=director.id))
        await factories.guardian(session, "Piet Bakker")
        for n in range(PER_RECIPIENT):
            for user_id in RECIPIENTS:
                await notify.enqueue(
                    session,
                    user_id,
                    "request_new",
                    clock.now(),
                    reference=f"OL-2026-{n:04d}",
                    kind="question",
                    pupil_full="Emma de Vries",
                    group="5A",
                    request_id=n + 1,
                )
        await session.commit()
    emu.faults.append(
        Fault(
            429,
            "Too Many Requests: retry after 7",
            retry_after=7,
            every=3,
            methods=frozenset({"sendmessage"}),
        )
    )

    def sender(bot: Bot) -> OutboxSender:
        return OutboxSender(bot, factory, i18n, clock, per_chat_interval=0, global_interval=0)

    first = _bot(settings, url)
    for _ in range(3):
        await sender(first).deliver_due()
        clock.advance(seconds=8)
    await first.session.close()  # the bot stops here: a restart

    emu.faults[:] = [Fault(502, "Bad Gateway", every=3, methods=frozenset({"sendmessage"}))]
    second = _bot(settings, url)
    try:
        for _ in range(30):
            await sender(second).deliver_due()
            clock.advance(minutes=31)  # past the longest backoff
            async with factory() as session:
                left = (
                    await session.exec(
                        select(Outbox).where(
                            col(Outbox.sent_at).is_(None), col(Outbox.failed_at).is_(None)
                        )
                    )
                ).all()
            if not left:
                break
    finally:
        await second.session.close()

    delivered = Counter(
        (m.chat_id, (m.text or "").split("\n")[0])
        for user_id in RECIPIENTS
        for m in emu.visible(user_id)
        if m.from_bot
    )
    expected = {
        (user_id, f"Nieuw verzoek OL-2026-{n:04d}")
        for user_id in RECIPIENTS
        if user_id != BLOCKED
        for n in range(PER_RECIPIENT)
    }
    assert set(delivered) == expected
    assert set(delivered.values()) == {1}  # none twice
    refused = [c for c in emu.calls if c[0] == "sendMessage"]
    assert len(refused) > len(expected)  # the faults really happened

    async with factory() as session:
        rows = (await session.exec(select(Outbox))).all()
        assert all(r.sent_at is not None for r in rows if r.telegram_user_id != BLOCKED)
        blocked = [r for r in rows if r.telegram_user_id == BLOCKED]
        assert all(r.failed_at is not None and r.sent_at is None for r in blocked)
        reported = await delivery.undeliverable(
            session, await load_actor(session, 9999, "nl"), clock.now()
        )
    assert len(reported) == PER_RECIPIENT
