"""A decision takes effect: every kind × decision in the table of kinds, checked by what a
parent, a teacher or the director can see afterwards (or, for an answer-only kind, that
its row says so and nothing about the child changed). Then the whole walk over the
emulator for an objection against photos."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.copy import copy_html
from flows import checklist, consent, export, inzage, requests
from flows.clock import FixedClock
from flows.requests import KINDS, Draft, Effect, commands
from flows.requests.effects import EFFECTS
from storage.models import (
    ConsentEvent,
    ConsentSource,
    Disclosure,
    ParnasSysTask,
    Request,
    RequestKind,
    StaffRole,
    Vendor,
)
from tests import factories
from tests.e2e import World, running_bot
from tests.factories import School
from tests.test_e2e import assert_telegram_accepted_everything

CHANNELS = ("website", "nieuwsbrief", "parro")


@pytest.fixture
async def school(session: AsyncSession) -> School:
    made = await factories.school(session)
    session.add(
        Vendor(
            key="basispoort",
            name="Basispoort",
            supplier="Basispoort B.V.",
            data_fields="voornaam,achternaam,geboortedatum",
        )
    )
    session.add(
        Disclosure(
            pupil_id=made.emma.id or 0,
            recipient="Leerplichtambtenaar",
            disclosed_on=date(2026, 10, 1),
            legal_ground="wettelijke plicht",
            description="",
        )
    )
    await session.commit()
    return made


async def _ask(session: AsyncSession, school: School, kind: RequestKind, now: datetime) -> Request:
    """One request of `kind` about Emma, as the parent's form sends it."""
    emma = school.emma.id or 0
    disclosure = (await session.exec(select(Disclosure))).one()
    drafts = {
        RequestKind.CORRECTION: Draft("correction", emma, {"field": "voornaam"}, value="Emmy"),
        RequestKind.DELETION: Draft(
            "deletion", emma, {"what": "beeldmateriaal", "ground": "consent_withdrawn"}
        ),
        RequestKind.QUESTION: Draft("question", emma, {"addressee": "teacher"}, text="Vrij?"),
        RequestKind.ACCESS: Draft("access", emma),
        RequestKind.OBJECTION: Draft(
            "objection",
            emma,
            {"processing": f"disclosure.{disclosure.id}"},
            names={"processing": "Leerplichtambtenaar"},
            text="Niet nodig.",
        ),
        RequestKind.RESTRICTION: Draft(
            "restriction", emma, {"field": "geboortedatum"}, text="Klopt niet."
        ),
    }
    made = await requests.create(session, school.sanne, drafts[kind], now)
    await session.commit()
    return made


Check = Callable[[AsyncSession, School, Request], Awaitable[None]]


async def _record(session: AsyncSession, school: School) -> inzage.ChildRecord:
    return await inzage.child_record(session, school.sanne, school.emma.id or 0, CHANNELS)


async def _tasks(session: AsyncSession, request: Request) -> list[ParnasSysTask]:
    rows = await session.exec(select(ParnasSysTask).where(ParnasSysTask.request_id == request.id))
    return list(rows.all())


async def _corrected(session: AsyncSession, school: School, request: Request) -> None:
    record = await _record(session, school)
    assert record.first_name == "Emmy"
    assert [t.action for t in await _tasks(session, request)] == ["correct"]


async def _erased(session: AsyncSession, school: School, request: Request) -> None:
    states = (await _record(session, school)).consent
    assert [s.granted for s in states] == [False, False, False]
    assert {s.source for s in states} == {ConsentSource.DELETION}


async def _stopped(session: AsyncSession, school: School, request: Request) -> None:
    record = await _record(session, school)
    assert [d.stopped_since is not None for d in record.disclosures] == [True]
    assert [t.action for t in await _tasks(session, request)] == ["tell"]


async def _restricted(session: AsyncSession, school: School, request: Request) -> None:
    assert (await _record(session, school)).marked == {"geboortedatum"}
    assert [t.action for t in await _tasks(session, request)] == ["restrict"]


async def _answered_only(session: AsyncSession, school: School, request: Request) -> None:
    record = await _record(session, school)
    assert record.first_name == "Emma" and not record.marked
    assert all(d.stopped_since is None for d in record.disclosures)
    assert await _tasks(session, request) == []


OBSERVED: dict[Effect, Check] = {
    Effect.ANSWER_ONLY: _answered_only,
    Effect.CORRECT: _corrected,
    Effect.ERASE: _erased,
    Effect.OBJECT: _stopped,
    Effect.RESTRICT: _restricted,
}


def test_every_effect_has_its_function_and_an_observable_check() -> None:
    assert set(EFFECTS) == set(Effect) == set(OBSERVED)
    # Only a lasting kind has something to undo when lifted.
    for spec in KINDS.values():
        assert (EFFECTS[spec.effect].lift is not None) == spec.lasting, spec.kind


@pytest.mark.parametrize("kind", list(RequestKind))
@pytest.mark.parametrize("granted", [True, False], ids=["granted", "refused"])
async def test_each_kind_and_decision_does_what_its_row_says(
    session: AsyncSession, school: School, clock: FixedClock, kind: RequestKind, granted: bool
) -> None:
    spec = KINDS[kind]
    request = await _ask(session, school, kind, clock.now())
    # Whoever the row hands it to decides it (the question went to the teacher).
    actor = school.director if spec.handled_by is StaffRole.DIRECTOR else school.anouk
    if granted:
        decide = commands.approve if spec.needs_approval else commands.resolve
        await decide(session, actor, request.id or 0, "Goed.", clock.now(), channels=CHANNELS)
    else:
        await commands.reject(session, school.director, request.id or 0, "Nee.", clock.now())
    await session.commit()
    await OBSERVED[spec.effect if granted else Effect.ANSWER_ONLY](session, school, request)


