"""Reminders: due dates a week ahead, the director's daily overdue list and the yearly
consent check; each once, however often the scheduler runs."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from aiogram import Bot
from aiogram.methods import SendMessage
from aiogram.utils.i18n import I18n
from sqlmodel import col, select

from bot.outbox import OutboxSender
from bot.scheduler import Scheduler
from flows import consent, reminders, requests
from flows.actor import Actor
from flows.clock import FixedClock
from flows.deadlines import extended_due
from storage.db import SessionFactory
from storage.models import (
    AuditEvent,
    ChatLink,
    Outbox,
    Pupil,
    Request,
    RequestStatus,
    Staff,
    StaffRole,
)
from tests import factories
from tests.factories import ANOUK_TG, DIRECTOR_TG, MARK_TG, PIET_TG, SANNE_TG
from tests.recording import RecordingSession

OLD_DIRECTOR_TG = 9101  # left the school: linked, but inactive
CHANNELS = ("website", "nieuwsbrief", "parro")


@dataclass
class School:
    emma: int  # 5A
    daan: int  # 7B: its teacher never linked an account
    noor: int  # another family
    sanne: Actor
    mark: Actor
    piet: Actor
    kees_id: int  # Noor's other parent: never linked
    anouk_id: int
    director_id: int


@pytest.fixture
async def school(factory: SessionFactory) -> School:
    async with factory() as session:
        base = await factories.school(session)  # 7B's teacher never linked an account
        kees = await factories.guardian(session, "Kees Bakker", base.noor)
        await factories.staff(
            session,
            "Truus Oud",
            StaffRole.DIRECTOR,
            telegram_user_id=OLD_DIRECTOR_TG,
            active=False,
        )
        made = School(
            emma=_id(base.emma),
            daan=_id(base.daan),
            noor=_id(base.noor),
            sanne=base.sanne,
            mark=base.mark,
            piet=base.piet,
            kees_id=kees.id or 0,
            anouk_id=base.anouk_id,
            director_id=base.director_id,
        )
        await session.commit()
    return made


def _id(model: Pupil | Request) -> int:
    assert model.id is not None
    return model.id


async def _outbox(factory: SessionFactory, template: str) -> list[tuple[int, dict[str, Any]]]:
    async with factory() as session:
        rows = await session.exec(
            select(Outbox).where(Outbox.template == template).order_by(col(Outbox.id))
        )
        return [(r.telegram_user_id, json.loads(r.params)) for r in rows.all()]


async def _correction(factory: SessionFactory, school: School, now: datetime) -> Request:
    """Sanne asks on `now` to correct Emma's first name: it goes to juf Anouk."""
    async with factory() as session:
        made = await factories.create_correction(
            session, school.sanne, school.emma, "voornaam", "Emma-Sophie", None, now
        )
        await session.commit()
    return made


async def _update(factory: SessionFactory, request_id: int, **fields: Any) -> None:
    async with factory() as session:
        row = await session.get(Request, request_id)
        assert row is not None
        for name, value in fields.items():
            setattr(row, name, value)
        session.add(row)
        await session.commit()


def _at(clock: FixedClock, moment: datetime) -> None:
    clock.advance(seconds=(moment - clock.now()).total_seconds())


# --- due soon ------------------------------------------------------------------------


async def test_a_request_is_reminded_seven_days_before_its_due_date_exactly_once(
    factory: SessionFactory, school: School, clock: FixedClock
) -> None:
    made = await _correction(factory, school, clock.now())  # 2 November, 10:00 school time
    assert made.due_at == datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    scheduler = Scheduler(factory, clock, channels=CHANNELS)

    await scheduler.tick()
    clock.advance(days=22)  # 24 November
    await scheduler.tick()
    assert await _outbox(factory, "request_due_soon") == []

    clock.advance(days=1)  # 25 November: seven days before 2 December
    for _ in range(3):
        await scheduler.tick()
    assert await _outbox(factory, "request_due_soon") == [
        (
            ANOUK_TG,
            {
                "reference": "OL-2026-0001",
                "request_id": _id(made),
                "kind": "correction",
                "pupil_full": "Emma de Vries",
                "due": "2026-12-02",
            },
        )
    ]
    clock.advance(days=1)
    await scheduler.tick()
    assert len(await _outbox(factory, "request_due_soon")) == 1
    async with factory() as session:
        markers = (
            await session.exec(
                select(AuditEvent.detail).where(AuditEvent.action == "reminder_due_soon")
            )
        ).all()
    assert markers == [f"{_id(made)}:2026-12-02"]


