"""EDEXML 2.1, read safely and checked with the line of every problem."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from storage.importers.edexml import looks_like_edexml, parse_edexml
from storage.importers.pupils import ImportRejected

EDEX = Path(__file__).resolve().parent / "edexdata"
TODAY = date(2026, 11, 2)


def problems(raw: bytes) -> list[tuple[int, str | None, str]]:
    with pytest.raises(ImportRejected) as caught:
        parse_edexml(raw, TODAY)
    return [(e.line, e.column, e.code) for e in caught.value.errors]


def test_the_school_groups_pupils_and_teachers_are_read() -> None:
    raw = (EDEX / "flint.xml").read_bytes()
    assert looks_like_edexml(raw)
    edex = parse_edexml(raw, TODAY)
    assert (edex.school.schooljaar, edex.school.brincode, edex.school.dependancecode) == (
        "2026-2027",
        "99ZZ",
        "00",
    )
    assert [(g.naam, g.jaargroep, g.composite) for g in edex.groups.values()] == [
        ("5A", 5, False),
        ("7B", 7, False),
        ("Leesclub", None, True),
    ]
    emma, daan, noor = edex.pupils
    assert (emma.roepnaam, emma.voorvoegsel, emma.achternaam) == ("Emma", "de", "Vries")
    assert (emma.geboortedatum, emma.geslacht, emma.jaargroep) == (date(2017, 3, 12), "V", 5)
    # The class is the stamgroep; the reading group stays apart from it.
    assert (emma.group_key, emma.composite_keys) == ("g-5a", ("sg-lezen",))
    assert emma.eckid == "https://ketenid.nl/201703/emma"
    assert (daan.geslacht, noor.geslacht, noor.eckid) == ("M", "X", None)
    anouk, bram = edex.teachers
    assert (anouk.name, anouk.email, anouk.group_keys) == (
        "Anouk Jansen",
        "a.jansen@obsdeflint.example",
        ("g-5a",),  # their classes; the reading group is not a class
    )
    assert (bram.name, bram.email) == ("Bram van den Bos", None)


def test_an_entity_expansion_is_refused() -> None:
    bomb = b"""<?xml version="1.0"?>
<!DOCTYPE EDEX [
  <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
  <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
  <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
]>
<EDEX><school><schooljaar>&c;</schooljaar></school></EDEX>
"""
    assert problems(bomb) == [(2, None, "xml_doctype")]


def test_an_external_entity_is_refused_and_nothing_is_read_from_disk(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("geheim")
    xxe = (
        b'<?xml version="1.0"?>\n<!DOCTYPE EDEX [<!ENTITY x SYSTEM "file://'
        + str(secret).encode()
        + b'">]>\n<EDEX><school><schooljaar>&x;</schooljaar></school></EDEX>\n'
    )
    assert problems(xxe) == [(2, None, "xml_doctype")]


def test_broken_xml_names_its_line() -> None:
    assert problems(b"<EDEX>\n<school>\n</EDEX>\n") == [(3, None, "xml_syntax")]


def test_another_xml_file_is_not_taken_for_an_export() -> None:
    assert problems(b"<html><body/></html>") == [(1, "html", "xml_root")]


def test_every_problem_has_its_line_and_no_name_or_date_is_repeated() -> None:
    raw = (EDEX / "flint.xml").read_bytes()
    broken = (
        raw.replace(b"<roepnaam>Daan</roepnaam>", b"<roepnaam></roepnaam>")
        .replace(
            b"<geboortedatum>2017-09-30</geboortedatum>",
            b"<geboortedatum>30-09-2017</geboortedatum>",
        )
        .replace(b'<leerling key="1003">', b'<leerling key="1001">')
        .replace(b"<geslacht>2</geslacht>", b"<geslacht>vrouw</geslacht>")
        .replace(b'<groep key="g-7b"/>\n    </leerling>', b'<groep key="g-8c"/>\n    </leerling>')
    )
    with pytest.raises(ImportRejected) as caught:
        parse_edexml(broken, TODAY)
    found = [(e.line, e.column, e.code, e.value) for e in caught.value.errors]
    # Each at the line of the element itself, in the order of the file.
    assert found == [
        (33, "geslacht", "gender", "vrouw"),
        (43, "roepnaam", "required", ""),
        (47, "groep", "unknown_group", "g-8c"),
        (49, "key", "duplicate_pupil", "1001"),
        (53, "geboortedatum", "date_invalid", ""),
    ]
