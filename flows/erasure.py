"""Erasure and retention: what the bot keeps, and for how long.

One mechanism erases a pupil's personal data from the bot's own store, whoever asks: the
director in the bot, the administrator on the command line, or the retention schedule
for a pupil who left. Who did what and when stays accountable in the audit trail; the
values it quoted do not. ParnasSys is the school's own administration and stays the
school's job (the bot reminds the director).

The retention schedule (run daily by the scheduler, `ouderloket retention`):
- a pupil missing from the export loses guardian access at once (flows.access), the
  special-category note is erased at once, the rest after `retention_days`;
- delivered notifications lose their text after `SENT_NOTICE_DAYS`, failed ones after
  `FAILED_NOTICE_DAYS` (the director's "Niet bezorgd" list needs them for a while);
- failed code attempts are removed once the lock-out window has passed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows import audit, codes, notify
from flows.actor import Actor
from flows.audit import AuditAction
from flows.errors import NotFound
from flows.linking import full_name
from flows.notify import Notice
from flows.requests import OPEN_STATUSES
from storage.models import (
    AuditEvent,
    CodeAttempt,
    ConsentEvent,
    Disclosure,
    GuardianPupil,
    Outbox,
    Pupil,
    Request,
    RequestMessage,
    RequestStatus,
    Vendor,
)

ERASED = "verwijderd"
ERASED_BIRTH = date(1900, 1, 1)
DEFAULT_RETENTION_DAYS = 30
SENT_NOTICE_DAYS = 7
FAILED_NOTICE_DAYS = 30
# Placeholder for a notification's text once it may no longer be kept.
_PURGED_PARAMS = "{}"


class Due(StrEnum):
    NOTE = "note"  # the special-category note of a pupil who left
    PUPIL = "pupil"  # everything of a pupil who left


@dataclass(frozen=True)
class Erasure:
    pupil_id: int
    former_name: str  # for the director to remove the child in ParnasSys too
    vendors: tuple[str, ...]  # every vendor that received data about the child


@dataclass(frozen=True)
class PlannedErasure:
    pupil_id: int
    leerlingnummer: str  # how the administrator finds the pupil in ParnasSys
    what: Due
    due_at: datetime


@dataclass(frozen=True)
class RetentionResult:
    erasures: tuple[PlannedErasure, ...]  # carried out (or, in a dry run, due now)
    upcoming: tuple[PlannedErasure, ...]  # due later, within the look-ahead
    notices_purged: int
    code_attempts_removed: int


def is_erased(pupil: Pupil) -> bool:
    return pupil.leerlingnummer == f"{ERASED}-{pupil.id}"


async def erase_pupil(
    session: AsyncSession,
    pupil: Pupil,
    now: datetime,
    by: Actor | None,
    *,
    tell_guardians: bool = True,
) -> Erasure:
    """Removes the child's personal data from the bot. Requests and the audit trail refer
    to the pupil row, so the row stays, anonymised and marked as left; guardian links,
    consent history and registered disclosures are deleted, the values in the child's
    requests, their messages, the audit details and the notifications about the child
    are blanked, open requests are closed, and (with `tell_guardians`) the linked
    guardians are told. `by` is the director, or None for the administrator and the
    retention schedule, which tells nobody: the school told the parents when the child
    left, and a notice would keep the child's name in the outbox after the erasure.
    The caller checks who may; nothing here commits."""
    if pupil.id is None or is_erased(pupil):
        raise NotFound()
    pupil_id = pupil.id
    former = full_name(pupil)
    await _purge_notices_about(session, pupil)
    # Told before the links that reach them are gone. The notice itself carries the name
    # until it is delivered; the schedule blanks it SENT_NOTICE_DAYS later.
    for user_id in await notify.guardian_accounts(session, pupil_id) if tell_guardians else ():
        await notify.enqueue(session, user_id, Notice.PUPIL_ERASED, now, pupil_full=former)
    vendors = tuple(
        v.name
        for v in (await session.exec(select(Vendor).order_by(col(Vendor.name)))).all()
        if any(f for f in v.data_fields.split(","))
    )
    await session.exec(delete(GuardianPupil).where(col(GuardianPupil.pupil_id) == pupil_id))
    await session.exec(delete(ConsentEvent).where(col(ConsentEvent.pupil_id) == pupil_id))
    await session.exec(delete(Disclosure).where(col(Disclosure.pupil_id) == pupil_id))
    for request in (await session.exec(select(Request).where(Request.pupil_id == pupil_id))).all():
        request.old_value = None
        request.new_value = None
        request.text = ""
        if RequestStatus(request.status) in OPEN_STATUSES:
            request.status = RequestStatus.RESOLVED
            request.decided_at = now
            request.decision_text = ERASED
        elif request.decision_text:
            request.decision_text = ERASED
        session.add(request)
        await session.exec(
            update(RequestMessage)
            .where(col(RequestMessage.request_id) == request.id)
            .values(text=ERASED)
        )
    pupil.leerlingnummer = f"{ERASED}-{pupil_id}"
    pupil.voornaam = ERASED
    pupil.tussenvoegsel = ""
    pupil.achternaam = ERASED
    pupil.geboortedatum = ERASED_BIRTH
    pupil.geslacht = "X"
    pupil.leerlingkey = None
    pupil.basispoort_id = None
    pupil.bijzonderheden = None
    pupil.left_at = pupil.left_at or now
    session.add(pupil)
    await _blank_audit(session, pupil_id)
    audit.record(session, by, AuditAction.PUPIL_ERASED, now, pupil_id=pupil_id, detail="")
    await session.flush()
    return Erasure(pupil_id, former, vendors)


async def erase_pupil_by_number(
    session: AsyncSession, leerlingnummer: str, now: datetime
) -> Erasure:
    """The administrator's `ouderloket erase-pupil LEERLINGNUMMER`."""
    pupil = (
        await session.exec(select(Pupil).where(Pupil.leerlingnummer == leerlingnummer.strip()))
    ).first()
    if pupil is None:
        raise NotFound()
    return await erase_pupil(session, pupil, now, None)


