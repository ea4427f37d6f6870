"""A school board: two schools, two emulated bots, one process (as `ouderloket run` with a
schools.yaml); the board member's figures; administrator commands per school."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiogram.utils.i18n import I18n
from pydantic import SecretStr
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import Settings
from bot.demo import SECOND_TOKEN, SECOND_USERNAME, demo_settings, seed_database
from bot.demo_school import BOARD_NAME, SECOND_NAME, seed_second
from bot.emulator.driver import ChatPerson
from bot.emulator.server import EmulatorServer, create_app
from bot.emulator.state import Emulator
from bot.emulator.webchat import WebPersona
from bot.runner import run_board_polling, run_board_webhook
from bot.schools import School, SchoolsProblem, load_schools, resolve_school
from flows.clock import FixedClock
from storage.db import SessionFactory, create_engine, create_session_factory
from storage.models import AuditEvent
from tests.e2e import E2E_START, _until, free_port


@dataclass
class Board:
    flint: Emulator
    esch: Emulator
    flint_personas: dict[str, WebPersona]
    esch_personas: dict[str, WebPersona]
    flint_db: str
    esch_db: str

    def at_flint(self, name: str) -> ChatPerson:
        return ChatPerson(self.flint, self.flint_personas[name].user_id, name.split()[0])

    def at_esch(self, name: str) -> ChatPerson:
        return ChatPerson(self.esch, self.esch_personas[name].user_id, name.split()[0])


@pytest.fixture(params=["polling", "webhook"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@contextlib.asynccontextmanager
async def two_schools(tmp_path: Path, mode: str = "polling") -> AsyncIterator[Board]:
    flint = Emulator("700000001:OUDERLOKET-DEMO", bot_username="ouderloket_demo_bot")
    esch = Emulator(SECOND_TOKEN, bot_username=SECOND_USERNAME)
    async with EmulatorServer(create_app(flint)) as a, EmulatorServer(create_app(esch)) as b:
        flint_db = f"sqlite+aiosqlite:///{tmp_path / 'flint.db'}"
        esch_db = f"sqlite+aiosqlite:///{tmp_path / 'esch.db'}"
        flint_personas = await seed_database(flint_db, E2E_START, history=True)
        esch_personas = await seed_database(esch_db, E2E_START, seeder=seed_second, history=True)
        base = Settings(_env_file=None)  # type: ignore[call-arg]
        if mode == "webhook":
            port = free_port()
            base = base.model_copy(
                update={
                    "webhook_url": f"http://127.0.0.1:{port}",
                    "webhook_port": port,
                    "webhook_secret": SecretStr("board-secret"),
                }
            )
        schools = [
            School("flint", demo_settings(base, a.url, flint_db)),
            School(
                "esch",
                demo_settings(
                    base,
                    b.url,
                    esch_db,
                    token=SECOND_TOKEN,
                    username=SECOND_USERNAME,
                    school_name=SECOND_NAME,
                ),
            ),
        ]
        stop = asyncio.Event()
        clock = FixedClock(E2E_START)
        if mode == "webhook":
            task = asyncio.create_task(run_board_webhook(base, schools, stop=stop, clock=clock))
            for emu in (flint, esch):
                await _until(lambda emu=emu: emu.webhook is not None)
            # One server, a path per school's bot.
            assert flint.webhook is not None and esch.webhook is not None
            assert flint.webhook.url.endswith("/telegram/flint/webhook")
            assert esch.webhook.url.endswith("/telegram/esch/webhook")
        else:
            task = asyncio.create_task(run_board_polling(schools, stop=stop, clock=clock))
            for emu in (flint, esch):
                await _until(lambda emu=emu: any(n == "getUpdates" for n, _ in emu.calls))
        try:
            yield Board(
                flint,
                esch,
                {p.name: p for p in flint_personas},
                {p.name: p for p in esch_personas},
                flint_db,
                esch_db,
            )
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)


async def test_a_parent_of_one_school_reaches_nothing_of_the_other(
    tmp_path: Path, mode: str
) -> None:
    async with two_schools(tmp_path, mode) as board:
        flint_code = board.flint_personas["Sanne de Vries"].code
        # Sanne types her De Flint code into De Esch's bot: it is refused there.
        sanne_at_esch = ChatPerson(board.esch, board.flint_personas["Sanne de Vries"].user_id, "S")
        await sanne_at_esch.send(f"/start {flint_code}", reply=True)
        assert "Uw account is gekoppeld." not in sanne_at_esch.last_text
        assert "Emma" not in " ".join(sanne_at_esch.texts())
        # In her own school's bot the same code works.
        sanne = board.at_flint("Sanne de Vries")
        await sanne.send(f"/start {flint_code}", reply=True)
        assert "Uw account is gekoppeld." in sanne.last_text
        assert "Emma de Vries" in sanne.last_text
        # De Esch's director sees none of De Flint's pupils or requests.
        henk = board.at_esch("Meester Henk")
        await henk.send(f"/start {board.esch_personas['Meester Henk'].code}", reply=True)
        assert "directeur (Meester Henk)" in henk.last_text
        await henk.press("Toestemming per groep")
        shown = " ".join(henk.texts())
        assert "Emma" not in shown and "Daan" not in shown and "Noor" not in shown
        await henk.send("/start " + board.flint_personas["Meester Bram"].code, reply=True)
        assert "gekoppeld als directeur (Meester Bram)" not in henk.last_text


async def test_the_board_sees_both_schools_figures_and_no_names(tmp_path: Path, mode: str) -> None:
    async with two_schools(tmp_path, mode) as board:
        member = board.at_flint(BOARD_NAME)
        await member.send(f"/start {board.flint_personas[BOARD_NAME].code}", reply=True)
        assert "bestuurslid" in member.last_text
        # Linked, the board member gets the board's menu, and its button works.
        assert "Cijfers voor het bestuur" in member.buttons()
        assert "Wachtrij" not in member.buttons()
        await member.press("Cijfers voor het bestuur")
        assert "OBS de Flint" in member.last_text and "werkt niet meer" not in member.last_text
        await member.send("/menu", reply=True)
        # Linked in De Flint only: the figures of De Flint alone.
        await member.send("/bestuur", reply=True)
        assert "OBS de Flint" in member.last_text and SECOND_NAME not in member.last_text
        # The same account links in De Esch's bot with De Esch's code.
        at_esch = board.at_esch(BOARD_NAME)
        await at_esch.send(f"/start {board.esch_personas[BOARD_NAME].code}", reply=True)
        await member.press("Cijfers voor het bestuur")
        text = member.last_text
        assert "OBS de Flint" in text and SECOND_NAME in text
        assert "Alle 2 scholen samen" in text
        # De Flint's 11 and De Esch's 6 requests of past months, and together.
        flint_part, rest = text.split(SECOND_NAME, 1)
        esch_part, together = rest.split("Alle 2 scholen samen", 1)
        assert "Verzoeken: 11" in flint_part and "Verzoeken: 6" in esch_part
        assert "Verzoeken: 17" in together
        assert "Op tijd beantwoord" in text and "Toestemming" in text
        # Figures only: no child's name, not even of the personas' children.
        for name in ("Emma", "Daan", "Noor", "Vries", "Bakker"):
            assert name not in text
        # A board member has no staff menu: no queue, no group's consent lists.
        assert (
            "Wachtrij" not in member.buttons() and "Toestemming per groep" not in member.buttons()
        )
        # In English, as the board member chose.
        await member.press("Taal / Language")
        await member.press("English")
        await member.send("/bestuur", reply=True)
        assert "Figures for the board" in member.last_text
        assert "All 2 schools together" in member.last_text
        assert "Answered on time" in member.last_text
        # Every view is recorded in each school's own audit trail.
        for url in (board.flint_db, board.esch_db):
            engine = create_engine(url)
            async with create_session_factory(engine)() as session:
                views = (
                    await session.exec(select(AuditEvent).where(AuditEvent.action == "board_view"))
                ).all()
            await engine.dispose()
            assert views, url
            assert all(v.pupil_id is None for v in views)


def test_schools_file_resolves_each_school_to_its_own_database(tmp_path: Path) -> None:
    path = tmp_path / "schools.yaml"
    path.write_text(
        "board: Zinderonderwijs\n"
        "schools:\n"
        "  - {key: flint, name: OBS de Flint, token_env: FLINT_TOKEN,"
        " database_url: 'sqlite+aiosqlite:///flint.db'}\n"
        "  - {key: esch, name: CBS De Esch, token_env: ESCH_TOKEN,"
        " database_url: 'sqlite+aiosqlite:///esch.db'}\n",
        encoding="utf-8",
    )
    base = Settings(_env_file=None)  # type: ignore[call-arg]
    schools = load_schools(base, path, environ={"FLINT_TOKEN": "1:A", "ESCH_TOKEN": "2:B"})
    esch = resolve_school(schools, "esch").settings
    assert esch.database_url.endswith("esch.db") and esch.token == "2:B"
    assert esch.school_name == "CBS De Esch"
    with pytest.raises(SchoolsProblem, match="--school"):
        resolve_school(schools, None)
    with pytest.raises(SchoolsProblem, match="flint, esch"):
        resolve_school(schools, "zuid")
    # Without a file the usual settings are a board of one school.
    assert resolve_school(load_schools(base, None, environ={}), None).settings is base
    path.write_text(path.read_text().replace("esch.db", "flint.db"), encoding="utf-8")
    with pytest.raises(SchoolsProblem):
        load_schools(base, path, environ={})


async def test_board_figures_count_what_a_privacy_officer_asks(
    session: AsyncSession, clock: FixedClock
) -> None:
    from flows import board as board_flows
    from flows.actor import load_actor
    from flows.errors import NotFound
    from flows.requests.worklist import queue
    from storage.models import (
        ConsentEvent,
        ConsentSource,
        Outbox,
        Request,
        RequestKind,
        RequestStatus,
        StaffRole,
    )
    from tests import factories

    now = clock.now()
    emma = await factories.pupil(session)
    noor = await factories.pupil(session, "Noor", "Bakker", "", "3")
    sanne = await factories.guardian(session, "Sanne de Vries", emma, noor)
    day = timedelta(days=1)

    def request(n: int, status: RequestStatus, decided: datetime | None, **extra: object) -> None:
        received = now - 40 * day
        session.add(
            Request(
                reference=f"OL-2026-{n:04d}",
                pupil_id=emma.id or 0,
                guardian_id=sanne.id or 0,
                kind=RequestKind.CORRECTION if n % 2 else RequestKind.QUESTION,
                status=status,
                assignee_role=StaffRole.DIRECTOR,
                received_at=received,
                due_at=received + 30 * day,
                decided_at=decided,
                **extra,
            )
        )

    request(1, RequestStatus.RESOLVED, now - 35 * day)  # on time
    request(2, RequestStatus.REJECTED, now - 5 * day)  # late
    request(3, RequestStatus.RESOLVED, now - 5 * day, extended_until=now)  # extended, on time
    request(4, RequestStatus.OPEN, None)  # overdue now
    for pupil, granted in ((emma, True), (noor, False)):
        session.add(
            ConsentEvent(
                pupil_id=pupil.id or 0,
                channel="website",
                granted=granted,
                at=now - day,
                source=ConsentSource.IMPORT,
            )
        )
    session.add(
        Outbox(
            telegram_user_id=5,
            template="request_new",
            created_at=now,
            next_attempt_at=now,
            failed_at=now,
        )
    )
    member = await factories.staff(
        session, "Mevrouw Hendriks", StaffRole.BOARD, telegram_user_id=77
    )
    await factories.staff(session, "Meester Bram", StaffRole.DIRECTOR, telegram_user_id=78)
    await session.flush()

    shown = await board_flows.view_for_board(session, 77, now, ("website", "parro"), "via flint")
    assert shown is not None
    assert shown.requests == 4 and shown.count("correction") == 2
    assert shown.count("question", "open") == 1
    # The counts are kept; with 3 decisions and 2 pupils no percentage may be shown.
    assert (shown.decided, shown.decided_on_time, shown.on_time_percent) == (3, 2, None)
    assert (shown.extensions, shown.overdue_now, shown.undelivered) == (1, 1, 1)
    assert shown.pupils == 2 and shown.consent_granted == {"website": 1, "parro": 0}
    assert shown.consent_percent("website") is None
    # The director is not a board member; a board member is no member of staff.
    assert await board_flows.view_for_board(session, 78, now, ("website",), "x") is None
    actor = await load_actor(session, 77, "nl")
    assert actor.is_board and not actor.is_staff
    with pytest.raises(NotFound):
        await queue(session, actor, now)
    await session.flush()
    views = (await session.exec(select(AuditEvent))).all()
    assert [(v.action, v.actor_id, v.pupil_id) for v in views] == [("board_view", member.id, None)]


async def test_a_board_member_on_postgresql(pg_factory: SessionFactory, clock: FixedClock) -> None:
    """The staff role type on PostgreSQL gains 'board' by migration 0011."""
    from flows import board as board_flows
    from flows.invites import add_staff
    from storage.models import Staff, StaffRole
    from tests import factories

    now = clock.now()
    async with pg_factory() as session:
        await add_staff(session, "Mevrouw Hendriks", StaffRole.BOARD, [], now)
        await factories.staff(session, "Meneer Kok", StaffRole.BOARD, telegram_user_id=91)
        await session.commit()
    async with pg_factory() as session:
        roles = (await session.exec(select(Staff.role))).all()
        assert roles == [StaffRole.BOARD, StaffRole.BOARD]
        shown = await board_flows.view_for_board(session, 91, now, ("website",), "via flint")
        await session.commit()
    assert shown is not None and shown.requests == 0 and shown.pupils == 0


def test_the_board_screen_lists_each_kind_s_statuses_without_a_dangling_separator(
    i18n: I18n,
) -> None:
    from bot.render import render
    from flows.board import Figures
    from storage.models import RequestKind, RequestStatus

    figures = Figures(
        by_kind_status={("correction", "resolved"): 6, ("correction", "rejected"): 5},
        decided=11,
        decided_on_time=11,
        extensions=0,
        overdue_now=0,
        pupils=10,
        consent_granted={"website": 5},
        undelivered=0,
    )
    with i18n.context(), i18n.use_locale("nl"):
        shown = render(
            "board.j2",
            rows=[("OBS de Flint", figures)],
            total=None,
            kinds=[k.value for k in RequestKind],
            statuses=[s.value for s in RequestStatus],
            channels=("website",),
            now=datetime(2026, 12, 3, 12, 0, tzinfo=UTC),
        )
    line = next(line for line in shown.splitlines() if line.startswith("• Correctie"))
    assert line == "• Correctie: afgehandeld 6; afgewezen 5"


def _board_screen(figures: object, i18n: I18n) -> str:
    from bot.render import render
    from storage.models import RequestKind, RequestStatus

    with i18n.context(), i18n.use_locale("nl"):
        return render(
            "board.j2",
            rows=[("OBS de Flint", figures)],
            total=None,
            kinds=[k.value for k in RequestKind],
            statuses=[s.value for s in RequestStatus],
            channels=("website", "parro"),
            now=datetime(2026, 12, 3, 12, 0, tzinfo=UTC),
        )


def test_small_numbers_are_never_shown_on_the_board_screen(i18n: I18n) -> None:
    from flows.board import Figures

    # A school of two pupils and one request of each kind: nothing that points at a family.
    few = Figures(
        by_kind_status={("correction", "resolved"): 1, ("objection", "open"): 4},
        decided=1,
        decided_on_time=1,
        extensions=2,
        overdue_now=0,
        pupils=2,
        consent_granted={"website": 1},
        undelivered=3,
    )
    shown = _board_screen(few, i18n)
    assert "Stand op 3 december 2026: alle verzoeken sinds de school Ouderloket gebruikt" in shown
    assert "Verzoeken: 5" in shown
    assert "• Correctie: afgehandeld minder dan 5" in shown
    objection = next(line for line in shown.splitlines() if line.startswith("• Bezwaar"))
    assert objection.endswith("minder dan 5") and "4" not in objection
    assert "Termijn verlengd: minder dan 5" in shown
    assert "Niet bezorgde berichten: minder dan 5" in shown
    assert "Nu te laat: 0" in shown
    assert "• Website: te weinig leerlingen" in shown and "50%" not in shown
    assert "te weinig verzoeken voor een percentage" in shown and "100%" not in shown
    # From ten pupils and ten decisions on, the percentages are shown.
    enough = Figures(
        by_kind_status={("correction", "resolved"): 10},
        decided=10,
        decided_on_time=9,
        extensions=0,
        overdue_now=0,
        pupils=10,
        consent_granted={"website": 5},
        undelivered=0,
    )
    shown = _board_screen(enough, i18n)
    assert "• Website: 50%" in shown and "• Parro: 0%" in shown
    assert "Op tijd beantwoord: 90% (van 10)" in shown


async def test_the_report_draws_no_small_school_and_no_month_that_has_not_come(
    session: AsyncSession,
) -> None:
    from datetime import date

    from flows import board
    from storage.models import ConsentEvent, ConsentSource
    from tests import factories

    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    emma = await factories.pupil(session, "Emma")
    noor = await factories.pupil(session, "Noor", "Bakker", "")
    for pupil, granted in ((emma, True), (noor, False)):
        session.add(
            ConsentEvent(
                pupil_id=pupil.id or 0,
                channel="website",
                granted=granted,
                at=datetime(2026, 10, 5, tzinfo=UTC),
                source=ConsentSource.BOT,
            )
        )
    await session.flush()
    few = await board.report(session, date(2026, 9, 1), date(2026, 12, 31), now, ("website",))
    # Two pupils: "50 %" would point at a family; September had no consent recorded yet
    # and December has not come: none of them is drawn as a figure.
    assert {m: c["website"] for m, c in few.consent.items()} == dict.fromkeys(
        ("2026-09", "2026-10", "2026-11", "2026-12"), None
    )
    for n in range(8):
        more = await factories.pupil(session, f"Kind{n}", "Jansen", "")
        session.add(
            ConsentEvent(
                pupil_id=more.id or 0,
                channel="website",
                granted=True,
                at=datetime(2026, 10, 6, tzinfo=UTC),
                source=ConsentSource.BOT,
            )
        )
    await session.flush()
    ten = await board.report(session, date(2026, 9, 1), date(2026, 12, 31), now, ("website",))
    assert {m: c["website"] for m, c in ten.consent.items()} == {
        "2026-09": None,
        "2026-10": 90,
        "2026-11": 90,
        "2026-12": None,
    }


async def test_the_report_counts_a_request_still_open_at_the_end_of_its_period(
    session: AsyncSession,
) -> None:
    from datetime import date

    from flows import board
    from flows.actor import Actor
    from flows.requests import commands
    from storage.models import StaffRole
    from tests import factories

    received = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
    emma = await factories.pupil(session, "Emma")
    sanne = await factories.link_guardian(
        session, await factories.guardian(session, "Sanne de Vries", emma), 7001
    )
    bram = await factories.staff(session, "Bram", StaffRole.DIRECTOR, telegram_user_id=9001)
    director = Actor(9001, "nl", staff_id=bram.id, role=StaffRole.DIRECTOR)
    answered = await factories.create_question(
        session, sanne, emma.id or 0, StaffRole.DIRECTOR, "Vraag?", received
    )
    await factories.create_question(
        session, sanne, emma.id or 0, StaffRole.DIRECTOR, "Nog een", received
    )
    await commands.resolve(session, director, answered.id or 0, "Ja.", received + timedelta(days=1))
    period = (date(2026, 10, 1), date(2026, 10, 31))
    october = await board.report(session, *period, received + timedelta(days=40), ("website",))
    assert sum(sum(k.values()) for k in october.requests.values()) == 2
    assert sum(october.decided.values()) == 1
    assert october.still_open == 1
