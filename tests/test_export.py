"""Kopie downloaden: a parent gets a copy of everything the school holds about their
child (Art. 15(3)) as HTML and JSON, never special category data, never another
family's child."""

from __future__ import annotations

import contextvars
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from aiogram.utils.i18n import I18n
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.copy import copy_documents, slugify
from flows import consent, disclosures
from flows.actor import Actor
from flows.errors import NotFound
from flows.export import ChildExport, child_export, export_json
from storage.importers.vendors import import_vendors
from storage.models import ConsentEvent, ConsentSource, Pupil, StaffRole
from tests import factories

VENDORS = Path(__file__).resolve().parent.parent / "data" / "vendors"
CHANNELS = ("website", "nieuwsbrief", "parro")
NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
SCHOOL = "OBS de Flint"


@dataclass
class Family:
    emma: Pupil
    noor: Pupil  # another family's child
    sanne: Actor
    reference: str


@pytest.fixture
async def family(session: AsyncSession) -> Family:
    await import_vendors(session, VENDORS)
    emma = await factories.pupil(
        session,
        "Emma",
        "Vries",
        "de",
        "5A",
        geboortedatum=date(2017, 3, 12),
        leerlingnummer="4711",
        basispoort_id="BP-998877",
        bijzonderheden="dyslexie",
    )
    noor = await factories.pupil(session, "Noor", "Bakker", "", "5A", bijzonderheden="ADHD")
    sanne = await factories.guardian(session, "Sanne de Vries", emma)
    await factories.guardian(session, "<b>Evil & Co</b>", emma)
    await factories.guardian(session, "Piet Bakker", noor)
    await factories.staff(session, "Jeroen Visser", StaffRole.DIRECTOR)
    actor = await factories.link_guardian(session, sanne, 5001)
    session.add(
        ConsentEvent(
            pupil_id=emma.id or 0,
            channel="website",
            granted=True,
            at=NOW - timedelta(days=60),
            source=ConsentSource.IMPORT,
        )
    )
    await session.flush()
    await consent.choose(
        session, actor, emma.id or 0, "website", False, CHANNELS, NOW - timedelta(days=3)
    )
    request = await factories.create_question(
        session, actor, emma.id or 0, StaffRole.DIRECTOR, "Wie ziet de foto's?", NOW
    )
    await disclosures.register(
        session, emma.id or 0, "Leerplichtambtenaar", date(2026, 10, 1), "wettelijke plicht"
    )
    await session.commit()
    return Family(emma=emma, noor=noor, sanne=actor, reference=request.reference)


async def _export(session: AsyncSession, family: Family) -> ChildExport:
    return await child_export(
        session, family.sanne, family.emma.id or 0, CHANNELS, NOW, school=SCHOOL
    )


async def _documents(
    session: AsyncSession, family: Family, i18n: I18n, locale: str = "nl"
) -> dict[str, bytes]:
    export = await _export(session, family)
    with i18n.context():
        return dict(copy_documents(export, locale))


def _html(docs: dict[str, bytes]) -> str:
    return next(v for k, v in docs.items() if k.endswith(".html")).decode("utf-8")


def _json(docs: dict[str, bytes]) -> dict[str, object]:
    loaded = json.loads(next(v for k, v in docs.items() if k.endswith(".json")))
    assert isinstance(loaded, dict)
    return loaded


async def test_copy_holds_name_birth_date_consent_vendor_values_and_requests(
    session: AsyncSession, family: Family, i18n: I18n
) -> None:
    docs = await _documents(session, family, i18n)
    html = _html(docs)
    assert "<title>Gegevens van Emma de Vries bij OBS de Flint</title>" in html
    assert "12 maart 2017" in html
    assert "4711" in html
    assert "Website: ❌ geen toestemming" in html
    assert "Website: toestemming (uit de schooladministratie)" in html
    assert "Website: ingetrokken door u" in html
    assert "Wat weet Basispoort over Emma?" in html
    assert "BP-998877" in html
    assert family.reference in html
    assert "Leerplichtambtenaar" in html

    data = _json(docs)
    pupil = data["pupil"]
    assert isinstance(pupil, dict)
    assert pupil["first_name"] == "Emma"
    assert pupil["tussenvoegsel"] == "de"
    assert pupil["last_name"] == "Vries"
    assert pupil["birth_date"] == "2017-03-12"
    assert pupil["leerlingnummer"] == "4711"
    assert pupil["group"] == "5A" and pupil["jaargroep"] == 5
    assert data["consent"] == {
        "website": {"granted": False, "since": "2026-11-26T11:00:00+01:00"},
        "nieuwsbrief": {"granted": None, "since": None},
        "parro": {"granted": None, "since": None},
    }
    history = data["consent_history"]
    assert isinstance(history, list)
    assert [(e["granted"], e["source"]) for e in history] == [(False, "bot"), (True, "import")]
    vendors = data["vendors"]
    assert isinstance(vendors, list)
    basispoort = next(v for v in vendors if v["name"] == "Basispoort")
    assert basispoort["fields"]["basispoort_id"] == "BP-998877"
    assert basispoort["fields"]["geboortedatum"] == "2017-03-12"
    assert data["requests"] == [
        {
            "reference": family.reference,
            "kind": "question",
            "status": "open",
            "received_at": "2026-11-29T11:00:00+01:00",
            "due_at": data["requests"][0]["due_at"],  # type: ignore[index]
            "extended": False,
            "by_you": True,
        }
    ]
    assert data["disclosures"] == [
        {
            "disclosed_on": "2026-10-01",
            "recipient": "Leerplichtambtenaar",
            "legal_ground": "wettelijke plicht",
            "description": "",
            "stopped_since": None,
        }
    ]


