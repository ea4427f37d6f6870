"""Retention and erasure: a pupil who left the school keeps nothing in the bot once the
retention period is over, the special-category note goes at once, notifications lose
their text, and the administrator can see first what will be erased, and when."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from aiogram import Dispatcher
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from bot.cli import main
from bot.fsm import ExpiringMemoryStorage
from bot.scheduler import Scheduler
from flows import consent, erasure
from flows.clock import FixedClock
from flows.errors import NotFound
from storage.db import SessionFactory, transaction
from storage.importers.pupils import import_pupils
from storage.models import (
    AuditEvent,
    CodeAttempt,
    Guardian,
    Outbox,
    Pupil,
    Staff,
    StaffRole,
)
from tests import factories
from tests import test_requests_chat as requests_chat
from tests.recording import ChatDriver
from tests.test_import_pupils import export, pupil_row

NOTE = "dyslexie, ondersteuning bij lezen"
CHANNELS = ("website", "nieuwsbrief", "parro")
SANNE_TG, DIRECTOR_TG = 501, 900


def _exports() -> tuple[bytes, bytes]:
    emma = pupil_row("1001", bijzonderheden=NOTE)
    daan = pupil_row("1002", voornaam="Daan", geboortedatum="04-09-2019", groep="3B", jaargroep="3")
    return export(emma, daan), export(daan)


async def _school(factory: SessionFactory, clock: FixedClock) -> int:
    """Emma and Daan, Sanne linked, a director linked; Emma's consent and a request about
    her in the store; returns Emma's id."""
    both, _only_daan = _exports()
    async with transaction(factory) as session:
        await import_pupils(session, both, clock.now())
        emma = (await session.exec(select(Pupil).where(Pupil.leerlingnummer == "1001"))).one()
        sanne = (await session.exec(select(Guardian))).one()
        actor = await factories.link_guardian(session, sanne, SANNE_TG)
        await factories.staff(
            session, "Meester Bram", StaffRole.DIRECTOR, telegram_user_id=DIRECTOR_TG
        )
        await consent.choose(session, actor, emma.id or 0, "website", False, CHANNELS, clock.now())
        assert emma.id is not None
        return emma.id


async def _leave(factory: SessionFactory, clock: FixedClock) -> None:
    _both, only_daan = _exports()
    async with transaction(factory) as session:
        await import_pupils(session, only_daan, clock.now(), confirm_left=True)


async def _every_value(engine: AsyncEngine) -> str:
    """Every cell of every table, as one text: what a database dump would show."""
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
        cells: list[str] = []
        for table in tables:
            for row in (await conn.execute(text(f'SELECT * FROM "{table}"'))).all():
                cells.extend(str(value) for value in row)
    return "\n".join(cells)


async def test_a_pupil_dropped_from_the_export_is_erased_after_the_retention_period(
    engine: AsyncEngine, factory: SessionFactory, clock: FixedClock
) -> None:
    emma_id = await _school(factory, clock)
    await _leave(factory, clock)
    left_on = clock.now()

    # The dry run lists both steps first: the note at once, the rest after 30 days.
    async with factory() as session:
        planned = await erasure.run_retention(
            session, clock.now(), retention_days=30, dry_run=True, ahead=timedelta(days=60)
        )
    assert [(p.leerlingnummer, p.what) for p in planned.erasures] == [("1001", erasure.Due.NOTE)]
    assert [(p.leerlingnummer, p.what, p.due_at) for p in planned.upcoming] == [
        ("1001", erasure.Due.PUPIL, left_on + timedelta(days=30))
    ]
    assert NOTE in await _every_value(engine)  # a dry run erases nothing

    scheduler = Scheduler(factory, clock, channels=CHANNELS, retention_days=30)
    await scheduler.tick()
    values = await _every_value(engine)
    assert NOTE not in values
    assert "Emma" in values  # the rest is kept for the retention period

    clock.advance(days=29, hours=23)
    await scheduler.tick()
    assert "Emma" in await _every_value(engine)

    clock.advance(hours=1)
    await scheduler.tick()
    values = await _every_value(engine)
    for gone in ("Emma", "1001", "2017-03-12", NOTE):
        assert gone not in values, gone
    assert "Daan" in values
    async with factory() as session:
        erased = await session.get(Pupil, emma_id)
        assert erased is not None and erasure.is_erased(erased)
        events = (
            await session.exec(select(AuditEvent.action).where(AuditEvent.pupil_id == emma_id))
        ).all()
    assert "note_erased" in events and "pupil_erased" in events


