"""The one place that decides whose pupils an actor may see."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows.actor import Actor
from flows.errors import NotFound
from storage.models import ChatLink, GuardianPupil, Pupil, SchoolGroup

# Within one update (one session) a child's ownership is checked once: a flow and the
# handler that renders it both ask, and a consent choice asked four times.
_OWN = "ouderloket_own_children"


async def own_child(session: AsyncSession, actor: Actor, pupil_id: int) -> Pupil:
    """The pupil, if the actor is one of its guardians; NotFound otherwise, so a forged id
    learns nothing about whether the pupil exists."""
    if actor.guardian_id is None:
        raise NotFound()
    known: dict[tuple[int, int], Any] = session.info.setdefault(_OWN, {})
    key = (actor.guardian_id, pupil_id)
    if key not in known:
        row = (
            await session.exec(
                select(Pupil, SchoolGroup)
                .join(GuardianPupil, col(GuardianPupil.pupil_id) == col(Pupil.id))
                .join(SchoolGroup, col(SchoolGroup.id) == col(Pupil.group_id))
                .where(
                    Pupil.id == pupil_id,
                    GuardianPupil.guardian_id == actor.guardian_id,
                    col(Pupil.left_at).is_(None),
                )
            )
        ).first()
        known[key] = tuple(row) if row is not None else None
    found = known[key]
    if found is None:
        raise NotFound()
    return found[0]


def remember_own(
    session: AsyncSession, guardian_id: int, children: Iterable[tuple[Pupil, SchoolGroup]]
) -> None:
    """The guardian's children at school as another query found them (with their
    groups): own_child answers from these for the rest of the update. The groups are
    held too, so session.get(SchoolGroup, ...) finds them without a query."""
    known: dict[tuple[int, int], Any] = session.info.setdefault(_OWN, {})
    for pupil, group in children:
        known[(guardian_id, pupil.id or 0)] = (pupil, group)


@event.listens_for(Session, "after_flush")
def _forget_when_links_change(session: Session, _context: Any) -> None:
    """A flush that changes who belongs to whom (a pupil leaving, a guardian added or
    unlinked) makes the answers given so far in this session stale."""
    changed = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(obj, (Pupil, GuardianPupil, ChatLink)) for obj in changed):
        session.info.pop(_OWN, None)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_at_transaction_end(session: Session) -> None:
    session.info.pop(_OWN, None)
