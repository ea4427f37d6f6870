"""Several schools in one deployment: the board's `schools.yaml`.

A board (e.g. Zinderonderwijs) runs one process for all its schools. Each school has its
own bot (Telegram's sending limits are per bot) and its own database, so no query can
ever cross schools. Without a schools file the usual settings are a board of one school.

    # schools.yaml (path: SCHOOLS_FILE, default ./schools.yaml)
    board: Zinderonderwijs
    schools:
      - key: flint                       # a-z, 0-9, -; used in --school and the webhook path
        name: OBS de Flint
        token_env: FLINT_BOT_TOKEN       # the name of the variable holding the bot token
        database_url: sqlite+aiosqlite:///flint.db
        bot_username: flint_ouderloket_bot   # optional
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml
from aiogram.utils.i18n import I18n
from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.config import Settings

DEFAULT_FILE = "schools.yaml"
# The key of the one school when there is no schools file.
SINGLE_KEY = "school"


def _(message: str) -> str:
    i18n = I18n.get_current(no_error=True)
    return i18n.gettext(message) if i18n is not None else message


class SchoolEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")
    name: str = Field(min_length=1, max_length=200)
    token_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    database_url: str = Field(min_length=1)
    bot_username: str | None = None


class BoardFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    board: str = ""
    schools: list[SchoolEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct(self) -> BoardFile:
        keys = [s.key for s in self.schools]
        if len(set(keys)) != len(keys):
            raise ValueError("duplicate key")
        return self


@dataclass(frozen=True)
class School:
    key: str
    settings: Settings


class SchoolsProblem(Exception):
    """One line for the administrator, in their language."""


def schools_file(environ: Mapping[str, str] | None = None) -> Path | None:
    environ = os.environ if environ is None else environ
    named = environ.get("SCHOOLS_FILE")
    if named:
        path = Path(named)
        if not path.is_file():
            raise SchoolsProblem(
                _("SCHOOLS_FILE verwijst naar {path}, maar dat bestand bestaat niet.").format(
                    path=path
                )
            )
        return path
    default = Path(DEFAULT_FILE)
    return default if default.is_file() else None


def _token(name: str, environ: Mapping[str, str]) -> SecretStr | None:
    value = environ.get(name)
    if value is None and Path(".env").is_file():
        value = dotenv_values(".env").get(name)
    return SecretStr(value) if value else None


def load_schools(
    settings: Settings, path: Path | None = None, environ: Mapping[str, str] | None = None
) -> list[School]:
    """The schools of this deployment, each with its own Settings copy."""
    environ = os.environ if environ is None else environ
    path = path if path is not None else schools_file(environ)
    if path is None:
        return [School(SINGLE_KEY, settings)]
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        board = BoardFile.model_validate(raw)
    except (OSError, yaml.YAMLError, ValidationError) as error:
        where = ""
        if isinstance(error, ValidationError) and error.errors():
            where = " (" + ".".join(str(p) for p in error.errors()[0]["loc"]) + ")"
        raise SchoolsProblem(
            _("{path} is ongeldig{where}; zie de README (Meerdere scholen).").format(
                path=path.name, where=where
            )
        ) from None
    tokens = {entry.key: _token(entry.token_env, environ) for entry in board.schools}
    _one_place_each(board.schools, tokens)
    return [
        School(
            entry.key,
            settings.model_copy(
                update={
                    "database_url": entry.database_url,
                    "bot_token": tokens[entry.key],
                    "school_name": entry.name,
                    "bot_username": entry.bot_username,
                    # Each school's keys in Redis apart (forms, turns, counts, the
                    # outbox's pace), as its data is in a database of its own.
                    "redis_prefix": f"{settings.redis_prefix}:{entry.key}",
                }
            ),
        )
        for entry in board.schools
    ]


def database_identity(url: str) -> tuple[object, ...] | None:
    """Where a database URL leads, whatever its spelling: SQLite's file as an absolute
    path (relative paths are the process's, as SQLite opens them; `./` and `..` resolved),
    a server's host, port and database name. None for an in-memory database, which is
    every connection's own."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return ("url", url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or parsed.query.get("mode") == "memory":
            return None
        return ("sqlite", str(Path(database).expanduser().resolve()))
    default_ports = {"postgresql": 5432, "mysql": 3306}
    return (
        backend,
        (parsed.host or "localhost").lower(),
        parsed.port or default_ports.get(backend),
        parsed.database,
    )


def _one_place_each(entries: list[SchoolEntry], tokens: Mapping[str, SecretStr | None]) -> None:
    """Two schools in one database would each see the other's children; two schools on
    one bot would link one school's letters in the other's. One line names the pair."""
    databases: dict[tuple[object, ...], str] = {}
    token_owners: dict[str, str] = {}
    for entry in entries:
        place = database_identity(entry.database_url)
        if place is not None and place in databases:
            raise SchoolsProblem(
                _(
                    "{first} en {second} gebruiken in schools.yaml dezelfde database; elke "
                    "school heeft een eigen database nodig."
                ).format(first=databases[place], second=entry.key)
            )
        if place is not None:
            databases[place] = entry.key
        token = tokens.get(entry.key)
        for same in (f"env:{entry.token_env}", token and f"token:{token.get_secret_value()}"):
            if not same:
                continue
            if same in token_owners:
                raise SchoolsProblem(
                    _(
                        "{first} en {second} gebruiken in schools.yaml hetzelfde bot-token; "
                        "elke school heeft een eigen bot nodig (@BotFather)."
                    ).format(first=token_owners[same], second=entry.key)
                )
            token_owners[same] = entry.key


def resolve_school(schools: list[School], key: str | None) -> School:
    """The school an administrator's command is about: --school KEY, required when the
    board has more than one."""
    if key is None:
        if len(schools) == 1:
            return schools[0]
        raise SchoolsProblem(
            _("Er zijn meerdere scholen. Kies er één met --school: {keys}.").format(
                keys=", ".join(s.key for s in schools)
            )
        )
    for school in schools:
        if school.key == key:
            return school
    raise SchoolsProblem(
        _("Onbekende school {key}. Kies uit: {keys}.").format(
            key=key, keys=", ".join(s.key for s in schools)
        )
    )


def school_settings(
    settings: Settings, key: str | None, environ: Mapping[str, str] | None = None
) -> Settings:
    """The one function every administrator's command uses to pick its school."""
    return resolve_school(load_schools(settings, environ=environ), key).settings
