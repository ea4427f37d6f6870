"""The Bot API over HTTP: `/bot<token>/<method>` and `/file/bot<token>/<path>`, as the
unchanged bot reaches them through TELEGRAM_API_URL. Requests may be form-encoded, JSON
or multipart, by GET or POST, as Telegram accepts them; answers are Telegram's JSON."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import mimetypes
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from bot.emulator.botapi import BY_LOWER_NAME
from bot.emulator.state import (
    NOT_MODIFIED,
    QUERY_INVALID,
    SECRET_RE,
    ApiError,
    Emulator,
    StoredFile,
    Webhook,
    bad_request,
    check_commands,
    check_reply_markup,
    parse_caption,
    parse_text,
)

log = logging.getLogger(__name__)
EMULATOR_KEY = web.AppKey("emulator", Emulator)
MAX_FILE_BYTES = 50 * 1024 * 1024
Params = dict[str, Any]
Handler = Callable[[Emulator, Params], Awaitable[Any]]
# Fields whose form value is JSON (objects, arrays, numbers, booleans) rather than text.
TEXT_FIELDS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "url",
        "secret_token",
        "callback_query_id",
        "action",
        "language_code",
        "file_id",
        "document",
        "description",
        "short_description",
        "name",
    }
)


def _coerce(key: str, value: Any) -> Any:
    if not isinstance(value, str) or key in TEXT_FIELDS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _json_params(body: dict[str, Any]) -> Params:
    """Telegram reads a JSON body like a form: a string may hold JSON (reply_markup sent
    as a string), and a number in a text field is that number's text."""
    params: Params = {}
    for key, value in body.items():
        if key in TEXT_FIELDS and value is not None and not isinstance(value, str):
            value = json.dumps(value)
        params[key] = _coerce(key, value)
    return params


async def read_params(request: web.Request) -> tuple[Params, dict[str, tuple[str, str, bytes]]]:
    """The call's parameters and any uploaded files (field -> (name, type, bytes))."""
    params: Params = {k: _coerce(k, v) for k, v in request.query.items()}
    files: dict[str, tuple[str, str, bytes]] = {}
    if request.method != "POST" or not request.can_read_body:
        return params, files
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError as exc:
            raise bad_request("can't parse JSON object") from exc
        if not isinstance(body, dict):
            raise bad_request("can't parse JSON object")
        params.update(_json_params(body))
        return params, files
    form = await request.post()
    for key, value in form.items():
        if isinstance(value, web.FileField):
            files[key] = (value.filename, value.content_type, value.file.read())
        else:
            params[key] = _coerce(key, value)
    return params, files


def _number(params: Params, key: str, default: float) -> float:
    """A numeric parameter; a value that is no number counts as absent (not a 500)."""
    try:
        value = float(params.get(key) or default)
    except (TypeError, ValueError, OverflowError):
        return default
    return value if math.isfinite(value) else default


