"""Telegram-compatible parsing of ``parse_mode=HTML`` message text.

Mirrors the behaviour of TDLib's HTML parser closely enough for tests: only the tags
Telegram supports are accepted, errors use Telegram's wording (including the UTF-8 byte
offset), and the result is the plain text plus message entities with offsets and lengths
counted in UTF-16 code units, exactly as the Bot API reports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any

MAX_MESSAGE_LENGTH = 4096

SIMPLE_TAGS: dict[str, str] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
}
SUPPORTED_TAGS = frozenset({*SIMPLE_TAGS, "a", "span", "tg-emoji"})

NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'", "nbsp": "\u00a0"}


class EntityParseError(ValueError):
    """Raised with the text Telegram puts after ``can't parse entities: ``."""


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the unit Telegram counts in."""
    return len(text.encode("utf-16-le")) // 2


@dataclass
class _OpenTag:
    name: str
    start: int  # UTF-16 offset in the plain text
    attrs: dict[str, str] = field(default_factory=dict)


@dataclass
class ParsedText:
    text: str
    entities: list[dict[str, Any]]


def _decode_entity(source: str, pos: int) -> tuple[str, int] | None:
    """Decode an HTML entity starting at ``source[pos] == '&'``; None if not an entity."""
    end = source.find(";", pos + 1, pos + 12)
    if end == -1:
        return None
    name = source[pos + 1 : end]
    if name.startswith("#"):
        try:
            code = int(name[2:], 16) if name[1:2] in ("x", "X") else int(name[1:])
        except ValueError:
            return None
        # A surrogate or out-of-range code is no character: the text stays as written.
        if not 0 < code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return None
        return chr(code), end + 1
    if name in NAMED_ENTITIES:
        return NAMED_ENTITIES[name], end + 1
    return None


def _unescape(value: str) -> str:
    out: list[str] = []
    pos = 0
    while pos < len(value):
        if value[pos] == "&" and (decoded := _decode_entity(value, pos)) is not None:
            out.append(decoded[0])
            pos = decoded[1]
        else:
            out.append(value[pos])
            pos += 1
    return "".join(out)


def _byte_offset(source: str, pos: int) -> int:
    return len(source[:pos].encode("utf-8"))


def _parse_attributes(source: str, pos: int, tag_start: int) -> tuple[dict[str, str], int]:
    """Parse attributes from ``pos`` up to and including the closing ``>``."""
    attrs: dict[str, str] = {}
    length = len(source)
    while True:
        while pos < length and source[pos].isspace():
            pos += 1
        if pos >= length:
            raise EntityParseError(
                f"Unclosed start tag at byte offset {_byte_offset(source, tag_start)}"
            )
        if source[pos] == ">":
            return attrs, pos + 1
        if source[pos] == "/" and source[pos + 1 : pos + 2] == ">":
            return attrs, pos + 2
        name_start = pos
        while pos < length and (source[pos].isalnum() or source[pos] in "-_"):
            pos += 1
        name = source[name_start:pos].lower()
        if not name:
            raise EntityParseError(
                f"Empty attribute name in the tag at byte offset {_byte_offset(source, tag_start)}"
            )
        while pos < length and source[pos].isspace():
            pos += 1
        value = ""
        if pos < length and source[pos] == "=":
            pos += 1
            while pos < length and source[pos].isspace():
                pos += 1
            if pos < length and source[pos] in "\"'":
                quote = source[pos]
                end = source.find(quote, pos + 1)
                if end == -1:
                    raise EntityParseError(
                        f"Unclosed start tag at byte offset {_byte_offset(source, tag_start)}"
                    )
                value = _unescape(source[pos + 1 : end])
                pos = end + 1
            else:
                value_start = pos
                while pos < length and not source[pos].isspace() and source[pos] != ">":
                    pos += 1
                value = _unescape(source[value_start:pos])
        attrs[name] = value


def _entity_for(tag: _OpenTag, end: int) -> dict[str, Any] | None:
    length = end - tag.start
    if length <= 0:
        return None
    entity: dict[str, Any] = {"offset": tag.start, "length": length}
    if tag.name in SIMPLE_TAGS:
        entity["type"] = SIMPLE_TAGS[tag.name]
        if tag.name == "pre" and "language" in tag.attrs:
            entity["language"] = tag.attrs["language"]
        if tag.name == "blockquote" and "expandable" in tag.attrs:
            entity["type"] = "expandable_blockquote"
    elif tag.name == "span":
        entity["type"] = "spoiler"
    elif tag.name == "tg-emoji":
        entity["type"] = "custom_emoji"
        entity["custom_emoji_id"] = tag.attrs.get("emoji-id", "")
    elif tag.name == "a":
        href = tag.attrs.get("href", "")
        if not href:
            return None
        entity["type"] = "text_link"
        entity["url"] = href
    return entity


def parse_html(source: str) -> ParsedText:
    """Parse Telegram HTML into plain text and entities, raising EntityParseError."""
    out: list[str] = []
    out_len = 0  # UTF-16 length of the text produced so far
    stack: list[_OpenTag] = []
    entities: list[dict[str, Any]] = []
    pos = 0
    length = len(source)
    while pos < length:
        char = source[pos]
        if char == "&":
            decoded = _decode_entity(source, pos)
            piece, pos = (decoded[0], decoded[1]) if decoded else ("&", pos + 1)
            out.append(piece)
            out_len += utf16_len(piece)
            continue
        if char != "<":
            out.append(char)
            out_len += 2 if ord(char) > 0xFFFF else 1
            pos += 1
            continue
        tag_start = pos
        if source[pos + 1 : pos + 2] == "/":
            end = source.find(">", pos)
            if end == -1:
                raise EntityParseError(
                    f"Unclosed end tag at byte offset {_byte_offset(source, tag_start)}"
                )
            name = source[pos + 2 : end].strip().lower()
            if not stack:
                raise EntityParseError(
                    f"Unexpected end tag at byte offset {_byte_offset(source, tag_start)}"
                )
            open_tag = stack.pop()
            if name and name != open_tag.name:
                raise EntityParseError(
                    f"Unmatched end tag at byte offset {_byte_offset(source, tag_start)}, "
                    f'expected "</{open_tag.name}>", found "</{name}>"'
                )
            entity = _entity_for(open_tag, out_len)
            if entity is not None:
                entities.append(entity)
            pos = end + 1
            continue
        name_start = pos + 1
        pos = name_start
        while pos < length and (source[pos].isalnum() or source[pos] in "-_"):
            pos += 1
        name = source[name_start:pos].lower()
        if pos >= length:
            raise EntityParseError(
                f"Unclosed start tag at byte offset {_byte_offset(source, tag_start)}"
            )
        if name not in SUPPORTED_TAGS:
            raise EntityParseError(
                f'Unsupported start tag "{name}" at byte offset {_byte_offset(source, tag_start)}'
            )
        attrs, pos = _parse_attributes(source, pos, tag_start)
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise EntityParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset '
                f"{_byte_offset(source, tag_start)}"
            )
        if name == "code" and stack and stack[-1].name == "pre":
            language = attrs.get("class", "")
            if language.startswith("language-"):
                stack[-1].attrs["language"] = language[len("language-") :]
        stack.append(_OpenTag(name=name, start=out_len, attrs=attrs))
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return ParsedText(text="".join(out), entities=entities)


class TextCheckError(ValueError):
    """A Telegram 400 for message text; ``str(err)`` is the full description."""


def check_utf8(text: str) -> None:
    """A lone surrogate (possible in a JSON string) is not valid text for Telegram."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise TextCheckError("Bad Request: text must be encoded in UTF-8") from exc


