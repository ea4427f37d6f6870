"""Invite codes: made, shown once, stored only as a hash, redeemed once."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no I, O, 0, 1: they are misread on paper
CODE_LENGTH = 12
VALIDITY = timedelta(days=60)
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)

# What a parent may have mistyped for a character that is not in the alphabet.
_LOOKALIKES = str.maketrans({"O": "0", "I": "1"})


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalize(typed: str) -> str | None:
    """The code in canonical form, or None when the text cannot be a code at all."""
    cleaned = "".join(ch for ch in typed.upper() if ch.isalnum())
    if len(cleaned) != CODE_LENGTH or any(ch not in ALPHABET for ch in cleaned):
        return None
    return cleaned


def looks_like_code(typed: str) -> bool:
    cleaned = "".join(ch for ch in typed.upper() if ch.isalnum()).translate(_LOOKALIKES)
    return len(cleaned) == CODE_LENGTH


def display(code: str) -> str:
    """ABCD-EFGH-JKLM: groups of four are easier to type from a letter."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("ascii")).hexdigest()


def expiry(now: datetime) -> datetime:
    return now + VALIDITY


def locked_until(failures: list[datetime], now: datetime) -> datetime | None:
    """When MAX_FAILURES wrong codes fall within FAILURE_WINDOW, the account waits a
    full window after the last of them; attempts refused meanwhile are not counted,
    so typing the right code early does not prolong the wait."""
    recent = sorted(failures)[-MAX_FAILURES:]
    if len(recent) < MAX_FAILURES or recent[-1] - recent[0] > FAILURE_WINDOW:
        return None
    until = recent[-1] + FAILURE_WINDOW
    return until if now < until else None
