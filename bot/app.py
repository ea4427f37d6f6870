"""The app factory: one place that wires settings, storage, i18n and the routers."""

from __future__ import annotations

import json
from typing import Any

from aiogram import Bot, Router, methods
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import PRODUCTION, TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder
from aiogram.fsm.storage.memory import SimpleEventIsolation
from aiogram.fsm.storage.redis import RedisStorage
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response
from aiogram.types import BotCommand, BotCommandScopeDefault, LinkPreviewOptions
from aiogram.utils.i18n import I18n
from redis.asyncio import Redis

from bot import failures
from bot.callbacks import ConsentCb, InzageCb
from bot.config import Settings
from bot.expiry import DataMessageMiddleware
from bot.filters import gate
from bot.fsm import FORM_TTL, ExpiringMemoryStorage
from bot.i18n import create_i18n
from bot.in_flight import TrackingDispatcher
from bot.middlewares import (
    ActorLocaleMiddleware,
    DbSessionMiddleware,
    ThrottlingMiddleware,
)
from bot.private_chats import PrivateChatsOnly
from bot.routers import (
    account,
    board,
    consent,
    fallback,
    inzage,
    menu,
    requests,
    sharing,
    staff,
    start,
    vendors,
)
from bot.secure_links import SecureViewMiddleware
from bot.telegram_session import JsonSession
from bot.throttle import Counter, MemoryCounter, RedisCounter
from flows.clock import Clock, SystemClock
from storage.db import SessionFactory

# The dispatcher's key of DbSessionMiddleware.prepare.
PREPARE_CONNECTION = "prepare_connection"


def get_routers() -> list[Router]:
    """Order matters: requests comes first because a parent typing a step of a form must
    not be read as a code, and the fallback router stays last. Each router takes a press
    only on the prefixes of its own buttons (bot.filters.gate)."""
    factories = (
        requests.leave_router,
        requests.create_router,
        staff.create_router,
        start.create_router,
        menu.create_router,
        board.create_router,
        inzage.create_router,
        consent.create_router,
        sharing.create_router,
        vendors.create_router,
        account.create_router,
        fallback.create_router,
    )
    return [gate(make()) for make in factories]


def create_dispatcher(
    settings: Settings,
    session_factory: SessionFactory,
    *,
    clock: Clock | None = None,
    i18n: I18n | None = None,
    storage: BaseStorage | None = None,
    counter: Counter | None = None,
) -> TrackingDispatcher:
    i18n = i18n or create_i18n(settings.default_locale)
    clock = clock or SystemClock()
    if storage is None and settings.redis_url:
        # Several webhook workers: the FSM lives in Redis, and one user's updates are
        # handled one at a time whichever worker receives them.
        redis_storage = RedisStorage.from_url(
            settings.redis_url,
            key_builder=DefaultKeyBuilder(prefix=f"{settings.redis_prefix}:fsm", with_bot_id=True),
            state_ttl=FORM_TTL,
            data_ttl=FORM_TTL,
        )
        dp = TrackingDispatcher(
            storage=redis_storage, events_isolation=redis_storage.create_isolation()
        )
    else:
        # One process: a user's updates one at a time, in order, each committed before the
        # next starts (a parent tapping the menu right after linking is seen as linked).
        dp = TrackingDispatcher(
            storage=storage or ExpiringMemoryStorage(clock), events_isolation=SimpleEventIsolation()
        )
    dp["settings"] = settings
    dp["clock"] = clock
    dp["session_factory"] = session_factory
    dp["i18n"] = i18n
    counter = counter or create_counter(settings)
    if settings.secure_view_url:
        # First: every screen of this update knows the chat carries no child's data.
        dp.update.outer_middleware(SecureViewMiddleware(settings.secure_view_url))
    if isinstance(counter, RedisCounter):
        dp.shutdown.register(counter.close)
    dp.update.outer_middleware(ThrottlingMiddleware(counter, i18n))
    # The screens parents open most read their data with the update's first statement;
    # with the secure view, the data is read there, not in the chat.
    alongside = {ConsentCb.__prefix__: consent.alongside}
    if not settings.secure_view_url:
        alongside[InzageCb.__prefix__] = inzage.alongside
    database = DbSessionMiddleware(session_factory, settings.default_locale, alongside)
    dp.update.outer_middleware(database)
    # For the runner: the pool's connections get the update's first statement in each
    # of its forms before the bot serves (storage.db.fill_pool).
    dp[PREPARE_CONNECTION] = database.prepare
    dp.update.outer_middleware(ActorLocaleMiddleware(i18n))
    # Last, so the one line it may say is in the user's own language.
    dp.update.outer_middleware(PrivateChatsOnly())
    failures.register(dp)
    dp.callback_query.middleware(DataMessageMiddleware())
    dp.include_routers(*get_routers())
    return dp


