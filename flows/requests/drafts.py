"""What a parent types into a request form, checked: the fields a correction may
change, what a deletion may name, dates as parents write them, free text."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows.clock import SCHOOL_TZ
from flows.errors import InvalidInput
from storage.models import DeletionGround, Disclosure, StaffRole, Vendor
from storage.rows import PupilFacts

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
# What a parent may ask to have deleted. The school must keep a pupil's name, birth date,
# gender and group for its pupil administration (WPO art. 4a-4c, BRON registration with
# DUO): those are not offered, the form offers a correction instead. What is offered:
# an optional field, the special-category note (only when the child has one), photos and
# videos, or something else (described in the text).
REQUIRED_FIELDS: tuple[str, ...] = ("voornaam", "achternaam", "geboortedatum", "geslacht")
OPTIONAL_FIELDS: tuple[str, ...] = ("tussenvoegsel",)
DELETION_NOTE = "bijzonderheden"
DELETION_PHOTOS = "beeldmateriaal"
DELETION_OTHER = "anders"
DELETABLE: tuple[str, ...] = (*OPTIONAL_FIELDS, DELETION_NOTE, DELETION_PHOTOS, DELETION_OTHER)
# What an approval removes from the bot's own store; the rest only the school can do.
ERASED_IN_BOT: frozenset[str] = frozenset({*OPTIONAL_FIELDS, DELETION_NOTE, DELETION_PHOTOS})
GENDERS: tuple[str, ...] = ("M", "V", "X")  # as in the ParnasSys export

MAX_NAME = 200
MAX_TUSSENVOEGSEL = 40  # the columns of Pupil
MAX_ACHTERNAAM = 100
MAX_TEXT = 2000
# Nobody in primary school was born earlier (the pupil import has the same floor).
EARLIEST_BIRTH = date(1990, 1, 1)

# 03-03-2017, 3/3/2017, 03.03.2017: the same day, month, year with any usual separator.
_DMY = re.compile(r"(\d{1,2})([-/.])(\d{1,2})\2(\d{4})")
# "12 februari 2017", "12 feb 2017", "12 feb. 2017", "12 February 2017"
_WRITTEN = re.compile(r"(\d{1,2})\s+([a-zA-Z]+)\.?\s+(\d{4})")
# "March 3, 2017", "Mar 3 2017": the English order
_MDY_WRITTEN = re.compile(r"([a-zA-Z]+)\.?\s+(\d{1,2}),?\s+(\d{4})")
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
    """dd-mm-jjjj, d/m/jjjj, d.m.jjjj, jjjj-mm-dd or written out ("12 februari 2017",
    "12 feb 2017", "12 February 2017", "February 12, 2017"); None when it is not a real
    date."""
    value = value.strip()
    match = _DMY.fullmatch(value)
    written = _WRITTEN.fullmatch(value)
    english = _MDY_WRITTEN.fullmatch(value)
    if match:
        day, month, year = int(match.group(1)), int(match.group(3)), int(match.group(4))
    elif written or english:
        if written:
            day, name, year = int(written.group(1)), written.group(2), int(written.group(3))
        else:
            assert english is not None
            name, day, year = english.group(1), int(english.group(2)), int(english.group(3))
        month_number = _MONTHS.get(name.lower())
        if month_number is None:
            return None
        month = month_number
    else:
        match = _YMD.fullmatch(value)
        if not match:
            return None
        year, month, day = (int(part) for part in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        return None


def deletable_for(pupil: PupilFacts) -> tuple[str, ...]:
    """What the deletion form offers for this child: an optional field or the note only
    when the child has one (the note is named, never shown)."""
    present = {
        *(f for f in OPTIONAL_FIELDS if (getattr(pupil, f) or "").strip()),
        *((DELETION_NOTE,) if (pupil.bijzonderheden or "").strip() else ()),
        DELETION_PHOTOS,
        DELETION_OTHER,
    }
    return tuple(w for w in DELETABLE if w in present)


def stored_value(pupil: PupilFacts, field: str) -> str:
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
    field: str, value: str, *, today: date, current: PupilFacts | None = None
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


def today(now: datetime) -> date:
    return now.astimezone(SCHOOL_TZ).date()


# --- a form being filled in ---------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """One button of a choice step. `name` is a name from the school's data (a vendor, a
    disclosure's recipient) shown as is; without it bot/ words `value` per kind."""

    value: str
    name: str | None = None


