"""Parents' requests: reference, deadline, routing, scoping, validation, notifications."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows import disclosures, requests
from flows.actor import Actor
from flows.clock import FixedClock
from flows.errors import InvalidInput, NotAllowed, NotFound
from storage.models import (
    AuditEvent,
    DeletionGround,
    Outbox,
    Pupil,
    Request,
    RequestKind,
    RequestMessage,
    RequestStatus,
    StaffRole,
)
from tests import factories
from tests.factories import ANOUK_TG, DIRECTOR_TG

School = factories.School


@pytest.fixture
async def school(session: AsyncSession) -> School:
    made = await factories.school(session)  # 7B's teacher never linked an account
    await session.commit()
    return made


def _id(model: Pupil | Request) -> int:
    assert model.id is not None
    return model.id


async def _outbox(session: AsyncSession) -> list[tuple[int, str, dict[str, object]]]:
    rows = await session.exec(select(Outbox).order_by(col(Outbox.id)))
    return [(r.telegram_user_id, r.template, json.loads(r.params)) for r in rows.all()]


async def _question(
    session: AsyncSession, school: School, now: datetime, text: str = "Wanneer is de schoolfoto?"
) -> Request:
    # Shared with the other parent, as most tests here look at what both parents see.
    return await factories.create_question(
        session, school.sanne, _id(school.emma), StaffRole.TEACHER, text, now, shared=True
    )


# --- reference and deadline ----------------------------------------------------------


async def test_references_run_per_school_year_and_restart_in_a_new_year(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    first = await _question(session, school, clock.now())
    second = await _question(session, school, clock.now())
    # 31 December 23:30 UTC is already 1 January on the school's calendar.
    new_year = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    third = await _question(session, school, new_year)
    fourth = await _question(session, school, new_year)
    assert [r.reference for r in (first, second, third, fourth)] == [
        "OL-2026-0001",
        "OL-2026-0002",
        "OL-2027-0001",
        "OL-2027-0002",
    ]


async def test_the_running_number_goes_past_9999_without_repeating(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    made = await _question(session, school, clock.now())
    made.reference = "OL-2026-9999"
    session.add(made)
    await session.flush()
    assert (await _question(session, school, clock.now())).reference == "OL-2026-10000"
    assert (await _question(session, school, clock.now())).reference == "OL-2026-10001"


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (datetime(2027, 1, 31, 10, 0, tzinfo=UTC), date(2027, 2, 28)),
        (datetime(2028, 1, 31, 10, 0, tzinfo=UTC), date(2028, 2, 29)),
        (datetime(2026, 11, 2, 9, 0, tzinfo=UTC), date(2026, 12, 2)),
    ],
)
async def test_an_answer_is_due_one_calendar_month_after_receipt(
    session: AsyncSession, school: School, received: datetime, due: date
) -> None:
    made = await _question(session, school, received)
    assert made.received_at == received
    assert made.due_at.date() == due
    assert made.extended_until is None
    view = await requests.get_for_guardian(session, school.sanne, _id(made))
    assert view.due_at.date() == due


# --- routing -------------------------------------------------------------------------


async def test_a_correction_goes_to_the_childs_teacher_who_is_notified(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    made = await factories.create_correction(
        session, school.sanne, _id(school.emma), "voornaam", " Emma  Sophie ", "", clock.now()
    )
    assert made.kind is RequestKind.CORRECTION
    assert made.status is RequestStatus.OPEN
    assert (made.field, made.old_value, made.new_value) == ("voornaam", "Emma", "Emma Sophie")
    assert made.assignee_staff_id == school.anouk_id
    assert made.assignee_role is StaffRole.TEACHER
    went_to = await requests.assignee_of(session, made)
    assert (went_to.role, went_to.name) == (StaffRole.TEACHER, "Anouk Jansen")
    assert await _outbox(session) == [
        (
            ANOUK_TG,
            "request_new",
            {
                "reference": "OL-2026-0001",
                "kind": "correction",
                "pupil": "Emma",
                "pupil_full": "Emma de Vries",
                "group": "5A",
                "request_id": made.id,
            },
        )
    ]
    # No text, no first message; the stored pupil is not changed by asking.
    assert (await session.exec(select(RequestMessage))).all() == []
    assert school.emma.voornaam == "Emma"
    audit = (await session.exec(select(AuditEvent))).all()
    assert [(a.action, a.pupil_id, a.detail) for a in audit] == [
        ("request_created", school.emma.id, "OL-2026-0001 correction voornaam")
    ]


async def test_without_a_linked_teacher_a_question_goes_to_the_director(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    made = await factories.create_question(
        session, school.sanne, _id(school.daan), "teacher", "Mag Daan eerder weg?", clock.now()
    )
    assert made.addressee is StaffRole.TEACHER
    assert (made.assignee_role, made.assignee_staff_id) == (StaffRole.DIRECTOR, school.director_id)
    assert [(to, t) for to, t, _ in await _outbox(session)] == [(DIRECTOR_TG, "request_new")]


async def test_a_teacher_who_left_does_not_get_requests(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    await factories.staff(
        session, "Oud Collega", StaffRole.TEACHER, ("7B",), telegram_user_id=9002, active=False
    )
    made = await factories.create_correction(
        session, school.sanne, _id(school.daan), "geslacht", "x", None, clock.now()
    )
    assert made.new_value == "X"
    assert made.assignee_role is StaffRole.DIRECTOR
    assert [to for to, _, _ in await _outbox(session)] == [DIRECTOR_TG]


async def test_a_question_to_the_director_skips_the_teacher(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    made = await factories.create_question(
        session, school.sanne, _id(school.emma), StaffRole.DIRECTOR, "Een vraag", clock.now()
    )
    assert made.assignee_staff_id == school.director_id


async def test_a_deletion_waits_for_the_directors_approval(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    made = await factories.create_deletion(
        session,
        school.sanne,
        _id(school.emma),
        "beeldmateriaal",
        DeletionGround.CONSENT_WITHDRAWN,
        "De foto's van het schoolreisje graag weg.",
        clock.now(),
    )
    assert made.status is RequestStatus.WAITING_APPROVAL
    assert (made.what, made.ground) == ("beeldmateriaal", DeletionGround.CONSENT_WITHDRAWN)
    assert (made.assignee_role, made.assignee_staff_id) == (StaffRole.DIRECTOR, school.director_id)
    assert [(to, t) for to, t, _ in await _outbox(session)] == [(DIRECTOR_TG, "request_new")]
    with pytest.raises(InvalidInput, match="what"):
        await factories.create_deletion(
            session, school.sanne, _id(school.emma), "rapport", "other", "x", clock.now()
        )
    with pytest.raises(InvalidInput, match="ground"):
        await factories.create_deletion(
            session, school.sanne, _id(school.emma), "anders", "zomaar", "x", clock.now()
        )
    with pytest.raises(InvalidInput, match="empty"):
        await factories.create_deletion(
            session, school.sanne, _id(school.emma), "anders", "other", "  ", clock.now()
        )


async def test_a_formal_inzage_request_goes_to_the_director(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    made = await factories.create_access_request(
        session, school.sanne, _id(school.emma), None, clock.now()
    )
    assert made.kind is RequestKind.ACCESS
    assert made.status is RequestStatus.OPEN
    assert made.assignee_staff_id == school.director_id
    assert [
        r.id
        for r in (await requests.of_child(session, _id(school.emma), school.sanne.guardian_id)).open
    ] == [made.id]


# --- scoping -------------------------------------------------------------------------


async def test_another_familys_child_or_request_is_not_found(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    noor_id = _id(school.noor)
    with pytest.raises(NotFound):
        await factories.create_question(session, school.sanne, noor_id, "teacher", "x", clock.now())
    with pytest.raises(NotFound):
        await factories.create_correction(
            session, school.sanne, noor_id, "voornaam", "Nora", "", clock.now()
        )
    with pytest.raises(NotFound):
        await factories.create_deletion(
            session, school.sanne, noor_id, "beeldmateriaal", "other", "", clock.now()
        )
    with pytest.raises(NotFound):
        await factories.create_access_request(session, school.sanne, noor_id, "", clock.now())
    with pytest.raises(NotFound):
        await factories.check_correction(
            session, school.sanne, noor_id, "voornaam", "A", clock.now()
        )

    theirs = await factories.create_question(
        session, school.piet, noor_id, "teacher", "Van Piet", clock.now()
    )
    for request_id in (_id(theirs), 999_999):
        with pytest.raises(NotFound):
            await requests.get_for_guardian(session, school.sanne, request_id)
        with pytest.raises(NotFound):
            await requests.add_message(session, school.sanne, request_id, "hoi", clock.now())
        with pytest.raises(NotFound):
            await requests.withdraw(session, school.sanne, request_id, clock.now())
    assert await requests.list_for_guardian(session, school.sanne) == []
    staff_only = Actor(telegram_user_id=ANOUK_TG, locale="nl", staff_id=school.anouk_id)
    with pytest.raises(NotFound):
        await requests.get_for_guardian(session, staff_only, _id(theirs))
    assert (await session.get(Request, theirs.id)) is not None
    assert (await session.get(Request, theirs.id)).status is RequestStatus.OPEN  # type: ignore[union-attr]


async def test_both_parents_see_the_childrens_requests_newest_first(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    by_sanne = await _question(session, school, clock.now())
    clock.advance(hours=1)
    by_mark = await factories.create_access_request(
        session, school.mark, _id(school.daan), "", clock.now()
    )
    await factories.create_question(
        session, school.piet, _id(school.noor), "teacher", "Van Piet", clock.now()
    )
    listed = await requests.list_for_guardian(session, school.sanne)
    assert [(r.request_id, r.by_you, r.pupil_name) for r in listed] == [
        (by_mark.id, False, "Daan de Vries"),
        (by_sanne.id, True, "Emma de Vries"),
    ]
    assert [r.request_id for r in await requests.list_for_guardian(session, school.mark)] == [
        by_mark.id,
        by_sanne.id,
    ]


# --- validation ----------------------------------------------------------------------

TODAY = date(2026, 11, 2)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("voornaam", "  Emma   Sophie ", "Emma Sophie"),
        ("tussenvoegsel", "van der", "van der"),
        ("tussenvoegsel", "", ""),
        ("achternaam", "Vries-Jansen", "Vries-Jansen"),
        ("achternaam", " de  Vries-Jansen ", "de Vries-Jansen"),
        ("geboortedatum", "12 februari 2017", "2017-02-12"),
        ("geboortedatum", "12 feb 2017", "2017-02-12"),
        ("geboortedatum", "12 feb. 2017", "2017-02-12"),
        ("geboortedatum", "3 Maart 2017", "2017-03-03"),
        ("geboortedatum", "12 February 2017", "2017-02-12"),
        ("geboortedatum", "12-03-2017", "2017-03-12"),
        ("geboortedatum", "2-3-2017", "2017-03-02"),
        ("geboortedatum", "2017-03-02", "2017-03-02"),
        ("geboortedatum", "02-11-2026", "2026-11-02"),
        ("geslacht", "v", "V"),
        ("geslacht", " X ", "X"),
    ],
)
def test_a_correction_value_is_normalised(field: str, value: str, expected: str) -> None:
    assert requests.validate_correction(field, value, today=TODAY) == expected


@pytest.mark.parametrize(
    ("surname", "parts"),
    [
        ("de Vries-Jansen", ("de", "Vries-Jansen")),
        ("van der Meer", ("van der", "Meer")),
        ("Van den Berg", ("Van den", "Berg")),
        ("in 't Veld", ("in 't", "Veld")),
        ("Vries-Jansen", ("", "Vries-Jansen")),
        ("de", ("", "de")),  # a prefix alone is a surname (it happens)
        ("Dekker", ("", "Dekker")),
    ],
)
def test_a_whole_surname_is_split_into_tussenvoegsel_and_achternaam(
    surname: str, parts: tuple[str, str]
) -> None:
    assert requests.split_surname(surname) == parts


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("voornaam", "   ", "empty"),
        ("achternaam", "", "empty"),
        ("voornaam", "x" * 201, "too_long"),
        ("tussenvoegsel", "x" * 201, "too_long"),
        ("geboortedatum", "", "empty"),
        ("geboortedatum", "31-02-2017", "bad_date"),
        ("geboortedatum", "12/03-2017", "bad_date"),
        ("geboortedatum", "gisteren", "bad_date"),
        ("geboortedatum", "30 februari 2017", "bad_date"),
        ("geboortedatum", "12 brumaire 2017", "bad_date"),
        ("geboortedatum", "03-11-2026", "bad_date"),  # tomorrow
        ("geboortedatum", "01-01-1900", "bad_date"),
        ("geslacht", "vrouw", "bad_gender"),
        ("geslacht", "", "empty"),
        ("leerlingnummer", "1", "field"),
        ("bijzonderheden", "", "field"),
    ],
)
def test_a_wrong_correction_value_is_refused_with_a_reason(
    field: str, value: str, reason: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        requests.validate_correction(field, value, today=TODAY)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("voornaam", " Emma "),
        ("tussenvoegsel", "de"),
        ("achternaam", "de Vries"),
        ("geboortedatum", "12-3-2017"),
        ("geboortedatum", "2017-03-12"),
        ("geslacht", "v"),
    ],
)
async def test_asking_for_the_value_already_stored_is_refused(
    session: AsyncSession, school: School, clock: FixedClock, field: str, value: str
) -> None:
    for call in (
        factories.check_correction(
            session, school.sanne, _id(school.emma), field, value, clock.now()
        ),
        factories.create_correction(
            session, school.sanne, _id(school.emma), field, value, "", clock.now()
        ),
    ):
        with pytest.raises(InvalidInput) as caught:
            await call
        assert caught.value.reason == "unchanged"
    assert (await session.exec(select(Request))).all() == []


async def test_text_is_stripped_kept_raw_and_limited(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    long = "a" * 10_000
    emma = _id(school.emma)
    with pytest.raises(InvalidInput, match="too_long"):
        await factories.create_question(session, school.sanne, emma, "teacher", long, clock.now())
    with pytest.raises(InvalidInput, match="too_long"):
        await factories.create_correction(
            session, school.sanne, emma, "voornaam", "Emmy", long, clock.now()
        )
    with pytest.raises(InvalidInput, match="too_long"):
        await factories.create_deletion(
            session, school.sanne, emma, "beeldmateriaal", "other", long, clock.now()
        )
    with pytest.raises(InvalidInput, match="empty"):
        await factories.create_question(session, school.sanne, emma, "teacher", " \n ", clock.now())
    with pytest.raises(InvalidInput, match="addressee"):
        await factories.create_question(session, school.sanne, emma, "conciërge", "x", clock.now())
    assert (await session.exec(select(Request))).all() == []
    assert await _outbox(session) == []

    made = await _question(session, school, clock.now(), "  <b>Vraag</b> & meer\n")
    assert made.text == "<b>Vraag</b> & meer"
    assert len((await _question(session, school, clock.now(), "b" * 2000 + "  ")).text) == 2000
    with pytest.raises(InvalidInput, match="too_long"):
        await requests.add_message(session, school.sanne, _id(made), long, clock.now())
    with pytest.raises(InvalidInput, match="empty"):
        await requests.add_message(session, school.sanne, _id(made), "", clock.now())


# --- re-delivered updates ------------------------------------------------------------


async def test_a_redelivered_update_creates_one_request(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    first = await factories.create_question(
        session, school.sanne, _id(school.emma), "teacher", "Vraag", clock.now(), update_id=77
    )
    again = await factories.create_question(
        session, school.sanne, _id(school.emma), "teacher", "Vraag", clock.now(), update_id=77
    )
    assert again.id == first.id
    assert len((await session.exec(select(Request))).all()) == 1
    assert len((await session.exec(select(RequestMessage))).all()) == 1
    assert len(await _outbox(session)) == 1
    other = await factories.create_question(
        session, school.sanne, _id(school.emma), "teacher", "Vraag", clock.now(), update_id=78
    )
    assert other.reference == "OL-2026-0002"


# --- conversation and withdrawal -----------------------------------------------------


async def test_the_conversation_is_kept_and_the_assignee_is_told_of_each_message(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    made = await _question(session, school, clock.now(), "Eerste vraag")
    clock.advance(minutes=5)
    await requests.add_message(session, school.mark, _id(made), "Aanvulling", clock.now())
    view = await requests.get_for_guardian(session, school.sanne, _id(made))
    assert view.reference == "OL-2026-0001"
    assert view.kind is RequestKind.QUESTION
    assert view.status is RequestStatus.OPEN
    assert (view.assignee.role, view.assignee.name) == (StaffRole.TEACHER, "Anouk Jansen")
    assert (view.asked_by, view.by_you, view.can_withdraw) == ("Sanne de Vries", True, True)
    assert [(m.author_name, m.by_you, m.text) for m in view.messages] == [
        ("Sanne de Vries", True, "Eerste vraag"),
        ("Mark de Vries", False, "Aanvulling"),
    ]
    sent = await _outbox(session)
    assert [(to, t) for to, t, _ in sent] == [
        (ANOUK_TG, "request_new"),
        (ANOUK_TG, "request_message"),
    ]
    assert sent[1][2]["by"] == "Mark de Vries"
    assert sent[1][2]["reference"] == "OL-2026-0001"


async def test_a_request_can_be_withdrawn_only_while_undecided(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    made = await _question(session, school, clock.now())
    with pytest.raises(NotAllowed):
        await requests.withdraw(session, school.mark, _id(made), clock.now())
    withdrawn = await requests.withdraw(session, school.sanne, _id(made), clock.now())
    assert withdrawn.status is RequestStatus.WITHDRAWN
    assert withdrawn.decided_at is None
    # A double tap changes nothing and notifies nobody twice.
    await requests.withdraw(session, school.sanne, _id(made), clock.now())
    assert [(to, t) for to, t, _ in await _outbox(session)] == [
        (ANOUK_TG, "request_new"),
        (ANOUK_TG, "request_withdrawn"),
    ]
    with pytest.raises(InvalidInput, match="closed"):
        await requests.add_message(session, school.sanne, _id(made), "toch nog", clock.now())
    known = await requests.of_child(session, _id(school.emma), school.sanne.guardian_id)
    assert known.open == ()

    decided = await _question(session, school, clock.now())
    decided.status = RequestStatus.RESOLVED
    decided.decided_at = clock.now()
    decided.decision_text = "Beantwoord"
    session.add(decided)
    await session.flush()
    with pytest.raises(InvalidInput, match="decided"):
        await requests.withdraw(session, school.sanne, _id(decided), clock.now())
    with pytest.raises(InvalidInput, match="closed"):
        await requests.add_message(session, school.sanne, _id(decided), "nog iets", clock.now())
    assert (await session.get(Request, decided.id)).status is RequestStatus.RESOLVED  # type: ignore[union-attr]


async def test_messages_reach_the_director_when_the_assignee_has_no_account(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    made = await _question(session, school, clock.now())
    made.assignee_staff_id = None
    session.add(made)
    await session.flush()
    await requests.add_message(session, school.sanne, _id(made), "Nog een vraag", clock.now())
    assert (await _outbox(session))[-1][:2] == (DIRECTOR_TG, "request_message")


# --- disclosures ---------------------------------------------------------------------


async def test_disclosures_are_listed_for_the_own_child_only_newest_first(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    emma, noor = _id(school.emma), _id(school.noor)
    await disclosures.register(
        session, emma, "Leerplichtambtenaar", date(2026, 3, 1), "wettelijke plicht", "Verzuim"
    )
    await disclosures.register(
        session,
        emma,
        "Ministerie van OCW",
        date(2026, 10, 1),
        "wettelijke plicht",
        now=clock.now(),
    )
    await disclosures.register(session, noor, "GGD", date(2026, 5, 1), "toestemming")
    listed = await disclosures.list_for_child(session, school.sanne, emma)
    assert [(d.recipient, d.disclosed_on) for d in listed] == [
        ("Ministerie van OCW", date(2026, 10, 1)),
        ("Leerplichtambtenaar", date(2026, 3, 1)),
    ]
    assert await disclosures.list_for_child(session, school.sanne, _id(school.daan)) == []
    with pytest.raises(NotFound):
        await disclosures.list_for_child(session, school.sanne, noor)
    with pytest.raises(NotFound):
        await disclosures.register(session, 999_999, "GGD", date(2026, 5, 1), "toestemming")
    with pytest.raises(InvalidInput, match="empty"):
        await disclosures.register(session, emma, " ", date(2026, 5, 1), "toestemming")
    actions = (await session.exec(select(AuditEvent.action))).all()
    assert actions == ["disclosure_registered"]


async def test_a_reference_taken_meanwhile_is_drawn_again_without_losing_the_transaction(
    session: AsyncSession, school: School, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await _question(session, school, clock.now())  # not committed: same transaction
    real = requests.next_reference
    draws: list[str] = []

    async def stale_then_real(session_: AsyncSession, now: datetime) -> str:
        # The first draw returns what another process just took.
        drawn = "OL-2026-0001" if not draws else await real(session_, now)
        draws.append(drawn)
        return drawn

    # _create draws through the module it lives in.
    monkeypatch.setattr(requests.parent, "next_reference", stale_then_real)
    second = await _question(session, school, clock.now())
    assert draws == ["OL-2026-0001", "OL-2026-0002"]
    assert second.reference == "OL-2026-0002"
    await session.commit()
    references = (await session.exec(select(Request.reference).order_by(col(Request.id)))).all()
    assert references == [first.reference, "OL-2026-0002"]
    assert len(await _outbox(session)) == 2


async def test_a_private_question_is_not_found_by_the_other_parent(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    private = await factories.create_question(
        session, school.sanne, _id(school.emma), StaffRole.DIRECTOR, "Alleen ik", clock.now()
    )
    assert private.shared is False
    with pytest.raises(NotFound):
        await requests.get_for_guardian(session, school.mark, _id(private))
    with pytest.raises(NotFound):
        await requests.add_message(session, school.mark, _id(private), "Ik ook", clock.now())
    assert await requests.list_for_guardian(session, school.mark) == []
    mark_id = school.mark.guardian_id
    assert (await requests.of_child(session, _id(school.emma), mark_id)).open == ()
    assert (await requests.get_for_guardian(session, school.sanne, _id(private))).by_you
    correction = await factories.create_correction(
        session, school.sanne, _id(school.emma), "achternaam", "Jansen", None, clock.now()
    )
    assert correction.shared is True
    assert [r.request_id for r in await requests.list_for_guardian(session, school.mark)] == [
        correction.id
    ]


async def test_each_form_step_offers_its_choices_and_only_for_the_parents_own_child(
    session: AsyncSession, school: School
) -> None:
    emma = school.emma.id or 0
    Draft = requests.Draft
    correction = await requests.offer(session, school.sanne, Draft("correction", emma))
    assert correction.child == "Emma de Vries"
    assert [o.value for o in correction.options] == list(requests.FORM_FIELDS)
    assert correction.current["achternaam"] == "de Vries"
    question = await requests.offer(session, school.sanne, Draft("question", emma))
    assert [o.value for o in question.options] == ["teacher", "director"]
    assert question.text_required
    other = await requests.offer(
        session, school.sanne, Draft("deletion", emma, {"what": "anders", "ground": "other"})
    )
    assert other.name == "text" and other.text_required
    photos = await requests.offer(
        session,
        school.sanne,
        Draft("deletion", emma, {"what": "beeldmateriaal", "ground": "other"}),
    )
    assert photos.text_required  # the ground "other" needs words as well
    with pytest.raises(NotFound):
        await requests.offer(session, school.piet, Draft("correction", emma))


@pytest.mark.parametrize(
    "typed",
    [
        "03-03-2017",
        "3-3-2017",
        "03/03/2017",
        "3/3/2017",
        "03.03.2017",
        "3 maart 2017",
        "3 mrt 2017",
        "3 mrt. 2017",
        "3 March 2017",
        "March 3, 2017",
        "2017-03-03",
    ],
)
def test_a_birth_date_is_understood_as_parents_write_it(typed: str) -> None:
    from datetime import date

    from flows.requests import parse_date

    assert parse_date(typed) == date(2017, 3, 3)


@pytest.mark.parametrize("typed", ["3/3-2017", "31/02/2017", "3 foo 2017", "March 32, 2017"])
def test_a_mixed_or_impossible_date_is_refused(typed: str) -> None:
    from flows.requests import parse_date

    assert parse_date(typed) is None