def _answer(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(error: ApiError) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": error.code, "description": error.description}
    if error.parameters:
        body["parameters"] = error.parameters
    return web.json_response(body, status=error.code)


# --- methods ------------------------------------------------------------------------


async def get_me(emu: Emulator, params: Params) -> Any:
    return emu.me()


async def get_updates(emu: Emulator, params: Params) -> Any:
    if emu.webhook is not None:
        raise ApiError(
            409,
            "Conflict: can't use getUpdates method while webhook is active; "
            "use deleteWebhook to delete the webhook first",
        )
    offset = int(_number(params, "offset", 0))
    limit = max(1, min(100, int(_number(params, "limit", 100))))
    timeout = max(0.0, min(50.0, _number(params, "timeout", 0)))
    if offset:
        emu.confirm(offset)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not emu.pending and not emu.closing and loop.time() < deadline:
        await emu.wait_changed(deadline - loop.time())
    batch = emu.pending[:limit]
    if batch:
        emu.touch()
    return batch


async def set_webhook(emu: Emulator, params: Params) -> Any:
    url = str(params.get("url") or "")
    if not url:
        return await delete_webhook(emu, params)
    if not url.startswith(("http://", "https://")):
        raise bad_request("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
    secret = params.get("secret_token")
    if secret is not None and not SECRET_RE.match(str(secret)):
        raise bad_request("secret token contains unallowed characters")
    if params.get("drop_pending_updates"):
        emu.pending.clear()
    emu.webhook = Webhook(
        url=url,
        secret_token=str(secret) if secret else None,
        max_connections=max(1, min(100, int(_number(params, "max_connections", 40)))),
    )
    await emu.notify()
    return True


async def delete_webhook(emu: Emulator, params: Params) -> Any:
    if params.get("drop_pending_updates"):
        emu.pending.clear()
    emu.webhook = None
    await emu.notify()
    return True


async def get_webhook_info(emu: Emulator, params: Params) -> Any:
    hook = emu.webhook
    info: dict[str, Any] = {
        "url": hook.url if hook else "",
        "has_custom_certificate": False,
        "pending_update_count": len(emu.pending),
    }
    if hook is not None:
        info["max_connections"] = hook.max_connections
        if hook.last_error_date is not None:
            info["last_error_date"] = hook.last_error_date
            info["last_error_message"] = hook.last_error_message
    return info


async def send_message(emu: Emulator, params: Params) -> Any:
    chat_id = emu.chat_for_sending(params)
    parsed = parse_text(params.get("text"), params.get("parse_mode"))
    markup = check_reply_markup(params.get("reply_markup"))
    message = emu.store_bot_message(
        chat_id, text=parsed.text, entities=parsed.entities, reply_markup=markup
    )
    return emu.message_to_api(message)


async def edit_message_text(emu: Emulator, params: Params) -> Any:
    message = emu.bot_message(params)
    if message.text is None:
        raise bad_request("there is no text in the message to edit")
    parsed = parse_text(params.get("text"), params.get("parse_mode"))
    # Telegram removes the inline keyboard when an edit does not repeat it.
    markup = check_reply_markup(params.get("reply_markup"))
    unchanged = (parsed.text, parsed.entities, markup) == (
        message.text,
        message.entities,
        message.reply_markup,
    )
    if unchanged:
        raise bad_request(NOT_MODIFIED.removeprefix("Bad Request: "))
    message.text, message.entities, message.reply_markup = parsed.text, parsed.entities, markup
    message.edit_date = int(emu.clock())
    emu.touch(message.chat_id)
    return emu.message_to_api(message)


async def edit_message_reply_markup(emu: Emulator, params: Params) -> Any:
    message = emu.bot_message(params)
    markup = check_reply_markup(params.get("reply_markup"))
    if markup == message.reply_markup:
        raise bad_request(NOT_MODIFIED.removeprefix("Bad Request: "))
    message.reply_markup = markup
    message.edit_date = int(emu.clock())
    emu.touch(message.chat_id)
    return emu.message_to_api(message)


# Telegram: in a private chat a bot may delete any message, its own or the user's, for
# 48 hours after it was sent.
DELETABLE_SECONDS = 48 * 3600


async def delete_message(emu: Emulator, params: Params) -> Any:
    message = emu.bot_message(params, verb="delete")
    if emu.clock() - message.date > DELETABLE_SECONDS:
        raise bad_request("message can't be deleted")
    emu.delete(message)
    return True


async def delete_messages(emu: Emulator, params: Params) -> Any:
    ids = params.get("message_ids")
    if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
        raise bad_request("message identifiers are not specified")
    for message_id in ids:
        try:
            emu.delete(emu.bot_message({**params, "message_id": message_id}, verb="delete"))
        except ApiError:
            continue
    return True


async def answer_callback_query(emu: Emulator, params: Params) -> Any:
    record = emu.callbacks.get(str(params.get("callback_query_id") or ""))
    if record is None or record.answered:
        raise ApiError(400, QUERY_INVALID)
    text = params.get("text")
    if text is not None and len(str(text)) > 200:
        raise bad_request("MESSAGE_TOO_LONG")
    record.answered = True
    record.text = str(text) if text else None
    record.show_alert = bool(params.get("show_alert"))
    emu.touch(record.user_id)
    return True


async def send_document(emu: Emulator, params: Params) -> Any:
    chat_id = emu.chat_for_sending(params)
    stored = _resolve_document(emu, params)
    caption = parse_caption(params.get("caption"), params.get("parse_mode"))
    markup = check_reply_markup(params.get("reply_markup"))
    message = emu.store_bot_message(
        chat_id,
        document=stored,
        caption=caption.text if caption else None,
        caption_entities=caption.entities if caption else [],
        reply_markup=markup,
    )
    return emu.message_to_api(message)


def _resolve_document(emu: Emulator, params: Params) -> StoredFile:
    files: dict[str, tuple[str, str, bytes]] = params.pop("__files__", {})
    value = params.get("document")
    upload = None
    if isinstance(value, str) and value.startswith("attach://"):
        upload = files.get(value.removeprefix("attach://"))
    elif "document" in files:
        upload = files["document"]
    elif isinstance(value, str) and value in emu.files:
        return emu.files[value]
    elif isinstance(value, str) and value.startswith(("http://", "https://")):
        raise bad_request("failed to get HTTP URL content")
    if upload is None:
        raise bad_request("there is no document in the request")
    name, content_type, content = upload
    if not content:
        raise bad_request("file must be non-empty")
    if len(content) > MAX_FILE_BYTES:
        raise ApiError(413, "Request Entity Too Large")
    # Without parameters such as "; charset=utf-8" (aiohttp refuses those as content_type).
    content_type = (content_type or "").split(";")[0].strip()
    mime = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    return emu.store_file(name or "document", mime, content)


async def get_file(emu: Emulator, params: Params) -> Any:
    stored = emu.files.get(str(params.get("file_id") or ""))
    if stored is None:
        raise bad_request("invalid file_id")
    return {**stored.to_api(), "file_path": f"documents/{stored.file_id}/{stored.file_name}"}


async def send_chat_action(emu: Emulator, params: Params) -> Any:
    emu.chat_for_sending(params)
    return True


async def set_my_commands(emu: Emulator, params: Params) -> Any:
    commands = check_commands(params.get("commands"))
    emu.commands[str(params.get("language_code") or "")] = commands
    return True


async def get_my_commands(emu: Emulator, params: Params) -> Any:
    return emu.commands.get(str(params.get("language_code") or ""), [])


async def delete_my_commands(emu: Emulator, params: Params) -> Any:
    emu.commands.pop(str(params.get("language_code") or ""), None)
    return True


async def accept(emu: Emulator, params: Params) -> Any:
    return True


METHODS: dict[str, Handler] = {
    "getme": get_me,
    "getupdates": get_updates,
    "setwebhook": set_webhook,
    "deletewebhook": delete_webhook,
    "getwebhookinfo": get_webhook_info,
    "sendmessage": send_message,
    "editmessagetext": edit_message_text,
    "editmessagereplymarkup": edit_message_reply_markup,
    "deletemessage": delete_message,
    "deletemessages": delete_messages,
    "answercallbackquery": answer_callback_query,
    "senddocument": send_document,
    "getfile": get_file,
    "sendchataction": send_chat_action,
    "setmycommands": set_my_commands,
    "getmycommands": get_my_commands,
    "deletemycommands": delete_my_commands,
    "setchatmenubutton": accept,
    "setmydescription": accept,
    "setmyshortdescription": accept,
    "logout": accept,
    "close": accept,
}


def check_parameters(emu: Emulator, method: str, names: Any) -> None:
    """Records each parameter the Bot API does not list for the method (deprecated, or
    misspelt): the real Telegram drops them without a word."""
    allowed = BY_LOWER_NAME.get(method.lower())
    if allowed is None:
        return
    emu.unknown_parameters.extend((method, name) for name in names if name not in allowed)


async def handle_method(request: web.Request) -> web.Response:
    emu = request.app[EMULATOR_KEY]
    if request.match_info["token"] != emu.token:
        return _error(ApiError(401, "Unauthorized"))
    name = request.match_info["method"].lower()
    waiting = name == "getupdates"  # a long poll is the bot being idle, not busy
    if not waiting:
        emu.in_flight += 1
    try:
        params, files = await read_params(request)
        emu.calls.append((request.match_info["method"], params))
        check_parameters(emu, request.match_info["method"], params)
        handler = METHODS.get(name)
        if handler is None:
            emu.unknown_methods.append(request.match_info["method"])
            return _error(ApiError(404, "Not Found"))
        held = emu.held.pop(name, None)
        if held is not None:
            held.arrived.set()
            await held.release.wait()
        emu.check_fault(name, params)
        if files:
            params["__files__"] = files
        result = await handler(emu, params)
        return _answer(result)
    except ApiError as error:
        return _error(error)
    finally:
        if not waiting:
            emu.in_flight -= 1
            emu.touch()
        await emu.notify()


async def handle_file(request: web.Request) -> web.StreamResponse:
    emu = request.app[EMULATOR_KEY]
    if request.match_info["token"] != emu.token:
        return _error(ApiError(401, "Unauthorized"))
    parts = request.match_info["path"].split("/")
    stored = emu.files.get(parts[1]) if len(parts) >= 2 else None
    if stored is None:
        return _error(ApiError(404, "Not Found"))
    return web.Response(body=stored.content, content_type=stored.mime_type)


# --- webhook delivery ---------------------------------------------------------------


class WebhookDelivery:
    """Posts pending updates to the webhook, one at a time per chat so that a person's
    updates arrive in order, several chats at once, retrying until a 2xx answer."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self._busy_chats: set[int] = set()
        self._in_delivery: set[int] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None

    async def start(self, workers: int = 8) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        self._tasks = [asyncio.create_task(self._worker()) for _ in range(workers)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    def _next(self) -> dict[str, Any] | None:
        for update in self.emu.pending:
            chat = _chat_of(update)
            if update["update_id"] not in self._in_delivery and chat not in self._busy_chats:
                return update
        return None

    async def _worker(self) -> None:
        while True:
            update = self._next() if self.emu.webhook is not None else None
            if update is None:
                await self.emu.wait_changed(1.0)
                continue
            chat = _chat_of(update)
            self._busy_chats.add(chat)
            self._in_delivery.add(update["update_id"])
            self.emu.in_flight += 1
            try:
                delivered = await self._post(update)
            finally:
                self.emu.in_flight -= 1
                self._busy_chats.discard(chat)
                self._in_delivery.discard(update["update_id"])
                self.emu.touch()
            if delivered:
                self.emu.pending = [u for u in self.emu.pending if u is not update]
                await self.emu.notify()
            else:
                await asyncio.sleep(0.2)

    async def _post(self, update: dict[str, Any]) -> bool:
        hook = self.emu.webhook
        if hook is None or self._session is None:
            return False
        headers = {}
        if hook.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret_token
        try:
            async with self._session.post(hook.url, json=update, headers=headers) as response:
                if 200 <= response.status < 300:
                    await self._run_reply(response)
                    return True
                await response.read()
                message = f"Wrong response from the webhook: {response.status} {response.reason}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            message = f"Connection failed: {type(exc).__name__}"
        hook.last_error_date = int(self.emu.clock())
        hook.last_error_message = message
        log.info("webhook delivery of update %s failed: %s", update["update_id"], message)
        return False

    async def _run_reply(self, response: aiohttp.ClientResponse) -> None:
        """Telegram performs a method the webhook answers with (aiogram's webhook reply,
        as JSON or multipart); its result and errors are not reported to anyone."""
        params: Params = {}
        files: dict[str, tuple[str, str, bytes]] = {}
        try:
            if response.content_type == "application/json":
                body = await response.json()
                if isinstance(body, dict):
                    params = _json_params(body)
            elif response.content_type.startswith("multipart/"):
                async for part in aiohttp.MultipartReader.from_response(response):
                    if not isinstance(part, aiohttp.BodyPartReader) or not part.name:
                        continue
                    data = bytes(await part.read(decode=True))
                    if part.filename:
                        kind = part.headers.get(aiohttp.hdrs.CONTENT_TYPE, "")
                        files[part.name] = (part.filename, kind, data)
                    else:
                        params[part.name] = _coerce(part.name, data.decode())
            else:
                await response.read()
        except (ValueError, aiohttp.ClientError) as exc:
            log.info("unreadable webhook reply: %s", exc)
            return
        method = str(params.pop("method", ""))
        handler = METHODS.get(method.lower())
        if handler is None or method.lower() == "getupdates":
            return
        self.emu.calls.append((method, params))
        check_parameters(self.emu, method, params)
        if files:
            params["__files__"] = files
        try:
            await handler(self.emu, params)
        except ApiError as error:
            log.info("webhook reply %s failed: %s", method, error.description)


def _chat_of(update: dict[str, Any]) -> int:
    if "message" in update:
        return int(update["message"]["chat"]["id"])
    return int(update["callback_query"]["from"]["id"])


# --- the application ----------------------------------------------------------------


def add_bot_api(app: web.Application, emu: Emulator) -> None:
    app[EMULATOR_KEY] = emu
    app.router.add_route("*", "/bot{token}/{method}", handle_method)
    app.router.add_get("/file/bot{token}/{path:.+}", handle_file)
    delivery = WebhookDelivery(emu)

    async def lifecycle(app: web.Application) -> Any:
        emu.closing = False  # a new server for the same world: long polls wait again
        await delivery.start()
        yield
        await delivery.stop()

    app.cleanup_ctx.append(lifecycle)

    async def release_long_polls(app: web.Application) -> None:
        emu.closing = True
        await emu.notify()

    app.on_shutdown.append(release_long_polls)


def create_app(emu: Emulator) -> web.Application:
    app = web.Application(client_max_size=MAX_FILE_BYTES + 1024 * 1024)
    add_bot_api(app, emu)
    return app


class EmulatorServer:
    """Runs an application on loopback; `port=0` picks a free port."""

    def __init__(self, app: web.Application, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app, self.host, self.port = app, host, port
        self._runner = web.AppRunner(app, access_log=None)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:
            self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def __aenter__(self) -> EmulatorServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
