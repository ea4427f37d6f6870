"""Photo and video consent: one tap and one confirmation, effective at once, history kept."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from aiogram.utils.i18n import I18n
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import create_dispatcher
from bot.callbacks import ConsentAction, ConsentCb
from bot.config import Settings
from flows import consent
from flows.actor import Actor
from flows.clock import FixedClock
from flows.errors import NotFound
from storage.db import SessionFactory
from storage.models import AuditEvent, ConsentEvent, ConsentSource, Outbox
from tests import factories
from tests.recording import ChatDriver, HoldFirst, recording_bot

CHANNELS = ("website", "nieuwsbrief", "parro")


async def _family(factory: SessionFactory, clock: FixedClock) -> dict[str, object]:
    async with factory() as session:
        emma = await factories.pupil(session, "Emma", "Vries", "de", "5A")
        daan = await factories.pupil(session, "Daan", "Vries", "de", "7B")
        sanne = await factories.guardian(session, "Sanne de Vries", emma, daan)
        mark = await factories.guardian(session, "Mark de Vries", emma, daan)
        noor = await factories.pupil(session, "Noor", "Bakker", "", "5A")
        await factories.guardian(session, "Piet Bakker", noor)
        session.add(
            ConsentEvent(
                pupil_id=emma.id or 0,
                channel="website",
                granted=True,
                at=clock.now(),
                source=ConsentSource.IMPORT,
            )
        )
        ids = {
            "emma": emma.id,
            "noor": noor.id,
            "sanne_code": await factories.guardian_code(session, sanne, clock.now()),
            "mark_code": await factories.guardian_code(session, mark, clock.now()),
        }
        await session.commit()
    return ids


async def test_withdrawal_takes_effect_without_approval_and_both_parents_see_it(
    chat: Callable[..., ChatDriver], factory: SessionFactory, clock: FixedClock
) -> None:
    family = await _family(factory, clock)
    sanne = chat(4001)
    await sanne.send(f"/start {family['sanne_code']}")
    await sanne.press("Foto's en video's")
    assert sanne.last_text == "Over welk kind gaat het?"
    await sanne.press("Emma de Vries")
    assert "dat geldt meteen.\n\nWebsite: ✅ toestemming (sinds 2 november 2026)\n" in (
        sanne.last_text
    )
    assert "Parro: nog niet gekozen" in sanne.last_text

    clock.advance(days=3)
    await sanne.press("Website: intrekken")
    assert "Dit geldt meteen" in sanne.last_text
    await sanne.press("Ja, intrekken")
    assert "Website: ❌ geen toestemming (sinds 5 november 2026)" in sanne.last_text
    assert "Uw keuze is opgeslagen" in sanne.last_text

    mark = chat(4002)
    await mark.send(f"/start {family['mark_code']}")
    await mark.press("Foto's en video's")
    await mark.press("Emma de Vries")
    assert "Website: ❌ geen toestemming" in mark.last_text
    clock.advance(days=1)
    await mark.press("Website: toestemming geven")
    await mark.press("Ja, toestemming geven")
    assert "Website: ✅ toestemming (sinds 6 november 2026)" in mark.last_text
    await mark.press("Geschiedenis")
    history = mark.last_text
    # Newest first; nothing overwritten.
    assert (
        history.index("toestemming gegeven door u")
        < history.index("ingetrokken door Sanne de Vries")
        < history.index("toestemming (uit de schooladministratie)")
    )

    async with factory() as session:
        events = (await session.exec(select(ConsentEvent))).all()
    assert [e.granted for e in events] == [True, False, True]


async def test_cancel_on_confirmation_changes_nothing(
    chat: Callable[..., ChatDriver], factory: SessionFactory, clock: FixedClock
) -> None:
    family = await _family(factory, clock)
    sanne = chat(4003)
    await sanne.send(f"/start {family['sanne_code']}")
    await sanne.press("Foto's en video's")
    await sanne.press("Emma de Vries")
    await sanne.press("Nieuwsbrief: toestemming geven")
    await sanne.press("Annuleren")
    assert "Nieuwsbrief: nog niet gekozen" in sanne.last_text
    async with factory() as session:
        assert len((await session.exec(select(ConsentEvent))).all()) == 1


async def test_forged_button_for_another_familys_child_reveals_nothing(
    chat: Callable[..., ChatDriver], factory: SessionFactory, clock: FixedClock
) -> None:
    family = await _family(factory, clock)
    sanne = chat(4004)
    await sanne.send(f"/start {family['sanne_code']}")
    noor = int(str(family["noor"]))
    for action in ConsentAction:
        data = ConsentCb(action=action, pupil_id=noor, channel="website", grant=False).pack()
        query = await sanne.press_data(sanne.last_message_id, data)
        answer = next(a for a in sanne.answered_callbacks() if a.callback_query_id == query.id)
        if action is not ConsentAction.CHILDREN:
            assert answer.text == "Niet gevonden."
        assert "Noor" not in sanne.last_text and "Bakker" not in sanne.last_text
    async with factory() as session:
        assert len((await session.exec(select(ConsentEvent))).all()) == 1


async def test_flow_refuses_unknown_channel_and_strangers(
    session: AsyncSession, clock: FixedClock
) -> None:
    emma = await factories.pupil(session)
    sanne = await factories.guardian(session, "Sanne", emma)
    actor = Actor(telegram_user_id=1, locale="nl", guardian_id=sanne.id)
    with pytest.raises(NotFound):
        await consent.choose(session, actor, emma.id or 0, "tiktok", True, CHANNELS, clock.now())
    stranger = Actor(telegram_user_id=2, locale="nl", guardian_id=(sanne.id or 0) + 100)
    with pytest.raises(NotFound):
        await consent.state(session, stranger, emma.id or 0, CHANNELS)
    # Choosing what is already in force writes nothing.
    await consent.choose(session, actor, emma.id or 0, "parro", False, CHANNELS, clock.now())
    await consent.choose(session, actor, emma.id or 0, "parro", False, CHANNELS, clock.now())
    assert len((await session.exec(select(ConsentEvent))).all()) == 1


async def test_consent_screens_in_english(
    chat: Callable[..., ChatDriver], factory: SessionFactory, clock: FixedClock
) -> None:
    family = await _family(factory, clock)
    sanne = chat(4005)
    await sanne.send(f"/start {family['sanne_code']}")
    await sanne.send("/taal")
    await sanne.press("English")
    await sanne.send("/menu")
    await sanne.press("Photos and videos")
    await sanne.press("Emma de Vries")
    assert "Website: ✅ consent (since 2 November 2026)" in sanne.last_text
    await sanne.press("Website: withdraw")
    await sanne.press("Yes, withdraw")
    assert "Website: ❌ no consent (since 2 November 2026)" in sanne.last_text


async def _double_tap(
    factory: SessionFactory,
    parent: ChatDriver,
    monkeypatch: pytest.MonkeyPatch,
    other_worker: ChatDriver | None = None,
) -> None:
    """Sanne taps "Ja, toestemming geven" twice before the first tap is answered: one
    choice is recorded, audited and told, as for one tap. The first tap holds on after
    it read the child's choices, until the second has read them too (or cannot, as it
    waits for the first to be committed: aiogram's event isolation, bot.app)."""
    async with factory() as session:
        await factories.school(session)
        await session.commit()
    await parent.send("/menu")
    await parent.press("Foto's en video's")
    await parent.press("Emma de Vries")
    await parent.press("Website: toestemming geven")
    shown = parent.last_message_id
    (confirm,) = [
        button.callback_data
        for row in parent.session.shown[shown].markup.inline_keyboard  # type: ignore[union-attr]
        for button in row
        if button.text == "Ja, toestemming geven"
    ]
    assert confirm is not None
    race = HoldFirst()
    remember, name = consent.remember, consent.guardian_name

    def counting(*args: Any) -> None:
        race.mark()
        remember(*args)

    async def holding_on(*args: Any) -> str:
        await race.hold()
        return await name(*args)

    monkeypatch.setattr(consent, "remember", counting)
    monkeypatch.setattr(consent, "guardian_name", holding_on)
    again = other_worker or parent
    await asyncio.gather(parent.press_data(shown, confirm), again.press_data(shown, confirm))
    assert "Website: ✅ toestemming" in parent.last_text
    async with factory() as session:
        given = await session.exec(select(ConsentEvent.channel, ConsentEvent.granted))
        assert given.all() == [("website", True)]
        audited = await session.exec(
            select(AuditEvent.action).where(col(AuditEvent.action) == "consent_given")
        )
        assert len(audited.all()) == 1
        told = await session.exec(select(Outbox.telegram_user_id))
        assert sorted(told.all()) == sorted([factories.ANOUK_TG, factories.MARK_TG])


