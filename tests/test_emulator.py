"""Tests of the local Telegram Bot API stand-in (bot/emulator): what a bot talking to it
over HTTP, and a person in a test, would notice."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from bot.emulator.driver import ChatPerson
from bot.emulator.html import to_html
from bot.emulator.server import EmulatorServer, create_app
from bot.emulator.state import NOT_MODIFIED, QUERY_INVALID, Emulator, Fault
from bot.emulator.webchat import WebPersona, add_web_chat

TOKEN = "123:TEST"
USER = 1001


@pytest.fixture
def emu() -> Emulator:
    return Emulator(TOKEN)


@pytest.fixture
async def server(emu: Emulator) -> AsyncIterator[EmulatorServer]:
    async with EmulatorServer(create_app(emu)) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def bot(server: EmulatorServer) -> AsyncIterator[Bot]:
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(server.url)))
    try:
        yield bot
    finally:
        await bot.session.close()


@pytest.fixture
async def started(emu: Emulator) -> int:
    """A person who has written /start to the bot."""
    await emu.user_sends(USER, "/start")
    return USER


def method_url(server: EmulatorServer, method: str, token: str = TOKEN) -> str:
    return f"{server.url}/bot{token}/{method}"


async def call(
    http: aiohttp.ClientSession, server: EmulatorServer, method: str, **params: Any
) -> tuple[int, dict[str, Any]]:
    """POSTs `params` as a JSON body; returns the HTTP status and the decoded answer."""
    async with http.post(method_url(server, method), json=params) as response:
        return response.status, await response.json()


def bad(description: str) -> dict[str, Any]:
    return {"ok": False, "error_code": 400, "description": f"Bad Request: {description}"}


def keyboard(*buttons: dict[str, Any]) -> dict[str, Any]:
    return {"inline_keyboard": [list(buttons)]}


# --- HTML text ------------------------------------------------------------------------


async def test_unsupported_tag_is_refused_with_telegrams_text(
    http: aiohttp.ClientSession, server: EmulatorServer, started: int
) -> None:
    status, body = await call(
        http, server, "sendMessage", chat_id=started, text="<p>hallo</p>", parse_mode="HTML"
    )
    assert status == 400
    assert body == bad('can\'t parse entities: Unsupported start tag "p" at byte offset 0')


async def test_supported_tags_become_plain_text_and_entities(
    http: aiohttp.ClientSession, server: EmulatorServer, emu: Emulator, started: int
) -> None:
    source = (
        '<b>vet</b> <i>schuin</i> <a href="https://example.org/?a=1&amp;b=2">link</a> '
        "<code>x&lt;y</code> <pre>blok</pre> <blockquote>citaat</blockquote> "
        "<tg-spoiler>geheim</tg-spoiler> &amp; &lt;tag&gt;"
    )
    status, body = await call(
        http, server, "sendMessage", chat_id=started, text=source, parse_mode="HTML"
    )
    assert status == 200, body
    result = body["result"]
    assert result["text"] == "vet schuin link x<y blok citaat geheim & <tag>"
    assert result["entities"] == [
        {"offset": 0, "length": 3, "type": "bold"},
        {"offset": 4, "length": 6, "type": "italic"},
        {"offset": 11, "length": 4, "type": "text_link", "url": "https://example.org/?a=1&b=2"},
        {"offset": 16, "length": 3, "type": "code"},
        {"offset": 20, "length": 4, "type": "pre"},
        {"offset": 25, "length": 6, "type": "blockquote"},
        {"offset": 32, "length": 6, "type": "spoiler"},
    ]
    stored = emu.visible(started)[-1]
    assert stored.text == result["text"]
    assert stored.entities == result["entities"]


async def test_entity_offsets_count_utf16_code_units(
    http: aiohttp.ClientSession, server: EmulatorServer, started: int
) -> None:
    status, body = await call(
        http, server, "sendMessage", chat_id=started, text="😀 <b>vet</b>", parse_mode="HTML"
    )
    assert status == 200, body
    assert body["result"]["text"] == "😀 vet"
    # The emoji is two UTF-16 code units, plus the space.
    assert body["result"]["entities"] == [{"offset": 3, "length": 3, "type": "bold"}]


@pytest.mark.parametrize(
    ("source", "description"),
    [
        ("<b>hallo", 'Can\'t find end tag corresponding to start tag "b"'),
        (
            "<b>hallo</i>",
            'Unmatched end tag at byte offset 8, expected "</b>", found "</i>"',
        ),
        ("hallo</b>", "Unexpected end tag at byte offset 5"),
    ],
)
async def test_unclosed_and_mismatched_tags_are_refused(
    http: aiohttp.ClientSession,
    server: EmulatorServer,
    started: int,
    source: str,
    description: str,
) -> None:
    status, body = await call(
        http, server, "sendMessage", chat_id=started, text=source, parse_mode="HTML"
    )
    assert status == 400
    assert body == bad(f"can't parse entities: {description}")


async def test_length_limit_counts_text_after_parsing(
    http: aiohttp.ClientSession, server: EmulatorServer, emu: Emulator, started: int
) -> None:
    # 4096 characters once "&amp;" has become "&".
    text = "&amp;" + "a" * 4095
    status, body = await call(
        http, server, "sendMessage", chat_id=started, text=text, parse_mode="HTML"
    )
    assert status == 200, body
    assert len(emu.visible(started)[-1].text or "") == 4096

    status, body = await call(
        http, server, "sendMessage", chat_id=started, text=text + "a", parse_mode="HTML"
    )
    assert (status, body) == (400, bad("message is too long"))


@pytest.mark.parametrize("text", ["", "   ", "<b></b>"])
async def test_empty_text_is_refused(
    http: aiohttp.ClientSession, server: EmulatorServer, started: int, text: str
) -> None:
    status, body = await call(
        http, server, "sendMessage", chat_id=started, text=text, parse_mode="HTML"
    )
    assert (status, body) == (400, bad("message text is empty"))


# --- keyboards and captions -------------------------------------------------------------


async def test_callback_data_of_64_bytes_is_accepted(
    http: aiohttp.ClientSession, server: EmulatorServer, started: int
) -> None:
    for data in ("x" * 64, "é" * 32):
        status, body = await call(
            http,
            server,
            "sendMessage",
            chat_id=started,
            text="kies",
            reply_markup=keyboard({"text": "Ja", "callback_data": data}),
        )
        assert status == 200, body
        assert body["result"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == data


@pytest.mark.parametrize("data", ["x" * 65, "é" * 33, ""])
async def test_callback_data_over_64_bytes_is_refused(
    http: aiohttp.ClientSession, server: EmulatorServer, emu: Emulator, started: int, data: str
) -> None:
    status, body = await call(
        http,
        server,
        "sendMessage",
        chat_id=started,
        text="kies",
        reply_markup=keyboard({"text": "Ja", "callback_data": data}),
    )
    assert (status, body) == (400, bad("BUTTON_DATA_INVALID"))
    assert [m.text for m in emu.visible(started)] == ["/start"]


@pytest.mark.parametrize(
    "button",
    [
        {"text": "Niets"},
        {"text": "Beide", "url": "https://example.org", "callback_data": "x"},
    ],
)
async def test_button_needs_exactly_one_action(
    http: aiohttp.ClientSession, server: EmulatorServer, started: int, button: dict[str, Any]
) -> None:
    status, body = await call(
        http, server, "sendMessage", chat_id=started, text="kies", reply_markup=keyboard(button)
    )
    assert status == 400
    assert body["description"].startswith("Bad Request: can't parse inline keyboard button")


async def test_caption_over_1024_is_refused(bot: Bot, emu: Emulator, started: int) -> None:
    upload = BufferedInputFile(b"{}", filename="kopie.json")
    with pytest.raises(TelegramBadRequest) as caught:
        await bot.send_document(started, upload, caption="a" * 1025)
    assert caught.value.message == "Bad Request: message caption is too long"
    message = await bot.send_document(started, upload, caption="a" * 1024)
    assert message.caption == "a" * 1024


# --- editing and deleting --------------------------------------------------------------


async def test_edit_with_identical_content_is_not_modified(bot: Bot, started: int) -> None:
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Ja", callback_data="ja")]]
    )
    sent = await bot.send_message(started, "<b>vraag</b>", parse_mode="HTML", reply_markup=markup)
    with pytest.raises(TelegramBadRequest) as caught:
        await bot.edit_message_text(
            text="<b>vraag</b>",
            chat_id=started,
            message_id=sent.message_id,
            parse_mode="HTML",
            reply_markup=markup,
        )
    assert caught.value.message == NOT_MODIFIED


async def test_edit_of_unknown_message_is_refused(bot: Bot, started: int) -> None:
    with pytest.raises(TelegramBadRequest) as caught:
        await bot.edit_message_text(text="nieuw", chat_id=started, message_id=999)
    assert caught.value.message == "Bad Request: message to edit not found"


async def test_edit_without_markup_removes_the_keyboard(
    bot: Bot, emu: Emulator, started: int
) -> None:
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Ja", callback_data="ja")]]
    )
    sent = await bot.send_message(started, "vraag", reply_markup=markup)
    edited = await bot.edit_message_text(text="klaar", chat_id=started, message_id=sent.message_id)
    assert not isinstance(edited, bool)
    assert edited.reply_markup is None
    assert edited.edit_date is not None
    stored = emu.find(started, sent.message_id)
    assert stored is not None
    assert (stored.text, stored.reply_markup) == ("klaar", None)


async def test_delete_message_twice(bot: Bot, emu: Emulator, started: int) -> None:
    sent = await bot.send_message(started, "weg ermee")
    assert await bot.delete_message(started, sent.message_id) is True
    assert emu.find(started, sent.message_id) is None
    with pytest.raises(TelegramBadRequest) as caught:
        await bot.delete_message(started, sent.message_id)
    assert caught.value.message == "Bad Request: message to delete not found"


async def test_the_users_own_message_can_be_deleted_for_48_hours(
    bot: Bot, emu: Emulator, started: int
) -> None:
    now = [1_800_000_000.0]
    emu.clock = lambda: now[0]
    fresh = await emu.user_sends(started, "mijn bericht")
    old = await emu.user_sends(started, "ouder bericht")
    old.date -= 48 * 3600 + 1
    assert await bot.delete_message(started, fresh.message_id) is True
    assert emu.find(started, fresh.message_id) is None
    with pytest.raises(TelegramBadRequest) as caught:
        await bot.delete_message(started, old.message_id)
    assert caught.value.message == "Bad Request: message can't be deleted"
    assert emu.find(started, old.message_id) is old


async def test_callback_query_can_be_answered_once(bot: Bot, emu: Emulator, started: int) -> None:
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Ja", callback_data="ja")]]
    )
    sent = await bot.send_message(started, "vraag", reply_markup=markup)
    record = await emu.user_presses(started, sent.message_id, "ja")
    assert await bot.answer_callback_query(record.id, text="Gelukt") is True
    with pytest.raises(TelegramBadRequest) as caught:
        await bot.answer_callback_query(record.id)
    assert caught.value.message == QUERY_INVALID
    assert record.text == "Gelukt"


# --- who may be messaged ---------------------------------------------------------------


async def test_bot_cannot_start_a_conversation(bot: Bot, emu: Emulator) -> None:
    emu.person(2002)
    with pytest.raises(TelegramForbiddenError) as caught:
        await bot.send_message(2002, "hallo")
    assert caught.value.message == "Forbidden: bot can't initiate conversation with a user"


async def test_blocked_bot_is_forbidden(bot: Bot, emu: Emulator, started: int) -> None:
    emu.block(started)
    with pytest.raises(TelegramForbiddenError) as caught:
        await bot.send_message(started, "hallo")
    assert caught.value.message == "Forbidden: bot was blocked by the user"


async def test_unknown_chat_is_not_found(
    bot: Bot, http: aiohttp.ClientSession, server: EmulatorServer
) -> None:
    with pytest.raises(TelegramBadRequest) as caught:
        await bot.send_message(424242, "hallo")
    assert caught.value.message == "Bad Request: chat not found"
    status, body = await call(http, server, "sendMessage", chat_id="@niemand", text="hallo")
    assert (status, body) == (400, bad("chat not found"))


# --- faults ----------------------------------------------------------------------------


async def test_retry_after_fault_hits_the_next_call_only(
    bot: Bot, http: aiohttp.ClientSession, server: EmulatorServer, emu: Emulator, started: int
) -> None:
    emu.faults.append(Fault(429, "Too Many Requests: retry after 3", retry_after=3))
    status, body = await call(http, server, "sendMessage", chat_id=started, text="een")
    assert status == 429
    assert body == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }
    assert (await bot.send_message(started, "twee")).text == "twee"

    emu.faults.append(Fault(429, "Too Many Requests: retry after 3", retry_after=3))
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(started, "drie")
    assert caught.value.retry_after == 3
    assert (await bot.send_message(started, "vier")).text == "vier"
    assert [m.text for m in emu.visible(started) if m.from_bot] == ["twee", "vier"]


async def test_every_third_call_fails(bot: Bot, emu: Emulator, started: int) -> None:
    emu.faults.append(Fault(502, "Bad Gateway", every=3))
    outcomes = []
    for number in range(6):
        try:
            await bot.send_message(started, f"bericht {number}")
            outcomes.append("ok")
        except TelegramServerError as exc:
            assert exc.message == "Bad Gateway"
            outcomes.append("502")
    assert outcomes == ["ok", "ok", "502", "ok", "ok", "502"]


async def test_fault_limited_to_one_method(bot: Bot, emu: Emulator, started: int) -> None:
    emu.faults.append(Fault(500, "Internal Server Error", methods=frozenset({"sendmessage"})))
    me = await bot.get_me()
    assert me.id == 123
    await bot.send_chat_action(started, "typing")
    with pytest.raises(TelegramServerError):
        await bot.send_message(started, "hallo")
    assert (await bot.send_message(started, "hallo")).text == "hallo"


# --- routing ----------------------------------------------------------------------------


async def test_unknown_method_is_404_and_recorded(
    http: aiohttp.ClientSession, server: EmulatorServer, emu: Emulator
) -> None:
    status, body = await call(http, server, "sendTelepathy", chat_id=1)
    assert (status, body) == (404, {"ok": False, "error_code": 404, "description": "Not Found"})
    assert emu.unknown_methods == ["sendTelepathy"]


async def test_wrong_token_is_unauthorized(
    http: aiohttp.ClientSession, server: EmulatorServer, emu: Emulator
) -> None:
    async with http.post(method_url(server, "getMe", token="123:WRONG")) as response:
        assert response.status == 401
        assert await response.json() == {
            "ok": False,
            "error_code": 401,
            "description": "Unauthorized",
        }
    assert emu.calls == []


async def test_json_and_form_bodies_give_the_same_message(
    http: aiohttp.ClientSession, server: EmulatorServer, started: int
) -> None:
    markup = keyboard(
        {"text": "Ja", "callback_data": "123"}, {"text": "Site", "url": "https://x.nl"}
    )
    status, from_json = await call(
        http, server, "sendMessage", chat_id=started, text="42", reply_markup=markup
    )
    assert status == 200, from_json
    form = {"chat_id": str(started), "text": "42", "reply_markup": json.dumps(markup)}
    async with http.post(method_url(server, "sendMessage"), data=form) as response:
        assert response.status == 200
        from_form = await response.json()

    def comparable(answer: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in answer["result"].items() if k not in ("message_id", "date")}

    assert comparable(from_form) == comparable(from_json)
    assert from_form["result"]["text"] == "42"  # text stays a string, not the number 42
    assert from_form["result"]["reply_markup"] == markup


async def test_get_with_query_string_and_raw_multipart(
    http: aiohttp.ClientSession, server: EmulatorServer, emu: Emulator, started: int
) -> None:
    query = {"chat_id": str(started), "text": "<i>via GET</i>", "parse_mode": "HTML"}
    async with http.get(method_url(server, "sendMessage"), params=query) as response:
        assert response.status == 200
        body = await response.json()
    assert body["result"]["text"] == "via GET"
    assert body["result"]["entities"] == [{"offset": 0, "length": 7, "type": "italic"}]

    form = aiohttp.FormData()
    form.add_field("chat_id", str(started))
    form.add_field("caption", "<b>kopie</b>")
    form.add_field("parse_mode", "HTML")
    form.add_field("document", b'{"a": 1}', filename="kopie.json", content_type="application/json")
    async with http.post(method_url(server, "sendDocument"), data=form) as response:
        assert response.status == 200
        body = await response.json()
    document = body["result"]["document"]
    assert (document["file_name"], document["mime_type"], document["file_size"]) == (
        "kopie.json",
        "application/json",
        8,
    )
    assert body["result"]["caption"] == "kopie"
    assert body["result"]["caption_entities"] == [{"offset": 0, "length": 5, "type": "bold"}]
    assert emu.files[document["file_id"]].content == b'{"a": 1}'


async def test_malformed_json_body_is_a_bad_request(
    http: aiohttp.ClientSession, server: EmulatorServer
) -> None:
    async with http.post(
        method_url(server, "getMe"),
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    ) as response:
        assert response.status == 400
        assert await response.json() == bad("can't parse JSON object")


# --- documents ----------------------------------------------------------------------------


async def test_document_round_trip(
    bot: Bot, http: aiohttp.ClientSession, server: EmulatorServer, emu: Emulator, started: int
) -> None:
    content = b'{"leerling": "Noor", "groep": 5}'
    message = await bot.send_document(
        started, BufferedInputFile(content, filename="kopie.json"), caption="Uw kopie"
    )
    assert message.document is not None
    assert message.document.file_name == "kopie.json"
    assert message.document.file_size == len(content)

    file = await bot.get_file(message.document.file_id)
    assert file.file_path is not None
    async with http.get(f"{server.url}/file/bot{TOKEN}/{file.file_path}") as response:
        assert response.status == 200
        assert await response.read() == content
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None
    assert downloaded.read() == content

    assert ChatPerson(emu, started).download() == ("kopie.json", content)

    # The same file can be sent again by its file_id.
    again = await bot.send_document(started, message.document.file_id)
    assert again.document is not None
    assert again.document.file_id == message.document.file_id


async def test_unknown_file_is_refused(
    bot: Bot, http: aiohttp.ClientSession, server: EmulatorServer
) -> None:
    with pytest.raises(TelegramBadRequest) as caught:
        await bot.get_file("BQAC-nope")
    assert caught.value.message == "Bad Request: invalid file_id"
    async with http.get(f"{server.url}/file/bot{TOKEN}/documents/nope/x.json") as response:
        assert response.status == 404
    async with http.get(f"{server.url}/file/bot123:WRONG/documents/nope/x.json") as response:
        assert response.status == 401


# --- getUpdates ---------------------------------------------------------------------------


async def test_long_poll_returns_as_soon_as_an_update_arrives(bot: Bot, emu: Emulator) -> None:
    loop = asyncio.get_running_loop()
    started_at = loop.time()
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.sleep(0.2)
    assert not poll.done()
    await emu.user_sends(USER, "hallo")
    updates = await asyncio.wait_for(poll, 5)
    assert loop.time() - started_at < 3
    assert [u.message.text for u in updates if u.message] == ["hallo"]


async def test_long_poll_times_out_with_nothing(bot: Bot) -> None:
    loop = asyncio.get_running_loop()
    started_at = loop.time()
    assert await bot.get_updates(timeout=1) == []
    assert loop.time() - started_at >= 0.9


async def test_get_updates_limit_and_offset(bot: Bot, emu: Emulator) -> None:
    for number in range(5):
        await emu.user_sends(USER, f"bericht {number}")
    first = await bot.get_updates(limit=2)
    assert [u.message.text for u in first if u.message] == ["bericht 0", "bericht 1"]
    # Without a new offset the same updates come again.
    assert [u.update_id for u in await bot.get_updates(limit=2)] == [u.update_id for u in first]
    rest = await bot.get_updates(offset=first[-1].update_id + 1)
    assert [u.message.text for u in rest if u.message] == [
        "bericht 2",
        "bericht 3",
        "bericht 4",
    ]
    assert await bot.get_updates(offset=rest[-1].update_id + 1) == []
    assert emu.pending == []


async def test_get_updates_conflicts_with_a_webhook(bot: Bot) -> None:
    await bot.set_webhook("http://127.0.0.1:9/hook")
    with pytest.raises(TelegramConflictError) as caught:
        await bot.get_updates()
    assert caught.value.message.startswith("Conflict: can't use getUpdates method")
    await bot.delete_webhook()
    assert await bot.get_updates() == []


# --- webhook ------------------------------------------------------------------------------


class Receiver:
    """A tiny webhook endpoint: records every delivery; fails while `failing` is set."""

    def __init__(self, delay: float = 0.0) -> None:
        self.received: list[tuple[dict[str, Any], str | None]] = []
        self.attempts = 0
        self.failing = False
        self.delay = delay
        self.changed = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_post("/hook", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        self.attempts += 1
        update = await request.json()
        if self.delay:
            await asyncio.sleep(self.delay)
        self.changed.set()
        if self.failing:
            return web.Response(status=500)
        self.received.append((update, request.headers.get("X-Telegram-Bot-Api-Secret-Token")))
        return web.json_response({})

    async def wait_for(self, count: int, within: float = 5.0) -> None:
        async def until() -> None:
            while len(self.received) < count:
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(until(), within)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    receiver = Receiver()
    async with EmulatorServer(receiver.app) as endpoint:
        yield receiver, f"{endpoint.url}/hook"


async def test_webhook_delivers_with_secret_token(
    bot: Bot, emu: Emulator, receiver: tuple[Receiver, str]
) -> None:
    hook, url = receiver
    assert await bot.set_webhook(url, secret_token="s3cret") is True
    info = await bot.get_webhook_info()
    assert info.url == url
    await emu.user_sends(USER, "hallo")
    await hook.wait_for(1)
    update, secret = hook.received[0]
    assert secret == "s3cret"
    assert update["message"]["text"] == "hallo"
    assert update["message"]["chat"]["id"] == USER
    await emu.wait_idle(quiet=0.05, within=5)
    assert (await bot.get_webhook_info()).pending_update_count == 0


async def test_webhook_redelivers_after_an_error(
    bot: Bot, emu: Emulator, receiver: tuple[Receiver, str]
) -> None:
    hook, url = receiver
    hook.failing = True
    await bot.set_webhook(url)
    await emu.user_sends(USER, "hallo")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while hook.attempts < 1 or emu.webhook is None or emu.webhook.last_error_message is None:
        assert loop.time() < deadline, "the emulator never tried the webhook"
        await asyncio.sleep(0.02)
    info = await bot.get_webhook_info()
    assert info.pending_update_count == 1
    assert info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"
    assert info.last_error_date is not None

    hook.failing = False
    await hook.wait_for(1)
    assert hook.attempts >= 2
    assert [u["message"]["text"] for u, _ in hook.received] == ["hallo"]
    await emu.wait_idle(quiet=0.05, within=5)
    assert (await bot.get_webhook_info()).pending_update_count == 0


async def test_webhook_keeps_each_chats_updates_in_order(
    bot: Bot, emu: Emulator, receiver: tuple[Receiver, str]
) -> None:
    hook, url = receiver
    hook.delay = 0.02
    await bot.set_webhook(url)
    for number in range(6):
        await emu.user_sends(USER, f"a{number}")
        await emu.user_sends(USER + 1, f"b{number}")
    await hook.wait_for(12)
    texts = [u["message"]["text"] for u, _ in hook.received]
    assert [t for t in texts if t.startswith("a")] == [f"a{n}" for n in range(6)]
    assert [t for t in texts if t.startswith("b")] == [f"b{n}" for n in range(6)]


# --- the driver -----------------------------------------------------------------------------


async def tiny_bot(bot: Bot, pressed: list[str]) -> None:
    """A minimal bot: answers every callback query and records its data."""
    offset = 0
    while True:
        for update in await bot.get_updates(offset=offset, timeout=1):
            offset = update.update_id + 1
            if update.callback_query is not None:
                pressed.append(update.callback_query.data or "")
                await bot.answer_callback_query(update.callback_query.id, text="ok")


async def test_press_sends_the_buttons_data(bot: Bot, emu: Emulator, started: int) -> None:
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text="✅ Akkoord", callback_data="consent:yes"),
                InlineKeyboardButton(text="Nee", callback_data="consent:no"),
            ],
            [InlineKeyboardButton(text="Uitleg", url="https://example.org")],
        ]
    )
    await bot.send_message(started, "Mag dat?", reply_markup=markup)
    pressed: list[str] = []
    runner = asyncio.create_task(tiny_bot(bot, pressed))
    try:
        person = ChatPerson(emu, started)
        assert person.buttons() == ["✅ Akkoord", "Nee", "Uitleg"]
        record = await person.press("Akkoord")
        assert pressed == ["consent:yes"]
        assert record.answered and record.text == "ok"
        with pytest.raises(AssertionError) as caught:
            await person.press("Misschien")
        assert "Misschien" in str(caught.value)
        assert "Akkoord" in str(caught.value) and "Nee" in str(caught.value)
        with pytest.raises(AssertionError):
            await person.press("Uitleg")  # a link button sends no callback query
        assert pressed == ["consent:yes"]
    finally:
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner


async def test_wait_idle_waits_for_unanswered_callback_queries(
    bot: Bot, emu: Emulator, started: int
) -> None:
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Ja", callback_data="ja")]]
    )
    sent = await bot.send_message(started, "vraag", reply_markup=markup)
    record = await emu.user_presses(started, sent.message_id, "ja")
    updates = await bot.get_updates()
    await bot.get_updates(offset=updates[-1].update_id + 1)  # confirms: nothing pending
    assert emu.pending == []
    with pytest.raises(TimeoutError):
        await emu.wait_idle(quiet=0.05, within=0.3)
    await bot.answer_callback_query(record.id)
    await emu.wait_idle(quiet=0.05, within=2)


# --- to_html ----------------------------------------------------------------------------


def test_to_html_escapes_text() -> None:
    assert to_html("<script>alert(1)</script> & meer", []) == (
        "&lt;script&gt;alert(1)&lt;/script&gt; &amp; meer"
    )


def test_to_html_nests_entities() -> None:
    entities = [
        {"type": "bold", "offset": 0, "length": 9},
        {"type": "italic", "offset": 4, "length": 5},
    ]
    assert to_html("vet schuin!", entities) == "<b>vet <i>schui</i></b>n!"
    emoji = [{"type": "bold", "offset": 3, "length": 3}]
    assert to_html("😀 <b>", emoji) == "😀 <b>&lt;b&gt;</b>"


def test_to_html_only_links_http() -> None:
    entities = [
        {"type": "text_link", "offset": 0, "length": 4, "url": "javascript:alert(1)"},
        {"type": "text_link", "offset": 5, "length": 4, "url": 'https://x.nl/"a'},
    ]
    html = to_html("klik hier", entities)
    assert "javascript" not in html
    assert html == ('klik <a href="https://x.nl/&quot;a" target="_blank" rel="noopener">hier</a>')


async def test_unknown_method_through_aiogram_is_not_found(bot: Bot, emu: Emulator) -> None:
    # The emulator has no sendPhoto; the bot gets Telegram's 404, and the test can see it.
    await emu.user_sends(USER, "/start")
    with pytest.raises(TelegramNotFound) as caught:
        await bot.send_photo(USER, "AgAC-some-photo")
    assert caught.value.message == "Not Found"
    assert emu.unknown_methods == ["sendPhoto"]


async def test_json_body_may_carry_reply_markup_as_a_string(
    http: aiohttp.ClientSession, server: EmulatorServer, started: int
) -> None:
    markup = keyboard({"text": "Ja", "callback_data": "ja"})
    status, body = await call(
        http, server, "sendMessage", chat_id=str(started), text=42, reply_markup=json.dumps(markup)
    )
    assert status == 200, body
    assert body["result"]["text"] == "42"
    assert body["result"]["reply_markup"] == markup


async def test_broken_unicode_is_a_bad_request_not_a_crash(
    http: aiohttp.ClientSession, server: EmulatorServer, started: int
) -> None:
    status, body = await call(http, server, "sendMessage", chat_id=started, text="\ud83d x")
    assert (status, body) == (400, bad("text must be encoded in UTF-8"))
    # A numeric entity for a lone surrogate is no character; it stays as written.
    status, body = await call(
        http, server, "sendMessage", chat_id=started, text="&#55357; &#233;", parse_mode="HTML"
    )
    assert status == 200, body
    assert body["result"]["text"] == "&#55357; é"


async def test_get_updates_tolerates_odd_numbers_and_negative_offset(
    http: aiohttp.ClientSession, server: EmulatorServer, emu: Emulator
) -> None:
    for number in range(3):
        await emu.user_sends(USER, f"bericht {number}")
    odd = {"offset": "abc", "limit": "x", "timeout": "Infinity"}
    async with http.post(method_url(server, "getUpdates"), data=odd) as response:
        assert response.status == 200
        assert len((await response.json())["result"]) == 3
    # A negative offset keeps only the last -offset updates.
    status, body = await call(http, server, "getUpdates", offset=-1)
    assert status == 200
    assert [u["message"]["text"] for u in body["result"]] == ["bericht 2"]
    assert len(emu.pending) == 1


async def test_shutdown_releases_a_long_poll_and_a_restart_polls_again(
    http: aiohttp.ClientSession,
) -> None:
    emu = Emulator(TOKEN)
    loop = asyncio.get_running_loop()
    server = EmulatorServer(create_app(emu))
    await server.start()

    async def poll(url: str, seconds: int) -> Any:
        async with http.post(f"{url}/bot{TOKEN}/getUpdates", json={"timeout": seconds}) as r:
            return await r.json()

    waiting = asyncio.create_task(poll(server.url, 30))
    await asyncio.sleep(0.2)
    started_at = loop.time()
    await server.stop()
    assert (await asyncio.wait_for(waiting, 5))["result"] == []
    assert loop.time() - started_at < 3

    # The same world behind a new server: a long poll waits its time again.
    async with EmulatorServer(create_app(emu)) as again:
        started_at = loop.time()
        assert (await poll(again.url, 1))["result"] == []
        assert loop.time() - started_at >= 0.9


async def test_edit_reply_markup(bot: Bot, emu: Emulator, started: int) -> None:
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Ja", callback_data="ja")]]
    )
    sent = await bot.send_message(started, "vraag")
    edited = await bot.edit_message_reply_markup(
        chat_id=started, message_id=sent.message_id, reply_markup=markup
    )
    assert not isinstance(edited, bool)
    assert ChatPerson(emu, started).buttons() == ["Ja"]
    with pytest.raises(TelegramBadRequest) as caught:
        await bot.edit_message_reply_markup(
            chat_id=started, message_id=sent.message_id, reply_markup=markup
        )
    assert caught.value.message == NOT_MODIFIED
    await bot.edit_message_reply_markup(chat_id=started, message_id=sent.message_id)
    assert ChatPerson(emu, started).buttons() == []


async def test_user_message_cannot_be_edited_but_can_be_deleted(bot: Bot, emu: Emulator) -> None:
    message = await emu.user_sends(USER, "/start")
    with pytest.raises(TelegramBadRequest) as caught:
        await bot.edit_message_text(text="anders", chat_id=USER, message_id=message.message_id)
    assert caught.value.message == "Bad Request: message can't be edited"
    assert await bot.delete_message(USER, message.message_id) is True
    assert emu.visible(USER) == []


async def test_webhook_reply_is_performed(bot: Bot, emu: Emulator) -> None:
    """A handler that returns a method (aiogram, handle_in_background=False) answers in the
    webhook response; Telegram performs it, as JSON or multipart with a file."""
    dp = Dispatcher()

    @dp.message()
    async def reply(message: Message) -> Any:
        if message.text == "kopie":
            return message.answer_document(BufferedInputFile(b"inhoud", filename="kopie.txt"))
        return message.answer(f"<b>{message.text}</b> ontvangen", parse_mode="HTML")

    app = web.Application()
    SimpleRequestHandler(
        dispatcher=dp, bot=bot, secret_token="s3cret", handle_in_background=False
    ).register(app, path="/hook")
    async with EmulatorServer(app) as endpoint:
        await bot.set_webhook(f"{endpoint.url}/hook", secret_token="s3cret")
        person = ChatPerson(emu, USER)
        await person.send("hallo")
        assert person.last_text == "hallo ontvangen"
        assert person.last.entities == [{"offset": 0, "length": 5, "type": "bold"}]
        await person.send("kopie")
        assert person.download() == ("kopie.txt", b"inhoud")
        await bot.delete_webhook()


async def test_json_webhook_reply_is_performed(bot: Bot, emu: Emulator) -> None:
    replies: list[dict[str, Any]] = []

    async def answer(request: web.Request) -> web.Response:
        update = await request.json()
        chat = update["message"]["chat"]["id"]
        replies.append(update)
        return web.json_response({"method": "sendMessage", "chat_id": chat, "text": "Dag!"})

    app = web.Application()
    app.router.add_post("/hook", answer)
    async with EmulatorServer(app) as endpoint:
        await bot.set_webhook(f"{endpoint.url}/hook")
        person = ChatPerson(emu, USER)
        await person.send("hallo")
        assert person.texts() == ["Dag!"]
        await bot.delete_webhook()


async def test_odd_file_names_and_types_download(
    bot: Bot, http: aiohttp.ClientSession, server: EmulatorServer, started: int
) -> None:
    upload = BufferedInputFile(b"a;b\n1;2\n", filename="kopie van Noor #1?.csv")
    message = await bot.send_document(started, upload)
    assert message.document is not None
    assert message.document.file_name == "kopie van Noor #1?.csv"
    file = await bot.get_file(message.document.file_id)
    assert file.file_path is not None
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None
    assert downloaded.read() == b"a;b\n1;2\n"

    form = aiohttp.FormData()
    form.add_field("chat_id", str(started))
    form.add_field("document", b"a,b\n", filename="x.csv", content_type="text/csv; charset=utf-8")
    async with http.post(method_url(server, "sendDocument"), data=form) as response:
        document = (await response.json())["result"]["document"]
    assert document["mime_type"] == "text/csv"
    file = await bot.get_file(document["file_id"])
    async with http.get(f"{server.url}/file/bot{TOKEN}/{file.file_path}") as response:
        assert response.status == 200
        assert response.content_type == "text/csv"
        assert await response.read() == b"a,b\n"


async def test_fault_for_one_chat_and_method_names_in_any_case(
    bot: Bot, emu: Emulator, started: int
) -> None:
    await emu.user_sends(2002, "/start")
    emu.faults.append(
        Fault(
            403, "Forbidden: user is deactivated", methods=frozenset({"sendMessage"}), chat_id=2002
        )
    )
    assert (await bot.send_message(started, "hallo")).text == "hallo"
    with pytest.raises(TelegramForbiddenError) as caught:
        await bot.send_message(2002, "hallo")
    assert caught.value.message == "Forbidden: user is deactivated"
    assert (await bot.send_message(2002, "nog eens")).text == "nog eens"


async def test_get_updates_is_only_faulted_when_named(bot: Bot, emu: Emulator) -> None:
    emu.faults.append(Fault(502, "Bad Gateway", times=None))
    assert await bot.get_updates() == []
    emu.faults[:] = [Fault(502, "Bad Gateway", methods=frozenset({"getupdates"}))]
    with pytest.raises(TelegramServerError):
        await bot.get_updates()
    assert await bot.get_updates() == []


# --- the web chat ----------------------------------------------------------------------


async def test_web_chat_shows_safe_html_and_sends_as_the_persona(
    http: aiohttp.ClientSession,
) -> None:
    emu = Emulator(TOKEN)
    app = create_app(emu)
    add_web_chat(app, emu, [WebPersona(USER, "Sanne de Vries", "moeder van Noor", "ABC123")])
    async with EmulatorServer(app) as server:
        own = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(server.url)))
        try:
            async with http.get(f"{server.url}/api/personas") as response:
                listed = await response.json()
            assert listed["personas"][0]["user_id"] == USER
            async with http.post(
                f"{server.url}/api/chats/{USER}/send", json={"text": " /start "}
            ) as response:
                assert await response.json() == {"ok": True}
            assert emu.pending[-1]["message"]["text"] == "/start"
            markup = InlineKeyboardMarkup(
                inline_keyboard=[[InlineKeyboardButton(text="Ja", callback_data="ja")]]
            )
            sent = await own.send_message(
                USER, "<b>&lt;script&gt;</b> hoi", parse_mode="HTML", reply_markup=markup
            )
            await own.send_document(USER, BufferedInputFile(b"inhoud", filename="kopie.txt"))
            async with http.get(f"{server.url}/api/chats/{USER}/messages?since=0") as response:
                shown = await response.json()
            bot_says = shown["messages"][1]
            assert bot_says["html"] == "<b>&lt;script&gt;</b> hoi"
            assert bot_says["buttons"] == [[{"text": "Ja", "data": "ja"}]]
            document = shown["messages"][2]["document"]
            async with http.get(f"{server.url}{document['url']}") as response:
                assert await response.read() == b"inhoud"
            async with http.post(
                f"{server.url}/api/chats/{USER}/press",
                json={"message_id": sent.message_id, "data": "ja"},
            ) as response:
                assert await response.json() == {"ok": True}
            assert emu.pending[-1]["callback_query"]["data"] == "ja"
            # Only the personas' own chats are reachable.
            async with http.get(f"{server.url}/api/chats/999/messages") as response:
                assert response.status == 404
        finally:
            await own.session.close()


# --- parameters against the Bot API's method list ---------------------------------------


async def test_parameters_the_bot_api_does_not_list_are_recorded(
    http: aiohttp.ClientSession, server: EmulatorServer, emu: Emulator, started: int
) -> None:
    status, _ = await call(
        http,
        server,
        "sendMessage",
        chat_id=started,
        text="Hallo",
        link_preview_options={"is_disabled": True},
    )
    assert status == 200 and emu.unknown_parameters == []
    # Accepted, as Telegram does, but remembered: it was dropped from Bot API 10.
    status, _ = await call(
        http, server, "SENDMESSAGE", chat_id=started, text="Hallo", disable_web_page_preview=True
    )
    assert status == 200
    await call(http, server, "answerCallbackQuery", callback_query_id="1", show_allert=True)
    assert emu.unknown_parameters == [
        ("SENDMESSAGE", "disable_web_page_preview"),
        ("answerCallbackQuery", "show_allert"),
    ]


async def test_the_bot_as_configured_sends_only_listed_parameters(
    server: EmulatorServer, emu: Emulator, started: int
) -> None:
    from bot.app import create_bot
    from bot.config import Settings

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        bot_token=TOKEN,
        telegram_api_url=server.url,
    )
    bot = create_bot(settings)
    try:
        await bot.send_message(started, 'Zie <a href="https://example.org">de site</a>.')
    finally:
        await bot.session.close()
    [params] = [p for method, p in emu.calls if method == "sendMessage"]
    assert params["link_preview_options"] == {"is_disabled": True}
    assert "disable_web_page_preview" not in params
    assert emu.unknown_parameters == []


def test_every_emulated_method_has_its_parameter_list() -> None:
    from bot.emulator.botapi import BY_LOWER_NAME
    from bot.emulator.server import METHODS

    assert set(METHODS) <= set(BY_LOWER_NAME)
    assert "disable_web_page_preview" not in BY_LOWER_NAME["sendmessage"]
    assert "link_preview_options" in BY_LOWER_NAME["editmessagetext"]


async def test_the_bot_as_configured_reads_what_telegram_answers_a_sent_keyboard(
    server: EmulatorServer, emu: Emulator, started: int
) -> None:
    """The bot's session leaves the sent message's repeated keyboard unparsed (a cost
    on every reply); what the bot reads of the answer — the message's id and chat, and
    an error's retry_after — still comes through."""
    from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

    from bot.app import create_bot, sent_message_loads
    from bot.config import Settings

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        bot_token=TOKEN,
        telegram_api_url=server.url,
    )
    bot = create_bot(settings)
    buttons = [[InlineKeyboardButton(text=f"Knop {n}", callback_data=f"m:{n}")] for n in range(10)]
    try:
        sent = await bot.send_message(
            started, "<b>Menu</b>", reply_markup=InlineKeyboardMarkup(inline_keyboard=buttons)
        )
        shown = [m for m in emu.visible(started) if m.from_bot][-1]
        assert (sent.message_id, sent.chat.id) == (shown.message_id, started)
        # The keyboard reached the parent whole.
        assert len((shown.reply_markup or {})["inline_keyboard"]) == 10

        emu.faults.append(Fault(429, "Too Many Requests: retry after 7", retry_after=7))
        with pytest.raises(TelegramRetryAfter) as raised:
            await bot.send_message(started, "Nog een bericht")
        assert raised.value.retry_after == 7
    finally:
        await bot.session.close()
    answer = '{"ok": true, "result": [{"update_id": 1, "message": {"message_id": 5}}]}'
    assert sent_message_loads(answer)["result"][0]["message"] == {"message_id": 5}
