"""Kopie downloaden: the child's data as a printable HTML page and as JSON (Art. 15(3))."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager

from aiogram.utils.i18n import I18n

from bot.i18n import create_i18n
from bot.labels import channel_label, field_label, kind_label, status_label
from bot.render import environment
from flows.export import ChildExport, aware, export_json

_NOT_SLUG = re.compile(r"[^a-z0-9]+")
# The word in front of a file name, per language; ASCII only.
_PREFIX = {"nl": "gegevens", "en": "data"}
# When nothing of the name is left in ASCII (a name in another script).
_NO_NAME = {"nl": "kind", "en": "child"}


def slugify(text: str) -> str:
    """ASCII, lower case, words joined by "-": "Zoë van 't Hof" -> "zoe-van-t-hof"."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _NOT_SLUG.sub("-", plain.lower()).strip("-")


def base_name(export: ChildExport, locale: str) -> str:
    prefix = _PREFIX.get(locale, _PREFIX["nl"])
    name = slugify(export.record.full_name) or _NO_NAME.get(locale, _NO_NAME["nl"])
    return f"{prefix}-{name}-{aware(export.generated_at).date().isoformat()}"


@contextmanager
def _in_locale(locale: str) -> Iterator[None]:
    # The bot renders inside aiogram's I18n context; the command line may have none.
    i18n = I18n.get_current(no_error=True) or create_i18n(locale)
    with i18n.context(), i18n.use_locale(locale):
        yield


def copy_html(export: ChildExport, locale: str) -> str:
    # The Jinja environment directly, not render(): that one tidies blank lines for
    # Telegram, and a copy must keep values (a disclosure's description) as they are.
    template = environment().get_template("copy.html.j2")
    with _in_locale(locale):
        return template.render(
            x=export,
            r=export.record,
            lang=locale,
            label=channel_label,
            label_field=field_label,
            kind_label=kind_label,
            status_label=status_label,
        )


def copy_documents(export: ChildExport, locale: str) -> list[tuple[str, bytes]]:
    """[(file name, contents)]: the HTML page to read or print, and the JSON file."""
    name = base_name(export, locale)
    return [
        (f"{name}.html", copy_html(export, locale).encode("utf-8")),
        (f"{name}.json", export_json(export)),
    ]
