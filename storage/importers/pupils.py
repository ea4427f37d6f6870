"""The pupil export from ParnasSys (CSV) into the database, all or nothing.

The whole file is validated before anything is written: one bad row rejects the file
with every error and its line number, so the school never works with a half-imported
class. Errors carry stable codes, never prose: the command line translates them.

Writes are bulk statements on the tables, computed by comparing the file with the
database in Python, so a 20,000-pupil export takes seconds and a re-import of the same
file writes nothing. They bypass the session's identity map: ORM objects the caller
loaded before the import are not refreshed.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    DEFAULT_CONSENT_CHANNELS,
    AuditEvent,
    ConsentEvent,
    ConsentSource,
    ErasedField,
    Guardian,
    GuardianPupil,
    ImportRun,
    Pupil,
    SchoolGroup,
)

__all__ = [
    "DEFAULT_CHANNELS",
    "ERROR_CODES",
    "ImportRejected",
    "ImportSummary",
    "KeptErasure",
    "LeftNotConfirmed",
    "RowError",
    "import_pupils",
]

DEFAULT_CHANNELS = DEFAULT_CONSENT_CHANNELS

# Every code an error can carry; the command line keeps one Dutch sentence per code.
ERROR_CODES: tuple[str, ...] = (
    "encoding",  # the file is not UTF-8; value: the offending bytes, e.g. "\xe9"
    "csv_syntax",  # the CSV reader gave up on this line (e.g. a NUL byte)
    "empty_file",  # nothing in the file, not even a header
    "no_pupils",  # a header but no pupil rows: would mark every pupil as left
    "missing_column",  # a required column is absent from the header (line 1)
    "duplicate_column",  # a known column appears twice in the header
    "required",  # an empty value where one is needed
    "too_long",  # longer than the database column
    "duplicate_pupil",  # a leerlingnummer seen earlier in the same file
    "duplicate_teacher",  # EDEXML: a teacher key seen earlier in the same file
    "date_invalid",  # not dd-mm-jjjj / jjjj-mm-dd, or no such day (31-02-2017)
    "date_future",  # a birth date after today
    "date_too_old",  # a birth date before 1990
    "gender",  # not M, V or X
    "jaargroep",  # not a whole number from 1 to 8
    "email",  # not a plausible e-mail address
    "guardian2_incomplete",  # ouder2 has a name without an e-mail or the other way round
    "guardian2_same_email",  # ouder2 has the same e-mail as ouder1
    "consent_value",  # a toestemming_ value other than ja, nee or empty
    # The row has more or fewer fields than the header (an unquoted ; or , in a text):
    # `column` is where the shift most likely starts, `counts` (found, expected); no
    # cell of the row is ever repeated, its columns cannot be trusted.
    "field_count",
    # One e-mail address under different guardian names; `lines` lists every line with it.
    "email_names_differ",
    # One e-mail address on the rows of families that share no child (a placeholder such
    # as onbekend@..., or a grandparent's address); `lines` lists every line with it.
    "email_families",
    # An address the database knows under another name, on the rows of children that
    # person was never linked to; `lines` lists every line with it.
    "email_reused",
    # A placeholder guardian (name and address, e.g. "Ouder/verzorger" with
    # onbekend@school.nl) as the only parent of children of different families: it would
    # become one guardian with one letter for all of them. `lines` lists every line.
    "placeholder_families",
    # The database holds guardians sharing an e-mail (imported with email_match=False):
    # an import that identifies guardians by e-mail alone cannot tell them apart.
    "email_match_needed",
)

REQUIRED_COLUMNS: tuple[str, ...] = (
    "leerlingnummer",
    "voornaam",
    "tussenvoegsel",
    "achternaam",
    "geboortedatum",
    "geslacht",
    "groep",
    "jaargroep",
    "ouder1_naam",
    "ouder1_email",
)
GUARDIAN2_COLUMNS: tuple[str, ...] = ("ouder2_naam", "ouder2_email")
# Optional pupil fields: when the column is absent the stored value is kept; when it is
# present but empty the stored value is cleared (the school removed it in ParnasSys).
OPTIONAL_PUPIL_COLUMNS: tuple[str, ...] = ("leerlingkey", "basispoort_id", "bijzonderheden")
OPTIONAL_COLUMNS: tuple[str, ...] = (*GUARDIAN2_COLUMNS, "groepskey", *OPTIONAL_PUPIL_COLUMNS)
CONSENT_PREFIX = "toestemming_"

# Pupil columns written from every row, always.
_BASE_FIELDS: tuple[str, ...] = (
    "voornaam",
    "tussenvoegsel",
    "achternaam",
    "geboortedatum",
    "geslacht",
    "jaargroep",
)

_EARLIEST_BIRTH = date(1990, 1, 1)
_DMY = re.compile(r"([0-9]{1,2})-([0-9]{1,2})-([0-9]{4})")
_YMD = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})")
# One @, something before it, a dot inside the domain, no spaces: enough to catch a
# name typed in the e-mail column without rejecting unusual but real addresses.
_EMAIL = re.compile(r"[^@\s]+@(?:[^@\s.]+\.)+[^@\s.]+")
_GENDERS = frozenset({"M", "V", "X"})
_CONSENT_VALUES = {"ja": True, "nee": False, "": None}
_VALUE_SHOWN = 100  # error values are for a console line, not a copy of the cell
# Free text: its values are never repeated in an error (a medical note is not for a
# console or a log), and it is where a stray delimiter most likely sits.
_PRIVATE_COLUMNS = frozenset({"bijzonderheden"})
_FREE_TEXT_COLUMNS = (
    "bijzonderheden",
    "ouder1_naam",
    "ouder2_naam",
    "achternaam",
    "voornaam",
    "tussenvoegsel",
)


def _table(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


_PUPIL = _table(Pupil)
_GROUP = _table(SchoolGroup)
_GUARDIAN = _table(Guardian)
_LINK = _table(GuardianPupil)
_CONSENT = _table(ConsentEvent)
_ERASED = _table(ErasedField)
# What an erased field holds: the note is gone, an optional text field is empty.
_ERASED_VALUE: dict[str, str | None] = {"bijzonderheden": None, "tussenvoegsel": ""}


def _length(table: Table, column: str) -> int | None:
    return cast(int | None, getattr(table.c[column].type, "length", None))


# Read from the models so a migration that widens a column widens the check with it.
_MAX_LENGTH: dict[str, int | None] = {
    "leerlingnummer": _length(_PUPIL, "leerlingnummer"),
    "voornaam": _length(_PUPIL, "voornaam"),
    "tussenvoegsel": _length(_PUPIL, "tussenvoegsel"),
    "achternaam": _length(_PUPIL, "achternaam"),
    "groep": _length(_GROUP, "name"),
    "groepskey": _length(_GROUP, "groepskey"),
    "leerlingkey": _length(_PUPIL, "leerlingkey"),
    "basispoort_id": _length(_PUPIL, "basispoort_id"),
    "bijzonderheden": _length(_PUPIL, "bijzonderheden"),
    "ouder1_naam": _length(_GUARDIAN, "name"),
    "ouder2_naam": _length(_GUARDIAN, "name"),
    "ouder1_email": _length(_GUARDIAN, "email"),
    "ouder2_email": _length(_GUARDIAN, "email"),
}


@dataclass(frozen=True)
class RowError:
    """One problem in the file. `line` counts physical lines, the header being line 1."""

    line: int
    column: str | None
    code: str
    value: str = ""
    # field_count: (fields on this line, fields in the header).
    counts: tuple[int, int] | None = None
    # email_names_differ / email_families: every line that carries the address.
    lines: tuple[int, ...] = ()


class ImportRejected(Exception):
    """The file was not imported at all; `errors` lists every problem found."""

    def __init__(self, errors: list[RowError], *, filename: str = "") -> None:
        self.errors = errors
        # Set where an import reads more than one file (EDEXML and its guardians).
        self.filename = filename
        first = errors[0] if errors else None
        where = f" (first: line {first.line} {first.column or ''} {first.code})" if first else ""
        super().__init__(f"pupil import rejected: {len(errors)} error(s){where}")


@dataclass(frozen=True)
class KeptErasure:
    """A line whose pupil had this field erased on a parent's approved request while the
    export still holds a value: the bot keeps it erased, ParnasSys must follow. The
    value itself is never kept or shown."""

    line: int
    column: str


# An export that would mark more than this share of the current pupils as left (or every
# pupil of a group) is more likely one group's file, or a half export, than the school's
# pupils leaving: it asks the administrator to confirm (--confirm-left).
LEFT_SHARE_TO_CONFIRM = 0.1


@dataclass(frozen=True)
class ImportSummary:
    pupils_added: int = 0
    pupils_updated: int = 0
    pupils_unchanged: int = 0
    pupils_left: int = 0
    guardians_added: int = 0
    guardians_updated: int = 0
    groups_added: int = 0
    consents_recorded: int = 0
    total_rows: int = 0
    kept_erased: tuple[KeptErasure, ...] = ()
    # (group, pupils marked as left, current pupils of the group), by group name.
    left_by_group: tuple[tuple[str, int, int], ...] = ()
    # More than a tenth of the current pupils, or a whole group: to be confirmed.
    left_needs_confirmation: bool = False


class LeftNotConfirmed(Exception):
    """The export would mark many pupils as left and the caller did not confirm it;
    nothing was written. `summary` says how many, per group."""

    def __init__(self, summary: ImportSummary) -> None:
        self.summary = summary
        super().__init__(f"{summary.pupils_left} pupils would be marked as left")


@dataclass(slots=True)
class _Row:
    line: int
    leerlingnummer: str
    group: str
    groepskey: str | None
    # Pupil columns as stored: the base fields plus the optional ones present in the file.
    values: dict[str, Any]
    # (lower-cased e-mail, name) per guardian, ouder1 first.
    guardians: list[tuple[str, str]]
    # The column each of `guardians` came from: "ouder1_email" or "ouder2_email".
    guardian_columns: list[str]
    consents: dict[str, bool] = field(default_factory=dict)
    # The line each of `guardians` came from, where that is not the row's own (the
    # guardians file beside an EDEXML export).
    guardian_lines: list[int] = field(default_factory=list)
    # `group` is the name as the school writes it ("Groep 3", from EDEXML), to be shown
    # so; a CSV's group is matched in capitals ("5a" is 5A) and keeps the stored name.
    group_as_written: bool = False

    def guardian_uses(self) -> Iterator[tuple[str, str, str, int]]:
        """(e-mail, name, column, line) per guardian, ouder1 first."""
        lines = self.guardian_lines or [self.line] * len(self.guardians)
        for (email, name), column, line in zip(
            self.guardians, self.guardian_columns, lines, strict=True
        ):
            yield email, name, column, line


@dataclass(slots=True)
class _Parsed:
    rows: list[_Row]
    optional_present: tuple[str, ...]


async def import_pupils(
    session: AsyncSession,
    source: str | Path | bytes,
    now: datetime,
    *,
    filename: str = "",
    dry_run: bool = False,
    channels: Sequence[str] = DEFAULT_CHANNELS,
    email_match: bool = True,
    confirm_left: bool = False,
) -> ImportSummary:
    """Validates the whole export, then brings the database in line with it.

    `source` is a Path to the file, its raw bytes, or a str: the CSV text itself when it
    contains a line break, else a file path. Raises ImportRejected (nothing written) on
    any invalid row. Writes in the caller's transaction and only flushes: the caller
    commits, or rolls back if anything raises. With `dry_run` nothing is written and the
    summary says what an import would do.

    With `email_match` (the default) an e-mail address is one guardian, and a file that
    gives one address different names, or to families with no child in common, is
    rejected. Without it a guardian is a name and an e-mail address together: the
    school's choice when its export uses placeholder addresses.

    An export that would mark more than a tenth of the current pupils, or every pupil of
    a group, as left raises LeftNotConfirmed (nothing written) unless `confirm_left`;
    a dry run reports it in the summary instead.
    """
    if now.tzinfo is None:
        raise ValueError("import_pupils needs an aware datetime")
    parsed = _parse(_text(source), tuple(channels), now.date(), email_match)
    return await apply_parsed(
        session,
        parsed,
        now,
        filename=filename,
        dry_run=dry_run,
        channels=channels,
        email_match=email_match,
        confirm_left=confirm_left,
    )


async def apply_parsed(
    session: AsyncSession,
    parsed: _Parsed,
    now: datetime,
    *,
    filename: str,
    dry_run: bool,
    channels: Sequence[str],
    email_match: bool,
    confirm_left: bool = False,
) -> ImportSummary:
    """The second half of an import, for any format read into rows (CSV, EDEXML): the
    rows are valid and the e-mail checks within the file are done; the checks against
    the database, and the writes, happen here."""
    # Core statements on the session's own connection, in the caller's transaction; the
    # flush makes rows the caller added but did not flush yet visible to them.
    await session.flush()
    conn = await session.connection()
    plan = await _Plan.load(conn, parsed, tuple(channels), email_match)
    summary = plan.summary()
    if dry_run:
        return summary
    if summary.left_needs_confirmation and not confirm_left:
        raise LeftNotConfirmed(summary)
    await plan.write(conn, now)
    detail = json.dumps({"filename": filename, **asdict(summary)}, ensure_ascii=False)
    session.add(
        ImportRun(
            at=now,
            filename=filename[: _length(_table(ImportRun), "filename") or None],
            added=summary.pupils_added,
            updated=summary.pupils_updated,
            unchanged=summary.pupils_unchanged,
            left=summary.pupils_left,
        )
    )
    session.add(
        AuditEvent(
            at=now,
            actor_kind="system",
            action="pupils_imported",
            detail=detail[: _length(_table(AuditEvent), "detail") or None],
        )
    )
    await session.flush()
    return summary


# --- reading and validating -------------------------------------------------------------


def _text(source: str | Path | bytes) -> str:
    if isinstance(source, str):
        if "\n" in source or "\r" in source:
            return source.removeprefix("\ufeff")
        source = Path(source)
    raw = source.read_bytes() if isinstance(source, Path) else source
    try:
        # utf-8-sig drops the BOM that Excel and ParnasSys put in front.
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRejected(_encoding_errors(raw)) from None


def _encoding_errors(raw: bytes) -> list[RowError]:
    # Per line, so the administrator sees every line an editor saved as Windows-1252.
    # Splitting on b"\n" is safe: that byte never occurs inside a UTF-8 sequence.
    errors: list[RowError] = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as error:
            bad = line[error.start : error.end]
            errors.append(RowError(number, None, "encoding", "".join(f"\\x{b:02x}" for b in bad)))
    return errors or [RowError(1, None, "encoding", "")]


def _delimiter(text: str) -> str:
    # From the header alone: data cells (names, bijzonderheden) may hold either character.
    header = next((line for line in io.StringIO(text, newline="") if line.strip()), "")
    return "," if header.count(",") > header.count(";") else ";"


def _shown(value: str) -> str:
    return value if len(value) <= _VALUE_SHOWN else value[: _VALUE_SHOWN - 1] + "…"


def _parse(text: str, channels: tuple[str, ...], today: date, email_match: bool = True) -> _Parsed:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    errors: list[RowError] = []
    header: list[str] | None = None
    header_line = 1
    rows: list[_Row] = []
    index: dict[str, int] = {}
    seen_numbers: set[str] = set()
    optional_present: tuple[str, ...] = ()
    consent_columns: dict[str, str] = {}
    last_line = 0
    try:
        for fields in reader:
            line, last_line = last_line + 1, reader.line_num  # a quoted cell may span lines
            if not any(cell.strip() for cell in fields):
                continue
            if header is None:
                header, header_line = fields, line
                index, header_errors = _columns(fields, line, channels)
                errors.extend(header_errors)
                if any(e.code == "missing_column" for e in header_errors):
                    raise ImportRejected(errors)
                optional_present = tuple(c for c in OPTIONAL_PUPIL_COLUMNS if c in index)
                consent_columns = {
                    c: CONSENT_PREFIX + c for c in channels if CONSENT_PREFIX + c in index
                }
                continue
            if len(fields) != len(header):
                # Every cell after the shift sits in the wrong column: checking them
                # would print a note as if it were, say, a date. Only the counts go out.
                column = _shifted_column(fields, header, index)
                errors.append(
                    RowError(line, column, "field_count", counts=(len(fields), len(header)))
                )
                continue
            row = _row(fields, line, index, optional_present, consent_columns, today, errors)
            if row is None:
                continue
            if row.leerlingnummer in seen_numbers:
                errors.append(
                    RowError(line, "leerlingnummer", "duplicate_pupil", row.leerlingnummer)
                )
            seen_numbers.add(row.leerlingnummer)
            rows.append(row)
    except csv.Error:
        errors.append(RowError(reader.line_num or 1, None, "csv_syntax", ""))
    if header is None:
        errors.append(RowError(1, None, "empty_file", ""))
    elif not rows and not errors:
        errors.append(RowError(header_line, None, "no_pupils", ""))
    if email_match:
        errors.extend(_email_conflicts(rows))
    errors.extend(placeholder_conflicts(rows))
    if errors:
        errors.sort(key=lambda e: e.line)  # stable: a line's errors keep the column order
        raise ImportRejected(errors)
    return _Parsed(rows, optional_present)


def _shifted_column(fields: list[str], header: list[str], index: dict[str, int]) -> str | None:
    """The known column where a row's extra (or missing) fields most likely start.

    A stray delimiter inside a text splits that text: the columns before it line up,
    the ones after it move to the right. Of the free-text columns, the one whose split
    leaves the fewest dates, e-mails and the like in the wrong shape is named."""
    extra = len(fields) - len(header)
    if extra <= 0:
        # A row cut short: the first column without a field of its own.
        missing = [c for c, p in index.items() if p >= len(fields)]
        return min(missing, key=index.__getitem__) if missing else None
    best: tuple[int, str] | None = None  # (misfits, column); ties keep the earlier guess
    for candidate in _FREE_TEXT_COLUMNS:
        split = index.get(candidate)
        if split is None:
            continue
        misfits = sum(
            1
            for name, p in index.items()
            if p != split and not _plausible(name, fields[p + extra if p > split else p].strip())
        )
        if best is None or misfits < best[0]:
            best = (misfits, candidate)
    return best[1] if best else None


_REQUIRED_SHAPED = frozenset({"geboortedatum", "geslacht", "jaargroep", "ouder1_email"})


def _plausible(column: str, value: str) -> bool:
    # Only columns with a recognisable shape can be wrong; the others fit anything.
    if not value:
        return column not in _REQUIRED_SHAPED
    if column == "geboortedatum":
        return _date(value) is not None
    if column == "geslacht":
        return value.upper() in _GENDERS
    if column == "jaargroep":
        return value.isdigit()
    if column.endswith("_email"):
        return _EMAIL.fullmatch(value) is not None
    if column.startswith(CONSENT_PREFIX):
        return value.lower() in _CONSENT_VALUES
    return True


def name_key(name: str) -> str:
    # "Sanne  de Vries" and "sanne de vries" are one spelling of one person.
    return " ".join(name.split()).casefold()


def _email_conflicts(rows: list[_Row]) -> list[RowError]:
    """An e-mail address that would merge people or families into one guardian."""
    # email -> (row, name, column, line)
    by_email: dict[str, list[tuple[_Row, str, str, int]]] = {}
    for row in rows:
        for email, name, column, line in row.guardian_uses():
            by_email.setdefault(email, []).append((row, name, column, line))
    errors: list[RowError] = []
    for email, uses in by_email.items():
        if len(uses) < 2:
            continue
        lines = tuple(sorted({line for *_, line in uses}))
        _row, _name, first_column, first_line = min(uses, key=lambda use: use[3])
        if len({name_key(name) for _, name, _, _ in uses}) > 1:
            errors.append(
                RowError(first_line, first_column, "email_names_differ", email, lines=lines)
            )
        elif _separate_families(email, [row for row, *_ in uses], rows):
            errors.append(RowError(first_line, first_column, "email_families", email, lines=lines))
    return errors


# What schools type where a parent is unknown: compared on letters only, without case.
_PLACEHOLDER_NAMES = frozenset(
    {
        "ouder",
        "ouders",
        "ouderverzorger",
        "ouderverzorgers",
        "verzorger",
        "verzorgers",
        "onbekend",
        "nvt",
        "geen",
        "leeg",
        "test",
        "x",
        "xx",
        "xxx",
        "unknown",
        "parent",
        "parents",
        "guardian",
    }
)
_PLACEHOLDER_MAILBOXES = _PLACEHOLDER_NAMES | frozenset(
    {"noreply", "noemail", "nomail", "geenmail", "geenemail", "info", "administratie"}
)


def _letters(text: str) -> str:
    return "".join(c for c in text.casefold() if c.isalpha())


def _is_placeholder(email: str, name: str) -> bool:
    """A value no parent is called or reachable at."""
    return (
        _letters(name) in _PLACEHOLDER_NAMES
        or _letters(email.partition("@")[0]) in _PLACEHOLDER_MAILBOXES
    )


def placeholder_conflicts(rows: list[_Row]) -> list[RowError]:
    """One guardian (the same name and address) with a placeholder value, on the rows of
    children who are not one family: they share no other guardian and not their surname.
    With or without e-mail matching this would be one guardian, with one letter that opens
    every one of those children's records."""
    uses: dict[tuple[str, str], list[tuple[_Row, str, int]]] = {}
    for row in rows:
        for email, name, column, line in row.guardian_uses():
            if _is_placeholder(email, name):
                uses.setdefault((email, name_key(name)), []).append((row, column, line))
    errors: list[RowError] = []
    for (email, _), found in uses.items():
        if len(found) < 2 or not _unrelated([row for row, *_ in found], email):
            continue
        _row, column, first_line = min(found, key=lambda use: use[2])
        lines = tuple(sorted({line for *_, line in found}))
        errors.append(RowError(first_line, column, "placeholder_families", email, lines=lines))
    return errors


