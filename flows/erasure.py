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
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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
from flows.requests import (
    DELETION_NOTE,
    DELETION_PHOTOS,
    OPEN_STATUSES,
    OPTIONAL_FIELDS,
    due,
    split_surname,
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
    MessageExpiry,
    Outbox,
    ParnasSysTask,
    Pupil,
    Request,
    RequestMessage,
    RequestStatus,
    SchoolGroup,
    Vendor,
)

ERASED = "verwijderd"
# What stands where a parent's own message carried an erased value: the message whole,
# never the value cut out of the parent's sentence.
ERASED_MESSAGE = "[verwijderd op verzoek]"
ERASED_BIRTH = date(1900, 1, 1)
DEFAULT_RETENTION_DAYS = 30
SENT_NOTICE_DAYS = 7
FAILED_NOTICE_DAYS = 30
# Placeholder for a notification's text once it may no longer be kept.
_PURGED_PARAMS = "{}"
# How long the school has to finish an approved deletion in ParnasSys when the request's
# own deadline has already passed (otherwise that deadline counts).
PARNASSYS_DAYS = 7


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
    await _purge_notices_about(session, pupil, requests)
    await _blank_mentions_elsewhere(session, pupil, requests)
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
    audit.record(session, by, AuditAction.PUPIL_ERASED, now, pupil_id=pupil_id, detail="")
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
    await _scrub_copies(session, pupil, _note_copies(pupil.bijzonderheden), now)
    pupil.bijzonderheden = None
    session.add(pupil)
    audit.record(session, by, AuditAction.NOTE_ERASED, now, pupil_id=pupil.id, detail="")
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


@dataclass(frozen=True)
class ChatDeletions:
    """The parents' own Telegram messages that carried the erased value."""

    queued: int  # deleted by the outbox sender, as Telegram still allows it
    too_old: int  # sent more than 48 hours ago: Telegram lets no bot delete them


async def erase_approved(
    session: AsyncSession,
    actor: Actor,
    request: Request,
    pupil: Pupil,
    now: datetime,
    *,
    channels: Sequence[str] = (),
) -> ApprovedErasure:
    """Carries out an approved deletion in the caller's transaction (flows.staff decides
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
                _note_copies(value)
                if what == DELETION_NOTE
                else await _field_copies(session, pupil, what, value)
            )
            in_chat = await _scrub_copies(session, pupil, copies, now, field=what)
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


def checklist_item(
    session: AsyncSession,
    request: Request,
    pupil: Pupil,
    what: str,
    action: ChecklistAction,
    now: datetime,
) -> datetime:
    """Puts on the director's checklist what the school still does itself after a
    decision (in ParnasSys, on the website, with a supplier): by the request's deadline,
    or a week from now when that has passed. Returns when it is due."""
    deadline = due(request)
    task_due = deadline if deadline > now else now + timedelta(days=PARNASSYS_DAYS)
    session.add(
        ParnasSysTask(
            request_id=request.id or 0,
            pupil_id=pupil.id or 0,
            what=what,
            action=action,
            created_at=now,
            due_at=task_due,
        )
    )
    return task_due


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
        audit.record(
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


# A copy of an erased value: where it is found, and what it becomes.
_Copy = tuple[re.Pattern[str], str]


def _words(text: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(text)}(?!\w)")


def _note_copies(note: str) -> list[_Copy]:
    return [(_words(note.strip()), ERASED)] if note.strip() else []


async def _field_copies(session: AsyncSession, pupil: Pupil, field: str, value: str) -> list[_Copy]:
    """A tussenvoegsel is a copy wherever it stands with the child's surname, now or as
    it was before a correction: "Emma de Vries" becomes "Emma Vries". A bare "de"
    elsewhere is a word, not the child's data."""
    if field != "tussenvoegsel":
        return []
    surnames = {f"{value} {pupil.achternaam}"}
    asked = await session.exec(
        select(Request).where(Request.pupil_id == pupil.id, Request.field == "achternaam")
    )
    for request in asked.all():
        surnames.update(v for v in (request.old_value, request.new_value) if v)
    copies: list[_Copy] = []
    for surname in sorted(surnames, key=len, reverse=True):
        prefix, rest = split_surname(surname)
        if not prefix:
            continue
        copies.append((_words(f"{pupil.voornaam} {surname}"), f"{pupil.voornaam} {rest}"))
        copies.append((_words(surname), rest))
    return copies


def _replace(text: str, copies: list[_Copy]) -> str:
    for pattern, replacement in copies:
        text = pattern.sub(replacement, text)
    return text