async def test_a_re_import_after_the_erasure_does_not_bring_the_child_back_by_itself(
    factory: SessionFactory, clock: FixedClock
) -> None:
    emma_id = await _school(factory, clock)
    await _leave(factory, clock)
    clock.advance(days=31)
    async with transaction(factory) as session:
        await erasure.run_retention(session, clock.now(), retention_days=30)
    async with transaction(factory) as session:
        with pytest.raises(NotFound):  # erased once: nothing left to erase
            await erasure.erase_pupil_by_number(session, "1001", clock.now())
        erased = await session.get(Pupil, emma_id)
        assert erased is not None and erased.voornaam == erasure.ERASED


async def test_notifications_lose_their_text_after_a_week_and_old_code_attempts_go(
    factory: SessionFactory, clock: FixedClock
) -> None:
    async with transaction(factory) as session:
        session.add(
            Outbox(
                telegram_user_id=SANNE_TG,
                template="request_resolved",
                params=json.dumps({"pupil_full": "Noor Bakker"}),
                created_at=clock.now(),
                next_attempt_at=clock.now(),
                sent_at=clock.now(),
            )
        )
        session.add(CodeAttempt(telegram_user_id=77, at=clock.now()))
    clock.advance(days=6)
    async with transaction(factory) as session:
        early = await erasure.run_retention(session, clock.now())
    assert (early.notices_purged, early.code_attempts_removed) == (0, 1)
    clock.advance(days=1, minutes=1)
    async with transaction(factory) as session:
        later = await erasure.run_retention(session, clock.now())
    assert later.notices_purged == 1
    async with factory() as session:
        assert (await session.exec(select(Outbox.params))).all() == ["{}"]
        assert (await session.exec(select(CodeAttempt))).all() == []


async def test_erasing_a_pupil_drops_notifications_about_the_child_not_yet_sent(
    engine: AsyncEngine, factory: SessionFactory, clock: FixedClock
) -> None:
    emma_id = await _school(factory, clock)
    async with transaction(factory) as session:
        for pupil_id in (emma_id, emma_id + 1):
            session.add(
                Outbox(
                    telegram_user_id=DIRECTOR_TG,
                    template="request_new",
                    params=json.dumps({"pupil_id": pupil_id, "reference": "OL-2026-0001"}),
                    created_at=clock.now(),
                    next_attempt_at=clock.now(),
                )
            )
    async with transaction(factory) as session:
        erased = await erasure.erase_pupil_by_number(session, "1001", clock.now())
    assert erased.former_name == "Emma de Vries"
    async with factory() as session:
        pending = (
            await session.exec(
                select(Outbox.template, Outbox.params).where(col(Outbox.sent_at).is_(None))
            )
        ).all()
    # Daan's notification still goes; the administrator's erasure queues nothing that
    # would keep Emma's name in the store.
    assert [t for t, _p in pending] == ["request_new"]
    assert json.loads(pending[0][1])["pupil_id"] == emma_id + 1


