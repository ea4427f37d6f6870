"""Configuration: environment variables and an optional .env file, read once."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage.models import DEFAULT_CONSENT_CHANNELS

# P[nD]T[nH][nM][nS]: what a school writes for a duration; pydantic parses it.
_ISO_DURATION = re.compile(r"P(?:[0-9]+D)?(?:T(?:[0-9]+H)?(?:[0-9]+M)?(?:[0-9.]+S)?)?")


def _duration(value: object) -> object:
    """Plain seconds ("900", as the README documents) or ISO 8601 ("PT15M"); nothing else.

    pydantic alone rejects "900" from the environment and reads "15:00" as 15 hours."""
    if isinstance(value, str):
        text = value.strip().upper()
        if text.isascii() and text.isdigit():
            return timedelta(seconds=int(text))
        if text in ("P", "PT") or not _ISO_DURATION.fullmatch(text):
            raise ValueError("seconds (900) or ISO 8601 (PT15M)")
        return text
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration), Field(gt=timedelta(0))]

# Telegram opens a Mini App only from https; plain http only on this machine (the demo).
_LOOPBACK = re.compile(r"http://(127\.0\.0\.1|localhost|\[::1\])(:[0-9]+)?(/.*)?")


def _secure_view_url(value: object) -> object:
    """SECURE_VIEW_URL: an https address (or http on loopback), without a trailing "/",
    query or fragment; empty means off."""
    if value is None:
        return None
    text = str(value).strip().rstrip("/")
    if not text:
        return None
    if not (text.startswith("https://") or _LOOPBACK.fullmatch(text)):
        raise ValueError("an https:// address (http:// only on 127.0.0.1 or localhost)")
    if "?" in text or "#" in text or " " in text:
        raise ValueError("an address without ?query or #fragment")
    return text


SecureViewUrl = Annotated[str | None, BeforeValidator(_secure_view_url)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    bot_token: SecretStr | None = None
    database_url: str = "sqlite+aiosqlite:///ouderloket.db"
    telegram_api_url: str | None = None
    redis_url: str | None = None
    # Keys in Redis start with this, so several schools (or test runs) share one server.
    redis_prefix: str = "ouderloket"
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_host: str = "127.0.0.1"
    webhook_port: int = 8081
    # At most this many updates in flight from Telegram (its max_connections). More only
    # queues inside the workers: on 2 cores, 16 keeps p99 near 130 ms, 32 near 350 ms.
    webhook_max_connections: int = Field(default=16, ge=1, le=100)
    school_name: str = "Onze school"
    default_locale: str = Field(default="nl", pattern="^(nl|en)$")
    bot_username: str | None = None
    consent_channels: tuple[str, ...] = DEFAULT_CONSENT_CHANNELS
    # How long a message with a child's personal data stays in the chat (seconds or ISO
    # 8601, e.g. 900 or PT15M).
    data_view_ttl: Duration = timedelta(minutes=15)
    # The yearly consent check goes out on this day (the start of the school year).
    consent_check_month: int = Field(default=9, ge=1, le=12)
    consent_check_day: int = Field(default=1, ge=1, le=28)
    # Days the bot keeps the data of a pupil who left the school (missing from the export).
    left_pupil_retention_days: int = Field(default=30, ge=0, le=3650)

    # The secure view (a Telegram Mini App served by this process, bot/secure_view.py):
    # its public address; when set, no chat message carries a child's data. With long
    # polling it listens on SECURE_VIEW_HOST:SECURE_VIEW_PORT, in webhook mode on the
    # webhook's server.
    secure_view_url: SecureViewUrl = None
    secure_view_host: str = "127.0.0.1"
    secure_view_port: int = 8082

    @property
    def token(self) -> str:
        if self.bot_token is None:
            raise RuntimeError("BOT_TOKEN is not set")
        return self.bot_token.get_secret_value()
