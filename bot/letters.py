"""Invite letters: codes.csv for mail merge and letters.html to print, one page per guardian."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import segno
from markupsafe import Markup

from bot.render import current_locale, render
from bot.spreadsheet import csv_text
from flows.codes import display
from flows.invites import IssuedCode

CSV_COLUMNS = ("kind", "name", "email", "pupils", "code", "link")


def deep_link(bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username}?start={code}"


def qr_svg(url: str) -> Markup:
    # segno writes the SVG itself from a URL it was given: no user text is in it.
    return Markup(segno.make(url, error="m").svg_inline(scale=4, border=2))


def codes_csv(issued: Sequence[IssuedCode], bot_username: str) -> str:
    return csv_text(
        CSV_COLUMNS,
        (
            (
                item.kind,
                item.name,
                item.email,
                ", ".join(item.pupils),
                display(item.code),
                deep_link(bot_username, item.code),
            )
            for item in issued
        ),
    )


def letters_html(
    issued: Sequence[IssuedCode], bot_username: str, school: str, now: datetime
) -> str:
    letters = [
        {
            "kind": item.kind,
            "name": item.name,
            "pupils": item.pupils,
            "code": display(item.code),
            "link": deep_link(bot_username, item.code),
            "qr": qr_svg(deep_link(bot_username, item.code)),
            "expires_at": item.expires_at,
        }
        for item in issued
    ]
    return render(
        "letters.html.j2",
        letters=letters,
        school=school,
        bot_username=bot_username,
        today=now,
        lang=current_locale(),
    )
