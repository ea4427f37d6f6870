"""Notifications to other people, queued in the outbox within the caller's transaction."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import ChatLink, GuardianPupil, Outbox, Staff, StaffGroup, StaffRole


def enqueue(
    session: AsyncSession, telegram_user_id: int, template: str, now: datetime, **params: Any
) -> None:
    session.add(
        Outbox(
            telegram_user_id=telegram_user_id,
            template=template,
            params=json.dumps(params, ensure_ascii=False, default=str),
            created_at=now,
            next_attempt_at=now,
        )
    )


async def teachers_of_group(session: AsyncSession, group_id: int) -> list[int]:
    """Telegram accounts of the active teachers linked to a group."""
    rows = await session.exec(
        select(ChatLink.telegram_user_id)
        .join(StaffGroup, col(StaffGroup.staff_id) == col(ChatLink.staff_id))
        .join(Staff, col(Staff.id) == col(ChatLink.staff_id))
        .where(StaffGroup.group_id == group_id, col(Staff.active).is_(True))
    )
    return sorted(set(rows.all()))


async def other_guardians(session: AsyncSession, pupil_id: int, guardian_id: int) -> list[int]:
    """Telegram accounts of the pupil's other guardians."""
    rows = await session.exec(
        select(ChatLink.telegram_user_id)
        .join(GuardianPupil, col(GuardianPupil.guardian_id) == col(ChatLink.guardian_id))
        .where(GuardianPupil.pupil_id == pupil_id, GuardianPupil.guardian_id != guardian_id)
    )
    return sorted(set(rows.all()))


async def staff_accounts(session: AsyncSession, staff_id: int) -> list[int]:
    """The Telegram accounts of a member of staff who still works at the school."""
    rows = await session.exec(
        select(ChatLink.telegram_user_id)
        .join(Staff, col(Staff.id) == col(ChatLink.staff_id))
        .where(ChatLink.staff_id == staff_id, col(Staff.active).is_(True))
    )
    return sorted(set(rows.all()))


async def director_accounts(session: AsyncSession) -> list[int]:
    rows = await session.exec(
        select(ChatLink.telegram_user_id)
        .join(Staff, col(Staff.id) == col(ChatLink.staff_id))
        .where(Staff.role == StaffRole.DIRECTOR, col(Staff.active).is_(True))
    )
    return sorted(set(rows.all()))


async def guardian_accounts(
    session: AsyncSession, pupil_id: int, only_guardian: int | None = None
) -> list[int]:
    """Telegram accounts of every guardian of the pupil (or of `only_guardian` among
    them, for what only that guardian sees)."""
    query = (
        select(ChatLink.telegram_user_id)
        .join(GuardianPupil, col(GuardianPupil.guardian_id) == col(ChatLink.guardian_id))
        .where(GuardianPupil.pupil_id == pupil_id)
    )
    if only_guardian is not None:
        query = query.where(GuardianPupil.guardian_id == only_guardian)
    rows = await session.exec(query)
    return sorted(set(rows.all()))
