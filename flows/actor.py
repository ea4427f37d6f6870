"""Who is asking. Built once per update from the chat link; every flow takes it."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import and_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    ChatLink,
    Guardian,
    GuardianPupil,
    Pupil,
    SchoolGroup,
    Staff,
    StaffGroup,
    StaffRole,
)


@dataclass(frozen=True)
class Actor:
    telegram_user_id: int
    locale: str
    guardian_id: int | None = None
    staff_id: int | None = None
    role: StaffRole | None = None
    group_ids: frozenset[int] = field(default_factory=frozenset)

    @property
    def is_linked(self) -> bool:
        return self.guardian_id is not None or self.staff_id is not None

    @property
    def is_guardian(self) -> bool:
        return self.guardian_id is not None

    @property
    def is_staff(self) -> bool:
        """Staff who handle requests; a board member sees figures only."""
        return self.staff_id is not None and self.role is not StaffRole.BOARD

    @property
    def is_board(self) -> bool:
        return self.staff_id is not None and self.role is StaffRole.BOARD

    @property
    def is_director(self) -> bool:
        return self.role is StaffRole.DIRECTOR


# The rows the Actor was built from, held by the session for the rest of the update: the
# identity map holds objects only weakly, and a flow asking for the same ChatLink or
# Guardian again would otherwise query it again.
_ROWS = "ouderloket_actor_rows"
# The children load_actor found, for the menu (flows.linking.profile) in the same update.
CHILDREN = "ouderloket_actor_children"


async def load_actor(session: AsyncSession, telegram_user_id: int, default_locale: str) -> Actor:
    """One query for a parent: the link, the guardian and the children at school with
    their groups (a row per child), which own_child and the menu then answer from for
    the rest of the update. A member of staff also needs the role and the groups."""
    rows = (
        await session.exec(
            select(ChatLink, Guardian, Pupil, SchoolGroup)
            .outerjoin(Guardian, col(Guardian.id) == col(ChatLink.guardian_id))
            .outerjoin(GuardianPupil, col(GuardianPupil.guardian_id) == col(ChatLink.guardian_id))
            .outerjoin(
                Pupil,
                and_(col(Pupil.id) == col(GuardianPupil.pupil_id), col(Pupil.left_at).is_(None)),
            )
            .outerjoin(SchoolGroup, col(SchoolGroup.id) == col(Pupil.group_id))
            .where(ChatLink.telegram_user_id == telegram_user_id)
            .order_by(col(Pupil.geboortedatum), col(Pupil.id))
        )
    ).all()
    if not rows:
        return Actor(telegram_user_id=telegram_user_id, locale=default_locale)
    link, guardian = rows[0][0], rows[0][1]
    session.info[_ROWS] = [link, guardian]
    if link.guardian_id is not None:
        children = [(p, g) for *_, p, g in rows if p is not None and g is not None]
        session.info[_ROWS].extend(obj for row in children for obj in row)
        session.info[CHILDREN] = (link.guardian_id, children)
        # Imported here: flows.scope builds on Actor.
        from flows.scope import remember_own

        remember_own(session, link.guardian_id, children)
    role: StaffRole | None = None
    groups: frozenset[int] = frozenset()
    staff_id = link.staff_id
    if staff_id is not None:
        staff = await session.get(Staff, staff_id)
        session.info[_ROWS].append(staff)
        if staff is None or not staff.active:
            staff_id = None
        else:
            role = StaffRole(staff.role)
            found = await session.exec(
                select(StaffGroup.group_id).where(StaffGroup.staff_id == staff_id)
            )
            groups = frozenset(found.all())
    return Actor(
        telegram_user_id=telegram_user_id,
        locale=link.locale,
        guardian_id=link.guardian_id,
        staff_id=staff_id,
        role=role,
        group_ids=groups,
    )


def loaded_children(
    session: AsyncSession, guardian_id: int
) -> list[tuple[Pupil, SchoolGroup]] | None:
    """The guardian's children at school with their groups, oldest first, as load_actor
    found them in this update; None when it did not (another account, or links changed
    since)."""
    found = session.info.get(CHILDREN)
    if found is None or found[0] != guardian_id:
        return None
    return list(found[1])
