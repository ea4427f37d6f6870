"""The fictional school OBS de Flint loads through the real importer and its people can link."""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import func, select

from bot.demo_school import seed
from flows.clock import FixedClock
from storage.db import SessionFactory
from storage.models import Guardian, GuardianPupil, Pupil, SchoolGroup
from tests.recording import ChatDriver


async def test_demo_school_has_families_siblings_and_staff_who_can_link(
    factory: SessionFactory, clock: FixedClock, chat: Callable[..., ChatDriver]
) -> None:
    async with factory() as session:
        personas = await seed(session, clock.now())
        await session.commit()
        pupils = (await session.exec(select(func.count()).select_from(Pupil))).one()
        groups = (await session.exec(select(SchoolGroup.name))).all()
        per_guardian = (
            await session.exec(
                select(func.count()).select_from(GuardianPupil).group_by(GuardianPupil.guardian_id)
            )
        ).all()
        special = (
            await session.exec(select(Pupil).where(Pupil.bijzonderheden == "dyslexie"))
        ).all()
        guardians = (await session.exec(select(func.count()).select_from(Guardian))).one()
    assert 30 <= pupils <= 60
    assert {"1/2A", "3", "5A", "7B", "8"} <= set(groups)
    assert max(per_guardian) >= 2  # siblings share a guardian
    assert guardians > pupils  # two-guardian families
    assert len(special) == 1

    by_name = {p.name: p for p in personas}
    sanne = chat(by_name["Sanne de Vries"].user_id)
    await sanne.send(f"/start {by_name['Sanne de Vries'].code}")
    assert "Emma de Vries, groep 5A" in sanne.last_text
    assert "Daan de Vries, groep 7B" in sanne.last_text
    assert "dyslexie" not in sanne.last_text

    director = chat(by_name["Meester Bram"].user_id)
    await director.send(by_name["Meester Bram"].code)
    assert "directeur (Meester Bram)" in director.last_text
    teacher = chat(by_name["Juf Anouk"].user_id)
    await teacher.send(by_name["Juf Anouk"].code)
    assert "leerkracht (Juf Anouk) van groep 5A" in teacher.last_text
