"""Handler tests without a network: a Bot session that records every Bot API call and
answers like Telegram would, and a small chat driver over Dispatcher.feed_update."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import Default
from aiogram.client.session.base import BaseSession
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageReplyMarkup,
    EditMessageText,
    GetMe,
    SendDocument,
    SendMessage,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiogram.types import (
    CallbackQuery,
    Chat,
    Document,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    TelegramObject,
    Update,
    User,
)

from bot.app import bot_defaults
from bot.emulator.botapi import BY_LOWER_NAME
from bot.emulator.state import QUERY_INVALID
from tests.telegram_limits import check_message

BOT_USER = User(id=42, is_bot=True, first_name="Ouderloket", username="ouderloket_test_bot")


@dataclass
class Call:
    method: TelegramMethod[Any]

    @property
    def name(self) -> str:
        return type(self.method).__name__


@dataclass
class Shown:
    """A bot message as the user sees it now (edits applied)."""

    message_id: int
    chat_id: int
    text: str
    markup: InlineKeyboardMarkup | None
    document: bytes | None = None


@dataclass
class RecordingSession(BaseSession):
    calls: list[Call] = field(default_factory=list)
    shown: dict[int, Shown] = field(default_factory=dict)
    # Errors to raise, in order, on the next sendMessage calls (None: succeed).
    send_faults: list[Exception | None] = field(default_factory=list)
    # Whether each call is checked against the Bot API and Telegram's limits, as the
    # tests want; a benchmark leaves out what Telegram, not the bot, would spend.
    checks: bool = True

    def __post_init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(1000)
        self._answered: set[str] = set()

    async def close(self) -> None:
        return None

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        yield b""

    def _resolve(self, bot: Bot, value: Any) -> Any:
        return bot.default[value.name] if isinstance(value, Default) else value

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        self.calls.append(Call(method))
        if self.checks:
            check_parameters(bot, method)
        now = datetime.now(UTC)
        chat_id = getattr(method, "chat_id", None)
        result: Any = True
        if isinstance(method, GetMe):
            result = BOT_USER
        elif isinstance(method, SendMessage):
            if self.send_faults:
                fault = self.send_faults.pop(0)
                if fault is not None:
                    raise fault
            assert self._resolve(bot, method.parse_mode) in (ParseMode.HTML, None)
            if self.checks:
                check_message(method.text, method.reply_markup)
            message_id = next(self._ids)
            markup = (
                method.reply_markup
                if isinstance(method.reply_markup, InlineKeyboardMarkup)
                else None
            )
            self.shown[message_id] = Shown(message_id, int(chat_id or 0), method.text, markup)
            result = Message(
                message_id=message_id,
                date=now,
                chat=Chat(id=int(chat_id or 0), type="private"),
                from_user=BOT_USER,
                text=method.text,
                reply_markup=markup,
            )
        elif isinstance(method, SendDocument):
            message_id = next(self._ids)
            data = getattr(method.document, "data", b"")
            self.shown[message_id] = Shown(
                message_id, int(chat_id or 0), method.caption or "", None, data
            )
            result = Message(
                message_id=message_id,
                date=now,
                chat=Chat(id=int(chat_id or 0), type="private"),
                from_user=BOT_USER,
                caption=method.caption,
                document=Document(file_id=f"doc{message_id}", file_unique_id=f"u{message_id}"),
            )
        elif isinstance(method, EditMessageText | EditMessageReplyMarkup):
            shown = self.shown[int(method.message_id or 0)]
            if isinstance(method, EditMessageText):
                if self.checks:
                    check_message(method.text, method.reply_markup)
                shown.text = method.text
            shown.markup = method.reply_markup
            result = Message(
                message_id=shown.message_id,
                date=now,
                chat=Chat(id=shown.chat_id, type="private"),
                from_user=BOT_USER,
                text=shown.text,
                reply_markup=shown.markup,
            )
        elif type(method).__name__ == "DeleteMessage":
            self.shown.pop(int(getattr(method, "message_id", 0)), None)
        elif isinstance(method, AnswerCallbackQuery):
            # As Telegram: a button press is answered once.
            if method.callback_query_id in self._answered:
                raise TelegramBadRequest(method, QUERY_INVALID)
            self._answered.add(method.callback_query_id)
        if isinstance(result, TelegramObject):
            result = result.as_(bot)
        return result  # type: ignore[no-any-return]

    def of(self, kind: type[TelegramMethod[Any]]) -> list[Any]:
        return [c.method for c in self.calls if isinstance(c.method, kind)]


class ChatDriver:
    """One Telegram user talking to the dispatcher, update by update."""

    _update_ids = itertools.count(1)

    def __init__(
        self,
        dp: Dispatcher,
        bot: Bot,
        session: RecordingSession,
        user_id: int,
        first_name: str = "Ouder",
        language_code: str = "nl",
    ) -> None:
        self.dp, self.bot, self.session = dp, bot, session
        self.user = User(
            id=user_id, is_bot=False, first_name=first_name, language_code=language_code
        )
        self.chat = Chat(id=user_id, type="private")
        self._message_ids = itertools.count(1)

    async def send(self, text: str) -> None:
        entities = None
        if text.startswith("/"):
            command = text.split()[0]
            entities = [MessageEntity(type="bot_command", offset=0, length=len(command))]
        message = Message(
            message_id=next(self._message_ids),
            date=datetime.now(UTC),
            chat=self.chat,
            from_user=self.user,
            text=text,
            entities=entities,
        )
        await feed(self.dp, self.bot, Update(update_id=next(self._update_ids), message=message))

    async def press(self, label: str) -> CallbackQuery:
        for shown in sorted(self.my_messages(), key=lambda s: s.message_id, reverse=True):
            for row in shown.markup.inline_keyboard if shown.markup else []:
                for button in row:
                    if button.text == label and button.callback_data:
                        return await self.press_data(shown.message_id, button.callback_data)
        raise AssertionError(f"no button {label!r}; visible: {self.buttons()}")

    async def press_data(self, message_id: int, data: str) -> CallbackQuery:
        shown = self.session.shown.get(message_id)
        message = Message(
            message_id=message_id,
            date=datetime.now(UTC),
            chat=self.chat,
            from_user=BOT_USER,
            text=shown.text if shown else "…",
        )
        query = CallbackQuery(
            id=str(next(self._update_ids)),
            from_user=self.user,
            chat_instance="ci",
            message=message,
            data=data,
        )
        await feed(
            self.dp, self.bot, Update(update_id=next(self._update_ids), callback_query=query)
        )
        answers = [a for a in self.answered_callbacks() if a.callback_query_id == query.id]
        # Telegram keeps the button spinning until the bot answers, so every press must be.
        assert len(answers) == 1, f"callback {data!r} answered {len(answers)} times"
        assert len(answers[0].text or "") <= 200
        return query

    def my_messages(self) -> list[Shown]:
        return [s for s in self.session.shown.values() if s.chat_id == self.chat.id]

    @property
    def last_message_id(self) -> int:
        return max(s.message_id for s in self.my_messages())

    @property
    def last_text(self) -> str:
        messages = self.my_messages()
        assert messages, "the bot showed nothing"
        return max(messages, key=lambda s: s.message_id).text

    def buttons(self) -> list[str]:
        for shown in sorted(self.my_messages(), key=lambda s: s.message_id, reverse=True):
            if shown.markup:
                return [b.text for row in shown.markup.inline_keyboard for b in row]
        return []

    def answered_callbacks(self) -> list[AnswerCallbackQuery]:
        return self.session.of(AnswerCallbackQuery)


def check_parameters(bot: Bot, method: TelegramMethod[Any]) -> None:
    """Fails on any parameter the call would send that the current Bot API does not list
    for the method (a deprecated one, such as disable_web_page_preview)."""
    allowed = BY_LOWER_NAME.get(method.__api_method__.lower())
    if allowed is None:
        return
    sent = {
        name
        for name in type(method).model_fields
        if (
            bot.default[value.name]
            if isinstance(value := getattr(method, name), Default)
            else value
        )
        is not None
    }
    unknown = sorted(sent - allowed)
    assert not unknown, f"{method.__api_method__} sends {unknown}, not in the Bot API"


async def feed(dp: Dispatcher, bot: Bot, update: Update) -> Any:
    """An update fed as aiogram's polling feeds it: a method the handler returned (an answer
    sent once the update is committed, bot.routers.start) is made after the update. Unlike
    polling, a failing call raises here, so a test sees it."""
    result = await dp.feed_update(bot, update)
    if isinstance(result, TelegramMethod):
        await bot(result)
    return result


def recording_bot(*, checks: bool = True) -> tuple[Bot, RecordingSession]:
    session = RecordingSession(checks=checks)
    bot = Bot(
        token="42:TEST",
        session=session,
        default=bot_defaults(),  # the product's own, so its parameters are checked too
    )
    return bot, session


def chats(dispatcher: Dispatcher) -> Callable[[int], ChatDriver]:
    """Users talking to one bot through `dispatcher`, its calls recorded in one session:
    chats(dispatcher)(user_id)."""
    bot, recorder = recording_bot()
    return lambda user_id: ChatDriver(dispatcher, bot, recorder, user_id)


class HoldFirst:
    """Two updates at once, made to meet where they would race: the first to reach
    `hold` waits there until both have passed `mark` (each calls it after its read), or
    for at most `bound` seconds when the second cannot get that far (it waits for the
    first). A bound, not a pace: it elapses only when the second is kept waiting."""

    def __init__(self, bound: float = 0.3) -> None:
        self.bound, self.marked, self.held = bound, 0, 0
        self.both = asyncio.Event()

    def mark(self) -> None:
        self.marked += 1
        if self.marked == 2:
            self.both.set()

    async def hold(self) -> None:
        self.held += 1
        if self.held == 1:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.both.wait(), self.bound)
