"""`ouderloket erase-pupil` leaves nothing of the child behind: not in any table, not in
a notification still waiting, not in the SQLite files themselves."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest
from sqlmodel import select

from bot.cli import main
from flows import requests as request_flows
from flows.actor import load_actor
from flows.clock import SystemClock
from flows.requests import Draft, commands
from storage.db import create_engine, create_session_factory, transaction
from storage.models import Disclosure, Guardian, Pupil, RequestMessage, StaffRole
from tests import factories
from tests.test_import_pupils import export, pupil_row

NOTE = "Noor heeft epilepsie; noodmedicatie zit in de rode tas"
RECIPIENT = "Jeugdzorgteam Westerkwartier"
OLD_NAME, NEW_NAME = "Noor Bakker", "Noor Hoekstra"
PARENT_TG, DIRECTOR_TG = 7001, 7002


async def _history(db: Path) -> None:
    """What a school year leaves around a child: a surname correction asked, resolved and
    notified, a disclosure and a question about it, a parent's message quoting the note,
    a sister's question naming her, and notifications still waiting."""
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    factory = create_session_factory(engine)
    now = SystemClock().now()
    async with transaction(factory) as session:
        noor = (await session.exec(select(Pupil).where(Pupil.leerlingnummer == "1003"))).one()
        sis = (await session.exec(select(Pupil).where(Pupil.leerlingnummer == "1004"))).one()
        piet = (await session.exec(select(Guardian).where(Guardian.name == "Piet Bakker"))).one()
        await factories.staff(
            session, "Bram van den Bos", StaffRole.DIRECTOR, telegram_user_id=DIRECTOR_TG
        )
        parent = await factories.link_guardian(session, piet, PARENT_TG)
        session.add(
            Disclosure(
                pupil_id=noor.id or 0,
                recipient=RECIPIENT,
                disclosed_on=now.date(),
                legal_ground="wettelijke plicht",
                description="",
            )
        )
        await session.flush()
        correction = await factories.create_correction(
            session, parent, noor.id or 0, "achternaam", "Hoekstra", f"{OLD_NAME} klopt niet", now
        )
        director = await load_actor(session, DIRECTOR_TG, "nl")
        await commands.resolve(session, director, correction.id or 0, "Aangepast.", now)
        await factories.create_question(
            session, parent, sis.id or 0, "director", f"Mag {NEW_NAME} ook mee op schoolreis?", now
        )
        access = await request_flows.create(
            session, parent, Draft("access", noor.id or 0, text=f"Wat kreeg {RECIPIENT}?"), now
        )
        access.subject = RECIPIENT  # as asked about a registered disclosure
        session.add(access)
        session.add(
            RequestMessage(
                request_id=access.id or 0,
                author_kind="guardian",
                author_id=piet.id or 0,
                text=f"Het gaat om: {NOTE}",
                at=now,
            )
        )
    await engine.dispose()


def _everything(db: Path) -> str:
    """Every value of every table, and the outbox in it, as text."""
    with sqlite3.connect(db) as conn:
        tables = [
            name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        rows = [(t, row) for t in tables for row in conn.execute(f"SELECT * FROM {t}")]
    return "\n".join(f"{table}: {row!r}" for table, row in rows)


def test_erase_pupil_leaves_no_name_the_child_had_nor_the_note_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "school.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{db}")
    rows = [
        pupil_row(
            "1003",
            voornaam="Noor",
            tussenvoegsel="",
            achternaam="Bakker",
            ouder1_naam="Piet Bakker",
            ouder1_email="piet@example.org",
            bijzonderheden=NOTE,
        ),
        pupil_row(
            "1004",
            voornaam="Fenna",
            tussenvoegsel="",
            achternaam="Bakker",
            ouder1_naam="Piet Bakker",
            ouder1_email="piet@example.org",
        ),
    ]
    (tmp_path / "school.csv").write_bytes(export(*rows))
    assert main(["import-pupils", str(tmp_path / "school.csv")]) == 0
    asyncio.run(_history(db))
    secrets = (OLD_NAME, NEW_NAME, NOTE, RECIPIENT)
    before = _everything(db)
    assert all(secret in before for secret in secrets)  # the scan finds what is there
    waiting = json.loads(
        sqlite3.connect(db).execute("SELECT params FROM outbox WHERE sent_at IS NULL").fetchone()[0]
    )
    assert waiting  # notifications about the correction wait for the sender

    # The bot runs meanwhile: its open connection keeps the WAL file from being folded
    # into the database when the command line closes its own.
    running_bot = sqlite3.connect(db)
    running_bot.execute("SELECT count(*) FROM pupil").fetchall()
    capsys.readouterr()
    assert main(["erase-pupil", "1003"]) == 0
    assert "De gegevens van leerling 1003 zijn uit de bot gewist." in capsys.readouterr().out

    after = _everything(db)
    for secret in secrets:
        assert secret not in after, secret
    for path in (db, db.with_name("school.db-wal")):
        raw = path.read_bytes() if path.exists() else b""
        for secret in secrets:
            assert secret.encode() not in raw, (path.name, secret)
    assert db.with_name("school.db-wal").stat().st_size == 0  # checkpointed and truncated
    running_bot.close()
    # The sister's question that named her is kept, as a whole message replaced.
    with sqlite3.connect(db) as conn:
        texts = [t for (t,) in conn.execute("SELECT text FROM request ORDER BY id")]
        assert "[verwijderd op verzoek]" in texts
