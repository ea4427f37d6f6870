"""The demo's web chat: a page where one picks a persona and chats with the bot as on a
phone, and the small JSON API behind it. Served by the same process as the emulator."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.emulator.html import to_html
from bot.emulator.server import EMULATOR_KEY
from bot.emulator.state import Emulator, StoredMessage
from bot.emulator.webapp import sign_init_data

STATIC = Path(__file__).parent / "static"
MAX_INPUT = 10_000  # a web client may send more than Telegram would; the bot must cope
POLL_SECONDS = 25.0


@dataclass(frozen=True)
class WebPersona:
    user_id: int
    name: str
    description: str
    code: str
    language_code: str = "nl"


PERSONAS_KEY: web.AppKey[tuple[WebPersona, ...]] = web.AppKey("personas")
# Where the chat is mounted: "" for the first school, "/esch" for a second one.
PREFIX_KEY: web.AppKey[str] = web.AppKey("prefix")
# The board's schools in the demo: (name, page), so the page can switch between them.
SCHOOLS_KEY: web.AppKey[tuple[tuple[str, str], ...]] = web.AppKey("schools")


def _message_json(emu: Emulator, message: StoredMessage, prefix: str = "") -> dict[str, Any]:
    buttons = [
        [
            {"text": b["text"], "data": b["callback_data"]}
            if "callback_data" in b
            else {"text": b["text"], "web_app": b["web_app"].get("url", "")}
            if isinstance(b.get("web_app"), dict)
            else {"text": b["text"], "url": b.get("url", "")}
            for b in row
        ]
        for row in (message.reply_markup or {}).get("inline_keyboard") or []
    ]
    document = None
    if message.document is not None:
        document = {
            "file_name": message.document.file_name,
            "url": f"{prefix}/api/chats/{message.chat_id}/files/{message.document.file_id}",
        }
    if message.text is not None:
        html = to_html(message.text, message.entities)
    else:
        html = to_html(message.caption or "", message.caption_entities)
    return {
        "message_id": message.message_id,
        "from": "bot" if message.from_bot else "user",
        "html": html,
        "buttons": buttons,
        "document": document,
        "edited": message.edit_date is not None,
    }


def _user_id(request: web.Request) -> int:
    personas = request.app[PERSONAS_KEY]
    try:
        user_id = int(request.match_info["user_id"])
    except ValueError as exc:
        raise web.HTTPNotFound() from exc
    if user_id not in {p.user_id for p in personas}:
        raise web.HTTPNotFound()
    return user_id


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


async def personas(request: web.Request) -> web.Response:
    emu = request.app[EMULATOR_KEY]
    listed = request.app[PERSONAS_KEY]
    return web.json_response(
        {
            "bot_name": emu.bot_name,
            "personas": [
                {"user_id": p.user_id, "name": p.name, "description": p.description, "code": p.code}
                for p in listed
            ],
            "schools": [
                {"name": name, "url": url, "current": url == request.app[PREFIX_KEY] + "/"}
                for name, url in request.app[SCHOOLS_KEY]
            ],
        }
    )


async def messages(request: web.Request) -> web.Response:
    emu = request.app[EMULATOR_KEY]
    user_id = _user_id(request)
    try:
        since = int(request.query.get("since", "0"))
    except ValueError:
        since = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + POLL_SECONDS
    while emu.version(user_id) <= since and loop.time() < deadline:
        await emu.wait_changed(min(1.0, deadline - loop.time()))
    alerts = [
        {"id": c.id, "text": c.text, "show_alert": c.show_alert}
        for c in emu.callbacks.values()
        if c.user_id == user_id and c.text
    ]
    return web.json_response(
        {
            "version": emu.version(user_id),
            "messages": [
                _message_json(emu, m, request.app[PREFIX_KEY]) for m in emu.visible(user_id)
            ],
            "alerts": alerts[-10:],
        }
    )


async def send(request: web.Request) -> web.Response:
    emu = request.app[EMULATOR_KEY]
    user_id = _user_id(request)
    body = await request.json()
    text = str(body.get("text", "")).strip()
    if not text:
        return web.json_response({"ok": False, "error": "Typ eerst een bericht."})
    if len(text) > MAX_INPUT:
        return web.json_response({"ok": False, "error": "Dit bericht is te lang."})
    await emu.user_sends(user_id, text)
    return web.json_response({"ok": True})


async def press(request: web.Request) -> web.Response:
    emu = request.app[EMULATOR_KEY]
    user_id = _user_id(request)
    body = await request.json()
    try:
        await emu.user_presses(user_id, int(body.get("message_id")), str(body.get("data", "")))
    except (LookupError, TypeError, ValueError):
        return web.json_response({"ok": False, "error": "Dit bericht bestaat niet meer."})
    return web.json_response({"ok": True})


async def web_app(request: web.Request) -> web.Response:
    """Init data for a web_app button, as Telegram signs it when the button is tapped: by
    the emulated bot's token, for this persona, now."""
    emu = request.app[EMULATOR_KEY]
    user_id = _user_id(request)
    persona = next(p for p in request.app[PERSONAS_KEY] if p.user_id == user_id)
    init_data = sign_init_data(
        emu.token,
        user_id,
        datetime.now(UTC),
        first_name=persona.name.split()[0],
        language_code=persona.language_code,
    )
    return web.json_response({"init_data": init_data}, headers={"Cache-Control": "no-store"})


async def download(request: web.Request) -> web.Response:
    emu = request.app[EMULATOR_KEY]
    user_id = _user_id(request)
    file_id = request.match_info["file_id"]
    # Only a document sent in this persona's own chat.
    for message in emu.visible(user_id):
        if message.document is not None and message.document.file_id == file_id:
            stored = message.document
            return web.Response(
                body=stored.content,
                content_type=stored.mime_type,
                headers={"Content-Disposition": f'inline; filename="{stored.file_name}"'},
            )
    raise web.HTTPNotFound()


def add_web_chat(
    app: web.Application,
    emu: Emulator,
    listed: Sequence[WebPersona],
    prefix: str = "",
    schools: Sequence[tuple[str, str]] = (),
) -> None:
    """Adds the page and its API to an application that already serves the Bot API."""
    app[PERSONAS_KEY] = tuple(listed)
    app[PREFIX_KEY] = prefix
    app[SCHOOLS_KEY] = tuple(schools)
    for persona in listed:
        emu.person(persona.user_id, persona.name.split()[0], persona.language_code)
    app.router.add_get("/", index)
    app.router.add_static("/static", STATIC)
    app.router.add_get("/api/personas", personas)
    app.router.add_get("/api/chats/{user_id}/messages", messages)
    app.router.add_post("/api/chats/{user_id}/send", send)
    app.router.add_post("/api/chats/{user_id}/press", press)
    app.router.add_get("/api/chats/{user_id}/files/{file_id}", download)
    app.router.add_post("/api/chats/{user_id}/webapp", web_app)
