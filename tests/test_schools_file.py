"""schools.yaml: one database and one bot per school, however the file spells them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.config import Settings
from bot.schools import SchoolsProblem, load_schools

TOKENS = {"FLINT_TOKEN": "1:AAA", "ESCH_TOKEN": "2:BBB"}


def _board(tmp_path: Path, flint_url: str, esch_url: str, esch_token: str = "ESCH_TOKEN") -> Path:
    path = tmp_path / "schools.yaml"
    path.write_text(
        "board: Zinderonderwijs\n"
        "schools:\n"
        f"  - {{key: flint, name: OBS de Flint, token_env: FLINT_TOKEN,"
        f" database_url: '{flint_url}'}}\n"
        f"  - {{key: esch, name: CBS De Esch, token_env: {esch_token},"
        f" database_url: '{esch_url}'}}\n",
        encoding="utf-8",
    )
    return path


def _problem(path: Path, environ: dict[str, str] = TOKENS) -> str:
    base = Settings(_env_file=None)  # type: ignore[call-arg]
    with pytest.raises(SchoolsProblem) as caught:
        load_schools(base, path, environ=environ)
    return str(caught.value)


SAME_DATABASE = (
    "flint en esch gebruiken in schools.yaml dezelfde database; elke school heeft een eigen "
    "database nodig."
)
SAME_TOKEN = (
    "flint en esch gebruiken in schools.yaml hetzelfde bot-token; elke school heeft een eigen "
    "bot nodig (@BotFather)."
)


@pytest.mark.parametrize(
    ("flint", "esch"),
    [
        ("sqlite+aiosqlite:///data/flint.db", "sqlite+aiosqlite:///data/./flint.db"),
        ("sqlite+aiosqlite:///data/flint.db", "sqlite+aiosqlite:///data/../data/flint.db"),
        ("sqlite+aiosqlite:///flint.db", "sqlite+aiosqlite:///{cwd}/flint.db"),
        ("sqlite+aiosqlite:///flint.db", "sqlite:///flint.db"),
        (
            "postgresql+asyncpg://ol@db.example:5432/flint",
            "postgresql+asyncpg://other:secret@DB.example/flint",
        ),
    ],
)
def test_two_schools_on_one_database_are_refused_however_it_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flint: str, esch: str
) -> None:
    monkeypatch.chdir(tmp_path)
    path = _board(tmp_path, flint, esch.format(cwd=tmp_path))
    assert _problem(path) == SAME_DATABASE


def test_other_databases_on_one_server_are_two_schools(tmp_path: Path) -> None:
    path = _board(
        tmp_path,
        "postgresql+asyncpg://ol@db.example/flint",
        "postgresql+asyncpg://ol@db.example/esch",
    )
    base = Settings(_env_file=None)  # type: ignore[call-arg]
    assert [s.key for s in load_schools(base, path, environ=TOKENS)] == ["flint", "esch"]
    other_port = _board(
        tmp_path,
        "postgresql+asyncpg://ol@db.example:5432/flint",
        "postgresql+asyncpg://ol@db.example:5433/flint",
    )
    assert len(load_schools(base, other_port, environ=TOKENS)) == 2


def test_two_schools_on_one_bot_token_are_refused(tmp_path: Path) -> None:
    flint, esch = "sqlite+aiosqlite:///flint.db", "sqlite+aiosqlite:///esch.db"
    assert _problem(_board(tmp_path, flint, esch, esch_token="FLINT_TOKEN")) == SAME_TOKEN
    same_value = {"FLINT_TOKEN": "1:AAA", "ESCH_TOKEN": "1:AAA"}
    assert _problem(_board(tmp_path, flint, esch), same_value) == SAME_TOKEN
    assert "1:AAA" not in _problem(_board(tmp_path, flint, esch), same_value)


def test_the_command_line_stops_with_the_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    _board(tmp_path, "sqlite+aiosqlite:///flint.db", "sqlite+aiosqlite:///./flint.db")
    for name, value in TOKENS.items():
        monkeypatch.setenv(name, value)
    assert main(["staff", "list", "--school", "esch"]) == 2
    assert capsys.readouterr().err.strip() == SAME_DATABASE
    assert not (tmp_path / "flint.db").exists()  # nothing was opened
