"""The audit trail: who did what to which pupil's data, and when."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from flows.actor import Actor
from storage.db import core
from storage.models import AuditEvent, AuthorKind
from storage.prepared import Prepared, with_marker


class AuditAction(StrEnum):
    """What an audit event records; the value is stored in audit_event.action."""

    ACCOUNT_LINKED = "account_linked"
    ACCOUNT_UNLINKED = "account_unlinked"
    BOARD_VIEW = "board_view"
    CONSENT_GIVEN = "consent_given"
    CONSENT_OVERVIEW_VIEWED = "consent_overview_viewed"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    CONSENT_YEARLY = "consent_yearly"
    COPY_DOWNLOADED = "copy_downloaded"
    DELETION_APPROVED = "deletion_approved"
    DISCLOSURE_REGISTERED = "disclosure_registered"
    ERASURES_AHEAD = "erasures_ahead"
    INVITE_CODES_ISSUED = "invite_codes_issued"
    LOG_VIEWED = "log_viewed"
    NOTE_ERASED = "note_erased"
    OVERDUE_SUMMARY = "overdue_summary"
    PARNASSYS_DONE = "parnassys_done"
    PUPIL_ERASED = "pupil_erased"
    PUPILS_IMPORTED = "pupils_imported"
    REMINDER_DUE_SOON = "reminder_due_soon"
    REQUEST_APPROVED = "request_approved"
    REQUEST_CREATED = "request_created"
    REQUEST_EXTENDED = "request_extended"
    REQUEST_FORWARDED = "request_forwarded"
    REQUEST_LIFTED = "request_lifted"
    REQUEST_MESSAGE = "request_message"
    REQUEST_PICKED_UP = "request_picked_up"
    REQUEST_REASSIGNED = "request_reassigned"
    REQUEST_REJECTED = "request_rejected"
    REQUEST_REPLY = "request_reply"
    REQUEST_RESOLVED = "request_resolved"
    REQUEST_VIEWED = "request_viewed"
    REQUEST_WITHDRAWN = "request_withdrawn"
    STAFF_ACTIVATED = "staff_activated"
    STAFF_ADDED = "staff_added"
    STAFF_CODE_ISSUED = "staff_code_issued"
    STAFF_DEACTIVATED = "staff_deactivated"
    STAFF_GROUPS_SET = "staff_groups_set"
    STAFF_IMPORTED = "staff_imported"


# On the table, built once: the ORM's unit of work cost several times the insert itself.
# Through the driver itself on SQLite (storage.prepared).
_INSERT = insert(AuditEvent.__table__)  # type: ignore[attr-defined]
_WRITE = Prepared(_INSERT)


async def record(
    session: AsyncSession,
    actor: Actor | None,
    action: AuditAction,
    now: datetime,
    *,
    pupil_id: int | None = None,
    detail: str = "",
    with_the_marker: bool = False,
) -> None:
    """Writes the event in the caller's transaction: it stands or falls with the change.
    `with_the_marker`: the event is written when the update commits, with its marker
    (storage.prepared.with_marker), for a flow that reads no audit event after it and
    erases nothing after it in the same update."""
    if actor is None:
        kind, actor_id = AuthorKind.SYSTEM, None
    elif actor.staff_id is not None:
        kind, actor_id = AuthorKind.STAFF, actor.staff_id
    elif actor.guardian_id is not None:
        kind, actor_id = AuthorKind.GUARDIAN, actor.guardian_id
    else:
        kind, actor_id = AuthorKind.TELEGRAM, actor.telegram_user_id
    values = {
        "at": now,
        "actor_kind": kind,
        "actor_id": actor_id,
        "action": action,
        "pupil_id": pupil_id,
        "detail": detail[:2000],
    }
    if with_the_marker:
        with_marker(session, _WRITE, values)
    else:
        await (await core(session)).run_sync(_WRITE.write, values)