async def test_the_reminder_waits_for_the_day_and_the_morning_on_the_school_calendar(
    factory: SessionFactory, school: School, clock: FixedClock
) -> None:
    await _correction(factory, school, clock.now())
    # 24 November 23:59 in Amsterdam: still eight days.
    for moment, expected in (
        (datetime(2026, 11, 24, 22, 59, tzinfo=UTC), 0),
        # 25 November, 06:00 in Amsterdam: the right day, but nobody is woken.
        (datetime(2026, 11, 25, 5, 0, tzinfo=UTC), 0),
        (datetime(2026, 11, 25, 7, 0, tzinfo=UTC), 1),  # 08:00
    ):
        async with factory() as session:
            assert await reminders.due_soon(session, moment) == expected
            await session.commit()


async def test_an_extended_request_is_reminded_before_its_new_due_date(
    factory: SessionFactory, school: School, clock: FixedClock
) -> None:
    made = await _correction(factory, school, clock.now())
    scheduler = Scheduler(factory, clock, channels=CHANNELS)
    clock.advance(days=23)  # 25 November: reminded of 2 December
    await scheduler.tick()
    await _update(factory, _id(made), extended_until=extended_due(made.received_at))

    await scheduler.tick()
    clock.advance(days=30)  # 25 December: the old date has passed, the new one is far
    await scheduler.tick()
    assert [p["due"] for _to, p in await _outbox(factory, "request_due_soon")] == ["2026-12-02"]

    _at(clock, datetime(2027, 1, 26, 9, 0, tzinfo=UTC))  # seven days before 2 February
    await scheduler.tick()
    await scheduler.tick()
    assert [p["due"] for _to, p in await _outbox(factory, "request_due_soon")] == [
        "2026-12-02",
        "2027-02-02",
    ]
    # Extended, so not overdue after 2 December.
    assert await _outbox(factory, "overdue_summary") == []


async def test_withdrawn_and_resolved_requests_are_not_reminded(
    factory: SessionFactory, school: School, clock: FixedClock
) -> None:
    withdrawn = await _correction(factory, school, clock.now())
    resolved = await _correction(factory, school, clock.now())
    async with factory() as session:
        await requests.withdraw(session, school.sanne, _id(withdrawn), clock.now())
        await session.commit()
    await _update(factory, _id(resolved), status=RequestStatus.RESOLVED, decided_at=clock.now())
    scheduler = Scheduler(factory, clock, channels=CHANNELS)
    for _ in range(40):  # every day until well past the deadline
        await scheduler.tick()
        clock.advance(days=1)
    assert await _outbox(factory, "request_due_soon") == []
    assert await _outbox(factory, "overdue_summary") == []


async def test_an_assignee_without_an_account_is_replaced_by_the_directors(
    factory: SessionFactory, school: School, clock: FixedClock
) -> None:
    made = await _correction(factory, school, clock.now())
    async with factory() as session:
        anouk = await session.get(Staff, school.anouk_id)
        assert anouk is not None
        anouk.active = False  # juf Anouk left the school
        session.add(anouk)
        await session.commit()
    clock.advance(days=23)
    await Scheduler(factory, clock, channels=CHANNELS).tick()
    # Only the active director: the one who left keeps a linked account but hears nothing.
    assert [(to, p["request_id"]) for to, p in await _outbox(factory, "request_due_soon")] == [
        (DIRECTOR_TG, _id(made))
    ]


# --- overdue summary -----------------------------------------------------------------


async def test_the_director_gets_one_overdue_summary_a_day(
    factory: SessionFactory, school: School, clock: FixedClock
) -> None:
    late = await _correction(factory, school, clock.now())
    clock.advance(days=1)
    later = await _correction(factory, school, clock.now())  # due 3 December
    scheduler = Scheduler(factory, clock, channels=CHANNELS)
    _at(clock, datetime(2026, 12, 2, 8, 59, tzinfo=UTC))  # a minute before the deadline
    await scheduler.tick()
    assert await _outbox(factory, "overdue_summary") == []

    clock.advance(minutes=1)
    await scheduler.tick()
    await scheduler.tick()
    assert await _outbox(factory, "overdue_summary") == [
        (
            DIRECTOR_TG,
            {
                "count": 1,
                "items": [
                    {
                        "reference": late.reference,
                        "request_id": _id(late),
                        "kind": "correction",
                        "pupil_full": "Emma de Vries",
                        "due": "2026-12-02",
                    }
                ],
            },
        )
    ]

    clock.advance(hours=13, minutes=59)  # 2 December 23:59 in Amsterdam: the same day
    await scheduler.tick()
    assert len(await _outbox(factory, "overdue_summary")) == 1

    _at(clock, datetime(2026, 12, 3, 9, 30, tzinfo=UTC))  # the next day, both are late
    await scheduler.tick()
    await scheduler.tick()
    summaries = await _outbox(factory, "overdue_summary")
    assert len(summaries) == 2
    to, params = summaries[1]
    assert to == DIRECTOR_TG
    assert params["count"] == 2
    assert [item["request_id"] for item in params["items"]] == [_id(late), _id(later)]
    async with factory() as session:
        markers = (
            await session.exec(
                select(AuditEvent.detail)
                .where(AuditEvent.action == "overdue_summary")
                .order_by(col(AuditEvent.id))
            )
        ).all()
    assert markers == ["2026-12-02", "2026-12-03"]


