"""The bot's Bot API client (bot.telegram_session): its calls go as JSON, with the bot's
defaults in them, and Telegram's answers and refusals come back as with aiogram's own;
an upload still goes as multipart."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import pytest
from aiogram import Bot
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup
from aiohttp import web

from bot.app import bot_defaults, sent_message_loads
from bot.emulator.server import EmulatorServer, create_app
from bot.emulator.state import Emulator
from bot.telegram_session import JsonSession

TOKEN = "123:TEST"
USER = 1001
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def emulated() -> AsyncIterator[tuple[Emulator, Bot, list[str]]]:
    emu = Emulator(TOKEN)
    await emu.user_sends(USER, "/start")
    kinds: list[str] = []

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        kinds.append(request.content_type)
        return await handler(request)

    app = create_app(emu)
    app.middlewares.append(record)
    async with EmulatorServer(app) as server:
        session = JsonSession(
            api=TelegramAPIServer.from_base(server.url), json_loads=sent_message_loads
        )
        bot = Bot(TOKEN, session=session, default=bot_defaults())
        try:
            yield emu, bot, kinds
        finally:
            await bot.session.close()


async def test_a_message_goes_as_json_with_the_bots_defaults(
    emulated: tuple[Emulator, Bot, list[str]],
) -> None:
    emu, bot, kinds = emulated
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Mijn gegevens", callback_data="i:1:0:0")]]
    )
    sent = await bot.send_message(USER, "<b>Emma</b> &amp; Sem: 0 verzoeken", reply_markup=markup)
    assert kinds == ["application/json"]
    method, params = emu.calls[-1]
    assert method == "sendMessage"
    assert params["parse_mode"] == "HTML"
    assert params["link_preview_options"] == {"is_disabled": True}
    assert params["reply_markup"] == {
        "inline_keyboard": [[{"text": "Mijn gegevens", "callback_data": "i:1:0:0"}]]
    }
    # The HTML was read as HTML: the parent sees the bold name and the ampersand.
    assert sent.text == "Emma & Sem: 0 verzoeken"
    assert sent.chat.id == USER


async def test_a_refusal_comes_back_as_aiograms_error(
    emulated: tuple[Emulator, Bot, list[str]],
) -> None:
    _emu, bot, _kinds = emulated
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(USER, "x" * 4097)


async def test_an_upload_still_goes_as_multipart(
    emulated: tuple[Emulator, Bot, list[str]],
) -> None:
    _emu, bot, kinds = emulated
    content = b'{"leerling": "Noor"}'
    sent = await bot.send_document(
        USER, BufferedInputFile(content, filename="kopie.json"), caption="Uw kopie"
    )
    assert kinds == ["multipart/form-data"]
    assert sent.document is not None
    assert sent.document.file_size == len(content)


def test_the_json_body_holds_what_aiograms_own_preparation_makes() -> None:
    """The body's own walk over plain values leaves every value as aiogram prepares it:
    the defaults filled in, a None left out, an empty text in a button kept, a web app
    button, a date and an enum (aiogram's own handling)."""
    from aiogram.enums import ChatAction
    from aiogram.methods import BanChatMember, EditMessageText, SendChatAction, SendMessage
    from aiogram.types import WebAppInfo

    session = JsonSession()
    bot = Bot(TOKEN, session=session, default=bot_defaults())
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text="Mijn gegevens", callback_data="i:1:0:0")],
            [InlineKeyboardButton(text="", web_app=WebAppInfo(url="https://x.example/v"))],
        ]
    )
    methods = [
        SendMessage(chat_id=USER, text="<b>Emma</b> · 12 maart", reply_markup=markup),
        EditMessageText(chat_id=USER, message_id=7, text="ü", reply_markup=markup),
        SendChatAction(chat_id=USER, action=ChatAction.TYPING),
        BanChatMember(chat_id=USER, user_id=5, until_date=datetime(2026, 12, 4, tzinfo=UTC)),
    ]
    for method in methods:
        files: dict[str, object] = {}
        expected = {
            key: prepared
            for key, value in method.model_dump(warnings=False).items()
            if (prepared := session.prepare_value(value, bot=bot, files=files, _dumps_json=False))
            not in (None, "")
        }
        body = session.json_body(bot, method)
        assert body is not None
        assert json.loads(body) == json.loads(json.dumps(expected)), method.__api_method__
    sent = json.loads(session.json_body(bot, methods[0]) or "")
    assert sent["parse_mode"] == "HTML"
    assert sent["reply_markup"]["inline_keyboard"][1][0] == {
        "text": "",
        "web_app": {"url": "https://x.example/v"},
    }
    assert json.loads(session.json_body(bot, methods[3]) or "")["until_date"] == "1796342400"
