"""Mijn gegevens: a parent sees what the school holds, never special category data, and
never another family's child."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from aiogram.methods import DeleteMessage
from sqlmodel import col, select

from bot.callbacks import InzageCb
from bot.expiry import MessageExpirer
from flows import consent, disclosures, inzage, requests
from flows.clock import FixedClock
from storage.db import SessionFactory
from storage.importers.vendors import import_vendors
from storage.models import (
    ConsentEvent,
    ConsentSource,
    Disclosure,
    Guardian,
    GuardianPupil,
    Pupil,
    Request,
    RequestKind,
    RequestStatus,
    StaffRole,
)
from tests import factories
from tests.recording import ChatDriver, recording_bot

VENDORS = Path(__file__).resolve().parent.parent / "data" / "vendors"


async def _family(factory: SessionFactory, clock: FixedClock) -> tuple[str, int]:
    async with factory() as session:
        await import_vendors(session, VENDORS)
        emma = await factories.pupil(
            session,
            "Emma",
            "Vries",
            "de",
            "5A",
            geboortedatum=date(2017, 3, 12),
            leerlingnummer="4711",
            basispoort_id="BP-998877",
            bijzonderheden="dyslexie",
        )
        daan = await factories.pupil(session, "Daan", "Vries", "de", "7B")
        sanne = await factories.guardian(session, "Sanne de Vries", emma, daan)
        await factories.guardian(session, "Mark de Vries", emma)
        noor = await factories.pupil(session, "Noor", "Bakker", "", "5A")
        await factories.guardian(session, "Piet Bakker", noor)
        code = await factories.guardian_code(session, sanne, clock.now())
        await session.commit()
        return code, noor.id or 0


async def test_parent_sees_the_record_and_what_basispoort_knows_but_no_special_data(
    chat: Callable[..., ChatDriver], factory: SessionFactory, clock: FixedClock
) -> None:
    code, _noor = await _family(factory, clock)
    parent = chat(6001)
    await parent.send(f"/start {code}")
    await parent.press("Mijn gegevens")
    await parent.press("Emma de Vries")
    text = parent.last_text
    assert "Naam: Emma de Vries\nGeboortedatum: 12 maart 2017\nGeslacht: meisje\n" in text
    assert "Leerlingnummer: 4711" in text and "Groep: 5A (jaargroep 5)" in text
    assert "Ouders/verzorgers: Mark de Vries, Sanne de Vries" in text
    assert "Wat weet Basispoort over Emma?" in text
    assert "• Basispoort-nummer: BP-998877" in text
    assert "• geboortedatum: 12 maart 2017" in text
    assert "Website: nog niet gekozen" in text
    assert "bijzondere persoonsgegevens" in text
    assert "dyslexie" not in text.lower()
    assert all("dyslexie" not in repr(c.method) for c in parent.session.calls)

    await parent.send("/taal")
    await parent.press("English")
    await parent.send("/menu")
    await parent.press("Your data")
    await parent.press("Emma de Vries")
    assert "Date of birth: 12 March 2017\nGender: girl" in parent.last_text
    assert "What does Basispoort know about Emma?" in parent.last_text


async def test_forged_pupil_id_of_another_family_reveals_nothing(
    chat: Callable[..., ChatDriver], factory: SessionFactory, clock: FixedClock
) -> None:
    code, noor = await _family(factory, clock)
    parent = chat(6002)
    await parent.send(f"/start {code}")
    before = parent.last_text
    query = await parent.press_data(parent.last_message_id, InzageCb(pupil_id=noor).pack())
    answer = next(a for a in parent.answered_callbacks() if a.callback_query_id == query.id)
    assert answer.text == "Niet gevonden."
    assert parent.last_text == before
    async with factory() as session:
        assert (await session.exec(select(Pupil).where(Pupil.id == noor))).one().voornaam == "Noor"
    for call in parent.session.calls:
        assert "Noor" not in repr(call.method)


async def test_the_data_message_says_when_it_goes_and_is_deleted_after_a_restart(
    chat: Callable[..., ChatDriver], factory: SessionFactory, clock: FixedClock
) -> None:
    code, _noor = await _family(factory, clock)
    parent = chat(6003)
    await parent.send(f"/start {code}")
    await parent.send("/menu")
    await parent.press("Mijn gegevens")
    await parent.press("Emma de Vries")
    # 09:00 UTC is 10:00 in Amsterdam; the default DATA_VIEW_TTL is 15 minutes.
    assert "verdwijnt dit bericht om 10:15 uur uit deze chat" in parent.last_text
    shown = parent.last_message_id

    # The bot restarts: a new Bot and a new expirer, the same database.
    bot, recorder = recording_bot()
    expirer = MessageExpirer(bot, factory, clock)
    clock.advance(minutes=14)
    assert await expirer.delete_due() == 0
    clock.advance(minutes=1)
    assert await expirer.delete_due() == 1
    deleted = recorder.of(DeleteMessage)
    assert [(d.chat_id, d.message_id) for d in deleted] == [(6003, shown)]
    assert await expirer.delete_due() == 0


# --- the record's one read ------------------------------------------------------------

CHANNELS = ("website", "nieuwsbrief", "parro")
T0 = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)


def _request(
    number: int,
    pupil_id: int,
    guardian_id: int,
    kind: RequestKind,
    status: RequestStatus,
    **more: object,
) -> Request:
    return Request(
        reference=f"OL-2026-{number:04d}",
        pupil_id=pupil_id,
        guardian_id=guardian_id,
        kind=kind,
        status=status,
        assignee_role=StaffRole.DIRECTOR,
        received_at=T0 + timedelta(days=number),
        due_at=T0 + timedelta(days=30 + number),
        **more,  # type: ignore[arg-type]
    )


async def _a_child_with_everything(factory: SessionFactory) -> tuple[int, int]:
    """A child with guardians whose names sort differently by case, requests open,
    hidden, holding and withdrawn, disclosures on one day and consent events at one
    moment; and another family's child with rows of its own, which must not show."""
    async with factory() as session:
        emma = await factories.pupil(session, "Emma")
        noor = await factories.pupil(session, "Noor", "Bakker", "")
        sanne = await factories.guardian(session, "sanne de Vries", emma)
        mark = await factories.guardian(session, "Mark de Vries", emma)
        await factories.guardian(session, "Piet Bakker", noor)
        e, s, m, n = emma.id or 0, sanne.id or 0, mark.id or 0, noor.id or 0
        school = Disclosure(
            pupil_id=e, recipient="GGD", disclosed_on=date(2026, 5, 4), legal_ground="wet"
        )
        session.add_all(
            [
                Disclosure(
                    pupil_id=e, recipient="OCW", disclosed_on=date(2026, 5, 4), legal_ground="wet"
                ),
                school,
                Disclosure(
                    pupil_id=e,
                    recipient="Leerplicht",
                    disclosed_on=date(2025, 1, 2),
                    legal_ground="wet",
                ),
                Disclosure(
                    pupil_id=n,
                    recipient="Elders",
                    disclosed_on=date(2026, 6, 1),
                    legal_ground="wet",
                ),
            ]
        )
        await session.flush()
        session.add_all(
            [
                _request(1, e, s, RequestKind.CORRECTION, RequestStatus.OPEN, field="voornaam"),
                _request(2, e, m, RequestKind.QUESTION, RequestStatus.OPEN, shared=False),
                _request(
                    3,
                    e,
                    m,
                    RequestKind.CORRECTION,
                    RequestStatus.IN_PROGRESS,
                    extended_until=T0 + timedelta(days=60),
                ),
                _request(
                    4,
                    e,
                    s,
                    RequestKind.RESTRICTION,
                    RequestStatus.RESOLVED,
                    field="geboortedatum",
                    decided_at=T0 + timedelta(days=9),
                ),
                _request(
                    5,
                    e,
                    s,
                    RequestKind.OBJECTION,
                    RequestStatus.RESOLVED,
                    what="disclosure",
                    target=str(school.id),
                    decided_at=T0 + timedelta(days=10),
                ),
                _request(6, e, s, RequestKind.DELETION, RequestStatus.WITHDRAWN),
                _request(7, n, s, RequestKind.CORRECTION, RequestStatus.OPEN),
            ]
        )
        for channel, granted, at, guardian in (
            ("website", True, T0, s),
            ("parro", False, T0, None),
            ("website", False, T0 + timedelta(hours=1), m),
            ("nieuwsbrief", True, T0, s),
            ("website", True, T0 + timedelta(hours=2), None),
        ):
            source = ConsentSource.BOT if guardian else ConsentSource.IMPORT
            session.add(
                ConsentEvent(
                    pupil_id=e,
                    channel=channel,
                    granted=granted,
                    at=at,
                    source=source,
                    guardian_id=guardian,
                )
            )
        session.add(
            ConsentEvent(
                pupil_id=n, channel="website", granted=True, at=T0, source=ConsentSource.IMPORT
            )
        )
        await session.commit()
        return e, s


