"""Filters for handlers' registration. Each is async: aiogram runs a plain function
(a magic filter such as F.text too) in a thread, a hop on every update it is asked about."""

from __future__ import annotations

from aiogram.types import Message


async def has_text(message: Message) -> bool:
    return bool(message.text)


async def typed_command(message: Message) -> bool:
    """A slash command typed by hand (/menu, /annuleren, …)."""
    return (message.text or "").startswith("/")
