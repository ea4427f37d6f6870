"""Where an erased value was copied, and how each copy goes: the request's own words
blanked, a parent's message replaced whole by "[verwijderd op verzoek]" (and deleted
from the chat while Telegram allows it), an audit detail's quotation cut, a queued
notification about the child dropped. flows.erasure decides what is erased; this finds
every copy of it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows import notify
from flows.linking import full_name
from flows.requests import (
    split_surname,
)
from storage.models import (
    AuditEvent,
    GuardianPupil,
    IncomingMessage,
    MessageExpiry,
    Outbox,
    Pupil,
    Request,
    RequestMessage,
)

ERASED = "verwijderd"
# What stands where a parent's own message carried an erased value: the message whole,
# never the value cut out of the parent's sentence.
ERASED_MESSAGE = "[verwijderd op verzoek]"
# Placeholder for a notification's text once it may no longer be kept.
PURGED_PARAMS = "{}"


@dataclass(frozen=True)
class ChatDeletions:
    """The parents' own Telegram messages that carried the erased value."""

    queued: int  # deleted by the outbox sender, as Telegram still allows it
    too_old: int  # sent more than 48 hours ago: Telegram lets no bot delete them


# A copy of an erased value: where it is found, and what it becomes.
Copy = tuple[re.Pattern[str], str]


def _words(text: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(text)}(?!\w)")


def note_copies(note: str) -> list[Copy]:
    return [(_words(note.strip()), ERASED)] if note.strip() else []


async def field_copies(session: AsyncSession, pupil: Pupil, field: str, value: str) -> list[Copy]:
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
    copies: list[Copy] = []
    for surname in sorted(surnames, key=len, reverse=True):
        prefix, rest = split_surname(surname)
        if not prefix:
            continue
        copies.append((_words(f"{pupil.voornaam} {surname}"), f"{pupil.voornaam} {rest}"))
        copies.append((_words(surname), rest))
    return copies


def _replace(text: str, copies: list[Copy]) -> str:
    for pattern, replacement in copies:
        text = pattern.sub(replacement, text)
    return text


# An audit detail quoting a changed value: "OL-2026-0001 achternaam: de Vries -> Vries".
_QUOTED = re.compile(
    r"^(?P<head>[^:]*\b(?P<field>[a-z_]+)): (?P<old>.*) -> (?P<new>.*)$", re.DOTALL
)


def _scrub_detail(detail: str, copies: list[Copy], field: str | None) -> str:
    quoted = _QUOTED.match(detail)
    if quoted and field is not None and quoted.group("field") == field:
        # The erased field's own change: who and when stay, the values go.
        return f"{quoted.group('head')}: {ERASED}"
    if quoted and field == "tussenvoegsel" and quoted.group("field") == "achternaam":
        # A surname as asked holds the tussenvoegsel, also a former one.
        old, new = (split_surname(quoted.group(k))[1] for k in ("old", "new"))
        return f"{quoted.group('head')}: {old} -> {new}"
    return _replace(detail, copies)


async def scrub_copies(
    session: AsyncSession,
    pupil: Pupil,
    copies: list[Copy],
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


def _scrub_request(request: Request, copies: list[Copy], field: str | None) -> set[str]:
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


async def purge_notices_about(
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
    rows = (await session.exec(select(Outbox).where(col(Outbox.params) != PURGED_PARAMS))).all()
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
            row.params = PURGED_PARAMS
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


async def blank_mentions_elsewhere(
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
