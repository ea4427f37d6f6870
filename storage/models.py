"""The tables. Every time is an aware UTC datetime (sqlmodel's UTCDateTime), on SQLite
and PostgreSQL alike; the school's time zone is applied only when rendering."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, UniqueConstraint, true
from sqlmodel import Field, SQLModel


class StaffRole(StrEnum):
    TEACHER = "teacher"
    DIRECTOR = "director"
    # A member of the school board: figures only, never a child's data.
    BOARD = "board"


# The consent channels a school has unless it configures its own (CONSENT_CHANNELS).
DEFAULT_CONSENT_CHANNELS: tuple[str, ...] = ("website", "nieuwsbrief", "parro")


class ConsentSource(StrEnum):
    IMPORT = "import"
    BOT = "bot"
    # Withdrawn on every channel because the director approved the parent's request to
    # delete the child's photos and videos (guardian_id: the parent who asked).
    DELETION = "deletion"
    # Refused on every channel because the director upheld the parent's objection to
    # publishing the child's photos and videos (guardian_id: the parent who objected).
    OBJECTION = "objection"


class School(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)


class SchoolGroup(SQLModel, table=True):
    __tablename__ = "school_group"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=20, unique=True, index=True)
    groepskey: str | None = Field(default=None, max_length=64)


class Pupil(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    leerlingnummer: str = Field(max_length=32, unique=True, index=True)
    voornaam: str = Field(max_length=100)
    tussenvoegsel: str = Field(default="", max_length=40)
    achternaam: str = Field(max_length=100)
    geboortedatum: date
    geslacht: str = Field(max_length=1)
    group_id: int = Field(foreign_key="school_group.id", index=True)
    jaargroep: int
    leerlingkey: str | None = Field(default=None, max_length=64)
    basispoort_id: str | None = Field(default=None, max_length=64)
    # Special category data (medical): stored for the school, never rendered to a parent.
    bijzonderheden: str | None = Field(default=None)
    left_at: datetime | None = Field(default=None)


class Guardian(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    # Lower-cased: the importer identifies one person across rows by e-mail, or by name
    # and e-mail when the school's export shares addresses (import --no-email-match).
    email: str = Field(max_length=254, index=True)


class GuardianPupil(SQLModel, table=True):
    __tablename__ = "guardian_pupil"

    guardian_id: int = Field(foreign_key="guardian.id", primary_key=True)
    pupil_id: int = Field(foreign_key="pupil.id", primary_key=True, index=True)


class Staff(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    role: StaffRole = Field(max_length=20)
    active: bool = Field(default=True)
    # The teacher's key in the school's EDEXML export: a re-import finds them by it.
    external_key: str | None = Field(default=None, max_length=64, unique=True, index=True)


class StaffGroup(SQLModel, table=True):
    __tablename__ = "staff_group"

    staff_id: int = Field(foreign_key="staff.id", primary_key=True)
    group_id: int = Field(foreign_key="school_group.id", primary_key=True, index=True)


class ChatLink(SQLModel, table=True):
    """A Telegram account. The row outlives unlinking so the chosen language stays."""

    __tablename__ = "chat_link"

    telegram_user_id: int = Field(
        sa_column=Column(BigInteger, primary_key=True, autoincrement=False)
    )
    guardian_id: int | None = Field(default=None, foreign_key="guardian.id", index=True)
    staff_id: int | None = Field(default=None, foreign_key="staff.id", index=True)
    locale: str = Field(default="nl", max_length=8)
    linked_at: datetime | None = Field(default=None)


class InviteCode(SQLModel, table=True):
    __tablename__ = "invite_code"

    id: int | None = Field(default=None, primary_key=True)
    # Only the SHA-256 of the normalised code: a database leak must not hand out accounts.
    code_hash: str = Field(max_length=64, unique=True, index=True)
    guardian_id: int | None = Field(default=None, foreign_key="guardian.id", index=True)
    staff_id: int | None = Field(default=None, foreign_key="staff.id", index=True)
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = Field(default=None)
    used_by: int | None = Field(default=None, sa_type=BigInteger)
    # A newer letter replaces an older one: the old code stops working.
    revoked_at: datetime | None = Field(default=None)


class CodeAttempt(SQLModel, table=True):
    """Failed code attempts, kept in the database so a restart does not reset the limit."""

    __tablename__ = "code_attempt"

    id: int | None = Field(default=None, primary_key=True)
    telegram_user_id: int = Field(sa_type=BigInteger, index=True)
    at: datetime = Field(index=True)


class ConsentEvent(SQLModel, table=True):
    """Append-only: the school must be able to show when consent was given (Art. 7(1))."""

    __tablename__ = "consent_event"

    id: int | None = Field(default=None, primary_key=True)
    pupil_id: int = Field(foreign_key="pupil.id", index=True)
    channel: str = Field(max_length=32)
    granted: bool
    at: datetime
    source: ConsentSource = Field(max_length=16)
    guardian_id: int | None = Field(default=None, foreign_key="guardian.id")


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    actor_kind: str = Field(max_length=16)
    actor_id: int | None = Field(default=None)
    action: str = Field(max_length=64)
    pupil_id: int | None = Field(default=None, index=True)
    detail: str = Field(default="", max_length=2000)


class ImportRun(SQLModel, table=True):
    """One accepted pupil import, so the school can see when data last came from ParnasSys."""

    __tablename__ = "import_run"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime
    filename: str = Field(max_length=500)
    added: int
    updated: int
    unchanged: int
    left: int


class Vendor(SQLModel, table=True):
    """A supplier that receives pupil data, as its privacy leaflet (YAML) describes it."""

    key: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    supplier: str = Field(max_length=200)
    description: str = Field(default="", max_length=2000)
    purpose: str = Field(default="", max_length=2000)
    # Names from storage.importers.vendors.DATA_FIELDS, comma separated, in leaflet order.
    data_fields: str = Field(default="", max_length=500)
    retention: str = Field(default="", max_length=1000)
    storage_location: str = Field(default="", max_length=500)
    subprocessors: str = Field(default="", max_length=2000)  # one per line
    leaflet_url: str = Field(default="", max_length=500)
    reviewed_on: date | None = Field(default=None)


class OutboxReason(StrEnum):
    """Why a notification was given up; the director's "Niet bezorgd" explains each."""

    RENDER = "render"  # the text could not be made (a bug): retrying cannot help
    REJECTED = "rejected"  # Telegram refused the message itself (400)
    BLOCKED = "blocked"  # 403: blocked the bot or never started it
    RECIPIENT_GONE = "recipient_gone"  # unlinked, or no longer a guardian of the child
    GAVE_UP = "gave_up"  # Telegram unreachable through the whole retry schedule


