"""Parents' requests about their child's data: correction (Art. 16), deletion (Art. 17),
a formal inzage request (Art. 15) and questions. Every request gets a reference
(OL-2026-0042), an answer deadline of one calendar month (Art. 12(3)) and one member of
staff who handles it; the conversation about it is kept with it.

Guardians reach a request only through their own child: a forged pupil or request id
gets NotFound, exactly like an id that does not exist.

Who of the child's guardians sees a request is decided here (`visible_to`): a question
is the asker's own unless they chose to share it with the other guardian; corrections,
deletions and inzage requests are about the child's data and decided for the child, so
both guardians see them (as they see consent changes)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows import audit, notify
from flows.access import own_child
from flows.actor import Actor
from flows.clock import SCHOOL_TZ
from flows.deadlines import answer_due
from flows.errors import InvalidInput, NotAllowed, NotFound
from flows.linking import full_name
from storage.models import (
    AuthorKind,
    ChatLink,
    DeletionGround,
    Guardian,
    GuardianPupil,
    Pupil,
    Request,
    RequestKind,
    RequestMessage,
    RequestStatus,
    SchoolGroup,
    Staff,
    StaffGroup,
    StaffRole,
)

# The pupil fields a parent may ask to have corrected, in the order a form shows them.
CORRECTABLE_FIELDS: tuple[str, ...] = (
    "voornaam",
    "tussenvoegsel",
    "achternaam",
    "geboortedatum",
    "geslacht",
)
# What the correction form offers: the surname is asked as parents write it, with its
# tussenvoegsel ("de Vries-Jansen"), and split when it is applied.
FORM_FIELDS: tuple[str, ...] = ("voornaam", "achternaam", "geboortedatum", "geslacht")
# Dutch surname prefixes, longest first, as the civil registry writes them.
_PREFIXES: tuple[tuple[str, ...], ...] = tuple(
    tuple(p.split())
    for p in sorted(
        (
            "van der", "van den", "van de", "van het", "van 't", "van ter", "van",
            "de", "den", "der", "het", "'t", "te", "ten", "ter", "in 't", "in het",
            "in de", "in den", "op de", "op den", "op het", "op 't", "uit de", "uit den",
            "uit het", "aan de", "aan den", "aan het", "bij de", "onder de", "over de",
            "la", "le", "du", "da", "di", "del", "della", "dos", "el", "al", "von", "von der",
            "zu", "vanden", "vander",
        ),
        key=lambda p: -len(p.split()),
    )
)  # fmt: skip
# What a parent may ask to have deleted: a field, photos and videos, or something else
# (explained in the text).
DELETION_PHOTOS = "beeldmateriaal"
DELETION_OTHER = "anders"
DELETABLE: tuple[str, ...] = (*CORRECTABLE_FIELDS, DELETION_PHOTOS, DELETION_OTHER)
GENDERS: tuple[str, ...] = ("M", "V", "X")  # as in the ParnasSys export

MAX_NAME = 200
MAX_TUSSENVOEGSEL = 40  # the columns of Pupil
MAX_ACHTERNAAM = 100
MAX_TEXT = 2000
# Nobody in primary school was born earlier (the pupil import has the same floor).
EARLIEST_BIRTH = date(1990, 1, 1)

OPEN_STATUSES: frozenset[RequestStatus] = frozenset(
    {RequestStatus.OPEN, RequestStatus.IN_PROGRESS, RequestStatus.WAITING_APPROVAL}
)
DECIDED_STATUSES: frozenset[RequestStatus] = frozenset(
    {RequestStatus.RESOLVED, RequestStatus.REJECTED}
)

_DMY = re.compile(r"(\d{1,2})-(\d{1,2})-(\d{4})")
# "12 februari 2017", "12 feb 2017", "12 feb. 2017", "12 February 2017"
_WRITTEN = re.compile(r"(\d{1,2})\s+([a-zA-Z]+)\.?\s+(\d{4})")
_MONTHS = {
    **{
        name: number
        for number, names in enumerate(
            (
                ("januari", "january", "jan"),
                ("februari", "february", "feb"),
                ("maart", "march", "mrt", "mar", "maa"),
                ("april", "apr"),
                ("mei", "may"),
                ("juni", "june", "jun"),
                ("juli", "july", "jul"),
                ("augustus", "august", "aug"),
                ("september", "sep", "sept"),
                ("oktober", "october", "okt", "oct"),
                ("november", "nov"),
                ("december", "dec"),
            ),
            start=1,
        )
        for name in names
    }
}
_YMD = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_SPACES = re.compile(r"\s+")
_REFERENCE_ATTEMPTS = 5


@dataclass(frozen=True)
class Assignee:
    """Where a request went: "uw verzoek is naar juf Anouk gestuurd"."""

    role: StaffRole
    staff_id: int | None
    name: str | None  # None when the school has no active director on record


@dataclass(frozen=True)
class MessageView:
    author_kind: AuthorKind
    author_name: str
    by_you: bool
    text: str
    at: datetime


@dataclass(frozen=True)
class RequestSummary:
    request_id: int
    reference: str
    kind: RequestKind
    status: RequestStatus
    pupil_id: int
    pupil_name: str
    received_at: datetime
    due_at: datetime  # the extended deadline when there is one
    extended: bool
    by_you: bool


@dataclass(frozen=True)
class RequestView:
    request: Request
    pupil_name: str
    asked_by: str
    by_you: bool
    assignee: Assignee
    due_at: datetime  # the extended deadline when there is one
    messages: tuple[MessageView, ...]

    @property
    def reference(self) -> str:
        return self.request.reference

    @property
    def kind(self) -> RequestKind:
        return RequestKind(self.request.kind)

    @property
    def status(self) -> RequestStatus:
        return RequestStatus(self.request.status)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def can_withdraw(self) -> bool:
        return self.by_you and self.is_open


# --- validation ----------------------------------------------------------------------


def clean_text(text: str | None, *, required: bool = False) -> str:
    """Free text from a parent: stripped, at most 2000 characters, kept raw."""
    cleaned = (text or "").strip()
    if required and not cleaned:
        raise InvalidInput("empty")
    if len(cleaned) > MAX_TEXT:
        raise InvalidInput("too_long")
    return cleaned


def typed_question(text: str | None) -> str | None:
    """Text typed where no step asked for it, if it can be sent as a question: words, not
    a command, within the length of a question."""
    if text is None or text.startswith("/"):
        return None
    try:
        return clean_text(text, required=True)
    except InvalidInput:
        return None


def parse_date(value: str) -> date | None:
    """dd-mm-jjjj, d-m-jjjj, jjjj-mm-dd or written out ("12 februari 2017", "12 feb
    2017", in Dutch or English); None when it is not a real date."""
    value = value.strip()
    match = _DMY.fullmatch(value)
    written = _WRITTEN.fullmatch(value)
    if match:
        day, month, year = (int(part) for part in match.groups())
    elif written:
        month_number = _MONTHS.get(written.group(2).lower())
        if month_number is None:
            return None
        day, month, year = int(written.group(1)), month_number, int(written.group(3))
    else:
        match = _YMD.fullmatch(value)
        if not match:
            return None
        year, month, day = (int(part) for part in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        return None


def stored_value(pupil: Pupil, field: str) -> str:
    """A correctable field's current value, in the form validate_correction returns. The
    surname is the whole surname, with its tussenvoegsel ("de Vries")."""
    if field == "geboortedatum":
        return pupil.geboortedatum.isoformat()
    if field == "achternaam":
        return " ".join(p for p in (pupil.tussenvoegsel, pupil.achternaam) if p)
    return str(getattr(pupil, field) or "")


def split_surname(surname: str) -> tuple[str, str]:
    """("de", "Vries-Jansen") from "de Vries-Jansen": a known prefix before at least one
    more word is the tussenvoegsel, the rest the achternaam."""
    words = surname.split()
    for prefix in _PREFIXES:
        if len(words) > len(prefix) and tuple(w.lower() for w in words[: len(prefix)]) == prefix:
            return " ".join(words[: len(prefix)]), " ".join(words[len(prefix) :])
    return "", surname


def validate_correction(
    field: str, value: str, *, today: date, current: Pupil | None = None
) -> str:
    """The normalised new value, or InvalidInput with reason "field", "empty",
    "too_long", "bad_date", "bad_gender" or "unchanged" (needs `current`).
    Dates come back as jjjj-mm-dd, genders as M, V or X, names with single spaces."""
    if field not in CORRECTABLE_FIELDS:
        raise InvalidInput("field")
    raw = _SPACES.sub(" ", value or "").strip()
    if field == "geboortedatum":
        if not raw:
            raise InvalidInput("empty")
        born = parse_date(raw)
        if born is None or born > today or born < EARLIEST_BIRTH:
            raise InvalidInput("bad_date")
        normalised = born.isoformat()
    elif field == "geslacht":
        if not raw:
            raise InvalidInput("empty")
        normalised = raw.upper()
        if normalised not in GENDERS:
            raise InvalidInput("bad_gender")
    else:
        # A tussenvoegsel may be removed; a first or last name may not be empty.
        if not raw and field != "tussenvoegsel":
            raise InvalidInput("empty")
        if len(raw) > MAX_NAME:
            raise InvalidInput("too_long")
        if field == "achternaam":
            tussenvoegsel, achternaam = split_surname(raw)
            if len(tussenvoegsel) > MAX_TUSSENVOEGSEL or len(achternaam) > MAX_ACHTERNAAM:
                raise InvalidInput("too_long")
        normalised = raw
    if current is not None and normalised == stored_value(current, field):
        raise InvalidInput("unchanged")
    return normalised


async def check_correction(
    session: AsyncSession, actor: Actor, pupil_id: int, field: str, value: str, now: datetime
) -> str:
    """validate_correction against the child's stored data: for the bot to ask again
    before it shows the confirmation."""
    pupil = await own_child(session, actor, pupil_id)
    return validate_correction(field, value, today=_today(now), current=pupil)


# --- creating ------------------------------------------------------------------------


async def create_correction(
    session: AsyncSession,
    actor: Actor,
    pupil_id: int,
    field: str,
    new_value: str,
    explanation: str | None,
    now: datetime,
    update_id: int | None = None,
) -> Request:
    pupil = await own_child(session, actor, pupil_id)
    existing = await _by_update(session, actor, update_id)
    if existing is not None:
        return existing
    value = validate_correction(field, new_value, today=_today(now), current=pupil)
    text = clean_text(explanation)
    assignee = await _route(session, pupil, StaffRole.TEACHER)
    return await _create(
        session,
        actor,
        pupil,
        now,
        update_id,
        assignee,
        kind=RequestKind.CORRECTION,
        status=RequestStatus.OPEN,
        text=text,
        field=field,
        old_value=stored_value(pupil, field),
        new_value=value,
    )


async def create_deletion(
    session: AsyncSession,
    actor: Actor,
    pupil_id: int,
    what: str,
    ground: DeletionGround | str,
    text: str | None,
    now: datetime,
    update_id: int | None = None,
) -> Request:
    """To the director, who approves or rejects: status waiting_approval.
    "anders" needs an explanation (InvalidInput("empty") without one)."""
    pupil = await own_child(session, actor, pupil_id)
    existing = await _by_update(session, actor, update_id)
    if existing is not None:
        return existing
    if what not in DELETABLE:
        raise InvalidInput("what")
    try:
        ground_ = DeletionGround(ground)
    except ValueError:
        raise InvalidInput("ground") from None
    cleaned = clean_text(text, required=what == DELETION_OTHER)
    assignee = await _route(session, pupil, StaffRole.DIRECTOR)
    return await _create(
        session,
        actor,
        pupil,
        now,
        update_id,
        assignee,
        kind=RequestKind.DELETION,
        status=RequestStatus.WAITING_APPROVAL,
        text=cleaned,
        what=what,
        ground=ground_,
    )


async def create_question(
    session: AsyncSession,
    actor: Actor,
    pupil_id: int,
    addressee: StaffRole | str,
    text: str,
    now: datetime,
    update_id: int | None = None,
    *,
    shared: bool = False,
) -> Request:
    """To the child's teacher (or the director when no teacher of the group uses the
    bot), or to the director. Private to the asker unless `shared`: a parent may want
    to ask the school something the other parent does not read."""
    pupil = await own_child(session, actor, pupil_id)
    existing = await _by_update(session, actor, update_id)
    if existing is not None:
        return existing
    try:
        addressee_ = StaffRole(addressee)
    except ValueError:
        raise InvalidInput("addressee") from None
    cleaned = clean_text(text, required=True)
    assignee = await _route(session, pupil, addressee_)
    return await _create(
        session,
        actor,
        pupil,
        now,
        update_id,
        assignee,
        kind=RequestKind.QUESTION,
        status=RequestStatus.OPEN,
        text=cleaned,
        addressee=addressee_,
        shared=shared,
    )


async def create_access_request(
    session: AsyncSession,
    actor: Actor,
    pupil_id: int,
    text: str | None,
    now: datetime,
    update_id: int | None = None,
) -> Request:
    """A formal inzage request (Art. 15), e.g. for special category data the chat never
    shows: always to the director."""
    pupil = await own_child(session, actor, pupil_id)
    existing = await _by_update(session, actor, update_id)
    if existing is not None:
        return existing
    cleaned = clean_text(text)
    assignee = await _route(session, pupil, StaffRole.DIRECTOR)
    return await _create(
        session,
        actor,
        pupil,
        now,
        update_id,
        assignee,
        kind=RequestKind.ACCESS,
        status=RequestStatus.OPEN,
        text=cleaned,
    )


async def _by_update(session: AsyncSession, actor: Actor, update_id: int | None) -> Request | None:
    """The request an earlier delivery of this Telegram update created, if any."""
    if update_id is None:
        return None
    found = (
        await session.exec(select(Request).where(Request.source_update_id == update_id))
    ).first()
    if found is None:
        return None
    # Update ids come from Telegram, not from the user; still, never hand over another
    # family's request.
    await _scoped(session, actor, found.id or 0)
    return found


async def _create(
    session: AsyncSession,
    actor: Actor,
    pupil: Pupil,
    now: datetime,
    update_id: int | None,
    assignee: Assignee,
    **fields: Any,
) -> Request:
    guardian_id = actor.guardian_id
    assert guardian_id is not None  # own_child let the actor through
    request: Request | None = None
    for _attempt in range(_REFERENCE_ATTEMPTS):
        request = Request(
            reference=await next_reference(session, now),
            pupil_id=pupil.id or 0,
            guardian_id=guardian_id,
            assignee_staff_id=assignee.staff_id,
            assignee_role=assignee.role,
            received_at=now,
            due_at=answer_due(now),
            source_update_id=update_id,
            **fields,
        )
        try:
            # A savepoint: two parents asking at the same moment may draw the same
            # number; the loser draws again instead of failing the whole update.
            async with session.begin_nested():
                session.add(request)
                await session.flush()
            break
        except IntegrityError:
            existing = await _by_update(session, actor, update_id)
            if existing is not None:
                return existing
            request = None
    if request is None:
        raise RuntimeError("no free request reference")
    request_id = request.id or 0
    if request.text:
        session.add(
            RequestMessage(
                request_id=request_id,
                author_kind=AuthorKind.GUARDIAN,
                author_id=guardian_id,
                text=request.text,
                at=now,
            )
        )
    detail = f"{request.reference} {request.kind}"
    if request.field:
        detail += f" {request.field}"
    if request.what:
        detail += f" {request.what}"
    audit.record(session, actor, "request_created", now, pupil_id=pupil.id, detail=detail)
    await _notify_assignee(session, request, pupil, "request_new", now)
    await session.flush()
    return request


async def next_reference(session: AsyncSession, now: datetime) -> str:
    """The next free reference of the year `now` falls in on the school's calendar."""
    prefix = f"OL-{now.astimezone(SCHOOL_TZ).year}-"
    reference = col(Request.reference)
    last = (
        await session.exec(
            select(reference)
            .where(reference.startswith(prefix, autoescape=True))
            .order_by(func.length(reference).desc(), reference.desc())
            .limit(1)
        )
    ).first()
    number = int(last[len(prefix) :]) + 1 if last else 1
    return f"{prefix}{number:04d}"


# --- routing and notifications -------------------------------------------------------


async def _route(session: AsyncSession, pupil: Pupil, wanted: StaffRole) -> Assignee:
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
    return await _director(session)


async def _director(session: AsyncSession) -> Assignee:
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


async def _notify_assignee(
    session: AsyncSession,
    request: Request,
    pupil: Pupil,
    template: str,
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
    group = await session.get(SchoolGroup, pupil.group_id)
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


# --- what a guardian sees and does ---------------------------------------------------


def visible_to(request: Request, guardian_id: int | None) -> bool:
    """Whether a guardian of the request's child sees it: the asker always, the other
    guardians when it is shared."""
    return request.shared or request.guardian_id == guardian_id


async def _scoped(session: AsyncSession, actor: Actor, request_id: int) -> tuple[Request, Pupil]:
    """The request with its pupil, if it is about one of the actor's children and
    visible to the actor; NotFound otherwise."""
    if actor.guardian_id is None:
        raise NotFound()
    request = await session.get(Request, request_id)
    if request is None or not visible_to(request, actor.guardian_id):
        raise NotFound()
    pupil = await own_child(session, actor, request.pupil_id)
    return request, pupil


def _due(request: Request) -> datetime:
    return request.extended_until or request.due_at


async def list_for_guardian(session: AsyncSession, actor: Actor) -> list[RequestSummary]:
    """Requests about all the guardian's children, also those the other guardian made
    and shared, newest first."""
    if actor.guardian_id is None:
        return []
    rows = await session.exec(
        select(Request, Pupil)
        .join(Pupil, col(Pupil.id) == col(Request.pupil_id))
        .join(GuardianPupil, col(GuardianPupil.pupil_id) == col(Request.pupil_id))
        .where(GuardianPupil.guardian_id == actor.guardian_id, col(Pupil.left_at).is_(None))
        .order_by(col(Request.received_at).desc(), col(Request.id).desc())
    )
    return [
        RequestSummary(
            request_id=request.id or 0,
            reference=request.reference,
            kind=RequestKind(request.kind),
            status=RequestStatus(request.status),
            pupil_id=pupil.id or 0,
            pupil_name=full_name(pupil),
            received_at=request.received_at,
            due_at=_due(request),
            extended=request.extended_until is not None,
            by_you=request.guardian_id == actor.guardian_id,
        )
        for request, pupil in rows.all()
        if visible_to(request, actor.guardian_id)
    ]


async def conversation(
    session: AsyncSession, request: Request, actor: Actor
) -> tuple[str, tuple[MessageView, ...]]:
    """Who asked, and the messages about the request, oldest first; `by_you` marks the
    viewer's own messages (a guardian's or a member of staff's)."""
    rows = await session.exec(
        select(RequestMessage)
        .where(RequestMessage.request_id == request.id)
        .order_by(col(RequestMessage.at), col(RequestMessage.id))
    )
    messages = list(rows.all())
    guardian_names = await _names(
        session,
        "guardian",
        {m.author_id for m in messages if m.author_kind == AuthorKind.GUARDIAN}
        | {request.guardian_id},
    )
    staff_names = await _names(
        session, "staff", {m.author_id for m in messages if m.author_kind == AuthorKind.STAFF}
    )

    def mine(message: RequestMessage) -> bool:
        if message.author_kind == AuthorKind.GUARDIAN:
            return message.author_id == actor.guardian_id
        return message.author_id == actor.staff_id

    views = tuple(
        MessageView(
            author_kind=AuthorKind(m.author_kind),
            author_name=(
                guardian_names if m.author_kind == AuthorKind.GUARDIAN else staff_names
            ).get(m.author_id, ""),
            by_you=mine(m),
            text=m.text,
            at=m.at,
        )
        for m in messages
    )
    return guardian_names.get(request.guardian_id, ""), views


async def get_for_guardian(session: AsyncSession, actor: Actor, request_id: int) -> RequestView:
    request, pupil = await _scoped(session, actor, request_id)
    asked_by, messages = await conversation(session, request, actor)
    return RequestView(
        request=request,
        pupil_name=full_name(pupil),
        asked_by=asked_by,
        by_you=request.guardian_id == actor.guardian_id,
        assignee=await assignee_of(session, request),
        due_at=_due(request),
        messages=messages,
    )


async def _names(session: AsyncSession, table: str, ids: set[int]) -> dict[int, str]:
    """Names of guardians (table "guardian") or staff (table "staff") by id."""
    if not ids:
        return {}
    if table == "guardian":
        rows = await session.exec(
            select(Guardian.id, Guardian.name).where(col(Guardian.id).in_(sorted(ids)))
        )
    else:
        rows = await session.exec(
            select(Staff.id, Staff.name).where(col(Staff.id).in_(sorted(ids)))
        )
    return {id_: name for id_, name in rows.all() if id_ is not None}


async def add_message(
    session: AsyncSession, actor: Actor, request_id: int, text: str, now: datetime
) -> RequestMessage:
    """A guardian of the child adds to the conversation of a request still open."""
    request, pupil = await _scoped(session, actor, request_id)
    cleaned = clean_text(text, required=True)
    if RequestStatus(request.status) not in OPEN_STATUSES:
        raise InvalidInput("closed")
    message = RequestMessage(
        request_id=request.id or 0,
        author_kind=AuthorKind.GUARDIAN,
        author_id=actor.guardian_id or 0,
        text=cleaned,
        at=now,
    )
    session.add(message)
    audit.record(
        session, actor, "request_message", now, pupil_id=pupil.id, detail=request.reference
    )
    guardian = await session.get(Guardian, actor.guardian_id)
    await _notify_assignee(
        session,
        request,
        pupil,
        "request_message",
        now,
        by=guardian.name if guardian else "",
    )
    await session.flush()
    return message


async def withdraw(session: AsyncSession, actor: Actor, request_id: int, now: datetime) -> Request:
    """The guardian who asked takes the request back, as long as it is not decided.
    Withdrawing a withdrawn request changes nothing (a double tap)."""
    request, pupil = await _scoped(session, actor, request_id)
    status = RequestStatus(request.status)
    if status is RequestStatus.WITHDRAWN:
        return request
    if status in DECIDED_STATUSES or request.decided_at is not None:
        raise InvalidInput("decided")
    if request.guardian_id != actor.guardian_id:
        # The other guardian sees the request but may not take back what they did not ask.
        raise NotAllowed()
    request.status = RequestStatus.WITHDRAWN
    session.add(request)
    audit.record(
        session, actor, "request_withdrawn", now, pupil_id=pupil.id, detail=request.reference
    )
    await _notify_assignee(session, request, pupil, "request_withdrawn", now)
    await session.flush()
    return request


# --- for other flows -----------------------------------------------------------------


async def open_requests_for_pupil(
    session: AsyncSession, pupil_id: int, guardian_id: int | None
) -> list[Request]:
    """The child's requests still being handled that the guardian sees, oldest first:
    for the inzage, whose caller has already checked access."""
    rows = await session.exec(
        select(Request)
        .where(Request.pupil_id == pupil_id, col(Request.status).in_(sorted(OPEN_STATUSES)))
        .order_by(col(Request.received_at), col(Request.id))
    )
    return [r for r in rows.all() if visible_to(r, guardian_id)]


def _today(now: datetime) -> date:
    return now.astimezone(SCHOOL_TZ).date()
