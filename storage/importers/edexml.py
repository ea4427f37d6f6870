"""EDEXML 2.1, the Dutch open standard in which ParnasSys and Esis export pupils, groups
and teachers (Edustandaard, NTA 2032; in ParnasSys under "EDEX & UWLR"). Basispoort
receives its "smalle set": the very fields the school's privacy statement lists.

Read with lxml, safely: no DTD is loaded, no entity resolved, nothing fetched from a
network, and a file that declares a DOCTYPE at all is refused (EDEXML never has one, and
entity tricks — "billion laughs", external entities — live there). No published XSD can
be had from a package registry, so the structure is checked here, element by element,
with the line of every problem.

Elements are matched by local name: exports come with and without the Edustandaard
namespace, and with the root `EDEX` or `leerlinggegevens` (the UWLR service wraps the
same set that way).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TypeVar

from lxml import etree
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.importers.pupils import (
    _MAX_LENGTH,
    DEFAULT_CHANNELS,
    ImportRejected,
    ImportSummary,
    RowError,
    _email_conflicts,
    _Parsed,
    _Row,
    apply_parsed,
    placeholder_conflicts,
)

_T = TypeVar("_T")

__all__ = [
    "Edex",
    "EdexGroup",
    "EdexImport",
    "EdexPupil",
    "EdexSchool",
    "EdexTeacher",
    "GuardianLine",
    "import_edexml",
    "looks_like_edexml",
    "parse_edexml",
    "parse_guardians",
]

ROOTS = frozenset({"EDEX", "leerlinggegevens"})
# EDEXML's geslacht codes: 0 onbekend, 1 man, 2 vrouw, 9 niet gespecificeerd.
_GENDER = {"1": "M", "2": "V", "0": "X", "9": "X"}
_EARLIEST_BIRTH = date(1990, 1, 1)
_MAX_BYTES = 64 * 1024 * 1024  # a 20,000-pupil export is a few MB
_EMAIL = re.compile(r"[^@\s]+@(?:[^@\s.]+\.)+[^@\s.]+")


@dataclass(frozen=True)
class EdexSchool:
    schooljaar: str
    brincode: str
    dependancecode: str
    schoolkey: str


@dataclass(frozen=True)
class EdexGroup:
    key: str
    naam: str
    jaargroep: int | None
    composite: bool  # a samengestelde groep (e.g. a reading group), not a class
    line: int


@dataclass(frozen=True)
class EdexPupil:
    key: str
    eckid: str | None
    roepnaam: str
    voorvoegsel: str
    achternaam: str
    geboortedatum: date
    geslacht: str  # M, V or X, as the CSV import stores it
    jaargroep: int
    group_key: str  # the stamgroep: the class the pupil belongs to
    composite_keys: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class EdexTeacher:
    key: str
    eckid: str | None
    name: str
    email: str | None
    group_keys: tuple[str, ...]  # stamgroepen only
    line: int


@dataclass
class Edex:
    school: EdexSchool
    groups: dict[str, EdexGroup] = field(default_factory=dict)
    pupils: list[EdexPupil] = field(default_factory=list)
    teachers: list[EdexTeacher] = field(default_factory=list)

    def group_name(self, key: str) -> str:
        return self.groups[key].naam


def looks_like_edexml(raw: bytes) -> bool:
    """The format by content, not by the file's name: XML starts with '<'."""
    return raw.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


def parse_edexml(raw: bytes, today: date) -> Edex:
    """The whole file, checked; ImportRejected with every problem otherwise."""
    if len(raw) > _MAX_BYTES:
        raise ImportRejected([RowError(1, None, "xml_too_large", "")])
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        raise ImportRejected([RowError(_line_of(raw, b"<!"), None, "xml_doctype", "")])
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as error:
        line = error.position[0] if error.position else 1
        raise ImportRejected([RowError(line or 1, None, "xml_syntax", "")]) from None
    if root.getroottree().docinfo.doctype:
        raise ImportRejected([RowError(1, None, "xml_doctype", "")])
    if _local(root) not in ROOTS:
        raise ImportRejected([RowError(root.sourceline or 1, _local(root), "xml_root", "")])
    return _Reader(today).read(root)


def _line_of(raw: bytes, needle: bytes) -> int:
    return raw[: max(raw.find(needle), 0)].count(b"\n") + 1


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _children(element: etree._Element, name: str) -> list[etree._Element]:
    return [child for child in element if _local(child) == name]


def _child(element: etree._Element, name: str) -> etree._Element | None:
    found = _children(element, name)
    return found[0] if found else None