async def test_a_double_tap_records_one_choice(
    chat: Callable[..., ChatDriver], factory: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _double_tap(factory, chat(factories.SANNE_TG), monkeypatch)


async def test_a_double_tap_records_one_choice_on_postgresql(
    pg_chat: Callable[[int], ChatDriver],
    pg_factory: SessionFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await _double_tap(pg_factory, pg_chat(factories.SANNE_TG), monkeypatch)


async def test_a_double_tap_on_two_workers_records_one_choice(
    pg_factory: SessionFactory,
    settings: Settings,
    redis_url: tuple[str, str],
    clock: FixedClock,
    i18n: I18n,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each tap reaches another worker (PostgreSQL and Redis): the second still waits for
    the first, as one user's updates take turns across workers."""
    server, prefix = redis_url
    shared = settings.model_copy(update={"redis_url": server, "redis_prefix": prefix})
    bot, recorder = recording_bot()
    workers = [create_dispatcher(shared, pg_factory, clock=clock, i18n=i18n) for _ in range(2)]
    parent, other = (ChatDriver(dp, bot, recorder, factories.SANNE_TG) for dp in workers)
    try:
        await _double_tap(pg_factory, parent, monkeypatch, other_worker=other)
    finally:
        for dp in workers:
            await dp.storage.close()