class Outbox(SQLModel, table=True):
    """A message to someone other than the person acting, written in the transaction of
    the change that causes it; the sender renders it in the recipient's language later.
    Who it was meant for (the guardian or staff member behind the account, and the
    child it is about) is kept so the sender can check that still holds."""

    id: int | None = Field(default=None, primary_key=True)
    telegram_user_id: int = Field(sa_type=BigInteger, index=True)
    template: str = Field(max_length=64)
    params: str = Field(default="{}", max_length=8000)  # JSON
    created_at: datetime
    next_attempt_at: datetime = Field(index=True)
    attempts: int = Field(default=0)
    sent_at: datetime | None = Field(default=None, index=True)
    failed_at: datetime | None = Field(default=None, index=True)
    error: str | None = Field(default=None, max_length=500)
    reason: str | None = Field(default=None, max_length=20)  # an OutboxReason
    guardian_id: int | None = Field(default=None)
    staff_id: int | None = Field(default=None)
    pupil_id: int | None = Field(default=None)
    request_id: int | None = Field(default=None, index=True)


class RequestKind(StrEnum):
    CORRECTION = "correction"
    DELETION = "deletion"
    QUESTION = "question"
    ACCESS = "access"  # a formal inzage request, always to the director
    OBJECTION = "objection"  # against one processing (Art. 21), decided by the director
    RESTRICTION = "restriction"  # of one field (Art. 18), in effect until the director lifts it


class RequestStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    WAITING_APPROVAL = "waiting_approval"
    RESOLVED = "resolved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class DeletionGround(StrEnum):
    NO_LONGER_NEEDED = "no_longer_needed"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    OTHER = "other"


class AuthorKind(StrEnum):
    """Who wrote a request's message, or did what an audit event records."""

    GUARDIAN = "guardian"
    STAFF = "staff"
    SYSTEM = "system"  # the bot itself: retention, reminders, an import
    TELEGRAM = "telegram"  # a Telegram account not (or no longer) linked


class Request(SQLModel, table=True):
    """A parent's request about a child's data (GDPR Art. 15-17, 21) or a question.
    Seen by every guardian of the child unless `shared` is off (a question the asker
    keeps to themselves); handled by one member of staff."""

    id: int | None = Field(default=None, primary_key=True)
    # "OL-2026-0042": a running number per calendar year on the school's calendar.
    reference: str = Field(max_length=20, unique=True, index=True)
    pupil_id: int = Field(foreign_key="pupil.id", index=True)
    guardian_id: int = Field(foreign_key="guardian.id", index=True)  # who asked
    kind: RequestKind = Field(max_length=20)
    status: RequestStatus = Field(max_length=20, index=True)
    # correction: a field of Pupil, the value when asked and the asked value
    field: str | None = Field(default=None, max_length=32)
    old_value: str | None = Field(default=None, max_length=200)
    new_value: str | None = Field(default=None, max_length=200)
    # deletion: a field name, "beeldmateriaal" or "anders", and the ground
    what: str | None = Field(default=None, max_length=32)
    ground: DeletionGround | None = Field(default=None, max_length=20)
    text: str = Field(default="", max_length=2000)  # raw: escaping is the renderer's job
    addressee: StaffRole | None = Field(default=None, max_length=20)  # questions only
    # What the request is about, named from the school's data when asked (a vendor, a
    # disclosure's recipient): kept as it was called then.
    subject: str | None = Field(default=None, max_length=200)
    # What an objection is against, as the school's data names it: a vendor's key or a
    # disclosure's id (`what` says which); None for photos and for other kinds.
    target: str | None = Field(default=None, max_length=64)
    # Whether the child's other guardians see it. Requests made before this column
    # existed were visible to both, and stay so.
    shared: bool = Field(default=True, sa_column_kwargs={"server_default": true()})
    assignee_staff_id: int | None = Field(default=None, foreign_key="staff.id", index=True)
    assignee_role: StaffRole = Field(max_length=20)
    received_at: datetime
    due_at: datetime = Field(index=True)
    extended_until: datetime | None = Field(default=None)
    decided_at: datetime | None = Field(default=None)
    decision_text: str | None = Field(default=None, max_length=2000)
    # A lasting request (flows.requests.rules.Kind.lasting) ends when the director lifts it.
    lifted_at: datetime | None = Field(default=None)
    # A re-delivered Telegram update must not create the request twice.
    source_update_id: int | None = Field(default=None, sa_type=BigInteger, unique=True)


class RequestMessage(SQLModel, table=True):
    """The conversation about a request, oldest first."""

    __tablename__ = "request_message"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="request.id", index=True)
    author_kind: AuthorKind = Field(max_length=16)
    author_id: int
    text: str = Field(max_length=2000)
    at: datetime


class Disclosure(SQLModel, table=True):
    """Data given to another organisation (leerplichtambtenaar, OCW, ...), registered so
    the parent can see it."""

    id: int | None = Field(default=None, primary_key=True)
    pupil_id: int = Field(foreign_key="pupil.id", index=True)
    recipient: str = Field(max_length=200)
    disclosed_on: date
    legal_ground: str = Field(max_length=500)
    description: str = Field(default="", max_length=2000)