class _Reader:
    def __init__(self, today: date) -> None:
        self.today = today
        self.errors: list[RowError] = []

    def error(self, element: etree._Element, name: str | None, code: str, value: str = "") -> None:
        """At the line of the child element `name` when there is one, else of `element`.
        Values are never repeated for names or dates: the report may be shared."""
        at = _child(element, name) if name else None
        line = (at if at is not None else element).sourceline or 1
        self.errors.append(RowError(line, name, code, value))

    def text(self, element: etree._Element, name: str, *, required: bool) -> str:
        child = _child(element, name)
        value = (child.text or "").strip() if child is not None else ""
        if required and not value:
            self.error(element, name, "required")
        return value

    def read(self, root: etree._Element) -> Edex:
        school_element = _child(root, "school")
        if school_element is None:
            self.error(root, "school", "missing_element")
            raise ImportRejected(self.errors)
        school = EdexSchool(
            schooljaar=self.text(school_element, "schooljaar", required=True),
            brincode=self.text(school_element, "brincode", required=True),
            dependancecode=self.text(school_element, "dependancecode", required=False),
            schoolkey=self.text(school_element, "schoolkey", required=False),
        )
        edex = Edex(school)
        groups = _child(root, "groepen")
        if groups is None:
            self.error(root, "groepen", "missing_element")
        else:
            for element in groups:
                kind = _local(element)
                if kind in ("groep", "samengestelde_groep"):
                    self.group(edex, element, composite=kind == "samengestelde_groep")
        pupils = _child(root, "leerlingen")
        if pupils is None:
            self.error(root, "leerlingen", "missing_element")
        else:
            seen: set[str] = set()
            for element in _children(pupils, "leerling"):
                key = (element.get("key") or "").strip()
                if key in seen:
                    self.error(element, "key", "duplicate_pupil", key)
                seen.add(key)
                pupil = self.pupil(edex, element, key)
                if pupil is not None:
                    edex.pupils.append(pupil)
            if not edex.pupils and not self.errors:
                self.error(pupils, "leerling", "no_pupils")
        teachers = _child(root, "leerkrachten")
        teacher_keys: set[str] = set()
        for element in _children(teachers, "leerkracht") if teachers is not None else ():
            teacher = self.teacher(edex, element)
            if teacher is None:
                continue
            if teacher.key in teacher_keys:
                # One key is one person: which of the two would it be?
                self.error(element, "key", "duplicate_teacher", teacher.key)
            teacher_keys.add(teacher.key)
            edex.teachers.append(teacher)
        if self.errors:
            raise ImportRejected(sorted(self.errors, key=lambda e: e.line))  # stable: in order
        return edex

    def group(self, edex: Edex, element: etree._Element, *, composite: bool) -> None:
        key = (element.get("key") or "").strip()
        if not key:
            self.error(element, "key", "required")
            return
        if key in edex.groups:
            self.error(element, "key", "duplicate_group", key)
            return
        naam = self.text(element, "naam", required=True)
        jaargroep: int | None = None
        if not composite:
            jaargroep = self.year_group(element)
        edex.groups[key] = EdexGroup(key, naam, jaargroep, composite, element.sourceline or 1)

    def year_group(self, element: etree._Element) -> int:
        raw = self.text(element, "jaargroep", required=True)
        number = int(raw) if raw.isascii() and raw.isdigit() else 0
        if raw and not 1 <= number <= 8:
            self.error(element, "jaargroep", "jaargroep", raw)
        return number

    def pupil(self, edex: Edex, element: etree._Element, key: str) -> EdexPupil | None:
        if not key:
            self.error(element, "key", "required")
        roepnaam = self.text(element, "roepnaam", required=True)
        voorvoegsel = self.text(element, "voorvoegsel", required=False)
        achternaam = self.text(element, "achternaam", required=True)
        born = self.birth_date(element)
        gender_code = self.text(element, "geslacht", required=False)
        geslacht = _GENDER.get(gender_code or "0")
        if geslacht is None:
            self.error(element, "geslacht", "edex_gender", gender_code)
        jaargroep = self.year_group(element)
        group_element = _child(element, "groep")
        group_key = (group_element.get("key") or "").strip() if group_element is not None else ""
        if not group_key:
            self.error(element, "groep", "required")
        elif group_key not in edex.groups or edex.groups[group_key].composite:
            # A pupil's class must be a stamgroep declared in <groepen>.
            self.error(element, "groep", "unknown_group", group_key)
        composites = _child(element, "samengestelde_groepen")
        composite_keys = tuple(
            (c.get("key") or "").strip()
            for c in (
                _children(composites, "samengestelde_groep") if composites is not None else ()
            )
        )
        for composite_key in composite_keys:
            if composite_key not in edex.groups:
                self.error(element, "samengestelde_groep", "unknown_group", composite_key)
        if not key or born is None or geslacht is None:
            return None
        return EdexPupil(
            key=key,
            eckid=(element.get("eckid") or "").strip() or None,
            roepnaam=roepnaam,
            voorvoegsel=voorvoegsel,
            achternaam=achternaam,
            geboortedatum=born,
            geslacht=geslacht,
            jaargroep=jaargroep,
            group_key=group_key,
            composite_keys=composite_keys,
            line=element.sourceline or 1,
        )

    def birth_date(self, element: etree._Element) -> date | None:
        raw = self.text(element, "geboortedatum", required=True)
        if not raw:
            return None
        try:
            born = date.fromisoformat(raw)  # xs:date: jjjj-mm-dd
        except ValueError:
            self.error(element, "geboortedatum", "date_invalid")
            return None
        if born > self.today:
            self.error(element, "geboortedatum", "date_future")
        elif born < _EARLIEST_BIRTH:
            self.error(element, "geboortedatum", "date_too_old")
        return born

    def teacher(self, edex: Edex, element: etree._Element) -> EdexTeacher | None:
        key = (element.get("key") or "").strip()
        if not key:
            self.error(element, "key", "required")
            return None
        parts = (
            self.text(element, "roepnaam", required=False)
            or self.text(element, "voorletters", required=False),
            self.text(element, "voorvoegsel", required=False),
            self.text(element, "achternaam", required=True),
        )
        groups = _child(element, "groepen")
        group_keys = tuple(
            (g.get("key") or "").strip()
            for g in (_children(groups, "groep") if groups is not None else ())
        )
        for group_key in group_keys:
            if group_key not in edex.groups:
                self.error(element, "groep", "unknown_group", group_key)
        return EdexTeacher(
            key=key,
            eckid=(element.get("eckid") or "").strip() or None,
            name=" ".join(p for p in parts if p),
            email=self.text(element, "emailadres", required=False).lower() or None,
            group_keys=tuple(k for k in group_keys if k in edex.groups),
            line=element.sourceline or 1,
        )


