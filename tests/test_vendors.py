"""Vendor leaflets: loaded from YAML, read by a linked parent in a few taps."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from aiogram.utils.i18n import I18n
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import create_dispatcher
from bot.cli import main
from bot.config import Settings
from flows.clock import FixedClock
from storage.db import SessionFactory, create_engine, create_session_factory
from storage.importers.vendors import VendorsRejected, import_vendors
from storage.models import Vendor
from tests import factories
from tests.recording import ChatDriver, recording_bot

VENDORS = Path(__file__).resolve().parent.parent / "data" / "vendors"


async def test_shipped_basispoort_leaflet_lists_the_fields_from_the_privacy_statement(
    session: AsyncSession,
) -> None:
    [basispoort] = await import_vendors(session, VENDORS)
    assert basispoort.key == "basispoort"
    assert set(basispoort.data_fields.split(",")) == {
        "basispoort_id",
        "voornaam",
        "achternaam",
        "tussenvoegsel",
        "geboortedatum",
        "leerlingkey",
        "groepskey",
        "groepsnaam",
        "jaargroep",
        "geslacht",
        "school_id",
    }
    # The link the school's privacy statement names for Basispoort.
    assert basispoort.leaflet_url == "http://info.basispoort.nl/privacy"


async def test_a_bad_leaflet_rejects_the_whole_folder(
    session: AsyncSession, tmp_path: Path
) -> None:
    (tmp_path / "a.yaml").write_text(
        (VENDORS / "basispoort.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (tmp_path / "b.yaml").write_text(
        "key: Fout Key\nname: X\nsupplier: Y\ndata_fields: [schoenmaat]\n"
        "leaflet_url: http://x\nreviewed_on: gisteren\n",
        encoding="utf-8",
    )
    with pytest.raises(VendorsRejected) as rejected:
        await import_vendors(session, tmp_path)
    codes = {e.code for e in rejected.value.errors}
    assert codes == {"key", "data_field", "url", "date"}
    assert (await session.exec(select(Vendor))).all() == []


async def leaflets_and_a_parent(factory: SessionFactory, clock: FixedClock) -> str:
    """The shipped leaflet and a parent with one child; returns the parent's code."""
    async with factory() as session:
        await import_vendors(session, VENDORS)
        sanne = await factories.guardian(session, "Sanne", await factories.pupil(session))
        code = await factories.guardian_code(session, sanne, clock.now())
        await session.commit()
    return code


async def test_parent_reads_a_leaflet_in_three_taps(
    chat: Callable[..., ChatDriver], factory: SessionFactory, clock: FixedClock
) -> None:
    code = await leaflets_and_a_parent(factory, clock)
    parent = chat(3001)
    await parent.send(f"/start {code}")
    await parent.press("Leveranciers en privacybijsluiters")
    await parent.press("Basispoort")
    text = parent.last_text
    assert "<b>Basispoort</b>" in text
    assert "• Basispoort-nummer" in text and "• geboortedatum" in text
    # What the school has not filled in points at the supplier's own leaflet.
    in_leaflet = (
        '<a href="http://info.basispoort.nl/privacy">'
        "staat in de privacybijsluiter van de leverancier</a>"
    )
    assert f"Hoe lang bewaard:</b> {in_leaflet}" in text
    assert f"Waar opgeslagen:</b> {in_leaflet}" in text
    assert f"Subverwerkers:</b> {in_leaflet}" in text
    assert "niet opgegeven" not in text
    assert "Door de school bekeken op 1 september 2026." in text

    await parent.send("/taal")
    await parent.press("English")
    await parent.send("/menu")
    await parent.press("Suppliers and privacy leaflets")
    await parent.press("Basispoort")
    assert "• date of birth" in parent.last_text
    assert "Reviewed by the school on 1 September 2026." in parent.last_text
    assert "is in the supplier's privacy leaflet</a>" in parent.last_text


