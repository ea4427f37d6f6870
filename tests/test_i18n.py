"""Every text a user can see exists in Dutch and in English."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {"_": None, "__": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None}
PLACEHOLDER = re.compile(r"%\((\w+)\)s|\{(\w+)\}")


def _source_messages() -> set[str]:
    found: set[str] = set()
    for folder in ("bot", "flows"):
        for _file, _line, message, _comments, _ctx in extract_from_dir(
            ROOT / folder,
            method_map=[("**.py", "python"), ("**/templates/**.j2", "jinja2")],
            options_map={"**/templates/**.j2": {"extensions": "jinja2.ext.i18n"}},
            keywords=KEYWORDS,
        ):
            found.add(message if isinstance(message, str) else message[0])
    return found


def _catalog(locale: str) -> Catalog:
    with (ROOT / "locales" / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=locale)


@pytest.mark.parametrize("locale", ["nl", "en"])
def test_every_text_in_the_code_is_translated(locale: str) -> None:
    catalog = _catalog(locale)
    missing = []
    for text in sorted(_source_messages()):
        entry = catalog.get(text)
        strings = (
            []
            if entry is None
            else ([entry.string] if isinstance(entry.string, str) else list(entry.string))
        )
        if entry is None or entry.fuzzy or not strings or not all(strings):
            missing.append(text)
    assert not missing, f"{locale}: untranslated (run `make i18n` and translate): {missing}"


@pytest.mark.parametrize("locale", ["nl", "en"])
def test_translations_keep_their_placeholders(locale: str) -> None:
    for entry in _catalog(locale):
        if not entry.id:
            continue
        source = entry.id if isinstance(entry.id, str) else entry.id[-1]
        translations = [entry.string] if isinstance(entry.string, str) else list(entry.string)
        wanted = {m.group(1) or m.group(2) for m in PLACEHOLDER.finditer(source)}
        for text in translations:
            got = {m.group(1) or m.group(2) for m in PLACEHOLDER.finditer(text)}
            # A singular form may leave out the count ("once more"), nothing else.
            assert got <= wanted and wanted - got <= {"count"}, (locale, source, text)


def test_a_label_follows_the_readers_language_from_one_update_to_the_next() -> None:
    """Labels are kept per language (bot.labels.per_language): a Dutch parent's screen and
    an English one's in turn each get their own words, and a field or channel nobody
    translated is shown by its own name."""
    from bot.i18n import create_i18n
    from bot.labels import channel_label, field_label, status_label

    i18n = create_i18n("nl")
    seen = []
    for locale in ("nl", "en", "nl", "en"):
        with i18n.context(), i18n.use_locale(locale):
            seen.append((field_label("voornaam"), channel_label("website"), status_label("open")))
    assert seen[0] == seen[2] == ("voornaam", "Website", "ontvangen, nog niet in behandeling")
    assert seen[1] == seen[3] == ("first name", "Website", "received, not yet being handled")
    with i18n.context(), i18n.use_locale("en"):
        assert field_label("schoenmaat") == "schoenmaat"
        assert channel_label("schoolkrant") == "Schoolkrant"