# --- the guardians beside it -----------------------------------------------------------

GUARDIAN_COLUMNS: tuple[str, ...] = ("leerling", "naam", "email")


@dataclass(frozen=True)
class GuardianLine:
    """One guardian of one child: `leerling` is the pupil's key or leerlingnummer."""

    line: int
    leerling: str
    name: str
    email: str


def parse_guardians(text: str, pupil_keys: set[str]) -> list[GuardianLine]:
    """EDEXML carries no parent data: the school keeps a small CSV beside it, one row per
    guardian per child, `;` or `,` delimited. A guardian of a pupil the export does not
    hold is an error (a typo in a key, or a child who left: the file should say which).
    Shape only; who is who is the importer's."""
    text = text.removeprefix("\ufeff")
    header_line = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = "," if header_line.count(",") > header_line.count(";") else ";"
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    errors: list[RowError] = []
    found: list[GuardianLine] = []
    index: dict[str, int] | None = None
    width = 0
    try:
        for fields in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in fields):
                continue
            if index is None:
                names = [f.strip().lstrip("\ufeff").lower() for f in fields]
                index = {n: names.index(n) for n in GUARDIAN_COLUMNS if n in names}
                missing = [n for n in GUARDIAN_COLUMNS if n not in index]
                errors.extend(RowError(line, n, "missing_column") for n in missing)
                if missing:
                    break
                width = len(fields)
                continue
            if len(fields) != width:
                errors.append(RowError(line, None, "field_count", counts=(len(fields), width)))
                continue
            leerling, name, email = (fields[index[n]].strip() for n in GUARDIAN_COLUMNS)
            for column, value in (("leerling", leerling), ("naam", name), ("email", email)):
                if not value:
                    errors.append(RowError(line, column, "required"))
            if leerling and leerling not in pupil_keys:
                errors.append(RowError(line, "leerling", "unknown_pupil", leerling))
            if email and not _EMAIL.fullmatch(email):
                errors.append(RowError(line, "email", "email", email))
            elif leerling in pupil_keys and name and email:
                found.append(GuardianLine(line, leerling, name, email.lower()))
    except csv.Error:
        errors.append(RowError(reader.line_num or 1, None, "csv_syntax", ""))
    if index is None:
        errors.append(RowError(1, None, "empty_file", ""))
    if errors:
        raise ImportRejected(errors)
    return found


# --- into the school's store -------------------------------------------------------------


@dataclass(frozen=True)
class EdexImport:
    summary: ImportSummary
    school: EdexSchool
    without_guardian: tuple[str, ...]  # leerlingnummers of pupils no guardian row names
    teachers: tuple[EdexTeacher, ...]
    groups: dict[str, EdexGroup]