def check_message_text(text: str, parse_mode: str | None) -> ParsedText:
    """Validate message text like sendMessage/editMessageText do; return the parsed text."""
    check_utf8(text)
    mode = (parse_mode or "").lower()
    if mode == "html":
        try:
            parsed = parse_html(text)
        except EntityParseError as exc:
            raise TextCheckError(f"Bad Request: can't parse entities: {exc}") from exc
    elif mode in ("", "markdown", "markdownv2"):
        # Markdown is not interpreted by the emulator; the raw text is stored.
        parsed = ParsedText(text=text, entities=[])
    else:
        raise TextCheckError("Bad Request: unsupported parse_mode")
    if not parsed.text.strip():
        raise TextCheckError("Bad Request: message text is empty")
    if utf16_len(parsed.text) > MAX_MESSAGE_LENGTH:
        raise TextCheckError("Bad Request: message is too long")
    return parsed


_SIMPLE_HTML = {
    "bold": "b",
    "italic": "i",
    "underline": "u",
    "strikethrough": "s",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "expandable_blockquote": "blockquote",
}


def _open_tag(entity: dict[str, Any]) -> tuple[str, str]:
    kind = entity.get("type")
    if kind in _SIMPLE_HTML:
        tag = _SIMPLE_HTML[kind]
        return f"<{tag}>", f"</{tag}>"
    if kind == "spoiler":
        return '<span class="spoiler">', "</span>"
    if kind == "text_link":
        url = str(entity.get("url", ""))
        if url.startswith(("http://", "https://")):
            return f'<a href="{escape(url)}" target="_blank" rel="noopener">', "</a>"
    return "", ""


def to_html(text: str, entities: list[dict[str, Any]]) -> str:
    """Safe HTML for a web page from Telegram's plain text and entities (the reverse of
    parse_html, with every character of the text escaped)."""
    # Map UTF-16 offsets to positions in the Python string.
    index: dict[int, int] = {}
    units = 0
    for position, char in enumerate(text):
        index[units] = position
        units += 2 if ord(char) > 0xFFFF else 1
    index[units] = len(text)
    opens: dict[int, list[str]] = {}
    closes: dict[int, list[str]] = {}
    for entity in sorted(entities, key=lambda e: (e["offset"], -e["length"])):
        start = index.get(entity["offset"])
        end = index.get(entity["offset"] + entity["length"])
        opening, closing = _open_tag(entity)
        if start is None or end is None or not opening:
            continue
        opens.setdefault(start, []).append(opening)
        closes.setdefault(end, []).insert(0, closing)
    out: list[str] = []
    for position in range(len(text) + 1):
        out.extend(closes.get(position, []))
        out.extend(opens.get(position, []))
        if position < len(text):
            out.append(escape(text[position]))
    return "".join(out)
