"""The read every update starts with (flows.actor.arrive) brings the parent's children as
rows: what the menu and own_child then show must be what their own reads give, typed the
same, on SQLite and on PostgreSQL, and a child who left, or another family's, never
comes along."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from flows import consent
from flows.actor import ARRIVAL, ASKED_CHILD, Actor, Arrival, adopt, arrive, load_actor
from flows.consent import CHOICE
from flows.errors import NotFound
from flows.inzage import RECORD, child_record
from flows.linking import profile
from flows.scope import own_child
from storage.db import SessionFactory
from storage.models import ConsentEvent, ConsentSource, Disclosure
from tests import factories

SANNE_TG = 4101


async def _family(factory: SessionFactory) -> tuple[int, list[int], int, int]:
    """Sanne with three children (one has left school), and another family's child."""
    async with factory() as session:
        lotte = await factories.pupil(
            session, "Lotte", geboortedatum=date(2015, 1, 9), leerlingkey="LK-1"
        )
        sem = await factories.pupil(
            session, "Sem", group_name="3B", geboortedatum=date(2018, 6, 30), bijzonderheden="x"
        )
        gone = await factories.pupil(session, "Noor", left_at=datetime(2026, 7, 1, tzinfo=UTC))
        other = await factories.pupil(session, "Daan", achternaam="Smit", tussenvoegsel="")
        sanne = await factories.guardian(session, "Sanne de Vries", sem, lotte, gone)
        await factories.guardian(session, "Kees Smit", other)
        await factories.link_guardian(session, sanne, SANNE_TG)
        await session.commit()
        return sanne.id or 0, [lotte.id or 0, sem.id or 0], gone.id or 0, other.id or 0


async def _same_children_either_way(factory: SessionFactory) -> None:
    guardian_id, children, gone, other = await _family(factory)
    async with factory() as session:
        actor = await load_actor(session, SANNE_TG, "nl")
        arrived = [await own_child(session, actor, pupil_id) for pupil_id in children]
        menu = await profile(session, SANNE_TG)
    # The same questions without the arrival: own_child and the menu read for themselves.
    async with factory() as session:
        actor = Actor(telegram_user_id=SANNE_TG, locale="nl", guardian_id=guardian_id)
        read = [await own_child(session, actor, pupil_id) for pupil_id in children]
        for pupil_id in (gone, other, max([*children, gone, other]) + 1):
            with pytest.raises(NotFound):
                await own_child(session, actor, pupil_id)
    async with factory() as session:
        alone = await profile(session, SANNE_TG)

    assert arrived == read
    lotte, sem = arrived
    assert isinstance(lotte.geboortedatum, date) and lotte.geboortedatum == date(2015, 1, 9)
    assert (lotte.voornaam, lotte.leerlingkey, lotte.group.name) == ("Lotte", "LK-1", "5A")
    assert (sem.group.name, sem.bijzonderheden, sem.left_at) == ("3B", "x", None)
    # Oldest first, the child who left not among them, on the menu either way.
    assert menu == alone
    assert [c.first_name for c in menu.children] == ["Lotte", "Sem"]
    assert menu.guardian_name == "Sanne de Vries"


async def test_the_arrival_gives_the_children_their_own_reads_give(
    factory: SessionFactory,
) -> None:
    await _same_children_either_way(factory)


async def test_the_arrival_gives_the_same_children_on_postgresql(
    pg_factory: SessionFactory,
) -> None:
    await _same_children_either_way(pg_factory)


async def test_another_familys_child_is_not_found_after_the_arrival(
    factory: SessionFactory,
) -> None:
    _guardian, _children, gone, other = await _family(factory)
    async with factory() as session:
        actor = await load_actor(session, SANNE_TG, "nl")
        for pupil_id in (gone, other):
            with pytest.raises(NotFound):
                await own_child(session, actor, pupil_id)


