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