def _unrelated(rows: list[_Row], email: str) -> bool:
    """True when the children of `rows` are not one family by what the export says: two
    of them have different surnames and no other guardian in common."""
    for i, first in enumerate(rows):
        for second in rows[i + 1 :]:
            if first.leerlingnummer == second.leerlingnummer:
                continue
            others = {e for e, _ in first.guardians if e != email}
            if others & {e for e, _ in second.guardians if e != email}:
                continue
            if _surname(first) != _surname(second):
                return True
    return False


def _surname(row: _Row) -> str:
    return name_key(f"{row.values.get('tussenvoegsel', '')} {row.values.get('achternaam', '')}")


def _separate_families(email: str, uses: list[_Row], rows: list[_Row]) -> bool:
    """True when the rows with `email` belong to families with no child in common.

    Without the address itself, two of its rows are one family when their other
    guardians are linked through a child (siblings with the same second parent, or a
    second parent who shares a child with the other's). A row with no other guardian
    fits any family, so single parents with several children stay one guardian."""
    partners = [{e for e, _ in row.guardians if e != email} for row in uses]
    if sum(1 for p in partners if p) < 2 or len({frozenset(p) for p in partners if p}) < 2:
        return False
    parent: dict[str, str] = {}

    def find(item: str) -> str:
        while parent.get(item, item) != item:
            item = parent[item]
        return item

    # Only the rare address with several different partners gets here, so walking
    # every row once per such address stays cheap.
    for row in rows:
        others = [e for e, _ in row.guardians if e != email]
        for other in others[1:]:
            parent[find(other)] = find(others[0])
    families = {find(next(iter(p))) for p in partners if p}
    return len(families) > 1


