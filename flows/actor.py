"""Who is asking. Built once per update from the chat link; every flow takes it."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import ChatLink, Staff, StaffGroup, StaffRole


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
        return self.staff_id is not None

    @property
    def is_director(self) -> bool:
        return self.role is StaffRole.DIRECTOR


async def load_actor(session: AsyncSession, telegram_user_id: int, default_locale: str) -> Actor:
    link = await session.get(ChatLink, telegram_user_id)
    if link is None:
        return Actor(telegram_user_id=telegram_user_id, locale=default_locale)
    role: StaffRole | None = None
    groups: frozenset[int] = frozenset()
    staff_id = link.staff_id
    if staff_id is not None:
        staff = await session.get(Staff, staff_id)
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