async def test_no_overdue_summary_when_nothing_is_overdue(
    factory: SessionFactory, school: School, clock: FixedClock
) -> None:
    made = await _correction(factory, school, clock.now())
    scheduler = Scheduler(factory, clock, channels=CHANNELS)
    for _ in range(29):  # 2 November up to 30 November: not yet due
        await scheduler.tick()
        clock.advance(days=1)
    await _update(factory, _id(made), status=RequestStatus.RESOLVED, decided_at=clock.now())
    for _ in range(5):
        clock.advance(days=1)
        await scheduler.tick()
    assert await _outbox(factory, "overdue_summary") == []


# --- yearly consent ------------------------------------------------------------------


async def test_every_linked_guardian_gets_the_consent_check_once_per_school_year(
    factory: SessionFactory, school: School, clock: FixedClock
) -> None:
    async with factory() as session:
        await consent.choose(
            session, school.sanne, school.emma, "website", True, CHANNELS, clock.now()
        )
        await consent.choose(
            session, school.mark, school.emma, "parro", False, CHANNELS, clock.now()
        )
        await session.commit()
    scheduler = Scheduler(factory, clock, channels=CHANNELS)

    # 2 November 2026: in the school year 2026-2027, which began on 1 September.
    for _ in range(3):
        await scheduler.tick()
    sent = await _outbox(factory, "consent_yearly")
    # Kees never linked an account.
    assert [to for to, _p in sent] == [SANNE_TG, MARK_TG, PIET_TG]
    sanne = sent[0][1]
    assert sanne == {
        "school_year": "2026-2027",
        "children": [
            {
                "pupil_id": school.daan,
                "name": "Daan de Vries",
                "consent": {"website": None, "nieuwsbrief": None, "parro": None},
            },
            {
                "pupil_id": school.emma,
                "name": "Emma de Vries",
                "consent": {"website": True, "nieuwsbrief": None, "parro": False},
            },
        ],
    }
    assert sent[1][1] == sanne  # the other parent sees the same choices
    assert sent[2][1]["children"] == [
        {
            "pupil_id": school.noor,
            "name": "Noor Bakker",
            "consent": {"website": None, "nieuwsbrief": None, "parro": None},
        }
    ]

    _at(clock, datetime(2027, 8, 31, 12, 0, tzinfo=UTC))
    await scheduler.tick()
    assert len(await _outbox(factory, "consent_yearly")) == 3

    async with factory() as session:  # Piet unlinks before the new school year
        link = await session.get(ChatLink, PIET_TG)
        assert link is not None
        link.guardian_id = None
        session.add(link)
        await session.commit()
    _at(clock, datetime(2027, 9, 1, 5, 0, tzinfo=UTC))  # 07:00 in Amsterdam: not yet
    await scheduler.tick()
    assert len(await _outbox(factory, "consent_yearly")) == 3

    _at(clock, datetime(2027, 9, 1, 9, 0, tzinfo=UTC))
    for _ in range(3):
        await scheduler.tick()
    sent = await _outbox(factory, "consent_yearly")
    assert [to for to, _p in sent[3:]] == [SANNE_TG, MARK_TG]
    assert {p["school_year"] for _to, p in sent[3:]} == {"2027-2028"}
    async with factory() as session:
        markers = (
            await session.exec(
                select(AuditEvent.detail)
                .where(AuditEvent.action == "consent_yearly")
                .order_by(col(AuditEvent.id))
            )
        ).all()
    sanne_id, mark_id = school.sanne.guardian_id, school.mark.guardian_id
    assert markers[3:] == [f"2027-2028:{sanne_id}", f"2027-2028:{mark_id}"]