class MessageExpiry(SQLModel, table=True):
    """A bot message with a child's personal data, to be deleted from the parent's chat
    at delete_at. Kept in the database so a restart does not forget the deletion."""

    __tablename__ = "message_expiry"
    __table_args__ = (
        UniqueConstraint("chat_id", "message_id", name="uq_message_expiry_chat_message"),
    )

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_type=BigInteger)
    message_id: int = Field(sa_type=BigInteger)
    delete_at: datetime = Field(index=True)
    done_at: datetime | None = Field(default=None)
    attempts: int = Field(default=0)


class ProcessedUpdate(SQLModel, table=True):
    """A Telegram update that was handled, recorded in the same transaction as what the
    handler changed: a re-delivered update (a webhook retry after a crash) changes nothing
    a second time. The scheduler drops rows older than a week (storage/updates.py)."""

    __tablename__ = "processed_update"

    update_id: int = Field(
        sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    at: datetime = Field(index=True)


class ErasedField(SQLModel, table=True):
    """A pupil field erased on a parent's approved request: its name, never its value.
    A re-import keeps the field erased even while ParnasSys still holds a value."""

    __tablename__ = "erased_field"

    pupil_id: int = Field(foreign_key="pupil.id", primary_key=True)
    field: str = Field(max_length=32, primary_key=True)
    erased_at: datetime


class ChecklistAction(StrEnum):
    """What an item of the director's checklist asks the school to do itself."""

    DELETE = "delete"  # erase in ParnasSys (photos: take down where published)
    CORRECT = "correct"  # change in ParnasSys, or the next import puts the old value back
    RESTRICT = "restrict"  # restrict the field's use in ParnasSys
    UNRESTRICT = "unrestrict"  # the restriction was lifted: end it in ParnasSys too
    TELL = "tell"  # tell the supplier or recipient the parent objected to: stop


class ParnasSysTask(SQLModel, table=True):
    """The director's checklist after an approved deletion: what the school still has to
    remove itself (in ParnasSys, or published photos), by when, and who ticked it off."""

    __tablename__ = "parnassys_task"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="request.id", unique=True, index=True)
    pupil_id: int = Field(foreign_key="pupil.id", index=True)
    what: str = Field(max_length=32)  # the request's `what`, or the field it concerns
    # What the school still does itself (ChecklistAction): erase, correct or restrict in
    # ParnasSys, or tell a supplier to stop.
    action: str = Field(
        default=ChecklistAction.DELETE, max_length=16, sa_column_kwargs={"server_default": "delete"}
    )
    created_at: datetime
    due_at: datetime = Field(index=True)
    done_at: datetime | None = Field(default=None)
    done_by: int | None = Field(default=None, foreign_key="staff.id")


class IncomingMessage(SQLModel, table=True):
    """A parent's own Telegram message whose text the bot stored in a request (its value,
    its text) or in a message about it: when that text is erased, the message in the
    parent's chat is deleted too, where Telegram allows (48 hours)."""

    __tablename__ = "incoming_message"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="request.id", index=True)
    # Which stored text it carried: "value", "text", or "message" (then request_message_id).
    part: str = Field(max_length=16)
    request_message_id: int | None = Field(default=None, foreign_key="request_message.id")
    chat_id: int = Field(sa_type=BigInteger)
    message_id: int = Field(sa_type=BigInteger)
    received_at: datetime


class CatalogVersion(SQLModel, table=True):
    """How often a table that changes only on an import (the vendor leaflets) has
    changed: every process caches the table and asks this row, in the read it makes
    anyway at the start of an update, whether its copy is still current — so an import
    by the command line reaches every running worker at once (storage/catalog.py)."""

    __tablename__ = "catalog_version"

    name: str = Field(max_length=32, primary_key=True)
    version: int = Field(default=0)
