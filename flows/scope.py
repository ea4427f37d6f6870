"""Authorization, in one place: whose pupils a parent may see (own_child), and which
requests and pupils a member of staff reaches (a teacher their groups' and what is
assigned to them, the director everything). Anything else, and any id that does not
exist, is NotFound: a forged id learns nothing."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, event
from sqlalchemy.orm import Session
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows.actor import ARRIVAL, Actor
from flows.errors import NotAllowed, NotFound
from storage import rows
from storage.db import core
from storage.models import (
    ChatLink,
    Guardian,
    GuardianPupil,
    Pupil,
    Request,
    SchoolGroup,
    Staff,
    StaffGroup,
    StaffRole,
)
from storage.rows import GroupFacts, PupilFacts, PupilRow

# Within one update (one session) a child's ownership is checked once: a flow and the
# handler that renders it both ask, and a consent choice asked four times.
_OWN = "ouderloket_own_children"


# A guardian's children at school with their groups, oldest first, built once: the menu's
# read when the arrival did not bring them, and own_child's (narrowed to one pupil).
_CHILDREN = (
    select(*rows.COLUMNS)
    .join(GuardianPupil, col(GuardianPupil.pupil_id) == col(Pupil.id))
    .join(SchoolGroup, col(SchoolGroup.id) == col(Pupil.group_id))
    .where(col(GuardianPupil.guardian_id) == bindparam("guardian_id"), col(Pupil.left_at).is_(None))
    .order_by(col(Pupil.geboortedatum), col(Pupil.id))
)
_OWN_CHILD = _CHILDREN.where(col(Pupil.id) == bindparam("pupil_id"))


async def children_at_school(session: AsyncSession, guardian_id: int) -> list[PupilRow]:
    """The guardian's children at school, read; own_child answers from them afterwards."""
    found = (await (await core(session)).execute(_CHILDREN, {"guardian_id": guardian_id})).all()
    children = [child for child in map(rows.pupil_row, found) if child is not None]
    remember_own(session, guardian_id, children)
    return children


async def own_child(session: AsyncSession, actor: Actor, pupil_id: int) -> PupilRow:
    """The pupil with their group, if the actor is one of its guardians; NotFound
    otherwise, so a forged id learns nothing about whether the pupil exists. A row to
    read: a flow that changes the pupil gets it with session.get."""
    if actor.guardian_id is None:
        raise NotFound()
    known: dict[tuple[int, int], PupilRow | None] = session.info.setdefault(_OWN, {})
    key = (actor.guardian_id, pupil_id)
    if key not in known:
        # What this update added (a link, say) counts, as an ORM query would see it.
        connection = await core(session)
        found = (
            await connection.execute(
                _OWN_CHILD, {"pupil_id": pupil_id, "guardian_id": actor.guardian_id}
            )
        ).first()
        known[key] = rows.pupil_row(found) if found is not None else None
    child = known[key]
    if child is None:
        raise NotFound()
    return child


def remember_own(session: AsyncSession, guardian_id: int, children: Iterable[PupilRow]) -> None:
    """The guardian's children at school as another read found them: own_child answers
    from these for the rest of the update."""
    known: dict[tuple[int, int], PupilRow | None] = session.info.setdefault(_OWN, {})
    for child in children:
        known[(guardian_id, child.id)] = child


# What changes who belongs to whom, or what the arrival read of the account.
_LINKS = (Pupil, GuardianPupil, ChatLink, Guardian, Staff, StaffGroup, SchoolGroup)


@event.listens_for(Session, "after_flush")
def _forget_when_links_change(session: Session, _context: Any) -> None:
    """A flush that changes who belongs to whom (a pupil leaving, a guardian added or
    unlinked) makes the answers given so far in this session stale."""
    changed = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(obj, _LINKS) for obj in changed):
        forget(session)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_at_transaction_end(session: Session) -> None:
    forget(session)


def forget(session: Session | AsyncSession) -> None:
    """Drops what the session knew of the account and its children: for a flow that
    changes links by a Core statement, which no flush reports."""
    session.info.pop(_OWN, None)
    session.info.pop(ARRIVAL, None)


# --- staff ---------------------------------------------------------------------------


def require_staff(actor: Actor) -> int:
    if actor.staff_id is None or actor.role is None or actor.role is StaffRole.BOARD:
        raise NotFound()
    return actor.staff_id


def require_director(actor: Actor) -> int:
    staff_id = require_staff(actor)
    if not actor.is_director:
        raise NotAllowed()
    return staff_id


def in_scope(actor: Actor, request: Request, pupil: PupilFacts) -> bool:
    """The director sees every request. A teacher sees what is assigned to them, and the
    teacher's requests of their groups (a colleague's, e.g. while one is ill), but never
    what a parent sent to the director: that may be about the teacher."""
    if actor.is_director:
        return True
    if request.assignee_staff_id is not None and request.assignee_staff_id == actor.staff_id:
        return True
    return pupil.group_id in actor.group_ids and request.assignee_role == StaffRole.TEACHER


async def scoped_request(
    session: AsyncSession, actor: Actor, request_id: int
) -> tuple[Request, Pupil]:
    """The request and its pupil, if the member of staff may see it; NotFound otherwise."""
    require_staff(actor)
    request = await session.get(Request, request_id)
    if request is None:
        raise NotFound()
    pupil = await session.get(Pupil, request.pupil_id)
    if pupil is None or not in_scope(actor, request, pupil):
        raise NotFound()
    return request, pupil


async def scoped_pupil(session: AsyncSession, actor: Actor, pupil_id: int) -> Pupil:
    """A pupil of the teacher's groups (any pupil for the director)."""
    require_staff(actor)
    pupil = await session.get(Pupil, pupil_id)
    if pupil is None or not (actor.is_director or pupil.group_id in actor.group_ids):
        raise NotFound()
    return pupil


async def staff_groups(session: AsyncSession, actor: Actor) -> list[SchoolGroup]:
    require_staff(actor)
    query = select(SchoolGroup).order_by(col(SchoolGroup.name))
    if not actor.is_director:
        query = query.where(col(SchoolGroup.id).in_(sorted(actor.group_ids)))
    return list((await session.exec(query)).all())


async def group_of(session: AsyncSession, pupil: PupilFacts) -> GroupFacts | None:
    """The pupil's group: the one read with the pupil's row, or from the session."""
    if isinstance(pupil, PupilRow):
        return pupil.group
    return await session.get(SchoolGroup, pupil.group_id)
