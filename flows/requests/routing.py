"""Who handles a request and who is told: the child's teacher who uses the bot, else
the director; when the assignee has no account, the directors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows import notify
from flows.linking import full_name
from flows.notify import Notice
from flows.scope import group_of
from storage.models import (
    ChatLink,
    Request,
    RequestKind,
    Staff,
    StaffGroup,
    StaffRole,
)
from storage.rows import PupilFacts


@dataclass(frozen=True)
class Assignee:
    """Where a request went: "uw verzoek is naar juf Anouk gestuurd"."""

    role: StaffRole
    staff_id: int | None
    name: str | None  # None when the school has no active director on record


async def route(session: AsyncSession, pupil: PupilFacts, wanted: StaffRole | None) -> Assignee:
    """A teacher of the child's group who uses the bot, else the director."""
    if wanted is StaffRole.TEACHER:
        teacher = (
            await session.exec(
                select(Staff)
                .join(StaffGroup, col(StaffGroup.staff_id) == col(Staff.id))
                .join(ChatLink, col(ChatLink.staff_id) == col(Staff.id))
                .where(
                    StaffGroup.group_id == pupil.group_id,
                    Staff.role == StaffRole.TEACHER,
                    col(Staff.active).is_(True),
                )
                .order_by(col(Staff.id))
                .limit(1)
            )
        ).first()
        if teacher is not None:
            return Assignee(StaffRole.TEACHER, teacher.id, teacher.name)
    return await director(session)


async def director(session: AsyncSession) -> Assignee:
    """The active director, preferring one who uses the bot."""
    directors = list(
        (
            await session.exec(
                select(Staff)
                .where(Staff.role == StaffRole.DIRECTOR, col(Staff.active).is_(True))
                .order_by(col(Staff.id))
            )
        ).all()
    )
    for director in directors:
        if await notify.staff_accounts(session, director.id or 0):
            return Assignee(StaffRole.DIRECTOR, director.id, director.name)
    if directors:
        return Assignee(StaffRole.DIRECTOR, directors[0].id, directors[0].name)
    return Assignee(StaffRole.DIRECTOR, None, None)


async def assignee_of(session: AsyncSession, request: Request) -> Assignee:
    staff = (
        await session.get(Staff, request.assignee_staff_id)
        if request.assignee_staff_id is not None
        else None
    )
    return Assignee(
        StaffRole(request.assignee_role),
        request.assignee_staff_id,
        staff.name if staff is not None else None,
    )


async def notify_assignee(
    session: AsyncSession,
    request: Request,
    pupil: PupilFacts,
    template: Notice,
    now: datetime,
    **extra: Any,
) -> None:
    """To the assignee's Telegram account(s); when the assignee has none (left, or
    never linked), to the directors, so nothing a parent sends goes unread."""
    accounts: list[int] = []
    if request.assignee_staff_id is not None:
        accounts = await notify.staff_accounts(session, request.assignee_staff_id)
    if not accounts:
        accounts = await notify.director_accounts(session)
    group = await group_of(session, pupil)
    params: dict[str, Any] = {
        "reference": request.reference,
        "kind": str(RequestKind(request.kind)),
        "pupil": pupil.voornaam,
        "pupil_full": full_name(pupil),
        "group": group.name if group else "",
        "request_id": request.id,
        **extra,
    }
    for user_id in accounts:
        await notify.enqueue(session, user_id, template, now, **params)