async def test_lifting_a_restriction_removes_every_mark_and_asks_to_end_it_in_parnassys(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    request = await _ask(session, school, RequestKind.RESTRICTION, clock.now())
    await commands.approve(session, school.director, request.id or 0, "Goed.", clock.now())
    await checklist.tick(session, school.director, request.id or 0, clock.now())
    copy = await export.child_export(
        session, school.sanne, school.emma.id or 0, CHANNELS, clock.now()
    )
    assert export.export_dict(copy)["pupil"]["restricted"] == ["geboortedatum"]  # type: ignore[index]
    assert "🔒" in copy_html(copy, "nl")

    await commands.lift(session, school.director, request.id or 0, clock.now())
    await session.commit()
    copy = await export.child_export(
        session, school.sanne, school.emma.id or 0, CHANNELS, clock.now()
    )
    assert export.export_dict(copy)["pupil"]["restricted"] == []  # type: ignore[index]
    assert "🔒" not in copy_html(copy, "nl")
    (task,) = await _tasks(session, request)
    assert (task.action, task.done_at) == ("unrestrict", None)


async def test_an_upheld_supplier_objection_stops_the_supplier_in_chat_data_and_copy(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    emma = school.emma.id or 0
    draft = Draft(
        "objection",
        emma,
        {"processing": "vendor.basispoort"},
        names={"processing": "Basispoort"},
        text="Geen account.",
    )
    request = await requests.create(session, school.sanne, draft, clock.now())
    await commands.approve(session, school.director, request.id or 0, "Goed.", clock.now())
    await session.commit()
    record = await _record(session, school)
    assert [s.vendor.key for s in record.stopped] == ["basispoort"]
    assert "basispoort" not in [s.vendor.key for s in record.receiving]
    copy = await export.child_export(session, school.sanne, emma, CHANNELS, clock.now())
    (vendor,) = export.export_dict(copy)["vendors"]  # type: ignore[misc]
    assert vendor["stopped_since"] is not None
    assert "na uw bezwaar" in copy_html(copy, "nl")
    (item,) = await checklist.open_items(session, school.director, clock.now())
    assert (item.action, item.subject) == ("tell", "Basispoort")


async def test_an_upheld_photo_objection_refuses_every_channel_as_a_withdrawal_would(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    emma = school.emma.id or 0
    draft = Draft("objection", emma, {"processing": "photos"}, text="Geen foto's.")
    request = await requests.create(session, school.sanne, draft, clock.now())
    await commands.approve(
        session, school.director, request.id or 0, "Goed.", clock.now(), channels=CHANNELS
    )
    await session.commit()
    states = await consent.state(session, school.sanne, emma, CHANNELS)
    assert [(s.granted, s.source) for s in states] == [(False, ConsentSource.OBJECTION)] * 3
    events = (
        await session.exec(select(ConsentEvent).where(col(ConsentEvent.pupil_id) == emma))
    ).all()
    assert all(e.guardian_id == request.guardian_id for e in events)
    overview = await consent.group_overview(session, school.anouk, CHANNELS, clock.now())
    assert all("Emma de Vries" in g.not_allowed for g in overview if g.group == "5A")


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with running_bot(tmp_path, "polling") as world:
        yield world


async def test_over_the_emulator_an_upheld_photo_objection_takes_effect(world: World) -> None:
    anouk = await world.linked("Juf Anouk")
    bram = await world.linked("Meester Bram")
    sanne = await world.linked("Sanne de Vries")
    await sanne.press("Bezwaar maken")
    await sanne.press("Emma de Vries")
    await sanne.press("Publicatie van foto's en video's")
    await sanne.send("Wij willen Emma niet op de website of in de nieuwsbrief.")
    await sanne.press("Versturen")
    reference = sanne.last_text.split("kenmerk is ")[1].split(".")[0]

    notice = await bram.wait_for(f"Nieuw verzoek {reference}")
    await bram.press("Openen", message_id=notice.message_id)
    await bram.press("Bezwaar toewijzen")
    await bram.send("Akkoord, wij publiceren geen beeld van Emma meer.")
    assert "staat nu op elk kanaal op nee" in bram.last_text
    assert '"Nog te doen door de school"' in bram.last_text

    told = await anouk.wait_for("Niet meer op beeld: Emma de Vries (5A)")
    assert "bezwaar" in (told.text or "")
    await anouk.send("/toestemmingen")
    assert "Emma de Vries" in anouk.last_text

    await sanne.wait_for("na uw bezwaar. De leerkrachten krijgen daarvan bericht.")
    await sanne.send("/menu")
    await sanne.press("Foto's en video's")
    await sanne.press("Emma de Vries")
    lines = [line for line in sanne.last_text.splitlines() if "geen toestemming" in line]
    # Every channel refused; those that had consent name the objection as the reason
    # (Parro was refused before and keeps its own history).
    assert len(lines) == 3
    assert [line.split(":")[0] for line in lines if "na uw bezwaar" in line] == [
        "Website",
        "Nieuwsbrief",
    ]
    await sanne.send("/menu")
    await sanne.press("Mijn gegevens")
    await sanne.press("Emma de Vries")
    await sanne.press("Kopie downloaden")
    (_, html), (_, raw) = (sanne.download(m) for m in sanne.documents())
    assert "bezwaar tegen publicatie toegewezen" in html.decode()
    assert {c["granted"] for c in json.loads(raw)["consent"].values()} == {False}
    assert_telegram_accepted_everything(world)
