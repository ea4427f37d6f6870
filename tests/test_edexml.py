"""EDEXML 2.1, read safely and checked with the line of every problem."""

from __future__ import annotations

import csv
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from bot.cli import main
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
        (33, "geslacht", "edex_gender", "vrouw"),
        (43, "roepnaam", "required", ""),
        (47, "groep", "unknown_group", "g-8c"),
        (49, "key", "duplicate_pupil", "1001"),
        (53, "geboortedatum", "date_invalid", ""),
    ]


# --- the whole import, on the command line ----------------------------------------------


@pytest.fixture
def school_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    monkeypatch.setenv("BOT_USERNAME", "flint_ouderloket_bot")
    return tmp_path


def _use(monkeypatch: pytest.MonkeyPatch, db: Path) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{db}")


def _school(db: Path) -> dict[str, list[tuple[object, ...]]]:
    """What a parent or teacher meets, table by table, without the row ids."""
    queries = {
        "pupils": "SELECT p.leerlingnummer, voornaam, tussenvoegsel, achternaam, geboortedatum,"
        " geslacht, jaargroep, leerlingkey, basispoort_id, g.name, g.groepskey, left_at"
        " FROM pupil p JOIN school_group g ON g.id = p.group_id ORDER BY 1",
        "guardians": "SELECT name, email FROM guardian ORDER BY 2",
        "links": "SELECT p.leerlingnummer, g.email FROM guardian_pupil l"
        " JOIN pupil p ON p.id = l.pupil_id JOIN guardian g ON g.id = l.guardian_id ORDER BY 1, 2",
        "staff": "SELECT s.name, s.role, s.active, g.name FROM staff s"
        " JOIN staff_group sg ON sg.staff_id = s.id JOIN school_group g ON g.id = sg.group_id"
        " ORDER BY 1, 4",
    }
    with sqlite3.connect(db) as conn:
        return {name: conn.execute(sql).fetchall() for name, sql in queries.items()}


def test_an_edexml_school_equals_the_same_school_from_the_csv(
    school_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from_csv, from_edex = school_env / "csv.db", school_env / "edex.db"
    _use(monkeypatch, from_csv)
    assert main(["import-pupils", str(EDEX / "flint.csv")]) == 0
    assert main(["add-staff", "--name", "Anouk Jansen", "--role", "teacher", "--group", "5A"]) == 0
    assert (
        main(["add-staff", "--name", "Bram van den Bos", "--role", "teacher", "--group", "7B"]) == 0
    )

    _use(monkeypatch, from_edex)
    capsys.readouterr()
    xml, guardians = str(EDEX / "flint.xml"), str(EDEX / "ouders.csv")
    assert main(["import-pupils", xml, "--guardians", guardians, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "Controle geslaagd; er is niets opgeslagen." in out
    assert "leerkrachten: 2 nieuw, 0 bijgewerkt, 0 vertrokken" in out
    assert _school(from_edex)["pupils"] == []  # the dry run kept nothing

    assert main(["import-pupils", xml, "--guardians", guardians]) == 0
    out = capsys.readouterr().out
    assert "leerlingen: 3 nieuw" in out
    assert "Nieuwe leerkrachten krijgen hun code met: ouderloket invite-codes" in out
    assert _school(from_edex) == _school(from_csv)

    # A re-import of the same files changes nothing; a teacher who left is deactivated.
    without_bram = school_env / "zonder-bram.xml"
    raw = (EDEX / "flint.xml").read_text()
    start, end = raw.index('<leerkracht key="t-bram">'), raw.index("</leerkrachten>")
    without_bram.write_text(raw[:start] + raw[end:])
    assert main(["import-pupils", str(without_bram), "--guardians", guardians]) == 0
    out = capsys.readouterr().out
    assert "leerlingen: 0 nieuw, 0 bijgewerkt, 3 ongewijzigd, 0 vertrokken" in out
    assert "leerkrachten: 0 nieuw, 0 bijgewerkt, 1 vertrokken" in out
    staff = _school(from_edex)["staff"]
    assert [row for row in staff if row[0] == "Bram van den Bos"] == [
        ("Bram van den Bos", "TEACHER", 0, "7B")  # kept for the record, without access
    ]


def test_guardians_must_belong_to_pupils_of_the_export(
    school_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _use(monkeypatch, school_env / "school.db")
    guardians = school_env / "ouders.csv"
    guardians.write_text(
        "leerling;naam;email\n1001;Sanne de Vries;sanne@example.org\n"
        "9999;Iemand Anders;iemand@example.org\n1003;Piet Bakker;geen-adres\n"
    )
    assert main(["import-pupils", str(EDEX / "flint.xml"), "--guardians", str(guardians)]) == 1
    err = capsys.readouterr().err
    assert "In ouders.csv:" in err
    assert "regel 3, leerling: geen leerling met deze sleutel in het EDEXML-bestand" in err
    assert "regel 4, email: geen geldig e-mailadres" in err
    assert main(["import-pupils", str(EDEX / "flint.xml")]) == 2
    assert "EDEXML bevat geen ouders." in capsys.readouterr().err


def test_a_shared_placeholder_address_in_the_guardians_file_is_refused_with_its_lines(
    school_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _use(monkeypatch, school_env / "school.db")
    guardians = school_env / "ouders.csv"
    guardians.write_text(
        "leerling;naam;email\n1001;Sanne de Vries;onbekend@obsdeflint.example\n"
        "1003;Piet Bakker;onbekend@obsdeflint.example\n"
    )
    assert main(["import-pupils", str(EDEX / "flint.xml"), "--guardians", str(guardians)]) == 1
    err = capsys.readouterr().err
    assert "In ouders.csv:" in err
    assert "onbekend@obsdeflint.example staat op regel 2 en 3 met verschillende namen" in err
    assert "Emma" not in err and "2017" not in err


def test_pupils_without_a_guardian_are_listed(
    school_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _use(monkeypatch, school_env / "school.db")
    guardians = school_env / "ouders.csv"
    guardians.write_text("leerling;naam;email\n1001;Sanne de Vries;sanne@example.org\n")
    assert main(["import-pupils", str(EDEX / "flint.xml"), "--guardians", str(guardians)]) == 0
    assert "Leerlingen zonder ouder in het ouderbestand (2): 1002, 1003" in capsys.readouterr().out


def test_invite_codes_include_the_imported_teachers(
    school_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _use(monkeypatch, school_env / "school.db")
    xml, guardians = str(EDEX / "flint.xml"), str(EDEX / "ouders.csv")
    assert main(["import-pupils", xml, "--guardians", guardians]) == 0
    assert main(["invite-codes", "--out", str(school_env / "brieven")]) == 0
    with (school_env / "brieven" / "codes.csv").open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    assert [(r["kind"], r["name"], r["pupils"]) for r in rows if r["kind"] == "staff"] == [
        ("staff", "Anouk Jansen", "5A"),
        ("staff", "Bram van den Bos", "7B"),
    ]
    assert sum(1 for r in rows if r["kind"] == "guardian") == 3
    letters = (school_env / "brieven" / "letters.html").read_text()
    assert letters.count("Uw groepen:") == 2
    assert letters.count("Deze brief hoort bij:") == 3