async def import_edexml(
    session: AsyncSession,
    xml: bytes,
    guardians: str,
    now: datetime,
    *,
    xml_name: str = "",
    guardians_name: str = "",
    dry_run: bool = False,
    channels: Sequence[str] = DEFAULT_CHANNELS,
    email_match: bool = True,
    confirm_left: bool = False,
) -> EdexImport:
    """The EDEXML export and the guardians file, as one import: the same identity rules,
    guards and all-or-nothing writing as the CSV import (storage.importers.pupils).
    An ImportRejected names the file its lines belong to. Teachers are returned for the
    caller (flows.staff_admin.sync_teachers): staff accounts are not the importer's."""
    edex = _rejected_in(xml_name, lambda: parse_edexml(xml, now.date()))
    _rejected_in(xml_name, lambda: _check_lengths(edex))
    keys = {p.key for p in edex.pupils}
    lines = _rejected_in(guardians_name, lambda: parse_guardians(guardians, keys))
    parsed = _rejected_in(guardians_name, lambda: _check_guardians(edex, lines))
    conflicts = (_email_conflicts(parsed.rows) if email_match else []) + placeholder_conflicts(
        parsed.rows
    )
    if conflicts:
        raise ImportRejected(sorted(conflicts, key=lambda e: e.line), filename=guardians_name)
    try:
        summary = await apply_parsed(
            session,
            parsed,
            now,
            filename=xml_name,
            dry_run=dry_run,
            channels=channels,
            email_match=email_match,
            confirm_left=confirm_left,
        )
    except ImportRejected as rejected:  # checks against the store: about guardians' lines
        rejected.filename = rejected.filename or guardians_name
        raise
    without = tuple(row.leerlingnummer for row in parsed.rows if not row.guardians)
    return EdexImport(summary, edex.school, without, tuple(edex.teachers), edex.groups)


def _rejected_in(filename: str, step: Callable[[], _T]) -> _T:
    try:
        return step()
    except ImportRejected as rejected:
        rejected.filename = filename
        raise


def _check_guardians(edex: Edex, lines: list[GuardianLine]) -> _Parsed:
    """Pupils as rows of the CSV import, each with the guardians the file names for it."""
    errors: list[RowError] = []
    by_pupil: dict[str, list[GuardianLine]] = {}
    for line in lines:
        same = by_pupil.setdefault(line.leerling, [])
        if any(g.email == line.email and g.name == line.name for g in same):
            errors.append(RowError(line.line, "email", "guardian_twice", line.email))
            continue
        same.append(line)
    if errors:
        raise ImportRejected(errors)
    rows: list[_Row] = []
    for pupil in edex.pupils:
        group = edex.groups[pupil.group_key]
        found = by_pupil.get(pupil.key, [])
        rows.append(
            _Row(
                line=pupil.line,
                leerlingnummer=pupil.key,
                group=group.naam,  # as the school writes it: "Groep 3"
                groepskey=group.key,
                values={
                    "voornaam": pupil.roepnaam,
                    "tussenvoegsel": pupil.voorvoegsel,
                    "achternaam": pupil.achternaam,
                    "geboortedatum": pupil.geboortedatum,
                    "geslacht": pupil.geslacht,
                    "jaargroep": pupil.jaargroep,
                    "leerlingkey": pupil.key,
                    "basispoort_id": pupil.eckid,
                },
                guardians=[(g.email, g.name) for g in found],
                guardian_columns=["email"] * len(found),
                guardian_lines=[g.line for g in found],
                group_as_written=True,
            )
        )
    return _Parsed(rows, _OPTIONAL_PRESENT)


# What EDEXML carries beside the base fields; bijzonderheden is not in it, so a value
# the CSV import stored is kept.
_OPTIONAL_PRESENT: tuple[str, ...] = ("leerlingkey", "basispoort_id")
_LIMITS: tuple[tuple[str, str], ...] = (
    ("roepnaam", "voornaam"),
    ("voorvoegsel", "tussenvoegsel"),
    ("achternaam", "achternaam"),
    ("key", "leerlingnummer"),
    ("eckid", "basispoort_id"),
)


def _check_lengths(edex: Edex) -> None:
    """What does not fit the store, at the line of the pupil or group."""
    errors: list[RowError] = []
    for pupil in edex.pupils:
        for element, column in _LIMITS:
            value = getattr(pupil, element) or ""
            limit = _MAX_LENGTH.get(column)
            if limit is not None and len(value) > limit:
                errors.append(RowError(pupil.line, element, "too_long"))
    group_limit = _MAX_LENGTH.get("groep")
    for group in edex.groups.values():
        if not group.composite and group_limit is not None and len(group.naam) > group_limit:
            errors.append(RowError(group.line, "naam", "too_long", group.naam))
    if errors:
        raise ImportRejected(errors)
