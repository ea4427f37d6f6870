"""Erasure and retention: what the bot keeps, and for how long.

One mechanism erases a pupil's personal data from the bot's own store, whoever asks: the
director in the bot, the administrator on the command line, or the retention schedule
for a pupil who left. Who did what and when stays accountable in the audit trail; the
values it quoted do not. ParnasSys is the school's own administration and stays the
school's job (the bot reminds the director).

The retention schedule (run daily by the scheduler, `ouderloket retention`):
- a pupil missing from the export loses guardian access at once (flows.scope), the
  special-category note is erased at once, the rest after `retention_days`;
- delivered notifications lose their text after `SENT_NOTICE_DAYS`, failed ones after
  `FAILED_NOTICE_DAYS` (the director's "Niet bezorgd" list needs them for a while);
- failed code attempts are removed once the lock-out window has passed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows import audit, codes, notify
from flows.actor import Actor
from flows.audit import AuditAction
from flows.checklist import add as checklist_item
from flows.errors import NotFound
from flows.linking import full_name
from flows.notify import Notice
from flows.requests import (
    DELETION_NOTE,
    DELETION_PHOTOS,
    OPEN_STATUSES,
    OPTIONAL_FIELDS,
)
from flows.scope import require_director
from flows.scrub import (
    ERASED,
    PURGED_PARAMS,
    ChatDeletions,
    blank_mentions_elsewhere,
    field_copies,
    note_copies,
    purge_notices_about,
    scrub_copies,
)
from storage.db import mark_erased
from storage.models import (
    AuditEvent,
    ChecklistAction,
    CodeAttempt,
    ConsentEvent,
    ConsentSource,
    Disclosure,
    ErasedField,
    GuardianPupil,
    IncomingMessage,
    Outbox,
    Pupil,
    Request,
    RequestMessage,
    RequestStatus,
    SchoolGroup,
    Vendor,
)

ERASED_BIRTH = date(1900, 1, 1)
DEFAULT_RETENTION_DAYS = 30
SENT_NOTICE_DAYS = 7
FAILED_NOTICE_DAYS = 30


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
    requests = (await session.exec(select(Request).where(Request.pupil_id == pupil_id))).all()
    await purge_notices_about(session, pupil, requests)
    await blank_mentions_elsewhere(session, pupil, requests)
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
    # Which Telegram messages of the parents fed the child's requests: nothing to keep.
    await session.exec(
        delete(IncomingMessage).where(
            col(IncomingMessage.request_id).in_([r.id for r in requests if r.id is not None])
        )
    )
    for request in requests:
        request.old_value = None
        request.new_value = None
        request.text = ""
        # What the request was about: a field, a processing, a disclosure's recipient.
        request.subject = ERASED if request.subject else request.subject
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
    await audit.record(session, by, AuditAction.PUPIL_ERASED, now, pupil_id=pupil_id, detail="")
    mark_erased(session)
    await session.flush()
    return Erasure(pupil_id, former, vendors)


async def erase_pupil_by_number(
    session: AsyncSession, leerlingnummer: str, now: datetime
) -> Erasure:
    """The administrator's `ouderloket erase-pupil LEERLINGNUMMER`. Nobody is told by the
    bot: the notice would keep the child's name in the store after the erasure."""
    pupil = (
        await session.exec(select(Pupil).where(Pupil.leerlingnummer == leerlingnummer.strip()))
    ).first()
    if pupil is None:
        raise NotFound()
    return await erase_pupil(session, pupil, now, None, tell_guardians=False)


async def erase_note(session: AsyncSession, pupil: Pupil, now: datetime, by: Actor | None) -> None:
    """Removes the special-category note (bijzonderheden), and every copy of its text the
    bot holds (a parent may have quoted it in a request), and nothing else."""
    if pupil.bijzonderheden is None:
        return
    await scrub_copies(session, pupil, note_copies(pupil.bijzonderheden), now)
    pupil.bijzonderheden = None
    session.add(pupil)
    await audit.record(session, by, AuditAction.NOTE_ERASED, now, pupil_id=pupil.id, detail="")
    mark_erased(session)
    await session.flush()


# --- an approved deletion --------------------------------------------------------------


@dataclass(frozen=True)
class ApprovedErasure:
    """What an approved deletion did in the bot, for the director's screen and the
    parent's message: only what really happened."""

    what: str
    removed_in_bot: bool  # the value (or the consent) is gone from the bot's store
    channels: tuple[str, ...]  # photos: every channel now refused
    teachers_told: int  # photos: the group's teachers' accounts that are told
    task_due: datetime  # the director's checklist item "verwijderd in ParnasSys"
    in_chat: ChatDeletions = field(default_factory=lambda: ChatDeletions(0, 0))


