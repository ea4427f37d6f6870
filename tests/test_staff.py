"""Staff handling parents' requests: scope, queue, card, resolve, reject, forward,
deletion approval, erasure, extension, consent overview, audit log."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows import consent, delivery, erasure, inzage, logbook, requests
from flows.actor import Actor, load_actor
from flows.clock import FixedClock
from flows.deadlines import extended_due
from flows.errors import InvalidInput, NotAllowed, NotFound
from flows.requests import Action, commands, worklist
from storage.importers.vendors import import_vendors
from storage.models import (
    AuditEvent,
    ConsentEvent,
    DeletionGround,
    GuardianPupil,
    Outbox,
    Pupil,
    Request,
    RequestKind,
    RequestStatus,
    StaffRole,
)
from tests import factories
from tests.factories import ANOUK_TG, DIRECTOR_TG, MARK_TG, SANNE_TG

CHANNELS = ("website", "nieuwsbrief", "parro")
BASISPOORT = Path(__file__).resolve().parent.parent / "data" / "vendors" / "basispoort.yaml"


School = factories.School


@pytest.fixture
async def school(session: AsyncSession) -> School:
    made = await factories.school(session, bram_linked=True)
    await session.commit()
    return made


def _id(model: Pupil | Request) -> int:
    assert model.id is not None
    return model.id


async def _outbox(session: AsyncSession) -> list[tuple[int, str, dict[str, object]]]:
    rows = await session.exec(select(Outbox).order_by(col(Outbox.id)))
    return [(r.telegram_user_id, r.template, json.loads(r.params)) for r in rows.all()]


async def _sent(session: AsyncSession, template: str) -> list[tuple[int, dict[str, object]]]:
    return [(user, params) for user, t, params in await _outbox(session) if t == template]


async def _question(
    session: AsyncSession, school: School, pupil: Pupil, now: datetime, text: str = "Vraag?"
) -> Request:
    parent = school.piet if pupil is school.noor else school.sanne
    # Shared with the other parent: most tests here follow what both parents are told.
    return await factories.create_question(
        session, parent, _id(pupil), StaffRole.TEACHER, text, now, shared=True
    )


async def _asked(
    session: AsyncSession, school: School, pupil: Pupil, now: datetime, text: str = "Klopt dit?"
) -> Request:
    """A request with a legal deadline that staff may write about before deciding it (a
    question is decided by its answer and has no deadline): a correction."""
    parent = school.piet if pupil is school.noor else school.sanne
    return await factories.create_correction(
        session, parent, _id(pupil), "voornaam", "Mies", text, now
    )


async def _correction(
    session: AsyncSession, school: School, field: str, value: str, now: datetime
) -> Request:
    return await factories.create_correction(
        session, school.sanne, _id(school.emma), field, value, None, now
    )


async def _deletion(
    session: AsyncSession, school: School, what: str, now: datetime, pupil: Pupil | None = None
) -> Request:
    return await factories.create_deletion(
        session,
        school.sanne,
        _id(pupil or school.emma),
        what,
        DeletionGround.NO_LONGER_NEEDED,
        "Niet meer nodig.",
        now,
    )


# --- scope ---------------------------------------------------------------------------


async def test_a_teacher_sees_her_groups_requests_and_never_another_groups(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    now = clock.now()
    emma_q = await _question(session, school, school.emma, now)
    daan_q = await _question(session, school, school.daan, now)
    queued = await worklist.queue(session, school.anouk, now)
    assert [item.request_id for item in queued] == [_id(emma_q)]
    assert queued[0].pupil_name == "Emma de Vries" and queued[0].group == "5A"
    forged = _id(daan_q)
    with pytest.raises(NotFound):
        await worklist.card(session, school.anouk, forged, now)
    with pytest.raises(NotFound):
        await commands.pick_up(session, school.anouk, forged, now)
    with pytest.raises(NotFound):
        await commands.resolve(session, school.anouk, forged, "Klaar.", now)
    with pytest.raises(NotFound):
        await commands.reject(session, school.anouk, forged, "Nee.", now)
    with pytest.raises(NotFound):
        await commands.reply(session, school.anouk, forged, "Hallo", now)
    with pytest.raises(NotFound):
        await commands.forward_to_director(session, school.anouk, forged, now)
    with pytest.raises(NotFound):
        await worklist.card(session, school.anouk, 999_999, now)
    assert daan_q.status == RequestStatus.OPEN  # nothing happened to it
    everything = await worklist.queue(session, school.director, now)
    assert {item.request_id for item in everything} == {_id(emma_q), _id(daan_q)}


async def test_a_teacher_also_sees_a_request_assigned_to_her(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    daan_q = await _question(session, school, school.daan, clock.now())
    daan_q.assignee_staff_id = school.anouk.staff_id
    session.add(daan_q)
    await session.flush()
    view = await worklist.card(session, school.anouk, _id(daan_q), clock.now())
    assert view.pupil_name == "Daan de Vries"


async def test_parents_and_strangers_get_not_found(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    now = clock.now()
    made = await _question(session, school, school.emma, now)
    stranger = Actor(telegram_user_id=777, locale="nl")
    for actor in (school.sanne, stranger):
        with pytest.raises(NotFound):
            await worklist.queue(session, actor, now)
        with pytest.raises(NotFound):
            await worklist.card(session, actor, _id(made), now)
        with pytest.raises(NotFound):
            await logbook.pupil_log(session, actor, _id(school.emma), now)
        with pytest.raises(NotFound):
            await logbook.find_pupils(session, actor, "Emma")
        with pytest.raises(NotFound):
            await consent.group_overview(session, actor, CHANNELS, now)


# --- queue ---------------------------------------------------------------------------


async def test_the_queue_puts_the_first_due_on_top_and_marks_what_is_overdue(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    old = await _asked(session, school, school.emma, clock.now())
    clock.advance(days=40)
    new = await _asked(session, school, school.noor, clock.now(), "Later")
    queued = await worklist.queue(session, school.anouk, clock.now())
    assert [(i.request_id, i.overdue) for i in queued] == [(_id(old), True), (_id(new), False)]
    assert queued[0].assignee_name == "Anouk Jansen"
    late = await worklist.overdue(session, school.director, clock.now())
    assert [i.request_id for i in late] == [_id(old)]
    with pytest.raises(NotAllowed):
        await worklist.overdue(session, school.anouk, clock.now())


async def test_the_director_queue_also_holds_deletions_waiting_for_approval(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    deletion = await _deletion(session, school, "tussenvoegsel", clock.now())
    assert _id(deletion) in [
        i.request_id for i in await worklist.queue(session, school.director, clock.now())
    ]
    assert await worklist.queue(session, school.anouk, clock.now()) == []


# --- card, pick up, reply ------------------------------------------------------------


async def test_a_card_is_audited_and_says_what_the_teacher_may_do(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    made = await _question(session, school, school.emma, clock.now(), "Wanneer is de foto?")
    view = await worklist.card(session, school.anouk, _id(made), clock.now(), opened=True)
    assert view.asked_by == "Sanne de Vries"
    assert [m.text for m in view.messages] == ["Wanneer is de foto?"]
    # A question is decided by its answer: no separate reply first.
    assert view.actions == {Action.PICK_UP, Action.RESOLVE, Action.REJECT, Action.FORWARD}
    director_view = await worklist.card(
        session, school.director, _id(made), clock.now(), opened=True
    )
    # Showing the card again after an action is no new view.
    await worklist.card(session, school.director, _id(made), clock.now())
    assert Action.EXTEND not in director_view.actions  # a question has no deadline
    assert Action.FORWARD not in director_view.actions
    viewed = (
        await session.exec(select(AuditEvent).where(AuditEvent.action == "request_viewed"))
    ).all()
    assert [(e.actor_id, e.pupil_id) for e in viewed] == [
        (school.anouk.staff_id, _id(school.emma)),
        (school.director.staff_id, _id(school.emma)),
    ]


async def test_pick_up_puts_the_request_in_progress_with_the_actor(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    made = await _question(session, school, school.emma, clock.now())
    taken = await commands.pick_up(session, school.director, _id(made), clock.now())
    assert taken.status == RequestStatus.IN_PROGRESS
    assert taken.assignee_staff_id == school.director.staff_id
    assert taken.assignee_role == StaffRole.DIRECTOR
    view = await requests.get_for_guardian(session, school.sanne, _id(made))
    assert view.assignee.name == "Jeroen Visser"


async def test_a_reply_reaches_both_parents_without_its_text(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    made = await _asked(session, school, school.emma, clock.now())
    with pytest.raises(InvalidInput) as empty:
        await commands.reply(session, school.anouk, _id(made), "  ", clock.now())
    assert empty.value.reason == "empty"
    with pytest.raises(InvalidInput) as long:
        await commands.reply(session, school.anouk, _id(made), "x" * 2001, clock.now())
    assert long.value.reason == "too_long"
    await commands.reply(session, school.anouk, _id(made), "Op 12 maart.", clock.now())
    sent = await _sent(session, "request_reply")
    assert sorted(user for user, _ in sent) == [SANNE_TG, MARK_TG]
    params = sent[0][1]
    assert params["by"] == "Anouk Jansen"
    assert params["reference"] == made.reference and params["request_id"] == _id(made)
    assert params["pupil_full"] == "Emma de Vries"
    assert "Op 12 maart." not in json.dumps(params)
    view = await requests.get_for_guardian(session, school.mark, _id(made))
    assert (view.messages[-1].author_name, view.messages[-1].text) == (
        "Anouk Jansen",
        "Op 12 maart.",
    )


# --- resolve, reject, forward --------------------------------------------------------


async def test_resolving_a_correction_changes_the_pupil_and_names_basispoort(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    await import_vendors(session, BASISPOORT)
    made = await _correction(session, school, "voornaam", "Emmy", clock.now())
    view = await worklist.card(session, school.anouk, _id(made), clock.now())
    assert view.vendors_for_field == ("Basispoort",)
    with pytest.raises(InvalidInput) as empty:
        await commands.resolve(session, school.anouk, _id(made), " ", clock.now())
    assert empty.value.reason == "empty"
    done = await commands.resolve(session, school.anouk, _id(made), "Aangepast.", clock.now())
    assert (done.applied_field, done.old_value, done.new_value) == ("voornaam", "Emma", "Emmy")
    assert done.vendors == ("Basispoort",) and not done.deleted_pupil
    assert done.request.status == RequestStatus.RESOLVED
    assert done.request.decision_text == "Aangepast." and done.request.decided_at == clock.now()
    stored = await session.get(Pupil, _id(school.emma))
    assert stored is not None and stored.voornaam == "Emmy"
    record = await inzage.child_record(session, school.sanne, _id(school.emma), CHANNELS)
    assert record.full_name == "Emmy de Vries"
    assert dict(record.vendors[0].values)["voornaam"] == "Emmy"
    assert sorted(user for user, _ in await _sent(session, "request_resolved")) == [
        SANNE_TG,
        MARK_TG,
    ]
    event = (
        await session.exec(select(AuditEvent).where(AuditEvent.action == "request_resolved"))
    ).one()
    assert event.detail.endswith("voornaam: Emma -> Emmy")


async def test_a_corrected_birth_date_is_stored_as_a_date(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    made = await _correction(session, school, "geboortedatum", "13-03-2017", clock.now())
    await commands.resolve(session, school.director, _id(made), "Aangepast.", clock.now())
    stored = await session.get(Pupil, _id(school.emma))
    assert stored is not None and stored.geboortedatum == date(2017, 3, 13)


async def test_a_deletion_cannot_be_resolved_only_approved(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    made = await _deletion(session, school, "tussenvoegsel", clock.now())
    with pytest.raises(InvalidInput) as waiting:
        await commands.resolve(session, school.director, _id(made), "Klaar.", clock.now())
    assert waiting.value.reason == "awaiting_director"
    view = await worklist.card(session, school.director, _id(made), clock.now())
    assert {Action.APPROVE, Action.REJECT} <= view.actions
    assert Action.RESOLVE not in view.actions


async def test_reject_needs_a_reason_and_tells_both_parents(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    made = await _correction(session, school, "achternaam", "Vriest", clock.now())
    with pytest.raises(InvalidInput) as empty:
        await commands.reject(session, school.anouk, _id(made), "", clock.now())
    assert empty.value.reason == "empty"
    rejected = await commands.reject(session, school.anouk, _id(made), "Klopt al.", clock.now())
    assert rejected.status == RequestStatus.REJECTED and rejected.decision_text == "Klopt al."
    sent = await _sent(session, "request_rejected")
    assert sorted(user for user, _ in sent) == [SANNE_TG, MARK_TG]
    assert sent[0][1]["reference"] == made.reference
    stored = await session.get(Pupil, _id(school.emma))
    assert stored is not None and stored.achternaam == "Vries"
    with pytest.raises(InvalidInput) as closed:
        await commands.resolve(session, school.anouk, _id(made), "Toch wel.", clock.now())
    assert closed.value.reason == "closed"


async def test_forward_moves_the_request_to_the_director(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    made = await _question(session, school, school.emma, clock.now())
    await commands.pick_up(session, school.anouk, _id(made), clock.now())
    with pytest.raises(NotAllowed):
        await commands.forward_to_director(session, school.director, _id(made), clock.now())
    assignee = await commands.forward_to_director(session, school.anouk, _id(made), clock.now())
    assert (assignee.role, assignee.staff_id, assignee.name) == (
        StaffRole.DIRECTOR,
        school.director.staff_id,
        "Jeroen Visser",
    )
    assert made.assignee_staff_id == school.director.staff_id
    assert made.status == RequestStatus.OPEN
    sent = await _sent(session, "request_new")
    assert sent[-1][0] == DIRECTOR_TG and sent[-1][1]["reference"] == made.reference
    view = await requests.get_for_guardian(session, school.sanne, _id(made))
    assert view.assignee.role is StaffRole.DIRECTOR
    # Now with the director, it leaves the teacher's sight.
    with pytest.raises(NotFound):
        await worklist.card(session, school.anouk, _id(made), clock.now())


# --- deletion and erasure ------------------------------------------------------------


async def test_only_the_director_approves_a_deletion_and_the_item_leaves_the_inzage(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    await import_vendors(session, BASISPOORT)
    made = await _deletion(session, school, "tussenvoegsel", clock.now())
    # A deletion goes to the director: the group's teacher does not even see it.
    with pytest.raises(NotFound):
        await worklist.card(session, school.anouk, _id(made), clock.now())
    with pytest.raises(NotFound):
        await commands.approve(session, school.anouk, _id(made), "Goed.", clock.now())
    with pytest.raises(NotFound):
        await commands.reject(session, school.anouk, _id(made), "Nee.", clock.now())
    with pytest.raises(NotFound):  # Daan's teacher does not even see it
        await commands.approve(session, school.bram, _id(made), "Goed.", clock.now())
    done = await commands.approve(session, school.director, _id(made), "Verwijderd.", clock.now())
    # Erased: the value is not shown again, not even to the director.
    assert (done.applied_field, done.old_value, done.new_value) == ("tussenvoegsel", None, None)
    assert done.erased is not None and done.erased.removed_in_bot
    assert done.vendors == ("Basispoort",)
    assert done.request.status == RequestStatus.RESOLVED
    record = await inzage.child_record(session, school.sanne, _id(school.emma), CHANNELS)
    assert record.full_name == "Emma Vries"
    assert dict(record.vendors[0].values)["tussenvoegsel"] is None
    assert sorted(user for user, _ in await _sent(session, "request_resolved")) == [
        SANNE_TG,
        MARK_TG,
    ]
    with pytest.raises(InvalidInput) as twice:
        await commands.approve(session, school.director, _id(made), "Nog eens.", clock.now())
    assert twice.value.reason == "not_waiting"


async def test_approving_the_deletion_of_photos_withdraws_consent_everywhere(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    await import_vendors(session, BASISPOORT)
    made = await _deletion(session, school, "beeldmateriaal", clock.now())
    done = await commands.approve(
        session,
        school.director,
        _id(made),
        "De foto's zijn van de website gehaald.",
        clock.now(),
        channels=CHANNELS,
    )
    assert (done.applied_field, done.vendors) == (None, ())
    assert done.request.decision_text == "De foto's zijn van de website gehaald."
    assert done.erased is not None and done.erased.channels == CHANNELS
    states = await consent.state(session, school.sanne, _id(school.emma), CHANNELS)
    assert [s.granted for s in states] == [False, False, False]


async def test_erasing_a_pupil_removes_the_child_from_the_parents_view(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    await import_vendors(session, BASISPOORT)
    emma_id = _id(school.emma)
    await consent.choose(session, school.sanne, emma_id, "website", True, CHANNELS, clock.now())
    made = await _correction(session, school, "voornaam", "Emmy", clock.now())
    with pytest.raises(NotAllowed):
        await erasure.erase_child(session, school.anouk, emma_id, clock.now())
    erased = await erasure.erase_child(session, school.director, emma_id, clock.now())
    assert erased.former_name == "Emma de Vries" and erased.vendors == ("Basispoort",)
    with pytest.raises(NotFound):
        await inzage.child_record(session, school.sanne, emma_id, CHANNELS)
    assert emma_id not in [
        r.pupil_id for r in await requests.list_for_guardian(session, school.sanne)
    ]
    stored = await session.get(Pupil, emma_id)
    assert stored is not None
    assert (stored.voornaam, stored.achternaam, stored.geboortedatum) == (
        "verwijderd",
        "verwijderd",
        date(1900, 1, 1),
    )
    assert stored.left_at == clock.now() and stored.bijzonderheden is None
    assert (
        await session.exec(select(ConsentEvent).where(ConsentEvent.pupil_id == emma_id))
    ).all() == []
    assert (
        await session.exec(select(GuardianPupil).where(GuardianPupil.pupil_id == emma_id))
    ).all() == []
    assert made.status == RequestStatus.RESOLVED and made.new_value is None
    assert sorted(user for user, _ in await _sent(session, "pupil_erased")) == [SANNE_TG, MARK_TG]
    assert await logbook.find_pupils(session, school.director, "emma") == []
    log = await logbook.pupil_log(session, school.director, emma_id, clock.now())
    assert log[0].action == "pupil_erased"
    assert all("Emma" not in line.detail for line in log)
    # Her brother is untouched.
    assert (
        await inzage.child_record(session, school.sanne, _id(school.daan), CHANNELS)
    ).full_name == "Daan de Vries"


# --- extension -----------------------------------------------------------------------


async def test_the_director_extends_once_within_the_first_month(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    received = clock.now()
    made = await _asked(session, school, school.emma, received)
    clock.advance(days=20)
    with pytest.raises(NotAllowed):
        await commands.extend(session, school.anouk, _id(made), "Drukte.", clock.now())
    with pytest.raises(InvalidInput) as empty:
        await commands.extend(session, school.director, _id(made), "", clock.now())
    assert empty.value.reason == "empty"
    extended = await commands.extend(
        session, school.director, _id(made), "We moeten het archief nakijken.", clock.now()
    )
    assert extended.extended_until == extended_due(received)
    view = await requests.get_for_guardian(session, school.sanne, _id(made))
    assert view.due_at == extended_due(received)
    assert view.messages[-1].text == "We moeten het archief nakijken."
    assert view.messages[-1].author_name == "Jeroen Visser"
    sent = await _sent(session, "request_extended")
    assert sorted(user for user, _ in sent) == [SANNE_TG, MARK_TG]
    assert sent[0][1]["due"] == extended_due(received).isoformat()
    card = await worklist.card(session, school.director, _id(made), clock.now())
    assert Action.EXTEND not in card.actions
    with pytest.raises(InvalidInput) as twice:
        await commands.extend(session, school.director, _id(made), "Nog langer.", clock.now())
    assert twice.value.reason == "already_extended"
    queued = await worklist.queue(session, school.anouk, clock.now())
    assert queued[0].due_at == extended_due(received)


async def test_an_extension_after_the_first_month_is_too_late(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    made = await _asked(session, school, school.emma, clock.now())
    clock.advance(days=31)
    card = await worklist.card(session, school.director, _id(made), clock.now())
    assert Action.EXTEND not in card.actions
    with pytest.raises(InvalidInput) as late:
        await commands.extend(session, school.director, _id(made), "Drukte.", clock.now())
    assert late.value.reason == "too_late"
    assert made.extended_until is None


# --- consent, search, audit ----------------------------------------------------------


async def test_the_consent_overview_lists_exactly_the_children_without_consent(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    emma_id = _id(school.emma)
    await consent.choose(session, school.sanne, emma_id, "website", True, CHANNELS, clock.now())
    await consent.choose(session, school.sanne, emma_id, "parro", True, CHANNELS, clock.now())
    clock.advance(minutes=5)
    await consent.choose(session, school.mark, emma_id, "parro", False, CHANNELS, clock.now())
    noor_id = _id(school.noor)
    await consent.choose(session, school.piet, noor_id, "nieuwsbrief", True, CHANNELS, clock.now())
    await factories.pupil(session, "Bas", "Groot", "", "5A", left_at=clock.now())
    overview = await consent.group_overview(session, school.anouk, CHANNELS, clock.now())
    assert [(g.group, g.channel, g.not_allowed) for g in overview] == [
        ("5A", "website", ("Noor Bakker",)),
        ("5A", "nieuwsbrief", ("Emma de Vries",)),
        ("5A", "parro", ("Emma de Vries", "Noor Bakker")),
    ]
    everything = await consent.group_overview(session, school.director, ("website",), clock.now())
    assert [(g.group, g.not_allowed) for g in everything] == [
        ("5A", ("Noor Bakker",)),
        ("7B", ("Daan de Vries",)),
    ]


async def test_find_pupils_searches_names_in_scope(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    assert await logbook.find_pupils(session, school.anouk, "VRIES") == [
        (_id(school.emma), "Emma de Vries", "5A")
    ]
    assert [row[1] for row in await logbook.find_pupils(session, school.director, "vries")] == [
        "Daan de Vries",
        "Emma de Vries",
    ]
    for number in range(12):
        await factories.pupil(session, f"Kind{number:02d}", "Test", "", "5A")
    assert len(await logbook.find_pupils(session, school.anouk, "test")) == 10
    assert await logbook.find_pupils(session, school.anouk, "  ") == []


async def test_the_audit_log_shows_the_staff_view_newest_first(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    made = await _question(session, school, school.emma, clock.now())
    clock.advance(minutes=1)
    await worklist.card(session, school.anouk, _id(made), clock.now(), opened=True)
    log = await logbook.pupil_log(session, school.anouk, _id(school.emma), clock.now())
    assert [(line.name, line.who, line.action) for line in log] == [
        ("Anouk Jansen", "teacher", "request_viewed"),
        ("Sanne de Vries", "guardian", "request_created"),
    ]
    assert log[0].detail == made.reference
    with pytest.raises(NotFound):
        await logbook.pupil_log(session, school.anouk, _id(school.daan), clock.now())
    # Anouk's reading of the log is in it now.
    director_log = await logbook.pupil_log(session, school.director, _id(school.emma), clock.now())
    assert [line.action for line in director_log] == [
        "log_viewed",
        "request_viewed",
        "request_created",
    ]


async def test_a_parent_sees_which_roles_viewed_the_data_but_no_names(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    made = await _question(session, school, school.emma, clock.now())
    await worklist.card(session, school.anouk, _id(made), clock.now(), opened=True)
    clock.advance(minutes=1)
    await worklist.card(session, school.director, _id(made), clock.now(), opened=True)
    lines = await logbook.accesses_for_guardian(session, school.mark, _id(school.emma))
    assert [(line.role, line.action) for line in lines] == [
        (StaffRole.DIRECTOR, "request_viewed"),
        (StaffRole.TEACHER, "request_viewed"),
    ]
    assert "Anouk" not in repr(lines) and "Jeroen" not in repr(lines)
    with pytest.raises(NotFound):
        await logbook.accesses_for_guardian(session, school.piet, _id(school.emma))
    with pytest.raises(NotFound):
        await logbook.accesses_for_guardian(session, school.anouk, _id(school.emma))


async def test_the_director_sees_undeliverable_notifications_by_name(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    made = await _asked(session, school, school.emma, clock.now())
    await commands.reply(session, school.anouk, _id(made), "Antwoord", clock.now())
    row = (await session.exec(select(Outbox).where(Outbox.telegram_user_id == MARK_TG))).one()
    row.failed_at, row.reason = clock.now(), "blocked"
    session.add(row)
    await session.flush()
    assert await delivery.undeliverable(session, school.director, clock.now()) == [
        delivery.Undelivered(
            "Mark de Vries", "request_reply", "blocked", clock.now(), made.reference
        )
    ]
    with pytest.raises(NotAllowed):
        await delivery.undeliverable(session, school.anouk, clock.now())
    # Sanne's copy and the teacher's "new request" are still queued: listed once they
    # are overdue, as still being tried.
    queued = clock.now()
    clock.advance(minutes=11)
    listed = await delivery.undeliverable(session, school.director, clock.now())
    assert sorted((u.name, u.reason or "", u.at) for u in listed) == [
        ("Anouk Jansen", "", queued),
        ("Mark de Vries", "blocked", queued),
        ("Sanne de Vries", "", queued),
    ]


async def test_every_mutation_queues_its_template(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    asked = await _asked(session, school, school.emma, clock.now())
    correction = await _correction(session, school, "voornaam", "Emmy", clock.now())
    deletion = await _deletion(session, school, "beeldmateriaal", clock.now())
    other = await factories.create_correction(
        session, school.sanne, _id(school.emma), "achternaam", "Mies", "Nog iets", clock.now()
    )
    start = len(await _outbox(session))
    await commands.pick_up(session, school.anouk, _id(asked), clock.now())
    assert len(await _outbox(session)) == start  # taking a request tells nobody
    await commands.reply(session, school.anouk, _id(asked), "Antwoord", clock.now())
    await commands.resolve(session, school.anouk, _id(correction), "Aangepast", clock.now())
    await commands.reject(session, school.anouk, _id(asked), "Geen vraag", clock.now())
    await commands.forward_to_director(session, school.anouk, _id(other), clock.now())
    await commands.extend(session, school.director, _id(other), "Archief", clock.now())
    await commands.approve(session, school.director, _id(deletion), "Gedaan", clock.now())
    templates = [(user, template) for user, template, _ in (await _outbox(session))[start:]]
    parents = [SANNE_TG, MARK_TG]
    expected = [
        *((u, "request_reply") for u in parents),
        *((u, "request_resolved") for u in parents),
        *((u, "request_rejected") for u in parents),
        (DIRECTOR_TG, "request_new"),
        *((u, "request_extended") for u in parents),
        # An approved photo deletion: the group's teacher first, then the parents.
        (ANOUK_TG, "photos_erased_staff"),
        *((u, "request_resolved") for u in parents),
    ]
    assert templates == expected
    kinds = {r.kind for r in (await session.exec(select(Request))).all()}
    assert kinds == {RequestKind.CORRECTION, RequestKind.DELETION}


# --- the administrator's staff lifecycle (flows/staff_admin.py) ----------------------


async def test_deactivated_teacher_loses_access_and_her_requests_go_to_a_colleague(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    from flows import staff_admin

    now = clock.now()
    sara = await factories.staff(
        session, "Sara Bos", StaffRole.TEACHER, ("5A",), telegram_user_id=9003
    )
    question = await _question(session, school, school.emma, now)
    to_director = await _deletion(session, school, requests.DELETION_PHOTOS, now)
    assert question.assignee_staff_id == school.anouk.staff_id
    await commands.pick_up(session, school.anouk, _id(question), now)
    await session.commit()

    change = await staff_admin.deactivate(session, "Anouk Jansen", now)
    await session.commit()
    assert [(m.reference, m.role, m.name) for m in change.moved] == [
        (question.reference, StaffRole.TEACHER, "Sara Bos")
    ]
    assert change.unlinked == 1
    await session.refresh(question)
    await session.refresh(to_director)
    assert (question.assignee_staff_id, question.status) == (sara.id, RequestStatus.OPEN)
    assert to_director.assignee_role == StaffRole.DIRECTOR
    # Her next update is not a member of staff's: every staff flow refuses it.
    gone = await load_actor(session, ANOUK_TG, "nl")
    assert not gone.is_staff and not gone.is_linked
    with pytest.raises(NotFound):
        await worklist.queue(session, gone, now)
    assert [user for user, _ in await _sent(session, "request_new")][-1] == 9003
    actions = (await session.exec(select(AuditEvent.action))).all()
    assert "staff_deactivated" in actions and "request_reassigned" in actions
    with pytest.raises(InvalidInput, match="already_inactive"):
        await staff_admin.deactivate(session, "anouk jansen", now)


async def test_new_groups_move_requests_of_the_old_group_to_the_director(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    from flows import staff_admin

    now = clock.now()
    question = await _question(session, school, school.emma, now)
    await session.commit()
    change = await staff_admin.set_groups(session, "Anouk Jansen", ["7b"], now)
    await session.commit()
    assert [(m.reference, m.role, m.name) for m in change.moved] == [
        (question.reference, StaffRole.DIRECTOR, "Jeroen Visser")
    ]
    actor = await load_actor(session, ANOUK_TG, "nl")
    assert [i.reference for i in await worklist.queue(session, actor, now)] == []
    with pytest.raises(InvalidInput, match="unknown_group:9Z"):
        await staff_admin.set_groups(session, "Anouk Jansen", ["9Z"], now)

    issued, unlinked = await staff_admin.new_code(session, "Anouk Jansen", now)
    await session.commit()
    assert unlinked == 1 and issued.pupils == ("7B",)
    assert not (await load_actor(session, ANOUK_TG, "nl")).is_staff


async def test_each_consent_overview_is_one_view_per_child_named_and_the_parent_sees_it(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    emma_id, noor_id = _id(school.emma), _id(school.noor)
    for channel in CHANNELS:
        await consent.choose(session, school.piet, noor_id, channel, True, CHANNELS, clock.now())
    await consent.group_overview(session, school.anouk, CHANNELS, clock.now())
    clock.advance(minutes=3)
    await consent.group_overview(session, school.anouk, CHANNELS, clock.now())
    viewed = (
        await session.exec(select(AuditEvent).where(AuditEvent.action == "consent_overview_viewed"))
    ).all()
    # Emma is named (no consent yet) in all three channels: one event per open, not three.
    assert [e.pupil_id for e in viewed] == [emma_id, emma_id]
    lines = await logbook.accesses_for_guardian(session, school.sanne, emma_id)
    assert [(line.role, line.action, line.count) for line in lines] == [
        (StaffRole.TEACHER, "consent_overview_viewed", 2)
    ]
    assert lines[0].first_at < lines[0].at
    assert await logbook.accesses_for_guardian(session, school.piet, noor_id) == []


async def test_a_teachers_log_omits_requests_routed_to_the_director(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    emma_id = _id(school.emma)
    private = await factories.create_question(
        session, school.sanne, emma_id, StaffRole.DIRECTOR, "Over de juf", clock.now()
    )
    photos = await _deletion(session, school, requests.DELETION_PHOTOS, clock.now())
    await worklist.card(session, school.director, _id(private), clock.now(), opened=True)
    ours = await _question(session, school, school.emma, clock.now())
    teacher_log = await logbook.pupil_log(session, school.anouk, emma_id, clock.now())
    details = " ".join(line.detail for line in teacher_log)
    assert private.reference not in details
    assert ours.reference in details
    assert photos.reference not in details  # deletions go to the director
    director_log = await logbook.pupil_log(session, school.director, emma_id, clock.now())
    assert private.reference in " ".join(line.detail for line in director_log)


async def test_the_answer_to_a_private_question_reaches_only_the_asker(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    private = await factories.create_question(
        session, school.sanne, _id(school.emma), StaffRole.TEACHER, "Alleen ik", clock.now()
    )
    await commands.resolve(session, school.anouk, _id(private), "Antwoord", clock.now())
    told = [user for user, t, _ in await _outbox(session) if t.startswith("request_")]
    assert SANNE_TG in told and MARK_TG not in told
