"""An approved deletion erases exactly what was approved, with every copy, in the same
transaction; the form offers only what may be deleted; the director's ParnasSys
checklist; a re-import keeps an erasure and says, by line, that ParnasSys still holds it."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows import checklist, consent, inzage, requests
from flows.actor import Actor, load_actor
from flows.clock import FixedClock
from flows.errors import InvalidInput, NotAllowed
from flows.requests import Draft, commands, worklist
from storage.importers.pupils import KeptErasure, import_pupils
from storage.models import (
    AuditEvent,
    ConsentEvent,
    ConsentSource,
    DeletionGround,
    ErasedField,
    Guardian,
    Outbox,
    ParnasSysTask,
    Pupil,
    Request,
    RequestKind,
    RequestMessage,
    StaffRole,
)
from tests import factories
from tests.test_import_pupils import export, pupil_row

NOTE = "dyslexie, extra leestijd"
CHANNELS = ("website", "nieuwsbrief", "parro")
SANNE_TG, ANOUK_TG, DIRECTOR_TG = 4001, 9001, 9100


@dataclass
class School:
    emma: Pupil  # 5A, has a note
    daan: Pupil  # 7B, her brother, also "de Vries"
    noor: Pupil  # 5A, no tussenvoegsel, no note
    sanne: Actor
    anouk: Actor
    director: Actor


@pytest.fixture
async def school(session: AsyncSession) -> School:
    emma = await factories.pupil(session, "Emma", "Vries", "de", "5A", bijzonderheden=NOTE)
    daan = await factories.pupil(session, "Daan", "Vries", "de", "7B", geslacht="M")
    noor = await factories.pupil(session, "Noor", "Bakker", "", "5A")
    sanne = await factories.guardian(session, "Sanne de Vries", emma, daan, noor)
    await factories.staff(session, "Anouk", StaffRole.TEACHER, ("5A",), telegram_user_id=ANOUK_TG)
    await factories.staff(session, "Bram", StaffRole.DIRECTOR, telegram_user_id=DIRECTOR_TG)
    made = School(
        emma=emma,
        daan=daan,
        noor=noor,
        sanne=await factories.link_guardian(session, sanne, SANNE_TG),
        anouk=await load_actor(session, ANOUK_TG, "nl"),
        director=await load_actor(session, DIRECTOR_TG, "nl"),
    )
    await session.commit()
    return made


def _id(model: Pupil | Request) -> int:
    assert model.id is not None
    return model.id


async def _deletion(
    session: AsyncSession, school: School, pupil: Pupil, what: str, now: object, text: str = ""
) -> Request:
    return await factories.create_deletion(
        session, school.sanne, _id(pupil), what, DeletionGround.NO_LONGER_NEEDED, text, now
    )  # type: ignore[arg-type]


async def _params(session: AsyncSession) -> list[tuple[str, dict[str, object]]]:
    rows = (await session.exec(select(Outbox).order_by(col(Outbox.id)))).all()
    return [(r.template, json.loads(r.params)) for r in rows]


# --- what the form offers ------------------------------------------------------------


async def test_the_form_offers_only_what_may_be_deleted(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    emma = await requests.offer(session, school.sanne, Draft("deletion", _id(school.emma)))
    assert [o.value for o in emma.options] == [
        "tussenvoegsel",
        "bijzonderheden",
        "beeldmateriaal",
        "anders",
    ]
    # What must be kept is not offered; the step offers a correction instead.
    assert emma.instead is RequestKind.CORRECTION
    # No tussenvoegsel and no note: neither is offered.
    noor = await requests.offer(session, school.sanne, Draft("deletion", _id(school.noor)))
    assert [o.value for o in noor.options] == ["beeldmateriaal", "anders"]
    # A forged form cannot ask for what the school keeps or the child does not have.
    forged = [(school.emma, w) for w in ("achternaam", "geboortedatum", "voornaam", "geslacht")]
    for pupil, what in [*forged, (school.noor, "bijzonderheden")]:
        with pytest.raises(InvalidInput):
            await _deletion(session, school, pupil, what, clock.now())


# --- approval erases every copy ------------------------------------------------------


async def test_approving_the_note_erases_it_and_every_copy(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    # The parent quotes the note in the request and in a message; a notification holds it.
    made = await _deletion(
        session, school, school.emma, "bijzonderheden", clock.now(), f"Het gaat om: {NOTE}."
    )
    await requests.add_message(
        session, school.sanne, _id(made), f"{NOTE} klopt niet meer", clock.now()
    )
    session.add(
        Outbox(
            telegram_user_id=SANNE_TG,
            template="request_reply",
            params=json.dumps({"text": f"Over {NOTE}"}),
            created_at=clock.now(),
            next_attempt_at=clock.now(),
            sent_at=clock.now(),
        )
    )
    await session.flush()
    done = await commands.approve(
        session, school.director, _id(made), "Akkoord.", clock.now(), channels=CHANNELS
    )
    assert done.erased is not None and done.erased.removed_in_bot
    emma = await session.get(Pupil, _id(school.emma))
    assert emma is not None and emma.bijzonderheden is None
    record = await inzage.child_record(session, school.sanne, _id(school.emma), CHANNELS)
    assert not record.has_special_category
    request = await session.get(Request, _id(made))
    assert request is not None and NOTE not in request.text
    for message in (await session.exec(select(RequestMessage))).all():
        assert NOTE not in message.text
    for outbox in (await session.exec(select(Outbox))).all():
        assert "dyslexie" not in outbox.params
    # The audit keeps who decided what, never the value.
    approved = (
        await session.exec(select(AuditEvent).where(AuditEvent.action == "deletion_approved"))
    ).one()
    assert approved.detail == f"{made.reference} bijzonderheden"
    assert approved.actor_id == school.director.staff_id
    assert await session.get(ErasedField, (_id(school.emma), "bijzonderheden")) is not None
    resolved = [p for t, p in await _params(session) if t == "request_resolved"]
    assert resolved and all(
        p["erased"] == "bijzonderheden" and p["removed_in_bot"] is True for p in resolved
    )


async def test_approving_a_tussenvoegsel_erases_it_from_audit_values_and_notifications(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    # Earlier: a correction of the surname, resolved ("de Vries -> de Vriess" in the audit).
    correction = await factories.create_correction(
        session, school.sanne, _id(school.emma), "achternaam", "de Vriess", None, clock.now()
    )
    await commands.resolve(session, school.anouk, _id(correction), "Aangepast.", clock.now())
    details = [e.detail for e in (await session.exec(select(AuditEvent))).all()]
    assert any("de Vries -> de Vriess" in d for d in details)
    made = await _deletion(session, school, school.emma, "tussenvoegsel", clock.now())
    await commands.approve(session, school.director, _id(made), "Goed.", clock.now())

    emma = await session.get(Pupil, _id(school.emma))
    assert emma is not None and (emma.tussenvoegsel, emma.achternaam) == ("", "Vriess")
    for event in (
        await session.exec(select(AuditEvent).where(AuditEvent.pupil_id == _id(school.emma)))
    ).all():
        assert "de Vries" not in event.detail, event.detail
    corrected = await session.get(Request, _id(correction))
    assert corrected is not None
    assert (corrected.old_value, corrected.new_value) == ("Vries", "Vriess")
    for template, params in await _params(session):
        assert "Emma de Vries" not in json.dumps(params, ensure_ascii=False), template
    # The brother keeps his own name.
    daan = await session.get(Pupil, _id(school.daan))
    assert daan is not None and daan.tussenvoegsel == "de"
    # Both decisions left the director something to do in ParnasSys.
    tasks = (await session.exec(select(ParnasSysTask).order_by(col(ParnasSysTask.id)))).all()
    assert [(t.request_id, t.what, t.action) for t in tasks] == [
        (_id(correction), "achternaam", "correct"),
        (_id(made), "tussenvoegsel", "delete"),
    ]
    assert tasks[1].due_at == made.due_at


async def test_approving_something_else_erases_nothing_and_says_so(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    made = await _deletion(
        session, school, school.emma, "anders", clock.now(), "De foto in de schoolgids."
    )
    done = await commands.approve(session, school.director, _id(made), "Doen we.", clock.now())
    assert done.erased is not None and not done.erased.removed_in_bot
    emma = await session.get(Pupil, _id(school.emma))
    assert emma is not None and (emma.tussenvoegsel, emma.bijzonderheden) == ("de", NOTE)
    resolved = [p for t, p in await _params(session) if t == "request_resolved"]
    assert resolved and all(p["removed_in_bot"] is False for p in resolved)


async def test_the_parents_message_says_only_what_happened(i18n: object) -> None:
    from bot.render import render

    with i18n.context(), i18n.use_locale("nl"):  # type: ignore[attr-defined]
        note = render(
            "notify/request_resolved.j2",
            reference="OL-2026-0001",
            kind="deletion",
            about="bijzonderheden",
            pupil="Emma",
            erased="bijzonderheden",
            removed_in_bot=True,
        )
        other = render(
            "notify/request_resolved.j2",
            reference="OL-2026-0002",
            kind="deletion",
            about="anders",
            pupil="Emma",
            erased="anders",
            removed_in_bot=False,
        )
    with i18n.context(), i18n.use_locale("en"):  # type: ignore[attr-defined]
        english = render(
            "notify/request_resolved.j2",
            reference="OL-2026-0001",
            kind="deletion",
            about="bijzonderheden",
            pupil="Emma",
            erased="bijzonderheden",
            removed_in_bot=True,
        )
    title = "Verwijdering van notitie over gezondheid of leren voor Emma (OL-2026-0001)"
    assert f"{title} is afgehandeld." in note
    assert "Verwijdering voor Emma (OL-2026-0002) is afgehandeld." in other
    assert "Deletion of note about health or learning for Emma" in english
    assert "notitie over gezondheid of leren van Emma is uit Ouderloket verwijderd" in note
    assert "De school verwijdert haar ook uit ParnasSys" in note
    assert "in de bot is er dus niets verwijderd" in other and "is uit Ouderloket" not in other
    assert "has been removed from Ouderloket" in english


# --- photos ----------------------------------------------------------------------------


async def test_approving_a_photo_deletion_puts_the_child_on_the_teachers_list_at_once(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    for channel in CHANNELS:
        await consent.choose(
            session, school.sanne, _id(school.emma), channel, True, CHANNELS, clock.now()
        )
    before = await consent.group_overview(session, school.anouk, CHANNELS, clock.now())
    assert all("Emma de Vries" not in g.not_allowed for g in before if g.group == "5A")
    made = await _deletion(session, school, school.emma, "beeldmateriaal", clock.now())
    clock.advance(minutes=5)
    await commands.approve(
        session, school.director, _id(made), "Akkoord.", clock.now(), channels=CHANNELS
    )
    after = await consent.group_overview(session, school.anouk, CHANNELS, clock.now())
    assert [g.channel for g in after if "Emma de Vries" in g.not_allowed] == list(CHANNELS)
    events = (
        await session.exec(
            select(ConsentEvent).where(ConsentEvent.source == ConsentSource.DELETION)
        )
    ).all()
    assert sorted(e.channel for e in events) == sorted(CHANNELS)
    assert all(e.guardian_id == school.sanne.guardian_id and not e.granted for e in events)
    told = [(t, p) for t, p in await _params(session) if t == "photos_erased_staff"]
    assert [p["pupil_full"] for _t, p in told] == ["Emma de Vries"]


# --- the director's checklist ------------------------------------------------------------


async def test_the_director_ticks_off_parnassys_and_it_is_audited(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    made = await _deletion(session, school, school.emma, "bijzonderheden", clock.now())
    await commands.approve(session, school.director, _id(made), "Akkoord.", clock.now())
    items = await checklist.open_items(session, school.director, clock.now())
    assert [(i.reference, i.what, i.pupil_name) for i in items] == [
        (made.reference, "bijzonderheden", "Emma de Vries")
    ]
    with pytest.raises(NotAllowed):
        await checklist.open_items(session, school.anouk, clock.now())
    with pytest.raises(NotAllowed):
        await checklist.tick(session, school.anouk, _id(made), clock.now())
    card = await worklist.card(session, school.director, _id(made), clock.now())
    assert card.task is not None and card.task.done_at is None
    done = await checklist.tick(session, school.director, _id(made), clock.now())
    assert done.done_at == clock.now()
    await checklist.tick(session, school.director, _id(made), clock.now())  # twice: once
    assert await checklist.open_items(session, school.director, clock.now()) == []
    ticked = (
        await session.exec(select(AuditEvent).where(AuditEvent.action == "parnassys_done"))
    ).all()
    assert [e.detail for e in ticked] == [f"{made.reference} bijzonderheden"]


async def test_a_late_approval_gives_the_school_a_week_for_parnassys(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    made = await _deletion(session, school, school.emma, "anders", clock.now(), "De gids.")
    clock.advance(days=40)
    await commands.approve(session, school.director, _id(made), "Laat.", clock.now())
    (item,) = await checklist.open_items(session, school.director, clock.now())
    assert (item.due_at - clock.now()).days == 7 and not item.overdue


# --- a re-import keeps the erasure -------------------------------------------------------


async def test_a_re_import_keeps_an_erasure_and_names_the_line(
    session: AsyncSession, clock: FixedClock, i18n: object
) -> None:
    rows = (
        pupil_row("1001", voornaam="Noor", tussenvoegsel="", achternaam="Bakker"),
        pupil_row("1002", bijzonderheden=NOTE),
    )
    await import_pupils(session, export(*rows), clock.now())
    emma = (await session.exec(select(Pupil).where(Pupil.leerlingnummer == "1002"))).one()
    sanne = (await session.exec(select(Guardian))).one()
    actor = await factories.link_guardian(session, sanne, SANNE_TG)
    await factories.staff(session, "Bram", StaffRole.DIRECTOR, telegram_user_id=DIRECTOR_TG)
    director = await load_actor(session, DIRECTOR_TG, "nl")
    for what in ("bijzonderheden", "tussenvoegsel"):
        made = await factories.create_deletion(
            session, actor, _id(emma), what, DeletionGround.NO_LONGER_NEEDED, "", clock.now()
        )
        await commands.approve(session, director, _id(made), "Akkoord.", clock.now())

    # ParnasSys still holds both: the same export again, a day later.
    clock.advance(days=1)
    summary = await import_pupils(session, export(*rows), clock.now())
    await session.refresh(emma)
    assert (emma.bijzonderheden, emma.tussenvoegsel) == (None, "")
    assert summary.kept_erased == (
        KeptErasure(3, "bijzonderheden"),
        KeptErasure(3, "tussenvoegsel"),
    )
    assert summary.pupils_unchanged == 2
    # Nothing of the value is in the import's audit detail.
    for event in (await session.exec(select(AuditEvent))).all():
        assert "dyslexie" not in event.detail

    from bot.import_report import describe_kept

    with i18n.context(), i18n.use_locale("nl"):  # type: ignore[attr-defined]
        dutch = describe_kept(summary.kept_erased[0])
    with i18n.context(), i18n.use_locale("en"):  # type: ignore[attr-defined]
        english = describe_kept(summary.kept_erased[1])
    assert dutch == "regel 3, bijzonderheden (notitie over gezondheid of leren): niet overgenomen"
    assert english == "line 3, name prefix (tussenvoegsel): not taken over"


async def test_an_import_without_the_column_keeps_the_erasure_silently(
    session: AsyncSession, clock: FixedClock
) -> None:
    rows = (pupil_row("1002", bijzonderheden=NOTE),)
    await import_pupils(session, export(*rows), clock.now())
    emma = (await session.exec(select(Pupil).where(Pupil.leerlingnummer == "1002"))).one()
    emma.bijzonderheden = None
    session.add(ErasedField(pupil_id=_id(emma), field="bijzonderheden", erased_at=clock.now()))
    await session.flush()
    columns = tuple(c for c in rows[0] if c != "bijzonderheden")
    summary = await import_pupils(session, export(*rows, columns=columns), clock.now())
    assert summary.kept_erased == ()
    await session.refresh(emma)
    assert emma.bijzonderheden is None


# --- a parent's own words and messages ------------------------------------------------


async def test_a_parents_words_are_replaced_whole_and_her_messages_deleted_within_48_hours(
    session: AsyncSession, school: School, clock: FixedClock
) -> None:
    """Sanne asked to correct Emma's surname (typed value and text, then a message), and
    two days later to delete the tussenvoegsel: what she typed then can still be deleted
    from her chat, what she typed two days ago cannot, and she is told which."""
    typed_at = clock.now().isoformat()
    correction = await requests.create(
        session,
        school.sanne,
        Draft(
            "correction",
            _id(school.emma),
            {"field": "achternaam"},
            value="de Vriess",
            text="Emma de Vries schrijven we met twee s.",
            sources=(("value", 501, typed_at), ("text", 502, typed_at)),
        ),
        clock.now(),
    )
    await requests.add_message(
        session, school.sanne, _id(correction), "Dus: Emma de Vriess.", clock.now(), 503
    )
    await commands.resolve(session, school.anouk, _id(correction), "Aangepast.", clock.now())
    clock.advance(hours=49)
    deletion = await requests.create(
        session,
        school.sanne,
        Draft(
            "deletion",
            _id(school.emma),
            {"what": "tussenvoegsel", "ground": str(DeletionGround.NO_LONGER_NEEDED)},
            text="Haal 'de' weg bij Emma de Vriess.",
            sources=(("text", 504, clock.now().isoformat()),),
        ),
        clock.now(),
    )
    clock.advance(minutes=5)
    done = await commands.approve(session, school.director, _id(deletion), "Goed.", clock.now())

    assert done.erased is not None
    assert (done.erased.in_chat.queued, done.erased.in_chat.too_old) == (1, 3)
    outbox = (await session.exec(select(Outbox).order_by(col(Outbox.id)))).all()
    deletions = [
        (row.telegram_user_id, json.loads(row.params)["message_id"])
        for row in outbox
        if row.template == "delete_message"
    ]
    assert deletions == [(SANNE_TG, 504)]
    words = [r.text for r in (await session.exec(select(Request))).all()]
    words += [m.text for m in (await session.exec(select(RequestMessage))).all()]
    assert "Emma Vries schrijven we met twee s." not in words  # never her sentence, cut
    assert set(words) == {"[verwijderd op verzoek]"}
    told = [
        json.loads(row.params)
        for row in outbox
        if row.template == "request_resolved"
        and json.loads(row.params)["request_id"] == _id(deletion)
    ]
    assert told and all((p["deleted_in_chat"], p["kept_in_chat"]) == (1, 3) for p in told)