async def test_forged_vendor_key_and_unlinked_users_get_nothing(
    chat: Callable[..., ChatDriver], factory: SessionFactory
) -> None:
    async with factory() as session:
        await import_vendors(session, VENDORS)
        await session.commit()
    stranger = chat(3002)
    await stranger.send("/start")
    query = await stranger.press_data(1, "v:basispoort")
    answers = [a for a in stranger.answered_callbacks() if a.callback_query_id == query.id]
    assert answers[0].text == "Niet gevonden."
    assert "Basispoort" not in stranger.last_text


def test_import_vendors_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 's.db'}")
    assert main(["import-vendors", str(VENDORS)]) == 0
    assert "1 leverancier(s) ingelezen: Basispoort" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("key: x\nname: X\nsupplier: Y\ndata_fields: [schoenmaat]\n", encoding="utf-8")
    assert main(["import-vendors", str(bad)]) == 1
    assert "bad.yaml, data_fields: onbekend gegeven ('schoenmaat')" in capsys.readouterr().err


def _leaflets(folder: Path, **names: str) -> Path:
    """A folder of leaflets: Basispoort's, under each key the given name."""
    folder.mkdir(exist_ok=True)
    text = (VENDORS / "basispoort.yaml").read_text(encoding="utf-8")
    for key, name in names.items():
        changed = text.replace("key: basispoort", f"key: {key}").replace(
            "name: Basispoort", f"name: {name}"
        )
        (folder / f"{key}.yaml").write_text(changed, encoding="utf-8")
    return folder


async def _supplier_buttons(parent: ChatDriver) -> list[str]:
    await parent.send("/menu")
    await parent.press("Leveranciers en privacybijsluiters")
    return parent.buttons()


async def test_an_import_while_the_bot_runs_is_seen_at_the_next_update(
    chat: Callable[..., ChatDriver], factory: SessionFactory, clock: FixedClock, tmp_path: Path
) -> None:
    """Each process keeps the leaflets it read; an import (here through another session,
    as the command line does) must still show at once, added and renamed alike."""
    code = await leaflets_and_a_parent(factory, clock)
    parent = chat(3003)
    await parent.send(f"/start {code}")
    assert "Basispoort" in await _supplier_buttons(parent)
    assert "Gynzy" not in await _supplier_buttons(parent)

    async with factory() as session:
        await import_vendors(session, _leaflets(tmp_path / "a", gynzy="Gynzy"))
        await session.commit()
    assert "Gynzy" in await _supplier_buttons(parent)

    async with factory() as session:
        await import_vendors(session, _leaflets(tmp_path / "b", gynzy="Gynzy Kids"))
        await session.commit()
    buttons = await _supplier_buttons(parent)
    assert "Gynzy Kids" in buttons and "Gynzy" not in buttons
    await parent.press("Gynzy Kids")
    assert "<b>Gynzy Kids</b>" in parent.last_text


async def test_an_import_on_postgresql_reaches_a_worker_that_had_read_the_leaflets(
    pg_url: str,
    pg_factory: SessionFactory,
    settings: Settings,
    clock: FixedClock,
    i18n: I18n,
    tmp_path: Path,
) -> None:
    """Two processes on one database: the worker's copy is replaced at its next update
    after another process imported, with nothing but the database between them."""
    code = await leaflets_and_a_parent(pg_factory, clock)
    worker = create_dispatcher(settings, pg_factory, clock=clock, i18n=i18n)
    bot, recorder = recording_bot()
    parent = ChatDriver(worker, bot, recorder, 3004)
    await parent.send(f"/start {code}")
    assert "Gynzy" not in await _supplier_buttons(parent)

    other = create_engine(pg_url)  # the command line's own engine, as in another process
    try:
        async with create_session_factory(other)() as session:
            await import_vendors(session, _leaflets(tmp_path, gynzy="Gynzy"))
            await session.commit()
    finally:
        await other.dispose()
    assert "Gynzy" in await _supplier_buttons(parent)
    await worker.storage.close()
