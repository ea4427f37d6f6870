"""Notifications that did not reach their person, for the director: given up, still
retried after UNDELIVERED_AFTER, or never sent because nobody of the family is linked.
(A module of its own: flows.notify is below flows.requests, this reads both.)"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows import notify
from flows.actor import Actor
from flows.notify import Notice
from flows.requests import DECIDED_STATUSES
from flows.scope import require_director
from storage.models import (
    ChatLink,
    Guardian,
    Outbox,
    Request,
    RequestStatus,
    Staff,
)

# A notification not delivered this long after it was queued is shown as overdue: the
# pacing delivers a school's notifications within seconds, so this is a retry loop.
UNDELIVERED_AFTER = timedelta(minutes=10)


# The reason of a decision no parent was told of: nobody of the child's family is linked.
NOBODY_LINKED = "nobody_linked"


@dataclass(frozen=True)
class Undelivered:
    name: str  # the person it was for
    template: str
    reason: str | None  # an OutboxReason; None while it is still being retried
    at: datetime  # when it was given up, or queued when it is still pending
    reference: str | None = None  # the request it is about, if any


async def undeliverable(session: AsyncSession, actor: Actor, now: datetime) -> list[Undelivered]:
    """Director only: every notification that was given up (with its reason) and every
    one still not delivered UNDELIVERED_AFTER after it was queued, newest first."""
    require_director(actor)
    rows = await session.exec(
        select(Outbox, Guardian.name, Staff.name, Request.reference)
        .outerjoin(ChatLink, col(ChatLink.telegram_user_id) == col(Outbox.telegram_user_id))
        .outerjoin(Guardian, col(Guardian.id) == col(ChatLink.guardian_id))
        .outerjoin(Staff, col(Staff.id) == col(ChatLink.staff_id))
        .outerjoin(Request, col(Request.id) == col(Outbox.request_id))
        .where(
            col(Outbox.sent_at).is_(None),
            # A parent's message the bot could not delete was no message to anyone.
            col(Outbox.template) != notify.DELETE_MESSAGE,
            or_(
                col(Outbox.failed_at).is_not(None),
                col(Outbox.created_at) <= now - UNDELIVERED_AFTER,
            ),
        )
        .order_by(col(Outbox.id).desc())
    )
    # The name of whom it was for: the account may since have been unlinked.
    found = list(rows.all())
    guardian_ids = {row.guardian_id for row, *_ in found if row.guardian_id is not None}
    staff_ids = {row.staff_id for row, *_ in found if row.staff_id is not None}
    guardians = {
        g.id: g.name
        for g in (await session.exec(select(Guardian).where(col(Guardian.id).in_(guardian_ids))))
    }
    members = {
        m.id: m.name
        for m in (await session.exec(select(Staff).where(col(Staff.id).in_(staff_ids))))
    }
    unreached = await _decisions_told_to_no_one(session)
    return [
        *unreached,
        *(
            Undelivered(
                name=guardians.get(row.guardian_id)
                or members.get(row.staff_id)
                or guardian
                or member
                or f"Telegram {row.telegram_user_id}",
                template=row.template,
                reason=row.reason if row.failed_at is not None else None,
                at=row.failed_at or row.created_at,
                reference=reference,
            )
            for row, guardian, member, reference in found
        ),
    ]


async def _decisions_told_to_no_one(session: AsyncSession) -> list[Undelivered]:
    """Decided requests of which no parent was told: no guardian of the child was linked
    when it was decided, so the school must tell them another way."""
    told = select(Outbox.request_id).where(
        col(Outbox.request_id).is_not(None), col(Outbox.guardian_id).is_not(None)
    )
    rows = await session.exec(
        select(Request, Guardian.name)
        .join(Guardian, col(Guardian.id) == col(Request.guardian_id))
        .where(
            col(Request.decided_at).is_not(None),
            col(Request.status).in_(sorted(DECIDED_STATUSES)),
            col(Request.id).not_in(told),
        )
        .order_by(col(Request.decided_at).desc())
    )
    return [
        Undelivered(
            name=name,
            template=Notice.REQUEST_RESOLVED
            if RequestStatus(request.status) is RequestStatus.RESOLVED
            else Notice.REQUEST_REJECTED,
            reason=NOBODY_LINKED,
            at=request.decided_at or request.received_at,
            reference=request.reference,
        )
        for request, name in rows.all()
    ]