def _columns(
    header: list[str], line: int, channels: tuple[str, ...]
) -> tuple[dict[str, int], list[RowError]]:
    known = {*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, *(CONSENT_PREFIX + c for c in channels)}
    index: dict[str, int] = {}
    errors: list[RowError] = []
    for position, raw in enumerate(header):
        name = raw.strip().lstrip("\ufeff").strip().lower()
        if name not in known:
            continue  # ParnasSys exports may carry more columns than we need
        if name in index:
            errors.append(RowError(line, name, "duplicate_column", raw.strip()))
            continue
        index[name] = position
    errors.extend(
        RowError(line, name, "missing_column", "") for name in REQUIRED_COLUMNS if name not in index
    )
    return index, errors


def _row(
    fields: list[str],
    line: int,
    index: dict[str, int],
    optional_present: tuple[str, ...],
    consent_columns: dict[str, str],
    today: date,
    errors: list[RowError],
) -> _Row | None:
    def get(column: str) -> str:
        position = index.get(column)
        if position is None or position >= len(fields):
            return ""
        return fields[position].strip()

    def error(column: str, code: str, value: str = "") -> None:
        shown = "" if column in _PRIVATE_COLUMNS else _shown(value)
        errors.append(RowError(line, column, code, shown))

    def text(column: str, required: bool) -> str:
        value = get(column)
        if required and not value:
            error(column, "required")
        limit = _MAX_LENGTH.get(column)
        if limit is not None and len(value) > limit:
            error(column, "too_long", value)
        return value

    leerlingnummer = text("leerlingnummer", True)
    voornaam = text("voornaam", True)
    tussenvoegsel = text("tussenvoegsel", False)
    achternaam = text("achternaam", True)

    born_text = get("geboortedatum")
    born = _date(born_text)
    if not born_text:
        error("geboortedatum", "required")
    elif born is None:
        error("geboortedatum", "date_invalid", born_text)
    elif born > today:
        error("geboortedatum", "date_future", born_text)
    elif born < _EARLIEST_BIRTH:
        error("geboortedatum", "date_too_old", born_text)

    geslacht = get("geslacht").upper()
    if not geslacht:
        error("geslacht", "required")
    elif geslacht not in _GENDERS:
        error("geslacht", "gender", get("geslacht"))

    group = text("groep", True).upper()
    groepskey = text("groepskey", False) or None

    jaargroep_text = get("jaargroep")
    jaargroep = int(jaargroep_text) if jaargroep_text.isascii() and jaargroep_text.isdigit() else 0
    if not jaargroep_text:
        error("jaargroep", "required")
    elif not 1 <= jaargroep <= 8:
        error("jaargroep", "jaargroep", jaargroep_text)

    guardians: list[tuple[str, str]] = []
    guardian_columns: list[str] = []
    name1 = text("ouder1_naam", True)
    email1 = _email(get, "ouder1_email", True, error)
    if name1 and email1:
        guardians.append((email1, name1))
        guardian_columns.append("ouder1_email")
    name2 = text("ouder2_naam", False)
    email2 = _email(get, "ouder2_email", False, error)
    if name2 and not get("ouder2_email"):
        error("ouder2_email", "guardian2_incomplete")
    elif get("ouder2_email") and not name2:
        error("ouder2_naam", "guardian2_incomplete")
    elif email2 and email1 and email2 == email1:
        error("ouder2_email", "guardian2_same_email", get("ouder2_email"))
    elif name2 and email2:
        guardians.append((email2, name2))
        guardian_columns.append("ouder2_email")

    consents: dict[str, bool] = {}
    for channel, column in consent_columns.items():
        raw = get(column)
        if raw.lower() not in _CONSENT_VALUES:
            error(column, "consent_value", raw)
            continue
        granted = _CONSENT_VALUES[raw.lower()]
        if granted is not None:
            consents[channel] = granted

    values: dict[str, Any] = {
        "voornaam": voornaam,
        "tussenvoegsel": tussenvoegsel,
        "achternaam": achternaam,
        "geboortedatum": born,
        "geslacht": geslacht,
        "jaargroep": jaargroep,
    }
    for column in optional_present:
        values[column] = text(column, False) or None

    if not leerlingnummer:
        return None  # nothing to check duplicates against; its own error is recorded
    # Returned even with errors: a later row with the same number is a duplicate either way.
    return _Row(
        line, leerlingnummer, group, groepskey, values, guardians, guardian_columns, consents
    )