async def _the_one_read_gives_what_the_reads_one_by_one_gave(factory: SessionFactory) -> None:
    emma, sanne_id = await _a_child_with_everything(factory)
    async with factory() as session:
        sanne = await session.get(Guardian, sanne_id)
        assert sanne is not None
        actor = factories.guardian_actor(sanne)
        record = await inzage.child_record(session, actor, emma, CHANNELS)
    # Each read on its own, in a session of its own (no cache between them).
    async with factory() as session:
        names = await session.exec(
            select(Guardian.name)
            .join(GuardianPupil, col(GuardianPupil.guardian_id) == col(Guardian.id))
            .where(GuardianPupil.pupil_id == emma)
            .order_by(col(Guardian.name))
        )
        assert record.guardians == tuple(names.all())
    async with factory() as session:
        known = await requests.of_child(session, emma, sanne_id)
        assert record.open_requests == known.open
        assert [r.reference for r in record.open_requests] == ["OL-2026-0001", "OL-2026-0003"]
        assert record.marked == known.force.marked == frozenset({"geboortedatum"})
    async with factory() as session:
        given = await disclosures.list_for_child(session, actor, emma)
        assert [(d.disclosed_on, d.recipient, d.id) for d in record.disclosures] == [
            (d.disclosed_on, d.recipient, d.id) for d in given
        ]
        assert [d.recipient for d in given] == ["GGD", "OCW", "Leerplicht"]
        assert [d.stopped_since is not None for d in record.disclosures] == [True, False, False]
    async with factory() as session:
        states = await consent.state(session, actor, emma, CHANNELS)
        assert record.consent == tuple(states)
        assert [s.granted for s in states] == [True, True, False]

    # The types each column's type gives, as the ORM's reads gave them.
    first = record.open_requests[1]
    assert type(first.kind) is RequestKind and type(first.status) is RequestStatus
    assert type(first.shared) is bool and type(first.id) is int
    assert isinstance(first.received_at, datetime) and isinstance(first.extended_until, datetime)
    assert type(record.disclosures[0].disclosed_on) is date
    assert isinstance(record.disclosures[0].stopped_since, datetime)
    website = record.consent[0]
    assert isinstance(website.since, datetime) and website.source is ConsentSource.IMPORT


async def test_the_records_one_read_gives_what_the_reads_one_by_one_gave(
    factory: SessionFactory,
) -> None:
    await _the_one_read_gives_what_the_reads_one_by_one_gave(factory)


async def test_the_records_one_read_gives_the_same_on_postgresql(
    pg_factory: SessionFactory,
) -> None:
    await _the_one_read_gives_what_the_reads_one_by_one_gave(pg_factory)
