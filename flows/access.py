"""The one place that decides whose pupils an actor may see."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows.actor import Actor
from flows.errors import NotFound
from storage.models import GuardianPupil, Pupil


async def own_child(session: AsyncSession, actor: Actor, pupil_id: int) -> Pupil:
    """The pupil, if the actor is one of its guardians; NotFound otherwise, so a forged id
    learns nothing about whether the pupil exists."""
    if actor.guardian_id is None:
        raise NotFound()
    pupil = (
        await session.exec(
            select(Pupil)
            .join(GuardianPupil, col(GuardianPupil.pupil_id) == col(Pupil.id))
            .where(
                Pupil.id == pupil_id,
                GuardianPupil.guardian_id == actor.guardian_id,
                col(Pupil.left_at).is_(None),
            )
        )
    ).first()
    if pupil is None:
        raise NotFound()
    return pupil
