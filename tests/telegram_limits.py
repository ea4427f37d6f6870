"""What Telegram refuses, checked on every message the recording session sees."""

from __future__ import annotations

from html.parser import HTMLParser

from aiogram.types import InlineKeyboardMarkup

ALLOWED_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-emoji",
}
MAX_TEXT = 4096
MAX_CALLBACK_BYTES = 64


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.bad_tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.bad_tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag not in ALLOWED_TAGS:
            self.bad_tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def check_message(text: str, markup: object = None) -> None:
    parser = _TextOnly()
    parser.feed(text)
    parser.close()
    assert not parser.bad_tags, f"tags Telegram refuses: {parser.bad_tags}"
    plain = "".join(parser.parts)
    # Telegram counts UTF-16 code units.
    length = len(plain.encode("utf-16-le")) // 2
    assert len(plain.strip()) > 0 and length <= MAX_TEXT, f"text length {length}"
    if isinstance(markup, InlineKeyboardMarkup):
        for row in markup.inline_keyboard:
            for button in row:
                if button.callback_data is not None:
                    size = len(button.callback_data.encode())
                    assert 1 <= size <= MAX_CALLBACK_BYTES, button.callback_data