async def erase_approved(
    session: AsyncSession,
    actor: Actor,
    request: Request,
    pupil: Pupil,
    now: datetime,
    *,
    channels: Sequence[str] = (),
) -> ApprovedErasure:
    """Carries out an approved deletion in the caller's transaction (flows.requests.commands decides
    who may). An optional field or the special-category note: the value and every copy
    (audit details, the child's requests and messages, notifications) are removed and
    the field is remembered as erased, so a re-import does not bring it back. Photos and
    videos: consent is withdrawn on every channel, and the group's teachers are told to
    use no images and take published ones down. Anything else ("anders") lives outside
    the bot: nothing is claimed. Every kind leaves the director a checklist item."""
    assert pupil.id is not None and request.id is not None
    what = request.what or ""
    removed = False
    refused: tuple[str, ...] = ()
    told = 0
    in_chat = ChatDeletions(0, 0)
    if what in OPTIONAL_FIELDS or what == DELETION_NOTE:
        value = getattr(pupil, what)
        if value:
            copies = (
                note_copies(value)
                if what == DELETION_NOTE
                else await field_copies(session, pupil, what, value)
            )
            in_chat = await scrub_copies(session, pupil, copies, now, field=what)
        setattr(pupil, what, None if what == DELETION_NOTE else "")
        session.add(pupil)
        if await session.get(ErasedField, (pupil.id, what)) is None:
            session.add(ErasedField(pupil_id=pupil.id, field=what, erased_at=now))
        mark_erased(session)
        removed = True
    elif what == DELETION_PHOTOS:
        refused = await refuse_every_channel(session, actor, request, pupil, now, channels)
        told = await tell_teachers(session, pupil, now)
        removed = True
    task_due = checklist_item(session, request, pupil, what, ChecklistAction.DELETE, now)
    await session.flush()
    return ApprovedErasure(what, removed, refused, told, task_due, in_chat)


async def refuse_every_channel(
    session: AsyncSession,
    actor: Actor,
    request: Request,
    pupil: Pupil,
    now: datetime,
    channels: Sequence[str],
    source: ConsentSource = ConsentSource.DELETION,
) -> tuple[str, ...]:
    """A refusal on every channel the school uses or the child has a history on, also
    where no choice was made yet: a re-import only starts a channel's history, so it
    can never turn this back into consent. The history names why (`source`) and the
    parent who asked."""
    events = (
        await session.exec(
            select(ConsentEvent)
            .where(ConsentEvent.pupil_id == pupil.id)
            .order_by(col(ConsentEvent.at), col(ConsentEvent.id))
        )
    ).all()
    latest = {e.channel: e.granted for e in events}
    every = tuple(dict.fromkeys((*channels, *latest)))
    for channel in every:
        if latest.get(channel) is False:
            continue
        session.add(
            ConsentEvent(
                pupil_id=pupil.id or 0,
                channel=channel,
                granted=False,
                at=now,
                source=source,
                guardian_id=request.guardian_id,
            )
        )
        await audit.record(
            session, actor, AuditAction.CONSENT_WITHDRAWN, now, pupil_id=pupil.id, detail=channel
        )
    return every


async def tell_teachers(
    session: AsyncSession, pupil: Pupil, now: datetime, notice: Notice = Notice.PHOTOS_ERASED_STAFF
) -> int:
    """The group's teachers learn at once that the child may no longer be photographed."""
    group = await session.get(SchoolGroup, pupil.group_id)
    accounts = await notify.teachers_of_group(session, pupil.group_id)
    for user_id in accounts:
        await notify.enqueue(
            session,
            user_id,
            notice,
            now,
            about_pupil=pupil.id,
            pupil=pupil.voornaam,
            pupil_full=full_name(pupil),
            group=group.name if group else "",
        )
    return len(accounts)


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
    purged = await session.exec(update(Outbox).where(_purgeable(now)).values(params=PURGED_PARAMS))
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
    return (col(Outbox.params) != PURGED_PARAMS) & or_(
        col(Outbox.sent_at) < now - timedelta(days=SENT_NOTICE_DAYS),
        col(Outbox.failed_at) < now - timedelta(days=FAILED_NOTICE_DAYS),
    )


def _stale_attempt(now: datetime):  # type: ignore[no-untyped-def]
    return col(CodeAttempt.at) < now - codes.FAILURE_WINDOW * 2


async def _blank_audit(session: AsyncSession, pupil_id: int) -> None:
    await session.exec(
        update(AuditEvent).where(col(AuditEvent.pupil_id) == pupil_id).values(detail="")
    )


# --- the director's own erasure of a whole child --------------------------------------


async def erase_child(session: AsyncSession, actor: Actor, pupil_id: int, now: datetime) -> Erasure:
    """Director only: removes the child's personal data from the bot (flows.erasure).
    ParnasSys is the school's own job (the bot reminds)."""
    require_director(actor)
    pupil = await session.get(Pupil, pupil_id)
    if pupil is None:
        raise NotFound()
    return await erase_pupil(session, pupil, now, actor)


@dataclass(frozen=True)
class ErasePreview:
    """What the director reads before erasing a whole child."""

    pupil_id: int
    name: str
    group: str
    open_requests: int
    guardians: int  # linked guardians, who will be told


async def preview(session: AsyncSession, actor: Actor, pupil_id: int) -> ErasePreview:
    """Director only; NotFound for a child already erased."""
    require_director(actor)
    pupil = await session.get(Pupil, pupil_id)
    if pupil is None or is_erased(pupil):
        raise NotFound()
    group = await session.get(SchoolGroup, pupil.group_id)
    open_count = len(
        (
            await session.exec(
                select(Request.id).where(
                    Request.pupil_id == pupil_id, col(Request.status).in_(sorted(OPEN_STATUSES))
                )
            )
        ).all()
    )
    accounts = await notify.guardian_accounts(session, pupil_id)
    return ErasePreview(
        pupil_id, full_name(pupil), group.name if group else "", open_count, len(accounts)
    )
