"""What reaches the log when a statement fails inside a handler: the SQL, never a value.
The real bot over the emulator, with the log at DEBUG as the most talkative setting."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from bot.logs import DATABASE_LOGGERS, configure_logging
from flows.requests import parent as request_flows
from storage.models import AuthorKind, RequestMessage
from tests.e2e import running_bot

TYPED = "Noor heeft astma en mag niet mee met gym"


def _failures(log: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in log.records if r.exc_info and "IntegrityError" in r.getMessage()]


@pytest.fixture
def debug_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """The log at DEBUG, configured as the command line configures it."""
    before = {name: logging.getLogger(name).level for name in DATABASE_LOGGERS}
    caplog.set_level(logging.DEBUG)
    configure_logging(logging.DEBUG)
    try:
        yield caplog
    finally:
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)


async def test_a_failing_statement_in_a_handler_leaves_no_typed_text_or_name_in_the_log(
    tmp_path: Path, debug_log: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def failing_notify(session: Any, request: Any, *_args: Any) -> None:
        # A statement carrying the parent's text that the database refuses (no such
        # request: the foreign key fails), as any constraint could in production.
        await session.exec(
            insert(RequestMessage).values(
                request_id=10**9,
                author_kind=AuthorKind.GUARDIAN,
                author_id=1,
                text=request.text,
                at=request.received_at,
            )
        )

    monkeypatch.setattr(request_flows, "notify_assignee", failing_notify)
    async with running_bot(tmp_path, "polling") as world:
        piet = await world.linked("Piet Bakker")
        await piet.press("Vraag stellen")
        await piet.press("De directeur")
        await piet.send(TYPED)
        record = await piet.press("Versturen")
        # The button is answered all the same, and nothing was stored.
        assert record.answered and record.show_alert
        assert record.text == "Er ging iets mis. Probeer het straks opnieuw."
        assert "Uw kenmerk is" not in piet.last_text
        assert _failures(debug_log), "the failing statement was not logged"

    assert "parameters hidden" in debug_log.text
    for needle in (TYPED, "astma", "Noor", "Bakker"):
        assert needle not in debug_log.text
    driver_lines = [r for r in debug_log.records if r.name.startswith(DATABASE_LOGGERS)]
    assert all(r.levelno >= logging.WARNING for r in driver_lines)


async def test_at_info_the_log_has_no_line_per_update_but_keeps_a_failure(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`ouderloket run` logs at INFO: aiogram's line for every update handled is not in
    it (thousands on the evening the letters go home), a failed update still is."""
    from bot.logs import PER_UPDATE_LOGGERS

    before = {
        name: logging.getLogger(name).level for name in (*DATABASE_LOGGERS, *PER_UPDATE_LOGGERS)
    }
    caplog.set_level(logging.INFO)
    configure_logging(logging.INFO)
    try:
        async with running_bot(tmp_path, "polling") as world:
            piet = await world.linked("Piet Bakker")
            await piet.send("/menu")
            assert "Mijn gegevens" in piet.buttons()
        handled = [r for r in caplog.records if r.name == "aiogram.event"]
        assert handled == []
        assert logging.getLogger("aiogram.event").isEnabledFor(logging.ERROR)
    finally:
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)
