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
        urls = [s.database_url for s in self.schools]
        if len(set(keys)) != len(keys):
            raise ValueError("duplicate key")
        # Two schools in one database would see each other's data.
        if len(set(urls)) != len(urls):
            raise ValueError("duplicate database_url")
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
    return [
        School(
            entry.key,
            settings.model_copy(
                update={
                    "database_url": entry.database_url,
                    "bot_token": _token(entry.token_env, environ),
                    "school_name": entry.name,
                    "bot_username": entry.bot_username,
                }
            ),
        )
        for entry in board.schools
    ]


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
