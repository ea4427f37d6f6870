"""Starting the bot the wrong way refuses with one clear line: a webhook without a proper
secret, a webhook without a token; a demo reachable from the network says it is."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from aiogram import Dispatcher
from pydantic import SecretStr

from bot import demo
from bot.cli import main
from bot.config import Settings
from bot.runner import run_webhook, webhook_app, webhook_secret
from tests.recording import recording_bot

GOOD = "a" * 24 + "B-_9" * 2


def _settings(tmp_path: Path, secret: str | None) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        bot_token="42:TEST",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'never.db'}",
        webhook_url="https://bot.example.nl",
        webhook_secret=SecretStr(secret) if secret is not None else None,
    )


@pytest.mark.parametrize(
    ("secret", "says"),
    [
        (None, "WEBHOOK_SECRET ontbreekt of is leeg"),
        ("", "WEBHOOK_SECRET ontbreekt of is leeg"),
        ("geheim met spaties", "alleen A-Z, a-z, 0-9, _ en -"),
        ("geheim!" + "x" * 40, "alleen A-Z, a-z, 0-9, _ en -"),
        ("x" * 257, "hoogstens 256 tekens"),
    ],
)
async def test_the_webhook_server_refuses_to_start_without_a_valid_secret(
    tmp_path: Path, secret: str | None, says: str
) -> None:
    settings = _settings(tmp_path, secret)
    with pytest.raises(SystemExit) as refused:
        await run_webhook(settings)
    message = str(refused.value.code)
    assert says in message and "\n" not in message
    # Refused before anything happened: no database made, nothing registered.
    assert not (tmp_path / "never.db").exists()
    bot, _session = recording_bot()
    with pytest.raises(SystemExit):
        webhook_app(settings, bot, Dispatcher())


def test_a_short_secret_works_with_a_warning_and_a_long_one_without(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    assert webhook_secret(_settings(tmp_path, "kort_maar-geldig")) == "kort_maar-geldig"
    assert "at least 32" in caplog.text
    caplog.clear()
    assert webhook_secret(_settings(tmp_path, GOOD)) == GOOD
    assert webhook_secret(_settings(tmp_path, "x" * 256)) == "x" * 256
    assert caplog.text == ""
    assert GOOD not in caplog.text


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's folder
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'school.db'}")
    for name in ("BOT_TOKEN", "WEBHOOK_SECRET", "WEBHOOK_URL", "TELEGRAM_API_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_run_webhook_with_an_empty_secret_refuses_in_one_line(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BOT_TOKEN", "42:TEST")
    monkeypatch.setenv("WEBHOOK_URL", "https://bot.example.nl")
    monkeypatch.setenv("WEBHOOK_SECRET", "")
    assert main(["run", "--webhook"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("WEBHOOK_SECRET ontbreekt of is leeg") and "\n" not in err
    assert not (env / "school.db").exists()


def test_run_webhook_without_a_token_refuses_instead_of_starting_the_demo(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    started: list[Any] = []

    async def fake_demo(*args: Any, **kwargs: Any) -> None:
        started.append(args)

    monkeypatch.setattr(demo, "run_demo", fake_demo)
    monkeypatch.setenv("WEBHOOK_URL", "https://bot.example.nl")
    monkeypatch.setenv("WEBHOOK_SECRET", GOOD)
    assert main(["run", "--webhook"]) == 2
    assert "BOT_TOKEN ontbreekt: de webhook start niet." in capsys.readouterr().err
    assert started == []


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "demo.example.nl"])
def test_a_demo_on_a_network_address_warns_that_anyone_can_act_as_anyone(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], host: str
) -> None:
    seen: list[str] = []

    async def fake_demo(settings: Settings, *, host: str, **kwargs: Any) -> None:
        seen.append(host)

    monkeypatch.setattr(demo, "run_demo", fake_demo)
    assert main(["demo", "--host", host]) == 0
    err = capsys.readouterr().err
    assert f"de demo luistert op {host}" in err
    assert "namens die persoon handelen" in err
    assert seen == [host]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_a_demo_on_loopback_gives_no_warning(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], host: str
) -> None:
    async def fake_demo(settings: Settings, **kwargs: Any) -> None:
        return None

    monkeypatch.setattr(demo, "run_demo", fake_demo)
    assert main(["demo", "--host", host]) == 0
    assert "Let op" not in capsys.readouterr().err
