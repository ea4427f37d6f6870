"""Notifications to other people, queued in the outbox within the caller's transaction."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy import bindparam, insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import core
from storage.models import ChatLink, GuardianPupil, Outbox, Staff, StaffGroup, StaffRole
from storage.prepared import Prepared, with_marker

# An outbox row that deletes a message in a chat instead of sending one (bot.outbox):
# a parent's own message that carried an erased value.
DELETE_MESSAGE = "delete_message"
# Telegram lets a bot delete a message in a private chat for 48 hours after it was sent;
# an hour's margin for the row to wait its turn in the outbox.
DELETABLE_FOR = timedelta(hours=47)


def enqueue_deletion(session: AsyncSession, chat_id: int, message_id: int, now: datetime) -> None:
    """Queues the deletion of a message in a chat. For nobody in particular: it goes
    also when the parent has unlinked since, the message is theirs all the same."""
    session.add(
        Outbox(
            telegram_user_id=chat_id,
            template=DELETE_MESSAGE,
            params=json.dumps({"message_id": message_id}),
            created_at=now,
            next_attempt_at=now,
        )
    )


class Notice(StrEnum):
    """A notification to someone else: its value names bot/templates/notify/<value>.j2
    and is stored in outbox.template."""

    CONSENT_CHANGED_GUARDIAN = "consent_changed_guardian"
    CONSENT_CHANGED_STAFF = "consent_changed_staff"
    CONSENT_YEARLY = "consent_yearly"
    ERASURES_AHEAD = "erasures_ahead"
    OVERDUE_SUMMARY = "overdue_summary"
    PHOTOS_ERASED_STAFF = "photos_erased_staff"
    PHOTOS_OBJECTION_STAFF = "photos_objection_staff"
    PUPIL_ERASED = "pupil_erased"
    REQUEST_DUE_SOON = "request_due_soon"
    REQUEST_EXTENDED = "request_extended"
    REQUEST_LIFTED = "request_lifted"
    REQUEST_MESSAGE = "request_message"
    REQUEST_NEW = "request_new"
    REQUEST_REJECTED = "request_rejected"
    REQUEST_REPLY = "request_reply"
    REQUEST_RESOLVED = "request_resolved"
    REQUEST_WITHDRAWN = "request_withdrawn"


async def enqueue(
    session: AsyncSession,
    to: int | Recipient,
    template: Notice,
    now: datetime,
    *,
    about_pupil: int | None = None,
    **params: Any,
) -> None:
    """Queues a notification for an account (a Recipient when its link was read with
    it). Whom the account belongs to now (and the child it is about, for a guardian) is
    stored with it: the sender checks that still holds, so an account that unlinked or
    lost the child since gets nothing."""
    if isinstance(to, Recipient):
        telegram_user_id, guardian_id, staff_id = to
    else:
        link = await session.get(ChatLink, to)
        telegram_user_id = to
        guardian_id = link.guardian_id if link is not None else None
        staff_id = link.staff_id if link is not None else None
    request_id = params.get("request_id")
    row = Outbox(
        telegram_user_id=telegram_user_id,
        template=template,
        params=json.dumps(params, ensure_ascii=False, default=str),
        created_at=now,
        next_attempt_at=now,
        guardian_id=guardian_id,
        staff_id=staff_id,
        pupil_id=about_pupil,
        request_id=request_id if isinstance(request_id, int) and request_id > 0 else None,
    )
    # Nothing in the update reads it back before the sender does, after the commit: it
    # goes with the update's marker (on PostgreSQL in the same statement). Every column
    # is given, the defaults included, as the model has them.
    with_marker(session, _QUEUE, row.model_dump(exclude={"id"}))


async def recipient_gone(session: AsyncSession, row: Outbox) -> bool:
    """True when the person the row was queued for no longer holds the account (it
    unlinked, or was linked to someone else), a guardian no longer has the child, or a
    member of staff left. A row queued for an account nobody was linked to is sent."""
    link = await session.get(ChatLink, row.telegram_user_id)
    if row.guardian_id is not None:
        if link is None or link.guardian_id != row.guardian_id:
            return True
        if row.pupil_id is not None:
            return await session.get(GuardianPupil, (row.guardian_id, row.pupil_id)) is None
        return False
    if row.staff_id is not None:
        if link is None or link.staff_id != row.staff_id:
            return True
        member = await session.get(Staff, row.staff_id)
        return member is None or not member.active
    return False


_QUEUE = Prepared(insert(Outbox.__table__))  # type: ignore[attr-defined]


class Recipient(NamedTuple):
    """An account to tell, with whom it belongs to (ChatLink), as `enqueue` stores it."""

    telegram_user_id: int
    guardian_id: int | None
    staff_id: int | None


# Built once, with the ids as bound parameters: building a statement costs more than
# running it again (SQLAlchemy caches the compiled SQL, not the construction). Rows of
# Recipient, by account.
_ACCOUNT = (col(ChatLink.telegram_user_id), col(ChatLink.guardian_id), col(ChatLink.staff_id))
BY_ACCOUNT = (col(ChatLink.telegram_user_id),)
TEACHERS_OF_GROUP = (
    select(*_ACCOUNT)
    .join(StaffGroup, col(StaffGroup.staff_id) == col(ChatLink.staff_id))
    .join(Staff, col(Staff.id) == col(ChatLink.staff_id))
    .where(col(StaffGroup.group_id) == bindparam("group_id"), col(Staff.active).is_(True))
)
OTHER_GUARDIANS = (
    select(*_ACCOUNT)
    .join(GuardianPupil, col(GuardianPupil.guardian_id) == col(ChatLink.guardian_id))
    .where(
        col(GuardianPupil.pupil_id) == bindparam("pupil_id"),
        col(GuardianPupil.guardian_id) != bindparam("guardian_id"),
    )
)


def recipients(rows: Iterable[Sequence[Any]]) -> list[Recipient]:
    """Rows of the reads above, each account once, in order."""
    return sorted({Recipient(*row) for row in rows})


async def teachers_of_group(session: AsyncSession, group_id: int) -> list[int]:
    """Telegram accounts of the active teachers linked to a group."""
    rows = await (await core(session)).execute(TEACHERS_OF_GROUP, {"group_id": group_id})
    return sorted(set(rows.scalars()))


async def other_guardians(session: AsyncSession, pupil_id: int, guardian_id: int) -> list[int]:
    """Telegram accounts of the pupil's other guardians."""
    rows = await (await core(session)).execute(
        OTHER_GUARDIANS, {"pupil_id": pupil_id, "guardian_id": guardian_id}
    )
    return sorted(set(rows.scalars()))


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
