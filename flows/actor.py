"""Who is asking. Built once per update from the chat link; every flow takes it."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import ChatLink, Guardian, Staff, StaffGroup, StaffRole


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


async def load_actor(session: AsyncSession, telegram_user_id: int, default_locale: str) -> Actor:
    """One query for a parent (the link and the guardian together); a member of staff
    also needs the role and the groups."""
    row = (
        await session.exec(
            select(ChatLink, Guardian)
            .outerjoin(Guardian, col(Guardian.id) == col(ChatLink.guardian_id))
            .where(ChatLink.telegram_user_id == telegram_user_id)
        )
    ).first()
    if row is None:
        return Actor(telegram_user_id=telegram_user_id, locale=default_locale)
    link, guardian = row
    session.info[_ROWS] = [link, guardian]
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
            rows = await session.exec(
                select(StaffGroup.group_id).where(StaffGroup.staff_id == staff_id)
            )
            groups = frozenset(rows.all())
    return Actor(
        telegram_user_id=telegram_user_id,
        locale=link.locale,
        guardian_id=link.guardian_id,
        staff_id=staff_id,
        role=role,
        group_ids=groups,
    )