async def _record_alongside_as_alone(factory: SessionFactory) -> None:
    """Mijn gegevens reads the child's record in the update's first statement
    (flows.actor.Alongside): the record must be the one its own read gives, for the
    child the button names or the parent's only child; for another family's child, a
    child who left, or "the only child" of a parent with two, nothing is read."""
    guardian_id, (lotte, sem), gone, other = await _family(factory)
    now = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    channels = ("website", "nieuwsbrief")
    async with factory() as session:
        sanne = Actor(telegram_user_id=SANNE_TG, locale="nl", guardian_id=guardian_id)
        await factories.create_correction(session, sanne, lotte, "voornaam", "Lot", None, now)
        session.add(
            Disclosure(
                pupil_id=lotte, recipient="GGD", disclosed_on=date(2026, 10, 1), legal_ground="x"
            )
        )
        for granted in (True, False):
            session.add(
                ConsentEvent(
                    pupil_id=lotte,
                    channel="website",
                    granted=granted,
                    at=now,
                    source=ConsentSource.BOT,
                    guardian_id=guardian_id,
                )
            )
        await session.commit()

    async def arriving(session: AsyncSession, asked: int) -> Arrival:
        params = {ASKED_CHILD.key: asked}
        arrival = await arrive(await session.connection(), SANNE_TG, "nl", {}, params, RECORD)
        adopt(session, arrival)
        return arrival

    async with factory() as session:
        arrival = await arriving(session, lotte)
        assert arrival.alongside is not None
        assert arrival.alongside[1] == lotte
        assert all(arrival.alongside[2][part] for part in ("guardian", "request", "consent"))
        together = await child_record(session, arrival.actor, lotte, channels)
        assert session.info[ARRIVAL].alongside is None  # taken by child_record
    async with factory() as session:
        actor = await load_actor(session, SANNE_TG, "nl")
        alone = await child_record(session, actor, lotte, channels)
    assert together == alone
    assert together.open_requests and together.disclosures and together.consent[0].granted is False

    for asked in (0, gone, other, max(lotte, sem, gone, other) + 1):
        async with factory() as session:
            arrival = await arriving(session, asked)
            assert arrival.alongside is not None
            _, child, found = arrival.alongside
            assert child is None and not any(found.values())


async def test_the_record_read_with_the_arrival_is_the_record_read_alone(
    factory: SessionFactory,
) -> None:
    await _record_alongside_as_alone(factory)


async def test_the_record_read_with_the_arrival_is_the_record_read_alone_on_postgresql(
    pg_factory: SessionFactory,
) -> None:
    await _record_alongside_as_alone(pg_factory)


async def _choice_alongside_as_alone(factory: SessionFactory) -> None:
    """A consent choice reads the child's choices and whom to tell of it (the group's
    teachers, the child's other guardians) in the update's first statement
    (flows.consent.CHOICE): the rows its own read gives, for each of Sanne's children
    (Emma in 5A with Anouk, Daan in 7B whose teacher has no account); for another
    family's child nothing is read."""
    async with factory() as session:
        school = await factories.school(session)
        for child in (school.emma, school.daan):
            session.add(
                ConsentEvent(
                    pupil_id=child.id or 0,
                    channel="website",
                    granted=True,
                    at=datetime(2026, 10, 1, tzinfo=UTC),
                    source=ConsentSource.BOT,
                    guardian_id=school.mark.guardian_id,
                )
            )
        await session.commit()
    sanne = school.sanne
    for child in (school.emma, school.daan):
        async with factory() as session:
            params = {ASKED_CHILD.key: child.id}
            arrival = await arrive(
                await session.connection(), factories.SANNE_TG, "nl", {}, params, CHOICE
            )
            assert arrival.alongside is not None
            _, found_child, together = arrival.alongside
            alone = consent._CHOICE.split(
                await consent._READ_CHOICE.rows(
                    await session.connection(),
                    {
                        "pupil_id": child.id,
                        "group_id": child.group_id,
                        "guardian_id": sanne.guardian_id,
                    },
                )
            )
        assert found_child == child.id
        assert together == alone
        assert [row[0] for row in together["guardian"]] == [factories.MARK_TG]
        teachers = [row[0] for row in together["teacher"]]
        assert teachers == ([factories.ANOUK_TG] if child is school.emma else [])
        assert len(together["event"]) == 1
    async with factory() as session:
        params = {ASKED_CHILD.key: school.noor.id}
        arrival = await arrive(
            await session.connection(), factories.SANNE_TG, "nl", {}, params, CHOICE
        )
        assert arrival.alongside is not None
        _, found_child, nothing = arrival.alongside
        assert found_child is None and not any(nothing.values())


async def test_a_consent_choice_reads_with_the_arrival_what_it_reads_alone(
    factory: SessionFactory,
) -> None:
    await _choice_alongside_as_alone(factory)


async def test_a_consent_choice_reads_with_the_arrival_what_it_reads_alone_on_postgresql(
    pg_factory: SessionFactory,
) -> None:
    await _choice_alongside_as_alone(pg_factory)