# An audit detail quoting a changed value: "OL-2026-0001 achternaam: de Vries -> Vries".
_QUOTED = re.compile(
    r"^(?P<head>[^:]*\b(?P<field>[a-z_]+)): (?P<old>.*) -> (?P<new>.*)$", re.DOTALL
)


def _scrub_detail(detail: str, copies: list[_Copy], field: str | None) -> str:
    quoted = _QUOTED.match(detail)
    if quoted and field is not None and quoted.group("field") == field:
        # The erased field's own change: who and when stay, the values go.
        return f"{quoted.group('head')}: {ERASED}"
    if quoted and field == "tussenvoegsel" and quoted.group("field") == "achternaam":
        # A surname as asked holds the tussenvoegsel, also a former one.
        old, new = (split_surname(quoted.group(k))[1] for k in ("old", "new"))
        return f"{quoted.group('head')}: {old} -> {new}"
    return _replace(detail, copies)


async def _scrub_copies(
    session: AsyncSession,
    pupil: Pupil,
    copies: list[_Copy],
    now: datetime,
    *,
    field: str | None = None,
) -> ChatDeletions:
    """Every copy of an erased value in the bot's own store, replaced: the audit details
    about the child, the child's requests (their values, texts, answers and messages)
    and every notification that quotes it. A parent's words that carried it are replaced
    whole, and their Telegram messages are deleted from the chat where Telegram allows."""
    if not copies and field is None:
        return ChatDeletions(0, 0)
    carried: set[tuple[int, str]] = set()  # (request id, "value" or "text")
    carried_messages: set[int] = set()
    events = (await session.exec(select(AuditEvent).where(AuditEvent.pupil_id == pupil.id))).all()
    for event in events:
        scrubbed = _scrub_detail(event.detail, copies, field)
        if scrubbed != event.detail:
            event.detail = scrubbed
            session.add(event)
    requests = (await session.exec(select(Request).where(Request.pupil_id == pupil.id))).all()
    for request in requests:
        carried.update((request.id or 0, part) for part in _scrub_request(request, copies, field))
        session.add(request)
        messages = await session.exec(
            select(RequestMessage).where(RequestMessage.request_id == request.id)
        )
        for message in messages.all():
            if _replace(message.text, copies) != message.text:
                message.text = ERASED_MESSAGE
                carried_messages.add(message.id or 0)
                session.add(message)
    for row in (await session.exec(select(Outbox))).all():
        params = _rewrite_params(row.params, lambda text: _replace(text, copies))
        if params != row.params:
            row.params = params
            session.add(row)
    return await _delete_from_chats(session, carried, carried_messages, now)


async def _delete_from_chats(
    session: AsyncSession, carried: set[tuple[int, str]], messages: set[int], now: datetime
) -> ChatDeletions:
    """The parents' own messages behind the stored texts that carried the value: each is
    deleted from its chat through the outbox while Telegram allows it (48 hours), and
    counted as kept otherwise. Either way the record of it goes: it is of no use now."""
    queued = too_old = 0
    request_ids = {request_id for request_id, _ in carried}
    if not request_ids and not messages:
        return ChatDeletions(0, 0)
    rows = await session.exec(
        select(IncomingMessage).where(
            or_(
                col(IncomingMessage.request_id).in_(request_ids),
                col(IncomingMessage.request_message_id).in_(messages),
            )
        )
    )
    chats: set[int] = set()
    for incoming in rows.all():
        if (incoming.request_id, incoming.part) not in carried and (
            incoming.request_message_id not in messages
        ):
            continue
        chats.add(incoming.chat_id)
        if now - incoming.received_at < notify.DELETABLE_FOR:
            notify.enqueue_deletion(session, incoming.chat_id, incoming.message_id, now)
            queued += 1
        else:
            too_old += 1
        await session.delete(incoming)
    # The bot's own screens in those chats that may quote it ("Klopt dit?") are data
    # views that delete themselves after DATA_VIEW_TTL anyway: now, instead.
    await session.exec(
        update(MessageExpiry)
        .where(
            col(MessageExpiry.chat_id).in_(chats),
            col(MessageExpiry.done_at).is_(None),
            col(MessageExpiry.delete_at) > now,
        )
        .values(delete_at=now)
    )
    return ChatDeletions(queued, too_old)


def _scrub_request(request: Request, copies: list[_Copy], field: str | None) -> set[str]:
    """The request without the value; returns the parts that carried it ("value" for
    the typed value, "text" for the parent's words, replaced whole)."""
    carried: set[str] = set()
    if _replace(request.text, copies) != request.text:
        request.text = ERASED_MESSAGE
        carried.add("text")
    if request.decision_text:
        request.decision_text = _replace(request.decision_text, copies)
    if request.field is None:
        return carried
    for name in ("old_value", "new_value"):
        value = getattr(request, name)
        if value is None:
            continue
        if request.field == field:
            erased = ERASED
        elif field == "tussenvoegsel" and request.field == "achternaam":
            # Asked as the whole surname: the tussenvoegsel part goes.
            erased = split_surname(value)[1] or value
        else:
            erased = _replace(value, copies)
        if erased != value:
            setattr(request, name, erased)
            if name == "new_value":
                carried.add("value")  # the parent typed it
    return carried


