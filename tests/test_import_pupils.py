"""The ParnasSys pupil import: all or nothing, idempotent, and never overruling a
parent's consent. Core behaviour runs on in-memory SQLite and, when a server is
reachable, on PostgreSQL too."""

from __future__ import annotations

import csv
import functools
import importlib.util
import io
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import SQLModel, select

from storage.db import SessionFactory, transaction
from storage.importers.pupils import ERROR_CODES, ImportRejected, ImportSummary, import_pupils
from storage.models import (
    AuditEvent,
    ConsentEvent,
    ConsentSource,
    Guardian,
    GuardianPupil,
    ImportRun,
    Pupil,
    SchoolGroup,
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "pupils-voorbeeld.csv"
CSVDATA = Path(__file__).resolve().parent / "csvdata"
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

COLUMNS = (
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
    "ouder2_naam",
    "ouder2_email",
    "bijzonderheden",
    "toestemming_website",
    "toestemming_nieuwsbrief",
    "toestemming_parro",
)


# --- helpers -----------------------------------------------------------------------------


def pupil_row(number: str, **fields: str) -> dict[str, str]:
    """A valid row; tests override only what they are about."""
    row = {
        "leerlingnummer": number,
        "voornaam": "Emma",
        "tussenvoegsel": "de",
        "achternaam": "Vries",
        "geboortedatum": "12-03-2017",
        "geslacht": "V",
        "groep": "5A",
        "jaargroep": "5",
        "ouder1_naam": "Sanne de Vries",
        "ouder1_email": "sanne@example.org",
        "ouder2_naam": "",
        "ouder2_email": "",
        "bijzonderheden": "",
        "toestemming_website": "",
        "toestemming_nieuwsbrief": "",
        "toestemming_parro": "",
    }
    row.update(fields)
    return row


def export(
    *rows: dict[str, str],
    delimiter: str = ";",
    bom: bool = False,
    columns: tuple[str, ...] = COLUMNS,
) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=columns, delimiter=delimiter, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig" if bom else "utf-8")


def sample_rows() -> list[dict[str, str]]:
    with SAMPLE.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


async def run(
    factory: SessionFactory, source: str | Path | bytes, now: datetime = NOW, **kwargs: Any
) -> ImportSummary:
    """As the command line does: one transaction, committed only when the import succeeds."""
    async with transaction(factory) as session:
        return await import_pupils(session, source, now, **kwargs)


async def rejected(factory: SessionFactory, source: str | Path | bytes) -> list[tuple[Any, ...]]:
    with pytest.raises(ImportRejected) as caught:
        await run(factory, source)
    return [(e.line, e.column, e.code) for e in caught.value.errors]


TABLES: tuple[type[SQLModel], ...] = (
    Pupil,
    Guardian,
    SchoolGroup,
    GuardianPupil,
    ConsentEvent,
    ImportRun,
    AuditEvent,
)


async def snapshot(factory: SessionFactory) -> dict[str, Any]:
    """Every row of the import's tables, so 'nothing changed' can be asserted exactly."""
    async with factory() as session:
        state: dict[str, Any] = {}
        for model in TABLES:
            rows = (await session.exec(select(model))).all()
            state[model.__name__] = sorted(repr(sorted(r.model_dump().items())) for r in rows)
        return state


async def count(factory: SessionFactory, model: type[SQLModel]) -> int:
    async with factory() as session:
        return (await session.exec(select(func.count()).select_from(model))).one()


async def pupil_by_number(factory: SessionFactory, number: str) -> Pupil:
    async with factory() as session:
        return (await session.exec(select(Pupil).where(Pupil.leerlingnummer == number))).one()


async def guardian_emails_of(factory: SessionFactory, number: str) -> set[str]:
    async with factory() as session:
        rows = await session.exec(
            select(Guardian.email)
            .join(GuardianPupil, GuardianPupil.guardian_id == Guardian.id)  # type: ignore[arg-type]
            .join(Pupil, Pupil.id == GuardianPupil.pupil_id)  # type: ignore[arg-type]
            .where(Pupil.leerlingnummer == number)
        )
        return set(rows.all())


async def consent_history(factory: SessionFactory, number: str, channel: str) -> list[Any]:
    async with factory() as session:
        rows = await session.exec(
            select(ConsentEvent.source, ConsentEvent.granted)
            .join(Pupil, Pupil.id == ConsentEvent.pupil_id)  # type: ignore[arg-type]
            .where(Pupil.leerlingnummer == number, ConsentEvent.channel == channel)
            .order_by(ConsentEvent.at, ConsentEvent.id)  # type: ignore[arg-type]
        )
        return [(source, granted) for source, granted in rows.all()]


# --- behaviour shared by SQLite and PostgreSQL ----------------------------------------------


async def check_sample_imports_and_reimport_writes_nothing(factory: SessionFactory) -> None:
    rows = sample_rows()
    emails = {r[c].lower() for r in rows for c in ("ouder1_email", "ouder2_email") if r[c]}
    links = sum(1 for r in rows for c in ("ouder1_email", "ouder2_email") if r[c])
    groups = {r["groep"].upper() for r in rows}
    consents = sum(1 for r in rows for c in r if c.startswith("toestemming_") and r[c])
    assert len(emails) < links, "the sample should contain siblings sharing a guardian"

    first = await run(factory, SAMPLE, filename=SAMPLE.name)
    assert first == ImportSummary(
        pupils_added=len(rows),
        guardians_added=len(emails),
        groups_added=len(groups),
        consents_recorded=consents,
        total_rows=len(rows),
    )
    assert await count(factory, Pupil) == len(rows)
    assert await count(factory, Guardian) == len(emails)
    assert await count(factory, SchoolGroup) == len(groups)
    assert await count(factory, GuardianPupil) == links
    assert await count(factory, ConsentEvent) == consents

    before = await snapshot(factory)
    again = await run(factory, SAMPLE, filename=SAMPLE.name)
    assert again == ImportSummary(pupils_unchanged=len(rows), total_rows=len(rows))
    after = await snapshot(factory)
    for model in (Pupil, Guardian, SchoolGroup, GuardianPupil, ConsentEvent):
        assert after[model.__name__] == before[model.__name__], model.__name__
    # Only the record that an import took place is new.
    assert len(after["ImportRun"]) == len(before["ImportRun"]) + 1


async def check_rejected_file_changes_nothing(factory: SessionFactory) -> None:
    await run(factory, export(pupil_row("1"), pupil_row("2", voornaam="Daan")))
    before = await snapshot(factory)
    bad = export(
        pupil_row("1", voornaam="Emmy"),  # a valid change, still not applied
        pupil_row("3", ouder1_email="nieuw@example.org", groep="8B"),
        pupil_row("4", geboortedatum="31-02-2017"),
    )
    assert await rejected(factory, bad) == [(4, "geboortedatum", "date_invalid")]
    assert await snapshot(factory) == before


async def check_left_pupils_and_consent_history(factory: SessionFactory) -> None:
    emma = pupil_row("1", toestemming_website="ja", toestemming_parro="ja")
    daan = pupil_row("2", voornaam="Daan")
    await run(factory, export(emma, daan))

    # A parent withdraws in the bot; the next export still says "ja".
    async with transaction(factory) as session:
        pupil = (await session.exec(select(Pupil).where(Pupil.leerlingnummer == "1"))).one()
        session.add(
            ConsentEvent(
                pupil_id=pupil.id or 0,
                channel="website",
                granted=False,
                at=NOW + timedelta(days=1),
                source=ConsentSource.BOT,
            )
        )
    later = NOW + timedelta(days=30)
    summary = await run(factory, export(emma), later, confirm_left=True)
    assert summary.pupils_left == 1 and summary.consents_recorded == 0
    assert await consent_history(factory, "1", "website") == [
        (ConsentSource.IMPORT, True),
        (ConsentSource.BOT, False),
    ]
    gone = await pupil_by_number(factory, "2")
    assert gone.left_at == later

    # Leaving is recorded once: a later export without him keeps the first date.
    await run(factory, export(emma), later + timedelta(days=1))
    assert (await pupil_by_number(factory, "2")).left_at == later

    back = await run(factory, export(emma, daan), later + timedelta(days=2))
    assert (back.pupils_updated, back.pupils_added, back.pupils_left) == (1, 0, 0)
    returned = await pupil_by_number(factory, "2")
    assert returned.left_at is None and returned.id == gone.id


# --- SQLite ------------------------------------------------------------------------------


async def test_sample_export_imports_and_reimporting_it_writes_nothing(
    factory: SessionFactory,
) -> None:
    await check_sample_imports_and_reimport_writes_nothing(factory)


async def test_one_impossible_date_rejects_the_file_and_changes_nothing(
    factory: SessionFactory,
) -> None:
    await check_rejected_file_changes_nothing(factory)


async def test_left_pupil_is_marked_not_deleted_and_bot_consent_is_never_overruled(
    factory: SessionFactory,
) -> None:
    await check_left_pupils_and_consent_history(factory)


async def test_bad_row_in_the_sample_rejects_everything_on_an_empty_database(
    factory: SessionFactory,
) -> None:
    lines = SAMPLE.read_text(encoding="utf-8-sig").splitlines()
    fields = lines[150].split(";")
    fields[4] = "31-02-2017"
    lines[150] = ";".join(fields)
    assert await rejected(factory, "\n".join(lines).encode()) == [
        (151, "geboortedatum", "date_invalid")
    ]
    for model in (Pupil, SchoolGroup, Guardian, GuardianPupil, ConsentEvent, ImportRun):
        assert await count(factory, model) == 0, model.__name__


@pytest.mark.parametrize("delimiter", [";", ","])
@pytest.mark.parametrize("bom", [True, False])
async def test_semicolon_and_comma_files_with_or_without_bom_import_alike(
    factory: SessionFactory, delimiter: str, bom: bool
) -> None:
    source = export(
        pupil_row("1", ouder2_naam="Vries, Mark de", ouder2_email="mark@example.org"),
        pupil_row("2", voornaam="Zoë", achternaam="Çelik", tussenvoegsel=""),
        delimiter=delimiter,
        bom=bom,
    )
    assert (await run(factory, source)).pupils_added == 2
    assert (await pupil_by_number(factory, "2")).voornaam == "Zoë"
    assert (await pupil_by_number(factory, "1")).tussenvoegsel == "de"
    assert await guardian_emails_of(factory, "1") == {"sanne@example.org", "mark@example.org"}
    async with factory() as session:
        names = (await session.exec(select(Guardian.name).order_by(Guardian.name))).all()
    assert names == ["Sanne de Vries", "Vries, Mark de"]


async def test_headers_in_any_case_extra_columns_and_lenient_values(
    factory: SessionFactory,
) -> None:
    summary = await run(factory, CSVDATA / "hoofdletters-komma.csv")
    assert (summary.pupils_added, summary.guardians_added, summary.groups_added) == (3, 3, 3)
    emma = await pupil_by_number(factory, "3001")
    assert (emma.voornaam, emma.geboortedatum, emma.geslacht) == ("Emma", date(2017, 3, 12), "V")
    noor = await pupil_by_number(factory, "3003")
    assert (noor.geboortedatum, noor.geslacht) == (date(2018, 9, 1), "X")
    async with factory() as session:
        groups = set((await session.exec(select(SchoolGroup.name))).all())
    assert groups == {"5A", "7B", "3"}
    # Siblings' rows spell the shared address differently: still one person.
    assert await guardian_emails_of(factory, "3002") <= await guardian_emails_of(factory, "3001")
    assert summary.consents_recorded == 2
    assert await consent_history(factory, "3002", "website") == [(ConsentSource.IMPORT, False)]


async def test_every_bad_row_is_reported_with_its_line_number(factory: SessionFactory) -> None:
    errors = await rejected(factory, CSVDATA / "fouten.csv")
    assert sorted(errors) == sorted(
        [
            (3, "geboortedatum", "date_invalid"),
            # line 4 is blank: skipped, but counted
            (5, "voornaam", "required"),
            (5, "geboortedatum", "date_invalid"),
            (5, "geslacht", "gender"),
            (5, "jaargroep", "jaargroep"),
            (5, "ouder1_email", "email"),
            (5, "ouder2_email", "guardian2_incomplete"),
            (5, "toestemming_website", "consent_value"),
            (6, "geboortedatum", "date_future"),
            (6, "groep", "required"),
            (6, "ouder2_email", "guardian2_same_email"),
            (6, "leerlingnummer", "duplicate_pupil"),
            (7, "geboortedatum", "date_too_old"),
            (7, "ouder1_naam", "required"),
            (7, "ouder1_email", "required"),
        ]
    )
    assert [line for line, _, _ in errors] == sorted(line for line, _, _ in errors)
    assert {code for _, _, code in errors} <= set(ERROR_CODES)
    assert await count(factory, Pupil) == 0


@pytest.mark.parametrize(
    ("fields", "column", "code"),
    [
        ({"geboortedatum": "2017/03/12"}, "geboortedatum", "date_invalid"),
        ({"geboortedatum": "29-02-2017"}, "geboortedatum", "date_invalid"),
        ({"geboortedatum": ""}, "geboortedatum", "required"),
        ({"geslacht": "F"}, "geslacht", "gender"),
        ({"jaargroep": "5.0"}, "jaargroep", "jaargroep"),
        ({"jaargroep": "0"}, "jaargroep", "jaargroep"),
        ({"achternaam": " "}, "achternaam", "required"),
        ({"ouder1_email": "sanne@example"}, "ouder1_email", "email"),
        ({"ouder1_email": "sanne de vries@example.org"}, "ouder1_email", "email"),
        ({"ouder1_email": "sanne@@example.org"}, "ouder1_email", "email"),
        ({"ouder2_email": "mark@example.org"}, "ouder2_naam", "guardian2_incomplete"),
        ({"groep": "G" * 21}, "groep", "too_long"),
        ({"leerlingnummer": "1" * 33}, "leerlingnummer", "too_long"),
        ({"voornaam": "E" * 101}, "voornaam", "too_long"),
        ({"toestemming_parro": "j"}, "toestemming_parro", "consent_value"),
    ],
)
async def test_each_rule_has_its_own_error_code(
    factory: SessionFactory, fields: dict[str, str], column: str, code: str
) -> None:
    assert await rejected(factory, export(pupil_row("1", **fields))) == [(2, column, code)]


async def test_missing_required_column_is_one_error_on_line_one(factory: SessionFactory) -> None:
    columns = tuple(c for c in COLUMNS if c != "jaargroep")
    source = export(pupil_row("1"), pupil_row("2"), columns=columns)
    assert await rejected(factory, source) == [(1, "jaargroep", "missing_column")]


async def test_optional_guardian2_and_consent_columns_may_be_absent(
    factory: SessionFactory,
) -> None:
    columns = COLUMNS[:10]
    assert (await run(factory, export(pupil_row("1"), columns=columns))).pupils_added == 1


async def test_empty_and_header_only_files_are_rejected(factory: SessionFactory) -> None:
    assert await rejected(factory, b"") == [(1, None, "empty_file")]
    assert await rejected(factory, b"\xef\xbb\xbf\r\n\r\n") == [(1, None, "empty_file")]
    # A header alone would mark every pupil as left: surely the wrong file.
    assert await rejected(factory, export()) == [(1, None, "no_pupils")]


async def test_non_utf8_file_is_rejected_naming_each_line(factory: SessionFactory) -> None:
    with pytest.raises(ImportRejected) as caught:
        await run(factory, CSVDATA / "windows-1252.csv")
    errors = caught.value.errors
    assert [(e.line, e.code, e.value) for e in errors] == [
        (2, "encoding", "\\xe9"),
        (4, "encoding", "\\xeb"),
    ]
    assert await count(factory, Pupil) == 0


async def test_changed_name_is_updated_in_place(factory: SessionFactory) -> None:
    await run(factory, export(pupil_row("1"), pupil_row("2", voornaam="Daan")))
    before = await pupil_by_number(factory, "1")
    changed = export(pupil_row("1", voornaam="Emmy", groep="6a"), pupil_row("2", voornaam="Daan"))
    summary = await run(factory, changed)
    assert (summary.pupils_updated, summary.pupils_unchanged, summary.groups_added) == (1, 1, 1)
    after = await pupil_by_number(factory, "1")
    assert after.id == before.id and after.voornaam == "Emmy"
    async with factory() as session:
        group = await session.get(SchoolGroup, after.group_id)
    assert group is not None and group.name == "6A"
    assert await count(factory, Pupil) == 2


async def test_guardian_removed_from_a_pupil_is_unlinked_but_kept(
    factory: SessionFactory,
) -> None:
    both = {"ouder2_naam": "Mark de Vries", "ouder2_email": "mark@example.org"}
    await run(factory, export(pupil_row("1", **both), pupil_row("2", voornaam="Daan", **both)))
    summary = await run(factory, export(pupil_row("1"), pupil_row("2", voornaam="Daan", **both)))
    assert summary.pupils_updated == 1 and summary.pupils_unchanged == 1
    assert await guardian_emails_of(factory, "1") == {"sanne@example.org"}
    assert await guardian_emails_of(factory, "2") == {"sanne@example.org", "mark@example.org"}
    assert await count(factory, Guardian) == 2


async def test_siblings_share_one_guardian_named_as_on_the_last_row(
    factory: SessionFactory,
) -> None:
    summary = await run(
        factory,
        export(
            pupil_row("1", ouder1_naam="sanne  de vries", ouder1_email="Sanne@Example.org"),
            pupil_row("2", voornaam="Daan", ouder1_email="sanne@example.org"),
        ),
    )
    assert summary.guardians_added == 1
    async with factory() as session:
        guardian = (await session.exec(select(Guardian))).one()
    assert (guardian.name, guardian.email) == ("Sanne de Vries", "sanne@example.org")

    renamed = await run(
        factory,
        export(
            pupil_row("1", ouder1_naam="Sanne Jansen"),
            pupil_row("2", voornaam="Daan", ouder1_naam="Sanne Jansen"),
        ),
    )
    assert (renamed.guardians_updated, renamed.guardians_added, renamed.pupils_updated) == (1, 0, 0)


async def test_consent_is_recorded_only_where_the_pupil_has_no_history(
    factory: SessionFactory,
) -> None:
    first = await run(factory, export(pupil_row("1", toestemming_website="ja")))
    assert first.consents_recorded == 1
    # The school changes its mind in ParnasSys and fills in a new channel.
    second = await run(
        factory,
        export(pupil_row("1", toestemming_website="nee", toestemming_nieuwsbrief="NEE")),
    )
    assert second.consents_recorded == 1
    assert await consent_history(factory, "1", "website") == [(ConsentSource.IMPORT, True)]
    assert await consent_history(factory, "1", "nieuwsbrief") == [(ConsentSource.IMPORT, False)]
    # Channels the school does not use are not consent columns at all.
    third = await run(
        factory, export(pupil_row("1", toestemming_parro="ja")), channels=("website",)
    )
    assert third.consents_recorded == 0


async def test_absent_optional_column_keeps_the_stored_value_and_empty_clears_it(
    factory: SessionFactory,
) -> None:
    await run(factory, export(pupil_row("1", bijzonderheden="dyslexie")))
    without = tuple(c for c in COLUMNS if c != "bijzonderheden")
    assert (await run(factory, export(pupil_row("1"), columns=without))).pupils_unchanged == 1
    assert (await pupil_by_number(factory, "1")).bijzonderheden == "dyslexie"
    assert (await run(factory, export(pupil_row("1")))).pupils_updated == 1
    assert (await pupil_by_number(factory, "1")).bijzonderheden is None


async def test_dry_run_reports_the_counts_and_writes_nothing(factory: SessionFactory) -> None:
    rows = sample_rows()
    summary = await run(factory, SAMPLE, dry_run=True)
    assert summary.pupils_added == len(rows) and summary.guardians_added > len(rows)
    for model in TABLES:
        assert await count(factory, model) == 0, model.__name__

    await run(factory, SAMPLE)
    before = await snapshot(factory)
    changed = SAMPLE.read_bytes().replace(b";Emma;", b";Emmy;", 1)
    preview = await run(factory, changed, dry_run=True)
    assert (preview.pupils_updated, preview.pupils_unchanged) == (1, len(rows) - 1)
    assert await snapshot(factory) == before


async def test_each_import_leaves_an_import_run_and_an_audit_event(
    factory: SessionFactory,
) -> None:
    await run(factory, export(pupil_row("1")), filename="leerlingen.csv")
    async with factory() as session:
        run_row = (await session.exec(select(ImportRun))).one()
        audit = (await session.exec(select(AuditEvent))).one()
    assert (run_row.filename, run_row.added, run_row.at) == ("leerlingen.csv", 1, NOW)
    assert (audit.actor_kind, audit.action) == ("system", "pupils_imported")
    assert '"pupils_added": 1' in audit.detail


# --- exports as real administrations make them -------------------------------------------

SHARED = CSVDATA / "export-gedeelde-adressen.csv"  # BOM, CRLF, placeholders, a stray ;

NL_REPORT = [
    "Het bestand is niet ingelezen; er is niets veranderd. 3 fout(en):",
    "  regel 4, ouder1_email: onbekend@obsdeflint.nl staat op regel 4 en 6 met verschillende"
    " namen. Geef elke ouder een eigen e-mailadres, of lees in met --no-email-match",
    "  regel 5, ouder2_email: oma.visser@example.nl staat op regel 5 en 7 bij gezinnen zonder"
    " gezamenlijk kind. Geef elke ouder een eigen e-mailadres, of lees in met --no-email-match",
    "  regel 8, bijzonderheden: 16 velden, de kopregel heeft er 15. Waarschijnlijk staat hier"
    " een ; of , in de tekst: zet de tekst tussen aanhalingstekens of haal het teken weg",
]


@pytest.fixture
def school_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "school.db"
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's folder
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{db}")
    monkeypatch.delenv("DEFAULT_LOCALE", raising=False)
    return db


def cli(*args: str) -> int:
    from bot.cli import main

    return main(["import-pupils", *args])


def test_shared_addresses_and_a_stray_semicolon_are_refused_line_by_line(
    school_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(str(SHARED)) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == NL_REPORT
    # The medical note is never repeated, nor any other cell of the shifted row.
    for secret in ("pinda", "epipen", "Sem", "Smit", "kees@example.org"):
        assert secret not in err

    # A dry run finds exactly the same.
    assert cli(str(SHARED), "--dry-run") == 1
    assert capsys.readouterr().err.splitlines() == NL_REPORT


def test_the_report_is_english_with_default_locale_en(
    school_db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DEFAULT_LOCALE", "en")
    assert cli(str(SHARED)) == 1
    assert capsys.readouterr().err.splitlines() == [
        "The file was not imported; nothing has changed. 3 error(s):",
        "  line 4, ouder1_email: onbekend@obsdeflint.nl is on lines 4 and 6 with different"
        " names. Give each parent their own e-mail address, or import with --no-email-match",
        "  line 5, ouder2_email: oma.visser@example.nl is on lines 5 and 7 for families with no"
        " child in common. Give each parent their own e-mail address, or import with"
        " --no-email-match",
        "  line 8, bijzonderheden: 16 fields, the header has 15. There is probably a ; or , in"
        " the text: put the text in quotes or remove the character",
    ]


def test_with_no_email_match_placeholder_parents_stay_apart_and_siblings_together(
    school_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The stray ; is an error in any mode: the line would put a note in basispoort_id.
    assert cli(str(SHARED), "--no-email-match") == 1
    assert capsys.readouterr().err.splitlines() == [
        "Het bestand is niet ingelezen; er is niets veranderd. 1 fout(en):",
        NL_REPORT[3],
    ]
    fixed = tmp_path / "hersteld.csv"
    fixed.write_bytes(
        SHARED.read_bytes().replace(
            b"allergie: pinda; epipen in tas", b'"allergie: pinda; epipen in tas"'
        )
    )
    assert cli(str(fixed), "--no-email-match") == 0
    assert "leerlingen: 8 nieuw" in capsys.readouterr().out

    import sqlite3

    with sqlite3.connect(school_db) as db:
        guardians = db.execute(
            "SELECT g.name, g.email, group_concat(p.leerlingnummer) FROM guardian g"
            " JOIN guardian_pupil gp ON gp.guardian_id = g.id JOIN pupil p ON p.id = gp.pupil_id"
            " GROUP BY g.id ORDER BY g.email, g.name"
        ).fetchall()
        stored = db.execute(
            "SELECT bijzonderheden, basispoort_id, voornaam FROM pupil"
            " WHERE leerlingnummer IN ('4007', '4008') ORDER BY leerlingnummer"
        ).fetchall()
    by_person = {(name, email): sorted(pupils.split(",")) for name, email, pupils in guardians}
    # Siblings Emma and Daan: one mother, one father (the e-mail's case does not matter).
    assert by_person[("Sanne de Vries", "sanne@example.org")] == ["4001", "4002"]
    assert by_person[("Mark de Vries", "mark@example.org")] == ["4001", "4002"]
    # Two parents behind the school's placeholder address: two guardians, one child each.
    assert by_person[("Fatma Yilmaz", "onbekend@obsdeflint.nl")] == ["4003"]
    assert by_person[("Piet Bakker", "onbekend@obsdeflint.nl")] == ["4005"]
    # The grandmother named on both cousins' rows is one person, as the school said.
    assert by_person[("Ria Visser", "oma.visser@example.nl")] == ["4004", "4006"]
    # The quoted note stays whole in its own column; a formula is stored as typed.
    assert stored == [
        ("allergie: pinda; epipen in tas", None, "Sem"),
        (None, None, '=HYPERLINK("http://x.example/";"Klik")'),
    ]

    # Identifying by e-mail alone can no longer tell these parents apart: said so, even
    # for a file that on its own would be fine.
    siblings = tmp_path / "broer-en-zus.csv"
    siblings.write_bytes(b"\r\n".join(fixed.read_bytes().split(b"\r\n")[:3]))
    assert cli(str(siblings)) == 1
    assert capsys.readouterr().err.splitlines()[1:] == [
        "  regel 1: eerder is ingelezen met --no-email-match; doe dat nu ook, anders zijn"
        " ouders met hetzelfde e-mailadres niet uit elkaar te houden"
    ]


def test_an_address_passed_on_to_another_family_is_refused_at_the_next_import(
    school_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = tmp_path / "september.csv"
    first.write_bytes(
        export(pupil_row("1", ouder1_naam="Piet Bakker", ouder1_email="onbekend@school.nl"))
    )
    assert cli(str(first)) == 0
    # In October the school re-uses the placeholder for a new family; Piet has his own.
    later = tmp_path / "oktober.csv"
    later.write_bytes(
        export(
            pupil_row("1", ouder1_naam="Piet Bakker", ouder1_email="piet@example.org"),
            pupil_row("2", ouder1_naam="Fatma Yilmaz", ouder1_email="Onbekend@school.nl"),
        )
    )
    capsys.readouterr()
    assert cli(str(later), "--dry-run") == 1
    assert capsys.readouterr().err.splitlines() == [
        "Het bestand is niet ingelezen; er is niets veranderd. 1 fout(en):",
        "  regel 3, ouder1_email: onbekend@school.nl hoort in Ouderloket bij een andere ouder"
        " (andere naam), die geen kind heeft op regel 3. Geef deze ouder een eigen"
        " e-mailadres, of lees in met --no-email-match",
    ]
    # A new name for the same parent of the same child is a change of name.
    renamed = tmp_path / "nieuwe-naam.csv"
    renamed.write_bytes(
        export(pupil_row("1", ouder1_naam="Piet Bakker-Jansen", ouder1_email="onbekend@school.nl"))
    )
    assert cli(str(renamed)) == 0
    assert "ouders/verzorgers: 0 nieuw, 1 bijgewerkt" in capsys.readouterr().out


async def test_a_row_cut_short_names_the_first_column_without_a_field(
    factory: SessionFactory,
) -> None:
    source = export(pupil_row("1"), pupil_row("2")).replace(b"\r\n", b"\n")
    lines = source.split(b"\n")
    lines[2] = b";".join(lines[2].split(b";")[:9])  # ends after ouder1_naam
    with pytest.raises(ImportRejected) as caught:
        await run(factory, b"\n".join(lines))
    [error] = caught.value.errors
    assert (error.line, error.column, error.code, error.counts, error.value) == (
        3,
        "ouder1_email",
        "field_count",
        (9, 16),
        "",
    )


async def test_one_parent_with_several_children_and_partners_in_common_stay_one_guardian(
    factory: SessionFactory,
) -> None:
    mark = {"ouder2_naam": "Mark de Vries", "ouder2_email": "mark@example.org"}
    summary = await run(
        factory,
        export(
            pupil_row("1", **mark),
            pupil_row("2", voornaam="Daan", **mark),
            pupil_row("3", voornaam="Tim"),  # a row without the second parent
        ),
    )
    assert (summary.pupils_added, summary.guardians_added) == (3, 2)


async def test_a_grandparent_shared_by_cousins_is_refused_by_the_flow(
    factory: SessionFactory,
) -> None:
    oma = {"ouder2_naam": "Ria Visser", "ouder2_email": "oma@example.nl"}
    cousins = export(
        pupil_row("1", ouder1_naam="Lisa Visser", ouder1_email="lisa@example.nl", **oma),
        pupil_row("2", ouder1_naam="Tom Visser", ouder1_email="tom@example.nl", **oma),
    )
    assert await rejected(factory, cousins) == [(2, "ouder2_email", "email_families")]
    # Lisa and Tom share a child elsewhere in the file: one family after all.
    joint = pupil_row(
        "3",
        ouder1_naam="Lisa Visser",
        ouder1_email="lisa@example.nl",
        ouder2_naam="Tom Visser",
        ouder2_email="tom@example.nl",
    )
    family = export(
        pupil_row("1", ouder1_naam="Lisa Visser", ouder1_email="lisa@example.nl", **oma),
        pupil_row("2", ouder1_naam="Tom Visser", ouder1_email="tom@example.nl", **oma),
        joint,
    )
    assert (await run(factory, family)).guardians_added == 3


# --- the sample data ---------------------------------------------------------------------


@functools.cache
def generator() -> ModuleType:
    """data/ is a folder of scripts, not a package: load the generator by path."""
    path = ROOT / "data" / "generate_pupils.py"
    spec = importlib.util.spec_from_file_location("generate_pupils", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while defining
    spec.loader.exec_module(module)
    return module


def test_committed_sample_is_what_the_generator_makes(tmp_path: Path) -> None:
    out = tmp_path / "pupils.csv"
    assert generator().main(["--pupils", "300", "--seed", "1", "--out", str(out)]) == 0
    assert out.read_bytes() == SAMPLE.read_bytes()
    assert SAMPLE.read_bytes().startswith(b"\xef\xbb\xbf")


def test_generated_school_has_about_1_8_guardians_per_pupil_at_example_domains() -> None:
    rows = generator().generate(5000, seed=7)
    emails = {r[c] for r in rows for c in ("ouder1_email", "ouder2_email") if r[c]}
    assert 1.7 <= len(emails) / len(rows) <= 1.9
    assert {e.rsplit("@", 1)[1] for e in emails} == {"example.org", "example.nl"}


# --- PostgreSQL --------------------------------------------------------------------------


async def test_postgres_sample_imports_and_reimporting_it_writes_nothing(
    pg_factory: SessionFactory,
) -> None:
    await check_sample_imports_and_reimport_writes_nothing(pg_factory)


async def test_postgres_rejected_file_changes_nothing(pg_factory: SessionFactory) -> None:
    await check_rejected_file_changes_nothing(pg_factory)


async def test_postgres_left_pupils_and_consent_history(pg_factory: SessionFactory) -> None:
    await check_left_pupils_and_consent_history(pg_factory)


async def test_postgres_no_email_match_keeps_placeholder_parents_apart(
    pg_factory: SessionFactory,
) -> None:
    placeholder = export(
        pupil_row("1", ouder1_naam="Fatma Yilmaz", ouder1_email="onbekend@school.nl"),
        pupil_row(
            "2", voornaam="Daan", ouder1_naam="Piet Bakker", ouder1_email="onbekend@school.nl"
        ),
        pupil_row(
            "3", voornaam="Noor", ouder1_naam="piet  bakker", ouder1_email="Onbekend@school.nl"
        ),
    )
    assert await rejected(pg_factory, placeholder) == [(2, "ouder1_email", "email_names_differ")]
    summary = await run(pg_factory, placeholder, email_match=False)
    assert (summary.pupils_added, summary.guardians_added) == (3, 2)
    assert (await run(pg_factory, placeholder, email_match=False)).pupils_unchanged == 3
    async with pg_factory() as session:
        rows = await session.exec(
            select(Guardian.name, Pupil.leerlingnummer)
            .join(GuardianPupil, GuardianPupil.guardian_id == Guardian.id)  # type: ignore[arg-type]
            .join(Pupil, Pupil.id == GuardianPupil.pupil_id)  # type: ignore[arg-type]
            .order_by(Pupil.leerlingnummer)
        )
        assert rows.all() == [("Fatma Yilmaz", "1"), ("piet  bakker", "2"), ("piet  bakker", "3")]