@dataclass
class Draft:
    """A parent's request form between the steps, as the FSM keeps it. `choices` holds
    the value chosen at each choice step, by step name; `names` the data names of the
    chosen options; `value` a typed value step's normalised answer; `text` the free text
    (None: not asked yet, "" skipped)."""

    kind: str
    pupil_id: int
    choices: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    value: str | None = None
    text: str | None = None
    shared: bool = False
    # The parent's Telegram messages the value and the text came from: (part, message
    # id, when received); ids only, so an erasure can delete them from the chat later.
    sources: tuple[tuple[str, int, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Draft | None:
        """The draft in FSM data, or None when there is none (sent, left, or older)."""
        try:
            return cls(
                kind=str(data["kind"]),
                pupil_id=int(data["pupil_id"]),
                choices={str(k): str(v) for k, v in dict(data.get("choices") or {}).items()},
                names={str(k): str(v) for k, v in dict(data.get("names") or {}).items()},
                value=None if data.get("value") is None else str(data["value"]),
                text=None if data.get("text") is None else str(data["text"]),
                shared=bool(data.get("shared")),
                sources=tuple(
                    (str(part), int(message_id), str(at))
                    for part, message_id, at in data.get("sources") or ()
                ),
            )
        except (KeyError, TypeError, ValueError):
            return None


# What a Kind's steps and columns are made of. Options come from the child and the
# school's data; `build` turns a complete draft into the request's columns, validated
# (InvalidInput otherwise), at creation and never before it is sent.


async def correctable(session: AsyncSession, pupil: PupilFacts, draft: Draft) -> tuple[Option, ...]:
    return tuple(Option(f) for f in FORM_FIELDS)


async def deletable(session: AsyncSession, pupil: PupilFacts, draft: Draft) -> tuple[Option, ...]:
    return tuple(Option(w) for w in deletable_for(pupil))


async def deletion_grounds(
    session: AsyncSession, pupil: PupilFacts, draft: Draft
) -> tuple[Option, ...]:
    return tuple(Option(g.value) for g in DeletionGround)


async def addressees(session: AsyncSession, pupil: PupilFacts, draft: Draft) -> tuple[Option, ...]:
    return (Option(StaffRole.TEACHER.value), Option(StaffRole.DIRECTOR.value))


def deletion_text_required(draft: Draft) -> bool:
    # "Something else" needs words: the director must know what to delete.
    return (
        draft.choices.get("what") == DELETION_OTHER
        or draft.choices.get("ground") == DeletionGround.OTHER.value
    )


def correction_value(draft: Draft, pupil: PupilFacts, on: date) -> str:
    field_ = draft.choices.get("field", "")
    return validate_correction(field_, draft.value or "", today=on, current=pupil)


def build_correction(draft: Draft, pupil: PupilFacts, on: date) -> dict[str, Any]:
    field_ = draft.choices.get("field", "")
    value = validate_correction(field_, draft.value or "", today=on, current=pupil)
    return {"field": field_, "old_value": stored_value(pupil, field_), "new_value": value}


def build_deletion(draft: Draft, pupil: PupilFacts, on: date) -> dict[str, Any]:
    what = draft.choices.get("what", "")
    # Checked against this child, as the form offered it: a forged form cannot ask for
    # what the school must keep or what the child does not have.
    if what not in deletable_for(pupil):
        raise InvalidInput("what")
    try:
        ground = DeletionGround(draft.choices.get("ground", ""))
    except ValueError:
        raise InvalidInput("ground") from None
    return {"what": what, "ground": ground}


def build_question(draft: Draft, pupil: PupilFacts, on: date) -> dict[str, Any]:
    try:
        addressee = StaffRole(draft.choices.get("addressee", ""))
    except ValueError:
        raise InvalidInput("addressee") from None
    if addressee not in (StaffRole.TEACHER, StaffRole.DIRECTOR):
        raise InvalidInput("addressee")
    return {"addressee": addressee, "shared": draft.shared}


def build_nothing(draft: Draft, pupil: PupilFacts, on: date) -> dict[str, Any]:
    return {}


# What a parent may object to (Art. 21): a learning product of the vendor list, the
# publication of photos and videos, or a registered disclosure about the child.
PROCESSING_PHOTOS = "photos"
_PROCESSING_KINDS = ("vendor", "disclosure")


async def processings(session: AsyncSession, pupil: PupilFacts, draft: Draft) -> tuple[Option, ...]:
    vendors = await session.exec(select(Vendor).order_by(col(Vendor.name)))
    disclosed = await session.exec(
        select(Disclosure)
        .where(Disclosure.pupil_id == pupil.id)
        .order_by(col(Disclosure.disclosed_on).desc(), col(Disclosure.id).desc())
    )
    return (
        *(Option(f"vendor.{v.key}", v.name) for v in vendors.all()),
        Option(PROCESSING_PHOTOS),
        *(
            Option(f"disclosure.{d.id}", f"{d.recipient}, {d.disclosed_on:%d-%m-%Y}")
            for d in disclosed.all()
        ),
    )


def build_objection(draft: Draft, pupil: PupilFacts, on: date) -> dict[str, Any]:
    processing = draft.choices.get("processing", "")
    what = processing.partition(".")[0]
    if processing != PROCESSING_PHOTOS and what not in _PROCESSING_KINDS:
        raise InvalidInput("processing")
    # Which vendor or disclosure: an upheld objection stops exactly that one.
    return {"what": what, "target": processing.partition(".")[2] or None}


def build_restriction(draft: Draft, pupil: PupilFacts, on: date) -> dict[str, Any]:
    # A restriction (Art. 18) names one of the child's fields a correction may concern.
    field_ = draft.choices.get("field", "")
    if field_ not in CORRECTABLE_FIELDS:
        raise InvalidInput("field")
    return {"field": field_}