async def test_the_director_hears_a_week_ahead_which_left_pupils_will_be_erased(
    factory: SessionFactory, clock: FixedClock
) -> None:
    await _school(factory, clock)
    await _leave(factory, clock)
    scheduler = Scheduler(factory, clock, channels=CHANNELS, retention_days=30)
    await scheduler.tick()

    async def summaries() -> list[dict[str, object]]:
        async with factory() as session:
            rows = (
                await session.exec(select(Outbox.params).where(Outbox.template == "erasures_ahead"))
            ).all()
        return [json.loads(r) for r in rows]

    assert await summaries() == []  # 30 days away: not yet
    clock.advance(days=24)
    await scheduler.tick()
    await scheduler.tick()  # once a day
    assert await summaries() == [
        {"count": 1, "items": [{"leerlingnummer": "1001", "due": "2026-12-02"}]}
    ]
    async with factory() as session:
        directors = (await session.exec(select(Staff))).all()
    assert [d.role for d in directors] == [StaffRole.DIRECTOR]


def test_retention_dry_run_and_erase_pupil_on_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'school.db'}")
    monkeypatch.setenv("LEFT_PUPIL_RETENTION_DAYS", "0")
    both, only_daan = _exports()
    (tmp_path / "both.csv").write_bytes(both)
    (tmp_path / "daan.csv").write_bytes(only_daan)
    assert main(["import-pupils", str(tmp_path / "both.csv")]) == 0
    assert main(["import-pupils", str(tmp_path / "daan.csv"), "--confirm-left"]) == 0
    capsys.readouterr()

    assert main(["retention", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "Bewaartermijn voor leerlingen die de school hebben verlaten: 0 dagen" in out
    assert "Nu te wissen: 2" in out
    assert "leerling 1001: bijzondere persoonsgegevens (bijzonderheden), sinds" in out
    assert "leerling 1001: alle gegevens in de bot, sinds" in out
    assert "Proefdraaien: er is niets gewist." in out
    assert "Emma" not in out  # by number only

    assert main(["erase-pupil", "1002"]) == 0
    out = capsys.readouterr().out
    assert "De gegevens van leerling 1002 zijn uit de bot gewist." in out
    assert main(["erase-pupil", "1002"]) == 2
    assert "Geen leerling met nummer 1002" in capsys.readouterr().err

    assert main(["retention"]) == 0
    assert "Gewist: 2" in capsys.readouterr().out
    assert main(["retention", "--dry-run"]) == 0
    assert "Nu te wissen: 0" in capsys.readouterr().out


async def test_the_erasure_notice_is_rendered_for_the_director(
    clock: FixedClock, i18n: object
) -> None:
    from bot.render import render

    with i18n.context(), i18n.use_locale("nl"):  # type: ignore[attr-defined]
        shown = render(
            "notify/erasures_ahead.j2",
            count=2,
            items=[
                {"leerlingnummer": "1001", "due": "2026-12-02"},
                {"leerlingnummer": "1003", "due": "2026-12-04"},
            ],
        )
    assert "Deze week wist de bot de gegevens van 2 vertrokken leerlingen" in shown
    assert "• Leerling 1001, op 2 december 2026\n• Leerling 1003, op 4 december 2026\n" in shown


async def test_an_unfinished_form_is_forgotten_after_a_day(
    chat: Callable[..., ChatDriver],
    dispatcher: Dispatcher,
    factory: SessionFactory,
    clock: FixedClock,
) -> None:
    school = await requests_chat._school(factory, clock)
    piet = await requests_chat._linked(chat, 5003, school["piet"])
    await piet.press("Vraag stellen")
    await piet.press("De leerkracht")
    storage = dispatcher.fsm.storage
    assert isinstance(storage, ExpiringMemoryStorage)
    assert any(record.state for record in storage.storage.values())  # then the phone went away

    clock.advance(hours=23)
    await piet.send("/annuleren")  # still there the same day
    assert "Geannuleerd. Er is niets verstuurd." in requests_chat.seen(piet)

    await piet.press("Vraag stellen")
    await piet.press("De leerkracht")
    clock.advance(days=1, minutes=1)
    await piet.send("/annuleren")
    assert "Er was niets om te annuleren." in requests_chat.seen(piet)
    assert not any(record.state or record.data for record in storage.storage.values())