async def test_special_category_value_is_in_neither_file_but_its_existence_is_said(
    session: AsyncSession, family: Family, i18n: I18n
) -> None:
    docs = await _documents(session, family, i18n)
    for contents in docs.values():
        assert b"dyslexie" not in contents.lower()
        assert b"bijzonderheden" not in contents.lower()
    assert "De school legt ook bijzondere persoonsgegevens van uw kind vast" in _html(docs)
    assert "Inzage aanvragen" in _html(docs)
    assert _json(docs)["special_category_recorded"] is True


async def test_no_special_category_paragraph_when_nothing_is_recorded(
    session: AsyncSession, family: Family, i18n: I18n
) -> None:
    family.emma.bijzonderheden = "  "
    session.add(family.emma)
    await session.commit()
    docs = await _documents(session, family, i18n)
    assert "bijzondere persoonsgegevens" not in _html(docs).lower()
    assert _json(docs)["special_category_recorded"] is False


async def test_html_in_a_name_is_escaped_in_the_html_and_kept_in_the_json(
    session: AsyncSession, family: Family, i18n: I18n
) -> None:
    docs = await _documents(session, family, i18n)
    html = _html(docs)
    assert "<b>Evil" not in html
    assert "&lt;b&gt;Evil &amp; Co&lt;/b&gt;" in html
    assert "<b>Evil & Co</b>" in _json(docs)["guardians"]  # type: ignore[operator]


async def test_forged_pupil_id_of_another_family_raises_not_found(
    session: AsyncSession, family: Family
) -> None:
    with pytest.raises(NotFound):
        await child_export(session, family.sanne, family.noor.id or 0, CHANNELS, NOW)
    with pytest.raises(NotFound):
        await child_export(session, family.sanne, 999_999, CHANNELS, NOW)
    outsider = Actor(telegram_user_id=7777, locale="nl")
    with pytest.raises(NotFound):
        await child_export(session, outsider, family.emma.id or 0, CHANNELS, NOW)


async def test_json_parses_and_has_the_documented_keys(
    session: AsyncSession, family: Family
) -> None:
    raw = export_json(await _export(session, family))
    data = json.loads(raw.decode("utf-8"))
    assert set(data) == {
        "generated_at",
        "school",
        "pupil",
        "guardians",
        "consent",
        "consent_history",
        "vendors",
        "disclosures",
        "requests",
        "special_category_recorded",
    }
    assert data["generated_at"] == "2026-11-29T11:00:00+01:00"
    assert datetime.fromisoformat(data["generated_at"]).utcoffset() is not None
    assert data["school"] == SCHOOL
    assert {
        "leerlingnummer",
        "first_name",
        "tussenvoegsel",
        "last_name",
        "birth_date",
        "gender",
        "group",
        "jaargroep",
    } <= set(data["pupil"])
    assert data["guardians"] == ["<b>Evil & Co</b>", "Sanne de Vries"]
    assert set(data["requests"][0]) >= {"reference", "kind", "status", "received_at", "due_at"}
    assert b"\n  " in raw  # indented


async def test_filenames_are_ascii_and_name_the_child_and_the_day(
    session: AsyncSession, family: Family, i18n: I18n
) -> None:
    nl = await _documents(session, family, i18n, "nl")
    assert sorted(nl) == [
        "gegevens-emma-de-vries-2026-11-29.html",
        "gegevens-emma-de-vries-2026-11-29.json",
    ]
    en = await _documents(session, family, i18n, "en")
    assert sorted(en) == [
        "data-emma-de-vries-2026-11-29.html",
        "data-emma-de-vries-2026-11-29.json",
    ]
    for name in (*nl, *en):
        assert name.isascii()
    assert slugify("Zoë van 't Hof-Ünal") == "zoe-van-t-hof-unal"


async def test_english_copy_is_in_english(
    session: AsyncSession, family: Family, i18n: I18n
) -> None:
    html = _html(await _documents(session, family, i18n, "en"))
    assert '<html lang="en">' in html
    assert "12 March 2017" in html
    assert "What does Basispoort know about Emma?" in html


async def test_copy_renders_without_an_i18n_context(session: AsyncSession, family: Family) -> None:
    # The command line or a background job has no aiogram I18n context: a fresh one.
    export = await _export(session, family)
    docs = dict(contextvars.Context().run(copy_documents, export, "nl"))
    assert "Emma de Vries" in _html(docs)
