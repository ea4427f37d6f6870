"""The administrator's command line, run in-process against a database file."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from bot.cli import main
from tests.e2e import demo_process


@pytest.fixture
def school_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "school.db"
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's folder
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{db}")
    monkeypatch.setenv("SCHOOL_NAME", "OBS de Flint")
    monkeypatch.setenv("BOT_USERNAME", "flint_ouderloket_bot")
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    return db


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for command in ("run", "db", "import-pupils", "add-staff", "staff", "invite-codes"):
        assert command in out


def test_db_upgrade_creates_the_database(
    school_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "upgrade"]) == 0
    assert school_db.exists()
    assert "bijgewerkt" in capsys.readouterr().out


def test_add_staff_prints_the_code_as_last_line(
    school_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["add-staff", "--name", "Meester Bram", "--role", "director"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert len(last) == 14 and last.count("-") == 2


def test_add_staff_with_unknown_group_says_so_in_dutch(
    school_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["add-staff", "--name", "Juf", "--role", "teacher", "--group", "9Z"]) == 2
    assert "Groep 9Z bestaat niet" in capsys.readouterr().err


def test_run_without_token_explains_and_starts_the_demo(tmp_path: Path) -> None:
    with demo_process(tmp_path) as (url, _database, output):
        with urllib.request.urlopen(url + "/") as page:
            assert "Ouderloket" in page.read().decode()
        with urllib.request.urlopen(url + "/api/personas") as answer:
            listed = json.load(answer)
            names = [p["name"] for p in listed["personas"]]
        # The board's second school: its own bot and web chat, one click away.
        assert [s["name"] for s in listed["schools"]] == ["OBS de Flint", "CBS De Esch"]
        with urllib.request.urlopen(url + "/esch/api/personas") as answer:
            esch = [p["name"] for p in json.load(answer)["personas"]]
        assert esch == ["Kees Mulder", "Juf Mirjam", "Meester Henk", "Mevrouw Hendriks"]
        with urllib.request.urlopen(url + "/esch/") as page:
            assert "Ouderloket" in page.read().decode()
    assert "BOT_TOKEN ontbreekt, dus de demo start" in " ".join(output)
    assert any("De demo draait. Open http://127.0.0.1:" in line for line in output)
    assert names == [
        "Sanne de Vries",
        "Piet Bakker",
        "Juf Anouk",
        "Meester Bram",
        "Mevrouw Hendriks",
    ]


def test_invite_codes_write_csv_and_printable_letters(
    school_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = Path(__file__).resolve().parent.parent / "data" / "pupils-voorbeeld.csv"
    assert main(["import-pupils", str(sample)]) == 0
    out_dir = tmp_path / "brieven"
    assert main(["invite-codes", "--out", str(out_dir)]) == 0
    with (out_dir / "codes.csv").open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    assert rows and set(rows[0]) == {"kind", "name", "email", "pupils", "code", "link"}
    first = rows[0]
    assert first["kind"] == "guardian"
    assert first["link"] == (
        "https://t.me/flint_ouderloket_bot?start=" + first["code"].replace("-", "")
    )
    letters = (out_dir / "letters.html").read_text(encoding="utf-8")
    assert letters.count('<section class="letter">') == len(rows)
    assert letters.count("<svg") == len(rows)
    assert f"Beste {first['name']}," in letters
    assert first["code"] in letters
    assert "OBS de Flint" in letters

    # Codes go only to guardians without an account; a second run replaces the codes.
    assert main(["invite-codes", "--out", str(out_dir)]) == 0
    with (out_dir / "codes.csv").open(encoding="utf-8-sig") as handle:
        again = list(csv.DictReader(handle, delimiter=";"))
    assert len(again) == len(rows) and again[0]["code"] != first["code"]


def test_import_with_a_bad_date_changes_nothing_and_names_the_line(
    school_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = Path(__file__).resolve().parent.parent / "data" / "pupils-voorbeeld.csv"
    lines = sample.read_text(encoding="utf-8-sig").splitlines()
    fields = lines[5].split(";")
    date_column = lines[0].lower().split(";").index("geboortedatum")
    fields[date_column] = "31-02-2017"
    lines[5] = ";".join(fields)
    bad = tmp_path / "fout.csv"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")

    assert main(["import-pupils", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "niets veranderd" in err
    assert "regel 6, geboortedatum: geen geldige datum" in err
    assert "'31-02-2017'" in err

    assert main(["import-pupils", str(sample), "--dry-run"]) == 0
    assert "er is niets opgeslagen" in capsys.readouterr().out
    assert main(["import-pupils", str(sample)]) == 0
    assert "leerlingen: 300 nieuw" in capsys.readouterr().out
    assert main(["import-pupils", str(sample)]) == 0
    assert "leerlingen: 0 nieuw, 0 bijgewerkt, 300 ongewijzigd, 0 vertrokken" in (
        capsys.readouterr().out
    )


def test_invite_codes_refuse_without_a_bot_to_link_to(
    school_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("BOT_USERNAME")
    assert main(["invite-codes", "--out", str(tmp_path / "x")]) == 2
    assert "BOT_USERNAME" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_spreadsheet_cells_never_start_a_formula() -> None:
    from bot.spreadsheet import csv_text, safe_cell

    for risky in ("=1+1", "+31 6 1234", "-2", "@SUM(A1)", "\tcmd", "\r=1", "  =1+1"):
        assert safe_cell(risky) == "'" + risky
    for plain in ("Sanne de Vries", "ABCD-EFGH-JKLM", "", "a=b", "5A"):
        assert safe_cell(plain) == plain
    assert csv_text(("naam",), [('=HYPERLINK("http://x";"klik")',)]) == (
        'naam\n"\'=HYPERLINK(""http://x"";""klik"")"\n'
    )


def test_invite_codes_neutralise_formulas_in_names_and_letters_stay_escaped(
    school_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    formula = '=HYPERLINK("http://x.example/";"Klik")'
    export = tmp_path / "export.csv"
    export.write_bytes(
        (
            "\ufeffleerlingnummer;voornaam;tussenvoegsel;achternaam;geboortedatum;geslacht;"
            "groep;jaargroep;ouder1_naam;ouder1_email;ouder2_naam;ouder2_email\r\n"
            '1;"=1+1";;Jong;14-07-2018;M;4A;4;"' + formula.replace('"', '""') + '";'
            "anna@example.org;@Piet <b>Jong</b>;piet@example.org\r\n"
            "2;Mila;;-Visser;14-07-2018;V;4A;4;+31 Ria;ria@example.org;;\r\n"
        ).encode("utf-8")
    )
    assert main(["import-pupils", str(export)]) == 0
    out_dir = tmp_path / "brieven"
    assert main(["invite-codes", "--out", str(out_dir)]) == 0
    with (out_dir / "codes.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle, delimiter=";"))
    cells = [cell for row in rows[1:] for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    names = {row[1] for row in rows[1:]}
    assert names == {"'" + formula, "'@Piet <b>Jong</b>", "'+31 Ria"}
    pupils = {row[3] for row in rows[1:]}
    assert pupils == {"'=1+1 Jong (4A)", "Mila -Visser (4A)"}
    letters = (out_dir / "letters.html").read_text(encoding="utf-8")
    assert "<b>Jong</b>" not in letters and "@Piet &lt;b&gt;Jong&lt;/b&gt;" in letters
    assert "Beste =HYPERLINK(&#34;http://x.example/&#34;;&#34;Klik&#34;)," in letters


def _ouderloket(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The installed command in a fresh process, as the administrator types it."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATA_VIEW", "DEFAULT_"))}
    clean.update(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'school.db'}", **env)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=tmp_path,  # no .env from the developer's folder
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("ttl", ["900", "PT15M"])
def test_data_view_ttl_in_seconds_or_iso_8601_is_accepted(tmp_path: Path, ttl: str) -> None:
    done = _ouderloket(tmp_path, "db", "upgrade", DATA_VIEW_TTL=ttl)
    assert done.returncode == 0, done.stderr
    assert "De database is bijgewerkt." in done.stdout


def test_an_invalid_setting_stops_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    done = _ouderloket(tmp_path, "db", "upgrade", DATA_VIEW_TTL="kwartier")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "DATA_VIEW_TTL is ongeldig; gebruik seconden (900) of ISO 8601 (PT15M)."
    ]
    assert not (tmp_path / "school.db").exists()

    # In English when the language setting is fine; never the value (it may be a secret).
    done = _ouderloket(tmp_path, "db", "upgrade", DEFAULT_LOCALE="en", WEBHOOK_PORT="geheim-123")
    assert done.stderr.splitlines() == ["WEBHOOK_PORT is invalid; use a port number, e.g. 8081."]
    assert "geheim-123" not in done.stderr


def test_settings_read_durations_only_as_seconds_or_iso_8601() -> None:
    from datetime import timedelta

    from pydantic import ValidationError

    from bot.config import Settings

    def ttl(value: str) -> timedelta:
        return Settings(_env_file=None, data_view_ttl=value).data_view_ttl  # type: ignore[call-arg]

    assert ttl("900") == ttl("PT15M") == ttl("pt15m") == timedelta(minutes=15)
    assert ttl("P1DT2H") == timedelta(days=1, hours=2)
    # "15:00" would be 15 hours to pydantic; "0" would delete data messages at once.
    for bad in ("kwartier", "15:00", "0", "PT0S", "-900", "PT"):
        with pytest.raises(ValidationError):
            ttl(bad)


def test_staff_lifecycle_on_the_command_line(
    school_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = Path(__file__).resolve().parent.parent / "data" / "pupils-voorbeeld.csv"
    assert main(["import-pupils", str(sample)]) == 0
    assert main(["add-staff", "--name", "Juf Anouk", "--role", "teacher", "--group", "5A"]) == 0
    assert main(["add-staff", "--name", "Meester Bram", "--role", "director"]) == 0
    capsys.readouterr()

    assert main(["staff", "list"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "Juf Anouk: de leerkracht, groepen 5A; niet gekoppeld; 0 open verzoek(en)",
        "Meester Bram: de directeur, groepen -; niet gekoppeld; 0 open verzoek(en)",
    ]

    assert main(["staff", "set-groups", "juf anouk", "--group", "5b", "--group", "6A"]) == 0
    assert capsys.readouterr().out.splitlines() == ["Groepen van Juf Anouk: 5B, 6A."]
    assert main(["staff", "set-groups", "Juf Anouk", "--group", "9Z"]) == 2
    assert "Groep 9Z bestaat niet" in capsys.readouterr().err
    assert main(["staff", "set-groups", "Juf Anouk"]) == 2
    assert "minstens één groep" in capsys.readouterr().err

    assert main(["staff", "new-code", "Juf Anouk"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Nieuwe code voor Juf Anouk.")
    assert len(out[-1]) == 14 and out[-1].count("-") == 2

    assert main(["staff", "deactivate", "Juf Anouk"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "Juf Anouk is gedeactiveerd: geen toegang meer tot de bot. 0 open verzoek(en) verplaatst."
    ]
    assert main(["staff", "list"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "Juf Anouk: de leerkracht, groepen 5B, 6A; gedeactiveerd; 0 open verzoek(en)"
    )
    assert main(["staff", "deactivate", "Juf Anouk"]) == 2
    assert capsys.readouterr().err.strip() == "Deze medewerker is al gedeactiveerd."
    assert main(["staff", "new-code", "Juf Anouk"]) == 2
    assert main(["staff", "deactivate", "Juf Niemand"]) == 2
    assert "Geen medewerker met die naam" in capsys.readouterr().err


def _estimated_rows(database_url: str, table: str) -> float:
    """How many rows PostgreSQL's planner takes the table to have (-1: it has never
    looked)."""
    import asyncio

    import asyncpg
    from sqlalchemy.engine import make_url

    async def read() -> float:
        url = make_url(database_url).set(drivername="postgresql")
        conn = await asyncpg.connect(url.render_as_string(hide_password=False))
        try:
            return float(
                await conn.fetchval("SELECT reltuples FROM pg_class WHERE relname = $1", table)
            )
        finally:
            await conn.close()

    return asyncio.run(read())


def test_on_postgresql_the_planner_knows_the_school_once_it_is_imported(
    pg_empty_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The letters may go home the evening of the import: the parents' reads are planned
    for the school as it now is, not for the empty tables of the new server."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", pg_empty_url)
    monkeypatch.setenv("BOT_USERNAME", "flint_ouderloket_bot")
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    sample = Path(__file__).resolve().parent.parent / "data" / "pupils-voorbeeld.csv"

    assert main(["import-pupils", str(sample), "--dry-run"]) == 0
    assert _estimated_rows(pg_empty_url, "pupil") == -1  # a dry run writes nothing
    assert main(["import-pupils", str(sample)]) == 0
    assert _estimated_rows(pg_empty_url, "pupil") == 300
    assert main(["invite-codes", "--out", str(tmp_path / "brieven")]) == 0
    with (tmp_path / "brieven" / "codes.csv").open(encoding="utf-8-sig") as handle:
        letters = len(list(csv.DictReader(handle, delimiter=";")))
    assert _estimated_rows(pg_empty_url, "invite_code") == letters
