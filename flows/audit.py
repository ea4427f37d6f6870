"""The audit trail: who did what to which pupil's data, and when."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from flows.actor import Actor
from storage.models import AuditEvent


def record(
    session: AsyncSession,
    actor: Actor | None,
    action: str,
    now: datetime,
    *,
    pupil_id: int | None = None,
    detail: str = "",
) -> None:
    """Adds the event to the caller's transaction: it stands or falls with the change."""
    if actor is None:
        kind, actor_id = "system", None
    elif actor.staff_id is not None:
        kind, actor_id = "staff", actor.staff_id
    elif actor.guardian_id is not None:
        kind, actor_id = "guardian", actor.guardian_id
    else:
        kind, actor_id = "telegram", actor.telegram_user_id
    session.add(
        AuditEvent(
            at=now,
            actor_kind=kind,
            actor_id=actor_id,
            action=action,
            pupil_id=pupil_id,
            detail=detail[:2000],
        )
    )
