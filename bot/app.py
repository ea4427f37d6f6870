"""The app factory: one place that wires settings, storage, i18n and the routers."""

from __future__ import annotations

from aiogram import Bot, Dispatcher, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder
from aiogram.fsm.storage.redis import RedisStorage
from aiogram.types import BotCommand, BotCommandScopeDefault
from aiogram.utils.i18n import I18n

from bot.config import Settings
from bot.expiry import DataMessageMiddleware
from bot.i18n import create_i18n
from bot.middlewares import (
    ActorLocaleMiddleware,
    ActorMiddleware,
    DbSessionMiddleware,
    ThrottlingMiddleware,
)
from bot.routers import (
    account,
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
from flows.clock import Clock, SystemClock
from storage.db import SessionFactory


def get_routers() -> list[Router]:
    """Order matters: requests comes first because a parent typing a step of a form must
    not be read as a code, and the fallback router stays last."""
    modules = (requests, staff, start, menu, inzage, consent, sharing, vendors, account, fallback)
    return [m.create_router() for m in modules]


def create_dispatcher(
    settings: Settings,
    session_factory: SessionFactory,
    *,
    clock: Clock | None = None,
    i18n: I18n | None = None,
    storage: BaseStorage | None = None,
) -> Dispatcher:
    i18n = i18n or create_i18n(settings.default_locale)
    if storage is None and settings.redis_url:
        # Several webhook workers: the FSM lives in Redis, and one user's updates are
        # handled one at a time whichever worker receives them.
        redis_storage = RedisStorage.from_url(
            settings.redis_url,
            key_builder=DefaultKeyBuilder(prefix=f"{settings.redis_prefix}:fsm", with_bot_id=True),
        )
        dp = Dispatcher(storage=redis_storage, events_isolation=redis_storage.create_isolation())
    elif storage is not None:
        dp = Dispatcher(storage=storage)
    else:
        dp = Dispatcher()
    dp["settings"] = settings
    dp["clock"] = clock or SystemClock()
    dp["session_factory"] = session_factory
    dp["i18n"] = i18n
    dp.update.outer_middleware(ThrottlingMiddleware())
    dp.update.outer_middleware(DbSessionMiddleware(session_factory))
    dp.update.outer_middleware(ActorMiddleware(settings.default_locale))
    dp.update.outer_middleware(ActorLocaleMiddleware(i18n))
    dp.callback_query.middleware(DataMessageMiddleware())
    dp.include_routers(*get_routers())
    return dp


def create_bot(settings: Settings) -> Bot:
    session = None
    if settings.telegram_api_url:
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    return Bot(
        token=settings.token,
        session=session,
        default=DefaultBotProperties(
            parse_mode=ParseMode.HTML,
            link_preview_is_disabled=True,
        ),
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
