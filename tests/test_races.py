"""Two people acting on the same thing at the same moment, on PostgreSQL with two real
sessions: the first writes and keeps its transaction open, the second reads the old state
and tries to write; once the first commits, exactly one change stands and the second
learns who was first."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aiogram.utils.i18n import I18n
from sqlalchemy import text
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.render import render
from flows import requests
from flows.actor import Actor, load_actor
from flows.requests import commands
from flows.requests.transitions import AlreadyHandled
from storage.db import SessionFactory
from storage.models import (
    AuditEvent,
    DeletionGround,
    Request,
    RequestStatus,
    StaffRole,
)
from tests import factories

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WAIT_LIMIT_S = 10.0


@dataclass
class School:
    emma_id: int
    sanne: Actor
    mark: Actor
    anouk: Actor  # teacher of 5A
    director: Actor


async def _school(factory: SessionFactory) -> School:
    async with factory() as session:
        emma = await factories.pupil(session, "Emma", "Vries", "de", "5A")
        sanne = await factories.guardian(session, "Sanne de Vries", emma)
        mark = await factories.guardian(session, "Mark de Vries", emma)
        await factories.staff(
            session, "Anouk Jansen", StaffRole.TEACHER, ("5A",), telegram_user_id=9001
        )
        await factories.staff(session, "Jeroen Visser", StaffRole.DIRECTOR, telegram_user_id=9100)
        school = School(
            emma_id=emma.id or 0,
            sanne=await factories.link_guardian(session, sanne, 4001),
            mark=await factories.link_guardian(session, mark, 4002),
            anouk=await load_actor(session, 9001, "nl"),
            director=await load_actor(session, 9100, "nl"),
        )
        await session.commit()
    return school


async def _second_waits(watcher: AsyncSession, second: asyncio.Task[object]) -> None:
    """Until the second session waits for a lock the first holds (or has finished)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_LIMIT_S
    while not second.done():
        waiting = (
            await watcher.exec(text("SELECT count(*) FROM pg_locks WHERE NOT granted"))  # type: ignore[call-overload]
        ).one()[0]
        await watcher.rollback()  # a fresh snapshot for the next look
        if waiting:
            return
        assert loop.time() < deadline, "the second session never reached the lock"
        await asyncio.sleep(0.01)


async def _race(
    factory: SessionFactory,
    first: Callable[[AsyncSession], Awaitable[object]],
    second: Callable[[AsyncSession], Awaitable[object]],
) -> object:
    """Runs `first` without committing, starts `second`, lets it reach the lock, commits
    the first; returns what the second returned or raised."""
    async with factory() as one, factory() as two, factory() as watcher:
        await first(one)
        task: asyncio.Task[object] = asyncio.create_task(second(two))
        await _second_waits(watcher, task)
        await one.commit()
        try:
            outcome = await task
        except Exception as error:  # the loser's error is the result under test
            await two.rollback()
            return error
        await two.commit()
        return outcome


async def _request_id(
    factory: SessionFactory, make: Callable[[AsyncSession], Awaitable[Request]]
) -> int:
    async with factory() as session:
        request = await make(session)
        await session.commit()
        return request.id or 0


async def test_a_withdrawal_and_the_directors_approval_at_once_exactly_one_wins(
    pg_factory: SessionFactory,
) -> None:
    school = await _school(pg_factory)
    request_id = await _request_id(
        pg_factory,
        lambda s: factories.create_deletion(
            s,
            school.sanne,
            school.emma_id,
            "beeldmateriaal",
            DeletionGround.CONSENT_WITHDRAWN,
            "",
            NOW,
        ),
    )

    lost = await _race(
        pg_factory,
        lambda s: commands.approve(s, school.director, request_id, "Akkoord.", NOW),
        lambda s: requests.withdraw(s, school.sanne, request_id, NOW),
    )

    assert isinstance(lost, AlreadyHandled)
    assert lost.by == "Jeroen Visser"
    async with pg_factory() as session:
        request = await session.get(Request, request_id)
        assert request is not None and request.status == RequestStatus.RESOLVED
        actions = (await session.exec(select(AuditEvent.action))).all()
        assert "deletion_approved" in actions and "request_withdrawn" not in actions


async def test_teacher_and_director_pressing_oppakken_at_once_exactly_one_takes_it(
    pg_factory: SessionFactory,
) -> None:
    school = await _school(pg_factory)
    request_id = await _request_id(
        pg_factory,
        lambda s: factories.create_question(
            s, school.sanne, school.emma_id, StaffRole.TEACHER, "Vraag?", NOW, shared=True
        ),
    )

    lost = await _race(
        pg_factory,
        lambda s: commands.pick_up(s, school.anouk, request_id, NOW),
        lambda s: commands.pick_up(s, school.director, request_id, NOW),
    )

    assert isinstance(lost, AlreadyHandled)
    assert lost.by == "Anouk Jansen"
    async with pg_factory() as session:
        request = await session.get(Request, request_id)
        assert request is not None
        assert (request.status, request.assignee_staff_id) == (
            RequestStatus.IN_PROGRESS,
            school.anouk.staff_id,
        )
        picked = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "request_picked_up"))
        ).all()
        assert len(picked) == 1


def test_the_loser_reads_who_was_first_in_dutch_and_english(i18n: I18n) -> None:
    with i18n.context(), i18n.use_locale("nl"):
        dutch = render("staff_error.j2", reason="already_handled", by="Jeroen Visser")
    with i18n.context(), i18n.use_locale("en"):
        english = render("staff_error.j2", reason="already_handled", by="Jeroen Visser")
    assert dutch == "Dit verzoek is al afgehandeld door Jeroen Visser."
    assert english == "This request has already been handled by Jeroen Visser."
