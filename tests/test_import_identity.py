"""Who is who across imports, as the administrator's command line shows it: teachers
from the EDEXML export, placeholder parents, a partial export."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pytest
from aiogram.utils.i18n import I18n

from bot import keyboards
from bot.cli import main
from bot.render import render
from flows.consent import GroupSummary
from tests.test_import_pupils import export, pupil_row

EDEX = Path(__file__).resolve().parent / "edexdata"
XML = (EDEX / "flint.xml").read_text()
GUARDIANS = str(EDEX / "ouders.csv")


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    monkeypatch.setenv("BOT_USERNAME", "flint_ouderloket_bot")
    path = tmp_path / "school.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    return path


def _xml(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _import(xml: str, *extra: str) -> int:
    return main(["import-pupils", xml, "--guardians", GUARDIANS, *extra])


def _staff(db: Path) -> list[tuple[object, ...]]:
    """(name, role, active, groups) of everyone, as `staff list` would read them."""
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT s.name, s.role, s.active, group_concat(g.name) FROM staff s"
            " LEFT JOIN staff_group sg ON sg.staff_id = s.id"
            " LEFT JOIN school_group g ON g.id = sg.group_id GROUP BY s.id ORDER BY s.id"
        ).fetchall()


def _letters(tmp_path: Path) -> list[str]:
    """Names on the staff letters `invite-codes` prints now."""
    out = tmp_path / f"brieven{len(list(tmp_path.glob('brieven*')))}"
    assert main(["invite-codes", "--out", str(out)]) == 0
    with (out / "codes.csv").open(encoding="utf-8-sig") as handle:
        return [r["name"] for r in csv.DictReader(handle, delimiter=";") if r["kind"] == "staff"]


def _link_staff(db: Path, name: str, telegram_user_id: int) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO chat_link (telegram_user_id, staff_id, locale, linked_at)"
            " SELECT ?, id, 'nl', '2026-11-01 08:00:00' FROM staff WHERE name = ?",
            (telegram_user_id, name),
        )


def _linked(db: Path, telegram_user_id: int) -> object:
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT staff_id FROM chat_link WHERE telegram_user_id = ?", (telegram_user_id,)
        ).fetchone()
    return row[0] if row else None


# --- teachers ----------------------------------------------------------------------------


def test_a_teacher_key_reused_for_someone_else_is_a_new_person_and_the_former_loses_access(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _import(str(EDEX / "flint.xml")) == 0
    _link_staff(db, "Anouk Jansen", 501)
    capsys.readouterr()
    # ParnasSys gives Anouk's key to Kees Nieuw, teacher of 7B.
    start = XML.index('<leerkracht key="t-anouk">')
    end = XML.index("</leerkracht>", start)
    kees = (
        '<leerkracht key="t-anouk"><achternaam>Nieuw</achternaam><roepnaam>Kees</roepnaam>'
        '<groepen><groep key="g-7b"/></groepen>'
    )
    reused = _xml(tmp_path, "hergebruikt.xml", XML[:start] + kees + XML[end:])

    assert _import(reused) == 0
    out = capsys.readouterr().out
    assert (
        "Sleutel t-anouk hoort nu bij Kees Nieuw, niet meer bij Anouk Jansen: dat zijn twee "
        "personen. Anouk Jansen is gedeactiveerd en heeft geen toegang meer; Kees Nieuw is "
        "nieuw." in out
    )
    assert "leerkrachten: 1 nieuw, 0 bijgewerkt, 1 vertrokken" in out
    assert "Nieuwe leerkrachten krijgen hun code met: ouderloket invite-codes" in out
    assert _staff(db) == [
        ("Anouk Jansen", "TEACHER", 0, "5A"),  # kept for the record, without access
        ("Bram van den Bos", "TEACHER", 1, "7B"),
        ("Kees Nieuw", "TEACHER", 1, "7B"),
    ]
    assert _linked(db, 501) is None  # Anouk's phone no longer opens 7B's lists
    assert _letters(tmp_path) == ["Bram van den Bos", "Kees Nieuw"]


def test_a_teacher_the_administrator_deactivated_stays_deactivated_until_activate(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    xml = str(EDEX / "flint.xml")
    assert _import(xml) == 0
    assert main(["staff", "deactivate", "Anouk Jansen"]) == 0
    capsys.readouterr()

    assert _import(xml) == 0
    out = capsys.readouterr().out
    assert (
        "Anouk Jansen staat in de export, maar is gedeactiveerd en blijft dat. Weer actief "
        'maken: ouderloket staff activate "Anouk Jansen"' in out
    )
    assert "leerkrachten: 0 nieuw, 0 bijgewerkt, 0 vertrokken" in out
    assert ("Anouk Jansen", "TEACHER", 0, "5A") in _staff(db)
    assert _letters(tmp_path) == ["Bram van den Bos"]  # no new letter for her

    assert main(["staff", "activate", "Anouk Jansen"]) == 0
    assert "Anouk Jansen is weer actief." in capsys.readouterr().out
    assert main(["staff", "activate", "Anouk Jansen"]) == 2
    assert "Deze medewerker is al actief." in capsys.readouterr().err
    assert _import(xml) == 0
    assert "leerkrachten: 0 nieuw, 0 bijgewerkt, 0 vertrokken" in capsys.readouterr().out
    assert ("Anouk Jansen", "TEACHER", 1, "5A") in _staff(db)
    assert "Anouk Jansen" in _letters(tmp_path)


def test_the_director_listed_as_a_teacher_is_matched_not_duplicated(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["add-staff", "--name", "Bram van den Bos", "--role", "director"]) == 0
    capsys.readouterr()
    assert _import(str(EDEX / "flint.xml")) == 0
    out = capsys.readouterr().out
    assert (
        "Bram van den Bos was al medewerker en is nu gekoppeld aan de export (geen tweede "
        "account)." in out
    )
    assert "leerkrachten: 1 nieuw, 0 bijgewerkt, 0 vertrokken" in out
    assert [row[:3] for row in _staff(db)] == [
        ("Bram van den Bos", "DIRECTOR", 1),
        ("Anouk Jansen", "TEACHER", 1),
    ]
    # He can be offboarded by name, and a re-import does not bring a second one back.
    assert main(["staff", "new-code", "Bram van den Bos"]) == 0
    assert main(["staff", "deactivate", "Bram van den Bos"]) == 0
    assert _import(str(EDEX / "flint.xml")) == 0
    assert "Bram van den Bos staat in de export, maar is gedeactiveerd" in capsys.readouterr().out
    assert len(_staff(db)) == 2


def test_the_same_teacher_key_twice_in_one_file_is_refused_with_its_line(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    twice = XML.replace('<leerkracht key="t-bram">', '<leerkracht key="t-anouk">')
    line = twice[: twice.rindex('<leerkracht key="t-anouk">')].count("\n") + 1
    assert _import(_xml(tmp_path, "dubbel.xml", twice)) == 1
    err = capsys.readouterr().err
    assert "Het bestand is niet ingelezen; er is niets veranderd." in err
    assert "In dubbel.xml:" in err
    assert (
        f"regel {line}, key: deze leerkrachtsleutel staat al eerder in het bestand; één "
        "sleutel is één persoon ('t-anouk')" in err
    )
    assert _staff(db) == []


# --- a partial export --------------------------------------------------------------------


def _class_rows() -> list[dict[str, str]]:
    """Twenty pupils, ten in 5A and ten in 7B, each with their own parent."""
    return [
        pupil_row(
            f"{group}{n:02d}",
            groep=group,
            jaargroep=group[0],
            ouder1_naam=f"Ouder {group}{n}",
            ouder1_email=f"ouder.{group.lower()}{n}@example.org",
        )
        for group in ("5A", "7B")
        for n in range(10)
    ]


def _current(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM pupil WHERE left_at IS NULL").fetchone()[0])


def test_one_groups_file_asks_to_confirm_and_changes_nothing_without_it(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _class_rows()
    school, only_5a = tmp_path / "school.csv", tmp_path / "5a.csv"
    school.write_bytes(export(*rows))
    only_5a.write_bytes(export(*rows[:10]))
    assert main(["import-pupils", str(school)]) == 0
    capsys.readouterr()

    assert main(["import-pupils", str(only_5a)]) == 1
    err = capsys.readouterr().err
    assert (
        "Let op: dit bestand markeert 10 leerling(en) als vertrokken, van 10 in de groepen "
        "hieronder. Per groep:\n  7B: 10 van 10 (de hele groep)\n"
        "Er is niets ingelezen en niets veranderd." in err
    )
    assert "opnieuw in met --confirm-left" in err
    assert _current(db) == 20

    assert main(["import-pupils", str(only_5a), "--dry-run"]) == 1
    captured = capsys.readouterr()
    assert "leerlingen: 0 nieuw, 0 bijgewerkt, 10 ongewijzigd, 10 vertrokken" in captured.out
    assert "  7B: 10 van 10 (de hele groep)" in captured.err
    assert "Inlezen gaat alleen met --confirm-left" in captured.err
    assert _current(db) == 20

    assert main(["import-pupils", str(only_5a), "--confirm-left"]) == 0
    assert "  7B: 10 van 10 (de hele groep)" in capsys.readouterr().out
    assert _current(db) == 10


def test_more_than_a_tenth_leaving_asks_to_confirm_a_few_do_not(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _class_rows()
    for name, kept in (("school", rows), ("min2", rows[2:]), ("min3", rows[3:])):
        (tmp_path / f"{name}.csv").write_bytes(export(*kept))
    assert main(["import-pupils", str(tmp_path / "school.csv")]) == 0
    capsys.readouterr()
    assert main(["import-pupils", str(tmp_path / "min3.csv")]) == 1  # 3 of 20
    assert "  5A: 3 van 10\n" in capsys.readouterr().err
    assert _current(db) == 20
    assert main(["import-pupils", str(tmp_path / "min2.csv")]) == 0  # 2 of 20: a tenth
    assert "2 vertrokken" in capsys.readouterr().out
    assert _current(db) == 18


def test_an_edexml_export_without_a_group_asks_to_confirm(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _import(str(EDEX / "flint.xml")) == 0
    start = XML.index('<leerling key="1002"')
    end = XML.index("</leerling>", start) + len("</leerling>")
    without_7b = _xml(tmp_path, "zonder-7b.xml", XML[:start] + XML[end:])
    guardians = tmp_path / "ouders-zonder-7b.csv"
    guardians.write_text(
        "".join(
            line
            for line in Path(GUARDIANS).read_text().splitlines(keepends=True)
            if not line.startswith("1002;")
        )
    )

    def again(*extra: str) -> int:
        return main(["import-pupils", without_7b, "--guardians", str(guardians), *extra])

    capsys.readouterr()
    assert again() == 1
    assert "  7B: 1 van 1 (de hele groep)" in capsys.readouterr().err
    assert _current(db) == 3
    assert again("--dry-run") == 1
    assert "leerkrachten: 0 nieuw, 0 bijgewerkt, 0 vertrokken" in capsys.readouterr().out
    assert again("--confirm-left") == 0
    assert _current(db) == 2


# --- placeholder parents -----------------------------------------------------------------

PLACEHOLDER = {"ouder1_naam": "Ouder/verzorger", "ouder1_email": "onbekend@school.nl"}


def _guardians(db: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT name, email FROM guardian ORDER BY id").fetchall()


def _child(number: str, name: str, **parent: str) -> dict[str, str]:
    first, surname = name.split(" ", 1)
    return pupil_row(number, voornaam=first, tussenvoegsel="", achternaam=surname, **parent)


def _children(tmp_path: Path, *rows: dict[str, str]) -> Path:
    path = tmp_path / "school.csv"
    path.write_bytes(export(*rows))
    return path


@pytest.mark.parametrize("match", [(), ("--no-email-match",)])
def test_one_placeholder_parent_for_two_families_is_refused_with_the_lines(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], match: tuple[str, ...]
) -> None:
    path = _children(
        tmp_path,
        _child("1001", "Lotte Jansen", **PLACEHOLDER),
        _child("1002", "Sem Visser"),
        _child("1003", "Noor Bakker", **PLACEHOLDER),
    )
    assert main(["import-pupils", str(path), *match]) == 1
    err = capsys.readouterr().err
    assert (
        "regel 2, ouder1_email: onbekend@school.nl staat met dezelfde naam op regel 2 en 4 als "
        "enige ouder van kinderen uit verschillende gezinnen." in err
    )
    assert "Vul per kind de echte ouder in" in err
    assert "Lotte" not in err and "Noor" not in err
    assert _guardians(db) == []  # no letter that opens both records


def test_a_placeholder_parent_of_brother_and_sister_is_one_family(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _children(
        tmp_path,
        _child("1001", "Lotte Jansen", **PLACEHOLDER),
        _child("1002", "Bas Jansen", **PLACEHOLDER),
    )
    assert main(["import-pupils", str(path)]) == 0
    assert _guardians(db) == [("Ouder/verzorger", "onbekend@school.nl")]


def test_a_placeholder_parent_in_the_edexml_guardians_file_is_refused_with_the_lines(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    guardians = tmp_path / "ouders.csv"
    guardians.write_text(
        "leerling;naam;email\n1001;Ouder/verzorger;onbekend@school.nl\n"
        "1002;Mark de Vries;mark@example.org\n1003;Ouder/verzorger;onbekend@school.nl\n"
    )
    assert main(["import-pupils", str(EDEX / "flint.xml"), "--guardians", str(guardians)]) == 1
    err = capsys.readouterr().err
    assert "In ouders.csv:" in err
    assert (
        "regel 2, email: onbekend@school.nl staat met dezelfde naam op regel 2 en 4 als enige "
        "ouder van kinderen uit verschillende gezinnen." in err
    )
    assert _guardians(db) == [] and _staff(db) == []


# --- a group's name as the school writes it ----------------------------------------------


def _groups(db: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT name, groepskey FROM school_group ORDER BY id").fetchall()


def test_an_edexml_group_keeps_its_name_as_written_and_is_matched_by_its_key(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], i18n: I18n
) -> None:
    named = XML.replace("<naam>5A</naam>", "<naam>Groep 5</naam>")
    assert _import(_xml(tmp_path, "groep5.xml", named)) == 0
    assert _groups(db) == [("Groep 5", "g-5a"), ("7B", "g-7b")]
    assert ("Anouk Jansen", "TEACHER", 1, "Groep 5") in _staff(db)

    # ParnasSys renames the class; its key stays: the same group, shown by its new name.
    renamed = XML.replace("<naam>5A</naam>", "<naam>Groep 5 (juf Anouk)</naam>")
    assert _import(_xml(tmp_path, "hernoemd.xml", renamed)) == 0
    assert "leerlingen: 0 nieuw, 0 bijgewerkt, 3 ongewijzigd" in capsys.readouterr().out
    assert _groups(db) == [("Groep 5 (juf Anouk)", "g-5a"), ("7B", "g-7b")]
    assert main(["staff", "set-groups", "Anouk Jansen", "--group", "groep 5 (JUF anouk)"]) == 0

    with i18n.context(), i18n.use_locale("nl"):
        new = render(
            "notify/request_new.j2",
            kind="question",
            pupil_full="Emma de Vries",
            group="Groep 5 (juf Anouk)",
            reference="OL-2026-0001",
        )
        plain = render(
            "notify/request_new.j2",
            kind="question",
            pupil_full="Daan de Vries",
            group="7B",
            reference="OL-2026-0002",
        )
        button = (
            keyboards.staff_consent_groups(
                [GroupSummary(group_id=1, group="Groep 5 (juf Anouk)", pupils=2, without_consent=1)]
            )
            .inline_keyboard[0][0]
            .text
        )
    assert "over Emma de Vries (Groep 5 (juf Anouk))." in new
    assert "over Daan de Vries (groep 7B)." in plain
    assert button == "Groep 5 (juf Anouk): 1 van 2 zonder toestemming"
    assert "groep Groep" not in new + button and "GROEP" not in new + button