def _date(value: str) -> date | None:
    match = _DMY.fullmatch(value)
    if match:
        day, month, year = (int(part) for part in match.groups())
    else:
        match = _YMD.fullmatch(value)
        if not match:
            return None
        year, month, day = (int(part) for part in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _email(
    get: Callable[[str], str], column: str, required: bool, error: Callable[..., None]
) -> str | None:
    value = get(column)
    if not value:
        if required:
            error(column, "required")
        return None
    limit = _MAX_LENGTH[column]
    if limit is not None and len(value) > limit:
        error(column, "too_long", value)
        return None
    if not _EMAIL.fullmatch(value):
        error(column, "email", value)
        return None
    # One person across rows: siblings' rows may spell the same address differently.
    return value.lower()


# --- comparing and writing --------------------------------------------------------------


def _reused_addresses(
    rows: list[_Row],
    key: Callable[[str, str], str],
    guardian_ids: dict[str, int],
    guardian_names: dict[str, str],
    stored_pupils: dict[str, Any],
    links: dict[int, set[int]],
) -> list[RowError]:
    """An address the database knows under another name, now on the rows of children
    that person was never linked to: someone else's (a placeholder passed on, or a
    recycled address). Renaming would hand that person's account, and perhaps a linked
    Telegram chat, to a stranger's children. A new name with at least one child in
    common is a real change of name and goes through."""
    numbers_of: dict[int, set[str]] = {}
    for number, stored in stored_pupils.items():
        for guardian_id in links.get(stored["id"], ()):
            numbers_of.setdefault(guardian_id, set()).add(number)
    uses: dict[str, list[tuple[_Row, str, str, int]]] = {}
    for row in rows:
        for email, name, column, line in row.guardian_uses():
            k = key(email, name)
            if k in guardian_ids and name_key(guardian_names[k]) != name_key(name):
                uses.setdefault(k, []).append((row, email, column, line))
    errors: list[RowError] = []
    for k, found in uses.items():
        before = numbers_of.get(guardian_ids[k], set())
        if before and not before & {row.leerlingnummer for row, *_ in found}:
            _first, email, column, first_line = min(found, key=lambda use: use[3])
            lines = tuple(sorted({line for *_, line in found}))
            errors.append(RowError(first_line, column, "email_reused", email, lines=lines))
    errors.sort(key=lambda e: e.line)
    return errors


def _chunks(items: list[dict[str, Any]], size: int = 5000) -> Iterable[list[dict[str, Any]]]:
    # Bounds the memory of one executemany; the drivers page further themselves.
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class _Plan:
    """What the import will change, computed in Python from the file and the database."""

    rows: list[_Row]
    group_ids: dict[str, int]  # canonical name -> id, for existing groups
    new_groups: dict[str, str | None]  # canonical name -> groepskey
    groepskey_updates: list[dict[str, Any]]
    # A guardian's key is the lower-cased e-mail, or e-mail and name without email_match.
    guardian_ids: dict[str, int]  # key -> id, for existing guardians
    new_guardians: dict[str, tuple[str, str]]  # key -> (e-mail, name)
    guardian_renames: list[dict[str, Any]]
    pupil_ids: dict[str, int]  # leerlingnummer -> id, for existing pupils
    new_pupils: list[_Row]
    changed_pupils: list[_Row]
    unchanged: int
    left_ids: list[int]
    left_by_group: list[tuple[str, int, int]]
    left_needs_confirmation: bool
    links_removed: list[dict[str, Any]]
    links_added: list[tuple[str, str]]  # (leerlingnummer, guardian key)
    consents: list[tuple[str, str, bool]]  # (leerlingnummer, channel, granted)
    kept_erased: list[KeptErasure] = field(default_factory=list)
    group_renames: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    async def load(
        cls,
        conn: AsyncConnection,
        parsed: _Parsed,
        channels: tuple[str, ...],
        email_match: bool = True,
    ) -> _Plan:
        rows = parsed.rows

        def key(email: str, name: str) -> str:
            return email.lower() if email_match else f"{email.lower()}\n{name_key(name)}"

        # Groups: matched case-insensitively, so a group typed "5a" elsewhere is reused.
        stored_groups = (
            await conn.execute(select(_GROUP.c.id, _GROUP.c.name, _GROUP.c.groepskey))
        ).all()
        group_ids = {name: gid for gid, name, _ in stored_groups}
        group_keys = {name: key for _, name, key in stored_groups}
        by_upper: dict[str, str] = {}
        for _, name, _ in stored_groups:
            by_upper.setdefault(name.upper(), name)
        by_upper.update({name: name for name in group_ids if name == name.upper()})
        # The groepskey is the group's identity where there is one; the name is for people.
        by_key = {k: name for _, name, k in stored_groups if k}
        renamed: dict[str, str] = {}  # stored name -> the name as the export writes it
        for row in rows:
            stored = (by_key.get(row.groepskey) if row.groepskey else None) or by_upper.get(
                row.group.upper()
            )
            if (
                stored is not None
                and row.group_as_written
                and stored != row.group
                and row.group not in group_ids
            ):
                renamed[stored] = row.group
            row.group = renamed.get(stored, stored) if stored is not None else row.group
        group_renames = []
        for stored, written in renamed.items():
            group_ids[written] = group_ids.pop(stored)
            group_keys[written] = group_keys.pop(stored)
            group_renames.append({"b_id": group_ids[written], "name": written})
        for row in rows:
            row.group = renamed.get(row.group, row.group)
        file_keys: dict[str, str | None] = {}
        for row in rows:
            if row.groepskey or row.group not in file_keys:
                file_keys[row.group] = row.groepskey or file_keys.get(row.group)
        new_groups = {name: key for name, key in file_keys.items() if name not in group_ids}
        groepskey_updates = [
            {"b_id": group_ids[name], "groepskey": key}
            for name, key in file_keys.items()
            if name in group_ids and key and key != group_keys[name]
        ]
        group_names = {gid: name for name, gid in group_ids.items()}

        # Guardians: the latest row's spelling of the name wins for a person on several rows.
        stored_guardians = (
            await conn.execute(select(_GUARDIAN.c.id, _GUARDIAN.c.name, _GUARDIAN.c.email))
        ).all()
        guardian_ids = {key(email, name): gid for gid, name, email in stored_guardians}
        if len(guardian_ids) < len(stored_guardians):
            raise ImportRejected([RowError(1, None, "email_match_needed")])
        guardian_names = {key(email, name): name for _, name, email in stored_guardians}
        guardian_keys = {gid: key(email, name) for gid, name, email in stored_guardians}
        file_guardians: dict[str, tuple[str, str]] = {}
        for row in rows:
            for email, name in row.guardians:
                file_guardians[key(email, name)] = (email, name)
        new_guardians = {k: g for k, g in file_guardians.items() if k not in guardian_ids}
        guardian_renames = [
            {"b_id": guardian_ids[k], "name": name}
            for k, (_, name) in file_guardians.items()
            if k in guardian_ids and guardian_names[k] != name
        ]

        # Pupils and their guardian links.
        compared = ("id", "leerlingnummer", "group_id", "left_at", *_BASE_FIELDS)
        compared += parsed.optional_present
        stored_pupils = {
            r.leerlingnummer: r
            for r in (await conn.execute(select(*(_PUPIL.c[c] for c in compared)))).mappings()
        }
        links: dict[int, set[int]] = {}
        for guardian_id, pupil_id in (
            await conn.execute(select(_LINK.c.guardian_id, _LINK.c.pupil_id))
        ).all():
            links.setdefault(pupil_id, set()).add(guardian_id)
        if email_match:
            reused = _reused_addresses(
                rows, key, guardian_ids, guardian_names, stored_pupils, links
            )
            if reused:
                raise ImportRejected(reused)

        pupil_ids = {number: r["id"] for number, r in stored_pupils.items()}
        kept_erased = await _keep_erasures(conn, rows, pupil_ids)
        new_pupils: list[_Row] = []
        changed: list[_Row] = []
        unchanged = 0
        links_removed: list[dict[str, Any]] = []
        links_added: list[tuple[str, str]] = []
        for row in rows:
            wanted = {key(email, name) for email, name in row.guardians}
            stored = stored_pupils.get(row.leerlingnummer)
            if stored is None:
                new_pupils.append(row)
                links_added.extend((row.leerlingnummer, email) for email in wanted)
                continue
            linked = {guardian_keys[gid]: gid for gid in links.get(stored["id"], ())}
            links_added.extend((row.leerlingnummer, e) for e in wanted if e not in linked)
            links_removed.extend(
                {"b_guardian": gid, "b_pupil": stored["id"]}
                for email, gid in linked.items()
                if email not in wanted
            )
            same = (
                stored["left_at"] is None
                and group_names.get(stored["group_id"]) == row.group
                and all(stored[c] == v for c, v in row.values.items())
                and set(linked) == wanted
            )
            if same:
                unchanged += 1
            else:
                changed.append(row)

        in_file = {row.leerlingnummer for row in rows}
        current: dict[str, int] = {}
        leaving: dict[str, int] = {}
        left_ids: list[int] = []
        for number, r in stored_pupils.items():
            if r["left_at"] is not None:
                continue
            name = group_names.get(r["group_id"], "")
            current[name] = current.get(name, 0) + 1
            if number not in in_file:
                left_ids.append(r["id"])
                leaving[name] = leaving.get(name, 0) + 1
        left_by_group = [(name, leaving[name], current[name]) for name in sorted(leaving)]
        left_needs_confirmation = len(left_ids) > LEFT_SHARE_TO_CONFIRM * sum(
            current.values()
        ) or any(count == current[name] for name, count in leaving.items())

        # Consent: an import may only start a pupil's history for a channel; whatever
        # came after (a parent's choice in the bot) is never overruled by a re-import.
        has_history: set[tuple[int, str]] = set()
        if channels:
            has_history = {
                (pupil_id, channel)
                for pupil_id, channel in (
                    await conn.execute(
                        select(_CONSENT.c.pupil_id, _CONSENT.c.channel)
                        .where(_CONSENT.c.channel.in_(channels))
                        .distinct()
                    )
                ).all()
            }
        consents = [
            (row.leerlingnummer, channel, granted)
            for row in rows
            for channel, granted in row.consents.items()
            if row.leerlingnummer not in pupil_ids
            or (pupil_ids[row.leerlingnummer], channel) not in has_history
        ]

        return cls(
            rows=rows,
            group_ids=group_ids,
            new_groups=new_groups,
            groepskey_updates=groepskey_updates,
            guardian_ids=guardian_ids,
            new_guardians=new_guardians,
            guardian_renames=guardian_renames,
            pupil_ids=pupil_ids,
            new_pupils=new_pupils,
            changed_pupils=changed,
            unchanged=unchanged,
            left_ids=left_ids,
            left_by_group=left_by_group,
            left_needs_confirmation=left_needs_confirmation,
            links_removed=links_removed,
            links_added=links_added,
            consents=consents,
            kept_erased=kept_erased,
            group_renames=group_renames,
        )

    def summary(self) -> ImportSummary:
        return ImportSummary(
            pupils_added=len(self.new_pupils),
            pupils_updated=len(self.changed_pupils),
            pupils_unchanged=self.unchanged,
            pupils_left=len(self.left_ids),
            guardians_added=len(self.new_guardians),
            guardians_updated=len(self.guardian_renames),
            groups_added=len(self.new_groups),
            consents_recorded=len(self.consents),
            total_rows=len(self.rows),
            kept_erased=tuple(self.kept_erased),
            left_by_group=tuple(self.left_by_group),
            left_needs_confirmation=self.left_needs_confirmation,
        )

    async def write(self, conn: AsyncConnection, now: datetime) -> None:
        group_ids = dict(self.group_ids)
        if self.new_groups:
            group_ids.update(
                await _insert_returning(
                    conn,
                    _GROUP,
                    "name",
                    [{"name": n, "groepskey": k} for n, k in self.new_groups.items()],
                )
            )
        await _update_by_id(conn, _GROUP, self.group_renames)
        await _update_by_id(conn, _GROUP, self.groepskey_updates)

        guardian_ids = dict(self.guardian_ids)
        if self.new_guardians:
            # Returned by e-mail and name: without email_match an address is not unique.
            by_person = {(e, n): k for k, (e, n) in self.new_guardians.items()}
            returning = insert(_GUARDIAN).returning(
                _GUARDIAN.c.id, _GUARDIAN.c.email, _GUARDIAN.c.name
            )
            for chunk in _chunks([{"name": n, "email": e} for e, n in by_person]):
                result = await conn.execute(returning, chunk)
                guardian_ids.update({by_person[(e, n)]: gid for gid, e, n in result.all()})
        await _update_by_id(conn, _GUARDIAN, self.guardian_renames)

        def columns(row: _Row) -> dict[str, Any]:
            return {**row.values, "group_id": group_ids[row.group], "left_at": None}

        pupil_ids = dict(self.pupil_ids)
        if self.new_pupils:
            pupil_ids.update(
                await _insert_returning(
                    conn,
                    _PUPIL,
                    "leerlingnummer",
                    [{"leerlingnummer": r.leerlingnummer, **columns(r)} for r in self.new_pupils],
                )
            )
        await _update_by_id(
            conn,
            _PUPIL,
            [{"b_id": pupil_ids[r.leerlingnummer], **columns(r)} for r in self.changed_pupils],
        )
        await _update_by_id(conn, _PUPIL, [{"b_id": i, "left_at": now} for i in self.left_ids])

        if self.links_removed:
            statement = delete(_LINK).where(
                _LINK.c.guardian_id == bindparam("b_guardian"),
                _LINK.c.pupil_id == bindparam("b_pupil"),
            )
            for chunk in _chunks(self.links_removed):
                await conn.execute(statement, chunk)
        await _insert(
            conn,
            _LINK,
            [
                {"guardian_id": guardian_ids[k], "pupil_id": pupil_ids[number]}
                for number, k in self.links_added
            ],
        )
        await _insert(
            conn,
            _CONSENT,
            [
                {
                    "pupil_id": pupil_ids[number],
                    "channel": channel,
                    "granted": granted,
                    "at": now,
                    "source": ConsentSource.IMPORT,
                    "guardian_id": None,
                }
                for number, channel, granted in self.consents
            ],
        )


async def _keep_erasures(
    conn: AsyncConnection, rows: list[_Row], pupil_ids: dict[str, int]
) -> list[KeptErasure]:
    """A field erased on a parent's approved request stays erased whatever the export
    says: the row's value is replaced by the erased one before it is compared, and the
    line is reported so the administrator removes it in ParnasSys too."""
    erased: dict[int, set[str]] = {}
    for pupil_id, name in (await conn.execute(select(_ERASED.c.pupil_id, _ERASED.c.field))).all():
        erased.setdefault(pupil_id, set()).add(name)
    kept: list[KeptErasure] = []
    if not erased:
        return kept
    for row in rows:
        pupil_id = pupil_ids.get(row.leerlingnummer)
        for name in sorted(erased.get(pupil_id, ()) if pupil_id is not None else ()):
            if name not in row.values or name not in _ERASED_VALUE:
                continue  # the column is not in this export: nothing to restore
            if row.values[name] not in (None, ""):
                kept.append(KeptErasure(row.line, name))
            row.values[name] = _ERASED_VALUE[name]
    return kept


async def _insert(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    for chunk in _chunks(rows):
        await conn.execute(insert(table), chunk)


async def _insert_returning(
    conn: AsyncConnection, table: Table, key: str, rows: list[dict[str, Any]]
) -> dict[str, int]:
    """Inserts and returns key -> new id. SQLAlchemy batches the rows into multi-row
    INSERT ... RETURNING statements within the driver's parameter limit (SQLite and
    PostgreSQL alike), so new ids come back without a query per row."""
    ids: dict[str, int] = {}
    statement = insert(table).returning(table.c.id, table.c[key])
    for chunk in _chunks(rows):
        result = await conn.execute(statement, chunk)
        ids.update({value: new_id for new_id, value in result.all()})
    return ids


async def _update_by_id(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    """One executemany UPDATE ... WHERE id = :b_id; every dict must have the same keys."""
    if not rows:
        return
    # Without .values(): SQLAlchemy derives the SET clause from the parameter keys.
    statement = update(table).where(table.c.id == bindparam("b_id"))
    for chunk in _chunks(rows):
        await conn.execute(statement, chunk)