async def erase_note(session: AsyncSession, pupil: Pupil, now: datetime, by: Actor | None) -> None:
    """Removes the special-category note (bijzonderheden) and nothing else."""
    if pupil.bijzonderheden is None:
        return
    pupil.bijzonderheden = None
    session.add(pupil)
    audit.record(session, by, AuditAction.NOTE_ERASED, now, pupil_id=pupil.id, detail="")
    await session.flush()


# --- the schedule ----------------------------------------------------------------------


async def plan(
    session: AsyncSession, now: datetime, *, retention_days: int, ahead: timedelta
) -> list[PlannedErasure]:
    """Every erasure of a pupil who left that is due by `now + ahead`, soonest first."""
    keep = timedelta(days=retention_days)
    left = (
        await session.exec(
            select(Pupil)
            .where(col(Pupil.left_at).is_not(None))
            .where(col(Pupil.leerlingnummer).not_like(f"{ERASED}-%"))
            .order_by(col(Pupil.left_at), col(Pupil.id))
        )
    ).all()
    planned: list[PlannedErasure] = []
    for pupil in left:
        assert pupil.id is not None and pupil.left_at is not None
        if pupil.bijzonderheden is not None:
            planned.append(PlannedErasure(pupil.id, pupil.leerlingnummer, Due.NOTE, pupil.left_at))
        planned.append(
            PlannedErasure(pupil.id, pupil.leerlingnummer, Due.PUPIL, pupil.left_at + keep)
        )
    return sorted(
        (p for p in planned if p.due_at <= now + ahead), key=lambda p: (p.due_at, p.pupil_id)
    )


async def run_retention(
    session: AsyncSession,
    now: datetime,
    *,
    retention_days: int = DEFAULT_RETENTION_DAYS,
    dry_run: bool = False,
    ahead: timedelta = timedelta(days=7),
) -> RetentionResult:
    """Carries out what is due; with `dry_run` only says what would be, and when."""
    planned = await plan(session, now, retention_days=retention_days, ahead=ahead)
    due = tuple(p for p in planned if p.due_at <= now)
    upcoming = tuple(p for p in planned if p.due_at > now)
    if dry_run:
        purgeable = await session.exec(select(Outbox.id).where(_purgeable(now)))
        attempts = await session.exec(select(CodeAttempt.id).where(_stale_attempt(now)))
        return RetentionResult(due, upcoming, len(purgeable.all()), len(attempts.all()))
    for item in due:
        pupil = await session.get(Pupil, item.pupil_id)
        if pupil is None or is_erased(pupil):
            continue
        if item.what is Due.NOTE:
            await erase_note(session, pupil, now, None)
        else:
            await erase_pupil(session, pupil, now, None, tell_guardians=False)
    purged = await session.exec(update(Outbox).where(_purgeable(now)).values(params=_PURGED_PARAMS))
    removed = await session.exec(delete(CodeAttempt).where(_stale_attempt(now)))
    await session.flush()
    return RetentionResult(due, upcoming, purged.rowcount or 0, removed.rowcount or 0)


async def scheduled_retention(
    session: AsyncSession, now: datetime, *, retention_days: int = DEFAULT_RETENTION_DAYS
) -> int:
    """The scheduler's job: queues nothing itself (the erasure notices are queued by
    erase_pupil), so it returns 0 notifications."""
    await run_retention(session, now, retention_days=retention_days)
    return 0


def _purgeable(now: datetime):  # type: ignore[no-untyped-def]
    return (col(Outbox.params) != _PURGED_PARAMS) & or_(
        col(Outbox.sent_at) < now - timedelta(days=SENT_NOTICE_DAYS),
        col(Outbox.failed_at) < now - timedelta(days=FAILED_NOTICE_DAYS),
    )


def _stale_attempt(now: datetime):  # type: ignore[no-untyped-def]
    return col(CodeAttempt.at) < now - codes.FAILURE_WINDOW * 2


async def _blank_audit(session: AsyncSession, pupil_id: int) -> None:
    await session.exec(
        update(AuditEvent).where(col(AuditEvent.pupil_id) == pupil_id).values(detail="")
    )


async def _purge_notices_about(session: AsyncSession, pupil: Pupil) -> None:
    """Notifications name the child (and quote requests about it) in their parameters.
    Those about this child lose their text, and one still waiting is dropped: it would
    tell someone about a child the school no longer holds."""
    about = _About(pupil.id, pupil.leerlingnummer, full_name(pupil))
    rows = (await session.exec(select(Outbox).where(col(Outbox.params) != _PURGED_PARAMS))).all()
    for row in rows:
        if not _mentions(row.params, about):
            continue
        if row.sent_at is None and row.failed_at is None:
            await session.delete(row)
        else:
            row.params = _PURGED_PARAMS
            session.add(row)


@dataclass(frozen=True)
class _About:
    pupil_id: int | None
    leerlingnummer: str
    name: str


def _mentions(params: str, about: _About) -> bool:
    try:
        decoded = json.loads(params)
    except ValueError:
        return about.name in params
    return _walk(decoded, about)


def _walk(value: object, about: _About) -> bool:
    if isinstance(value, dict):
        if (
            value.get("pupil_id") == about.pupil_id
            or value.get("leerlingnummer") == about.leerlingnummer
        ):
            return True
        return any(_walk(v, about) for v in value.values())
    if isinstance(value, list):
        return any(_walk(v, about) for v in value)
    return isinstance(value, str) and about.name in value