# At most 20 updates per user in 10 seconds: far above what a parent taps or types.
THROTTLE_LIMIT, THROTTLE_WINDOW = 20, 10.0


def create_counter(settings: Settings) -> Counter:
    """Several workers share Redis, so the limit holds per user, not per worker."""
    if settings.redis_url:
        return RedisCounter(
            Redis.from_url(settings.redis_url),
            settings.redis_prefix,
            THROTTLE_LIMIT,
            THROTTLE_WINDOW,
        )
    return MemoryCounter(THROTTLE_LIMIT, THROTTLE_WINDOW)


# aiogram reads every answer from Telegram as Response[<type>], a pydantic generic model
# that pydantic keeps only while something else holds it: each full garbage collection
# dropped them, and the next reply of that kind rebuilt its model (a millisecond or more,
# on about one reply in seven under load). Held here for the life of the process.
RESPONSE_MODELS = {
    method.__returning__: Response[method.__returning__]  # type: ignore[name-defined]
    for method in (getattr(methods, name) for name in methods.__all__)
    if isinstance(method, type)
    and issubclass(method, TelegramMethod)
    and method is not TelegramMethod
}


def create_bot(settings: Settings) -> Bot:
    server = (
        TelegramAPIServer.from_base(settings.telegram_api_url)
        if settings.telegram_api_url
        else PRODUCTION
    )
    session = JsonSession(api=server, json_loads=sent_message_loads)
    return Bot(
        token=settings.token,
        session=session,
        default=bot_defaults(),
    )


# What Telegram answers about a message the bot sent or edited, that the bot never reads
# and aiogram would otherwise turn into objects on every reply: the message's keyboard
# (every button of it) and its formatting. The bot reads a sent message's id, chat and
# date.
_REPEATED = ("reply_markup", "entities", "link_preview_options")


def sent_message_loads(content: str | bytes) -> Any:
    """Telegram's answer as JSON, without the sent message's repeated keyboard and
    formatting (_REPEATED); everything else, updates and errors included, as it came."""
    data = json.loads(content)
    result = data.get("result") if isinstance(data, dict) else None
    if isinstance(result, dict) and "message_id" in result:
        for key in _REPEATED:
            result.pop(key, None)
    return data


def bot_defaults() -> DefaultBotProperties:
    """HTML and no link previews on every message (tests use the same defaults)."""
    return DefaultBotProperties(
        parse_mode=ParseMode.HTML,
        # As link_preview_options: aiogram turns link_preview_is_disabled into the
        # disable_web_page_preview parameter too, which Bot API 10 no longer lists.
        link_preview=LinkPreviewOptions(is_disabled=True),
    )


async def set_commands(bot: Bot, i18n: I18n) -> None:
    """The command list in Telegram's menu, in both languages."""
    for locale in i18n.available_locales:
        with i18n.use_locale(locale):
            # Each language shows its own words for the commands; the handlers take both
            # (/taal and /language, /annuleren and /cancel).
            commands = [
                BotCommand(command="menu", description=i18n.gettext("Het menu")),
                BotCommand(command="help", description=i18n.gettext("Hulp")),
                BotCommand(
                    command=i18n.gettext("/taal").lstrip("/"),
                    description=i18n.gettext("Taal kiezen"),
                ),
                BotCommand(
                    command=i18n.gettext("/annuleren").lstrip("/"),
                    description=i18n.gettext("Stoppen met een verzoek"),
                ),
            ]
        language = None if locale == i18n.default_locale else locale
        await bot.set_my_commands(commands, scope=BotCommandScopeDefault(), language_code=language)