async def test_a_parent_who_linked_after_the_school_year_began_gets_no_consent_check(
    factory: SessionFactory, school: School, clock: FixedClock
) -> None:
    async with factory() as session:  # Sanne links on 2 November, Mark linked in the summer
        for telegram_user_id, linked_at in (
            (SANNE_TG, clock.now()),
            (MARK_TG, datetime(2026, 8, 20, 12, 0, tzinfo=UTC)),
        ):
            link = await session.get(ChatLink, telegram_user_id)
            assert link is not None
            link.linked_at = linked_at
            session.add(link)
        await session.commit()
    scheduler = Scheduler(factory, clock, channels=CHANNELS)
    await scheduler.tick()
    # Her welcome showed the choices; the check is for those who linked last year.
    assert [to for to, _p in await _outbox(factory, "consent_yearly")] == [MARK_TG, PIET_TG]

    _at(clock, datetime(2027, 9, 1, 9, 0, tzinfo=UTC))
    await scheduler.tick()
    sent = await _outbox(factory, "consent_yearly")
    assert [(to, p["school_year"]) for to, p in sent[2:]] == [
        (SANNE_TG, "2027-2028"),
        (MARK_TG, "2027-2028"),
        (PIET_TG, "2027-2028"),
    ]


async def test_the_consent_check_date_is_configurable_and_skips_families_that_left(
    factory: SessionFactory, school: School, clock: FixedClock
) -> None:
    async with factory() as session:
        noor = await session.get(Pupil, school.noor)
        assert noor is not None
        noor.left_at = clock.now()
        session.add(noor)
        await session.commit()
    # The school year of this school starts on 15 November: 2 November still belongs to
    # 2025-2026, whose check nobody got yet.
    scheduler = Scheduler(factory, clock, yearly_month=11, yearly_day=15, channels=("website",))
    await scheduler.tick()
    _at(clock, datetime(2026, 11, 14, 22, 59, tzinfo=UTC))  # 14 November 23:59
    await scheduler.tick()
    _at(clock, datetime(2026, 11, 15, 9, 0, tzinfo=UTC))
    await scheduler.tick()
    sent = await _outbox(factory, "consent_yearly")
    # Piet's only child has left the school: nothing to ask him.
    assert [(to, p["school_year"]) for to, p in sent] == [
        (SANNE_TG, "2025-2026"),
        (MARK_TG, "2025-2026"),
        (SANNE_TG, "2026-2027"),
        (MARK_TG, "2026-2027"),
    ]
    assert sent[0][1]["children"][0]["consent"] == {"website": None}


# --- the scheduler -------------------------------------------------------------------


async def test_a_failing_job_does_not_stop_the_others(
    factory: SessionFactory, school: School, clock: FixedClock
) -> None:
    async def broken(_session: Any, _now: datetime) -> int:
        raise RuntimeError("database hiccup")

    scheduler = Scheduler(factory, clock, channels=CHANNELS)
    scheduler.jobs = (("broken", broken), *scheduler.jobs)
    assert await scheduler.tick() == 3  # the consent check still reached three parents


async def test_run_survives_errors_until_cancelled(
    factory: SessionFactory, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0

    async def tick() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database hiccup")
        if calls == 3:
            raise asyncio.CancelledError
        return 0

    scheduler = Scheduler(factory, clock, channels=CHANNELS)
    monkeypatch.setattr(scheduler, "tick", tick)
    with pytest.raises(asyncio.CancelledError):
        await scheduler.run(interval=0)
    assert calls == 3


async def test_the_reminders_render_with_their_templates_and_buttons(
    factory: SessionFactory,
    school: School,
    clock: FixedClock,
    bot_and_session: tuple[Bot, RecordingSession],
    i18n: I18n,
) -> None:
    made = await _correction(factory, school, clock.now())
    scheduler = Scheduler(factory, clock, channels=CHANNELS)
    clock.advance(days=23)  # 25 November: due soon, and the consent check of 2026-2027
    await scheduler.tick()
    clock.advance(days=8)  # 3 December: overdue
    await scheduler.tick()
    bot, recorder = bot_and_session
    sender = OutboxSender(bot, factory, i18n, clock, per_chat_interval=0, global_interval=0)
    while await sender.deliver_due():
        pass
    async with factory() as session:
        undelivered = (
            await session.exec(select(Outbox).where(col(Outbox.sent_at).is_(None)))
        ).all()
    assert undelivered == []
    sent = {(m.chat_id, m.text): m for m in recorder.of(SendMessage)}
    to_anouk = [text for chat_id, text in sent if chat_id == ANOUK_TG]
    assert any(made.reference in t and "2 december 2026" in t for t in to_anouk)
    to_director = [text for chat_id, text in sent if chat_id == DIRECTOR_TG]
    assert any(made.reference in t and "Emma de Vries" in t for t in to_director)
    to_sanne = [m for (chat_id, _t), m in sent.items() if chat_id == SANNE_TG]
    assert len(to_sanne) == 1
    assert "Daan de Vries" in to_sanne[0].text and "Emma de Vries" in to_sanne[0].text
    assert to_sanne[0].reply_markup is not None
