"""The emulated Telegram world: people, their private chats with the bot, pending updates,
callback queries, files, the webhook, and faults a test asks for.

Everything lives in one process and one event loop; the HTTP layer (server.py) and the
web chat (webchat.py) call into this object, and so do the tests' driver (driver.py).
"""

from __future__ import annotations

import asyncio
import itertools
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.emulator.html import (
    ParsedText,
    TextCheckError,
    check_message_text,
    check_utf8,
    parse_html,
    utf16_len,
)

MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA = 64
BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
WEB_APP_URL = re.compile(r"^https?://\S+$")
COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"


class ApiError(Exception):
    """An error answer of the Bot API: HTTP status, description, optional parameters."""

    def __init__(self, code: int, description: str, **parameters: Any) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters


def bad_request(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    file_name: str
    mime_type: str
    content: bytes

    def to_api(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_name": self.file_name,
            "mime_type": self.mime_type,
            "file_size": len(self.content),
        }


@dataclass
class Person:
    user_id: int
    first_name: str
    language_code: str = "nl"
    last_name: str | None = None
    started: bool = False
    blocked: bool = False

    def to_api(self) -> dict[str, Any]:
        user: dict[str, Any] = {
            "id": self.user_id,
            "is_bot": False,
            "first_name": self.first_name,
            "language_code": self.language_code,
        }
        if self.last_name:
            user["last_name"] = self.last_name
        return user

    def chat(self) -> dict[str, Any]:
        return {"id": self.user_id, "type": "private", "first_name": self.first_name}


@dataclass
class Group:
    """A group chat the bot is a member of (ids are negative, as in Telegram)."""

    chat_id: int
    title: str
    type: str = "group"

    def chat(self) -> dict[str, Any]:
        return {"id": self.chat_id, "type": self.type, "title": self.title}


@dataclass
class StoredMessage:
    message_id: int
    chat_id: int
    from_bot: bool
    date: int
    text: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    reply_markup: dict[str, Any] | None = None
    document: StoredFile | None = None
    caption: str | None = None
    caption_entities: list[dict[str, Any]] = field(default_factory=list)
    edit_date: int | None = None
    sender_id: int | None = None  # who wrote a user message in a group chat

    def buttons(self) -> list[dict[str, Any]]:
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [button for row in rows for button in row]


@dataclass
class CallbackRecord:
    id: str
    user_id: int
    message_id: int
    data: str
    answered: bool = False
    text: str | None = None
    show_alert: bool = False


@dataclass(frozen=True)
class Held:
    """A call kept waiting (Emulator.hold): `arrived` is set when it comes in, and it is
    answered once `release` is set."""

    arrived: asyncio.Event
    release: asyncio.Event


@dataclass
class Fault:
    """Makes matching calls fail. `methods` None matches every method but getUpdates;
    `every` N fails each Nth matching call; otherwise the next `times` calls fail."""

    code: int
    description: str
    methods: frozenset[str] | None = None
    chat_id: int | None = None
    times: int | None = 1
    every: int | None = None
    retry_after: int | None = None
    seen: int = 0

    def applies(self, method: str, params: dict[str, Any]) -> bool:
        if self.methods is None:
            if method == "getupdates":
                return False
        elif method.lower() not in {name.lower() for name in self.methods}:
            return False  # "sendMessage" and "sendmessage" both name the method
        if self.chat_id is not None and _int_or_none(params.get("chat_id")) != self.chat_id:
            return False
        self.seen += 1
        if self.every is not None:
            return self.seen % self.every == 0
        if self.times is None:
            return True
        if self.times > 0:
            self.times -= 1
            return True
        return False

    def error(self) -> ApiError:
        if self.retry_after is not None:
            return ApiError(self.code, self.description, retry_after=self.retry_after)
        return ApiError(self.code, self.description)


@dataclass
class Webhook:
    url: str
    secret_token: str | None
    max_connections: int = 40
    last_error_date: int | None = None
    last_error_message: str | None = None


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class Emulator:
    """One bot and the people who talk to it."""

    def __init__(
        self,
        token: str = "123456:EMULATOR",
        *,
        bot_username: str = "ouderloket_demo_bot",
        bot_name: str = "Ouderloket",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_username, self.bot_name = bot_username, bot_name
        self.clock = clock
        self.people: dict[int, Person] = {}
        self.groups: dict[int, Group] = {}
        self.chats: dict[int, list[StoredMessage]] = {}
        self.files: dict[str, StoredFile] = {}
        self.callbacks: dict[str, CallbackRecord] = {}
        self.pending: list[dict[str, Any]] = []
        self.faults: list[Fault] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.unknown_methods: list[str] = []
        # (method, parameter) for every parameter the current Bot API does not list for
        # that method; Telegram ignores those silently, so only a test can notice.
        self.unknown_parameters: list[tuple[str, str]] = []
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.webhook: Webhook | None = None
        self.in_flight = 0
        # By method (lower case): the next call waits there, once recorded (`hold`).
        self.held: dict[str, Held] = {}
        self.closing = False  # set on shutdown: long polls answer at once
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._file_ids = itertools.count(1)
        self._signal: asyncio.Future[None] | None = None
        self._versions: dict[int, int] = {}
        self._last_activity = 0.0

    # --- bookkeeping -----------------------------------------------------------------

    def touch(self, chat_id: int | None = None) -> None:
        self._last_activity = asyncio.get_running_loop().time()
        if chat_id is not None:
            self._versions[chat_id] = self._versions.get(chat_id, 0) + 1

    async def notify(self) -> None:
        if self._signal is not None and not self._signal.done():
            self._signal.set_result(None)

    async def wait_changed(self, seconds: float) -> None:
        """Waits until something changes, or `seconds` pass."""
        # A plain future rather than Condition + wait_for, whose cancellation Python 3.11
        # can swallow, which would keep a cancelled waiter alive.
        if self._signal is None or self._signal.done():
            self._signal = asyncio.get_running_loop().create_future()
        await asyncio.wait([self._signal], timeout=seconds)

    def version(self, chat_id: int) -> int:
        return self._versions.get(chat_id, 0)

    def busy(self) -> bool:
        unanswered = any(not c.answered for c in self.callbacks.values())
        return bool(self.pending) or self.in_flight > 0 or unanswered

    async def wait_idle(self, *, quiet: float = 0.25, within: float = 15.0) -> None:
        """Returns once no update waits, no call is in progress, every callback query is
        answered and nothing happened for `quiet` seconds; raises TimeoutError otherwise."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            now = loop.time()
            if not self.busy() and now - self._last_activity >= quiet:
                return
            if now > deadline:
                unanswered = sum(not c.answered for c in self.callbacks.values())
                raise TimeoutError(
                    f"the bot did not go quiet: {len(self.pending)} update(s) pending, "
                    f"{self.in_flight} call(s) in flight, "
                    f"{unanswered} callback query(ies) unanswered"
                )
            await asyncio.sleep(0.02)

    # --- people -----------------------------------------------------------------------

    def person(self, user_id: int, first_name: str = "", language_code: str = "nl") -> Person:
        if user_id not in self.people:
            name = first_name or f"Gebruiker {user_id}"
            self.people[user_id] = Person(user_id, name, language_code)
            self.chats[user_id] = []
        return self.people[user_id]

    def group(self, chat_id: int, title: str = "Groep", kind: str = "group") -> Group:
        """A group chat with the bot in it; anyone may write there."""
        if chat_id >= 0:
            raise ValueError("group chat ids are negative")
        if chat_id not in self.groups:
            self.groups[chat_id] = Group(chat_id, title, kind)
            self.chats[chat_id] = []
        return self.groups[chat_id]

    def block(self, user_id: int, blocked: bool = True) -> None:
        self.person(user_id).blocked = blocked

    def visible(self, chat_id: int) -> list[StoredMessage]:
        return list(self.chats.get(chat_id, []))

    def find(self, chat_id: int, message_id: int) -> StoredMessage | None:
        for message in self.chats.get(chat_id, []):
            if message.message_id == message_id:
                return message
        return None

    def _next_message_id(self, chat_id: int) -> int:
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        return next(counter)

    def message_to_api(self, message: StoredMessage) -> dict[str, Any]:
        group = self.groups.get(message.chat_id)
        data: dict[str, Any] = {
            "message_id": message.message_id,
            "from": (
                self.me()
                if message.from_bot
                else self.people[message.sender_id or message.chat_id].to_api()
            ),
            "chat": group.chat() if group is not None else self.people[message.chat_id].chat(),
            "date": message.date,
        }
        if message.text is not None:
            data["text"] = message.text
            if message.entities:
                data["entities"] = message.entities
        if message.document is not None:
            data["document"] = message.document.to_api()
        if message.caption:
            data["caption"] = message.caption
            if message.caption_entities:
                data["caption_entities"] = message.caption_entities
        if message.reply_markup is not None:
            data["reply_markup"] = message.reply_markup
        if message.edit_date is not None:
            data["edit_date"] = message.edit_date
        return data

    async def user_sends(
        self, user_id: int, text: str, *, chat_id: int | None = None
    ) -> StoredMessage:
        """The person types `text` in their chat with the bot, or in the group `chat_id`."""
        person = self.person(user_id)
        target = user_id if chat_id is None else chat_id
        in_group = target != user_id
        if in_group:
            self.group(target)
        else:
            person.started = True
            person.blocked = False
        message = StoredMessage(
            message_id=self._next_message_id(target),
            chat_id=target,
            from_bot=False,
            date=int(self.clock()),
            text=text,
            sender_id=user_id if in_group else None,
        )
        if text.startswith("/"):
            command = text.split()[0]
            message.entities = [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]
        self.chats[target].append(message)
        await self._enqueue({"message": self.message_to_api(message)}, target)
        return message

    async def user_presses(
        self, user_id: int, message_id: int, data: str, *, chat_id: int | None = None
    ) -> CallbackRecord:
        """The person taps a button; `data` is whatever their client sends, so a test can
        forge it. The message must be one of the bot's in this chat (or group `chat_id`)."""
        person = self.person(user_id)
        target = chat_id if chat_id is not None else user_id
        message = self.find(target, message_id)
        if message is None or not message.from_bot:
            raise LookupError(f"no bot message {message_id} in chat {target}")
        record = CallbackRecord(secrets.token_hex(8), user_id, message_id, data)
        self.callbacks[record.id] = record
        query = {
            "id": record.id,
            "from": person.to_api(),
            "message": self.message_to_api(message),
            "chat_instance": str(user_id * 7919),
            "data": data,
        }
        await self._enqueue({"callback_query": query}, user_id)
        return record

    async def _enqueue(self, body: dict[str, Any], chat_id: int) -> None:
        update = {"update_id": next(self._update_ids), **body}
        self.pending.append(update)
        self.touch(chat_id)
        await self.notify()

    # --- the Bot API --------------------------------------------------------------------

    def me(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_name,
            "username": self.bot_username,
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def hold(self, method: str) -> Held:
        """The next call of `method` is recorded, says it has arrived, then waits until it
        is released: a test's way to keep an update in the middle of its handling."""
        held = Held(asyncio.Event(), asyncio.Event())
        self.held[method.lower()] = held
        return held

    def check_fault(self, method: str, params: dict[str, Any]) -> None:
        for fault in self.faults:
            if fault.applies(method, params):
                raise fault.error()

    def chat_for_sending(self, params: dict[str, Any]) -> int:
        """The chat a message may be sent to: a group the bot is in, or a person who
        started the bot and did not block it."""
        chat_id = _int_or_none(params.get("chat_id"))
        if chat_id is not None and chat_id in self.groups:
            return chat_id
        if chat_id is None or chat_id not in self.people:
            raise bad_request("chat not found")
        person = self.people[chat_id]
        if person.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if not person.started:
            raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        return chat_id

    def bot_message(self, params: dict[str, Any], *, verb: str = "edit") -> StoredMessage:
        chat_id = _int_or_none(params.get("chat_id"))
        message_id = _int_or_none(params.get("message_id"))
        if chat_id is None or chat_id not in self.chats:
            raise bad_request("chat not found")
        message = self.find(chat_id, message_id) if message_id is not None else None
        if message is None:
            raise bad_request(f"message to {verb} not found")
        if not message.from_bot and verb == "edit":
            raise bad_request("message can't be edited")
        return message

    def store_bot_message(self, chat_id: int, **fields: Any) -> StoredMessage:
        message = StoredMessage(
            message_id=self._next_message_id(chat_id),
            chat_id=chat_id,
            from_bot=True,
            date=int(self.clock()),
            **fields,
        )
        self.chats[chat_id].append(message)
        self.touch(chat_id)
        return message

    def delete(self, message: StoredMessage) -> None:
        self.chats[message.chat_id].remove(message)
        self.touch(message.chat_id)

    def store_file(self, name: str, mime_type: str, content: bytes) -> StoredFile:
        number = next(self._file_ids)
        stored = StoredFile(
            file_id=f"BQAC{number:06d}{secrets.token_hex(6)}",
            file_unique_id=f"AgAD{number:06d}",
            file_name=name,
            mime_type=mime_type,
            content=content,
        )
        self.files[stored.file_id] = stored
        return stored

    def confirm(self, offset: int) -> None:
        """getUpdates with an offset confirms every update before it; a negative offset
        keeps only the last -offset updates, as Telegram does."""
        if offset < 0:
            self.pending = self.pending[offset:]
        else:
            self.pending = [u for u in self.pending if u["update_id"] >= offset]


def parse_text(text: Any, parse_mode: Any) -> ParsedText:
    if not isinstance(text, str) or not text:
        raise bad_request("message text is empty")
    try:
        return check_message_text(text, parse_mode if isinstance(parse_mode, str) else None)
    except TextCheckError as exc:
        raise ApiError(400, str(exc)) from exc


def parse_caption(caption: Any, parse_mode: Any) -> ParsedText | None:
    if not caption:
        return None
    mode = parse_mode.lower() if isinstance(parse_mode, str) else ""
    try:
        check_utf8(str(caption))
    except TextCheckError as exc:
        raise ApiError(400, str(exc)) from exc
    try:
        parsed = parse_html(str(caption)) if mode == "html" else ParsedText(str(caption), [])
    except ValueError as exc:
        raise bad_request(f"can't parse entities: {exc}") from exc
    if utf16_len(parsed.text) > MAX_CAPTION_LENGTH:
        raise bad_request("message caption is too long")
    return parsed


def check_reply_markup(markup: Any) -> dict[str, Any] | None:
    """What Telegram checks in an inline keyboard; other keyboards pass as they are."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in markup:
        return markup
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array')
    for row in rows:
        for button in row:
            if not isinstance(button, dict):
                raise bad_request("can't parse inline keyboard button: Object expected")
            if not str(button.get("text", "")).strip():
                raise bad_request("can't parse inline keyboard button: Text must be non-empty")
            actions = [key for key in BUTTON_ACTIONS if key in button]
            if not actions:
                raise bad_request(
                    "can't parse inline keyboard button: "
                    "Text buttons are unallowed in the inline keyboard"
                )
            if len(actions) > 1:
                raise bad_request(
                    "can't parse inline keyboard button: "
                    'Can\'t find field "text" or exactly one of the optional fields'
                )
            if "callback_data" in button:
                data = button["callback_data"]
                if not isinstance(data, str) or not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA:
                    raise bad_request("BUTTON_DATA_INVALID")
            if "url" in button and not re.match(r"^(https?|tg)://\S+$", str(button["url"])):
                raise bad_request("BUTTON_URL_INVALID")
            if "web_app" in button:
                web_app = button["web_app"]
                url = str(web_app.get("url", "")) if isinstance(web_app, dict) else ""
                # Telegram opens only https; the emulator also takes http, as the demo
                # serves the view without TLS (SECURE_VIEW_URL itself must be https).
                if not WEB_APP_URL.match(url):
                    raise bad_request("BUTTON_URL_INVALID")
    return markup


def check_commands(commands: Any) -> list[dict[str, Any]]:
    if not isinstance(commands, list) or len(commands) > 100:
        raise bad_request("BOT_COMMANDS_TOO_MUCH")
    for command in commands:
        if not isinstance(command, dict) or not COMMAND_RE.match(str(command.get("command", ""))):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(str(command.get("description", ""))) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
    return commands