def _rewrite_params(params: str, change: Callable[[str], str]) -> str:
    try:
        decoded = json.loads(params)
    except ValueError:
        return change(params)
    rewritten = _rewrite(decoded, change)
    if rewritten == decoded:
        return params
    return json.dumps(rewritten, ensure_ascii=False, default=str)


def _rewrite(value: object, change: Callable[[str], str]) -> object:
    if isinstance(value, dict):
        return {k: _rewrite(v, change) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, change) for v in value]
    return change(value) if isinstance(value, str) else value


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


async def _purge_notices_about(
    session: AsyncSession, pupil: Pupil, requests: Sequence[Request]
) -> None:
    """Notifications name the child (and quote requests about it) in their parameters.
    Those about this child lose their text, and one still waiting is dropped: it would
    tell someone about a child the school no longer holds. Found by the pupil's and its
    requests' ids and references, never by name: a name may have changed since the row
    was queued (a surname correction), and another child may have the same name."""
    about = _About(
        pupil.id,
        pupil.leerlingnummer,
        frozenset(r.id for r in requests if r.id is not None),
        frozenset(r.reference for r in requests),
    )
    rows = (await session.exec(select(Outbox).where(col(Outbox.params) != _PURGED_PARAMS))).all()
    for row in rows:
        if not (
            row.pupil_id == about.pupil_id
            or row.request_id in about.request_ids
            or _mentions(row.params, about)
        ):
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
    request_ids: frozenset[int]
    references: frozenset[str]


def _mentions(params: str, about: _About) -> bool:
    try:
        decoded = json.loads(params)
    except ValueError:
        return False  # every row is written as JSON (flows.notify)
    return _walk(decoded, about)


def _walk(value: object, about: _About) -> bool:
    if isinstance(value, dict):
        if (
            value.get("pupil_id") == about.pupil_id
            or value.get("leerlingnummer") == about.leerlingnummer
            or value.get("request_id") in about.request_ids
            or value.get("reference") in about.references
        ):
            return True
        return any(_walk(v, about) for v in value.values())
    if isinstance(value, list):
        return any(_walk(v, about) for v in value)
    return False


def _names_of(pupil: Pupil, requests: Sequence[Request]) -> set[str]:
    """Every full name the child had in the bot: now, and before a correction of the first
    name or the surname (as asked, with or without the tussenvoegsel)."""
    names = {full_name(pupil)}
    surname = " ".join(p for p in (pupil.tussenvoegsel, pupil.achternaam) if p)
    for request in requests:
        for value in (request.old_value, request.new_value):
            if not value:
                continue
            if request.field == "achternaam":
                names.add(f"{pupil.voornaam} {value}")
            elif request.field == "voornaam":
                names.add(f"{value} {surname}")
            elif request.field == "tussenvoegsel":
                names.add(f"{pupil.voornaam} {value} {pupil.achternaam}")
    return {" ".join(n.split()) for n in names if n.strip()}


async def _blank_mentions_elsewhere(
    session: AsyncSession, pupil: Pupil, requests: Sequence[Request]
) -> None:
    """A brother's or sister's request may name the child ("Mag Noor Bakker ook mee?").
    Requests of the child's guardians about another child that name it, by any full name
    it had, are replaced whole: a parent's words are never cut into a new sentence."""
    names = _names_of(pupil, requests)
    guardians = select(GuardianPupil.guardian_id).where(GuardianPupil.pupil_id == pupil.id)
    others = (
        await session.exec(
            select(Request).where(
                col(Request.guardian_id).in_(guardians), col(Request.pupil_id) != pupil.id
            )
        )
    ).all()
    patterns = [_words(name) for name in names]

    def names_child(text: str | None) -> bool:
        return bool(text) and any(p.search(text or "") for p in patterns)

    for request in others:
        for name in ("text", "subject", "decision_text", "old_value", "new_value"):
            if names_child(getattr(request, name)):
                setattr(request, name, ERASED_MESSAGE)
        session.add(request)
        messages = await session.exec(
            select(RequestMessage).where(RequestMessage.request_id == request.id)
        )
        for message in messages.all():
            if names_child(message.text):
                message.text = ERASED_MESSAGE
                session.add(message)
