"""Per-update context: one database session, the Actor, and the language."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, TelegramObject, Update, User
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n.middleware import I18nMiddleware
from sqlalchemy.exc import IntegrityError

from flows.actor import Actor, load_actor
from storage.db import SessionFactory
from storage.updates import handled_before, mark_handled

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class DbSessionMiddleware(BaseMiddleware):
    """Commits when the handler returns, rolls back when it raises: a handled domain
    error (say, a wrong code) still commits what the flow recorded about it.

    The update's id is stored in the same transaction, so an update Telegram delivers
    again (its webhook got no answer) is recognised and changes nothing twice; one that
    failed was rolled back with its marker and is handled afresh."""

    def __init__(self, factory: SessionFactory) -> None:
        self.factory = factory

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        async with self.factory() as session:
            update_id = event.update_id if isinstance(event, Update) else None
            if update_id is not None and await handled_before(session, update_id):
                return None
            data["session"] = session
            try:
                result = await handler(event, data)
            except BaseException:
                await session.rollback()
                raise
            if update_id is not None:
                mark_handled(session, update_id, data["clock"].now())
            try:
                await session.commit()
            except IntegrityError:
                # Another worker committed the same update first: its changes stand.
                await session.rollback()
            return result


class ActorMiddleware(BaseMiddleware):
    def __init__(self, default_locale: str) -> None:
        self.default_locale = default_locale

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None:
            # Channel posts and the like: nobody to act for, nothing for this bot to do.
            return None
        data["actor"] = await load_actor(data["session"], user.id, self.default_locale)
        return await handler(event, data)


class ActorLocaleMiddleware(I18nMiddleware):
    def __init__(self, i18n: I18n) -> None:
        super().__init__(i18n)

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        actor: Actor | None = data.get("actor")
        if actor is not None and actor.locale in self.i18n.available_locales:
            return actor.locale
        return self.i18n.default_locale


class ThrottlingMiddleware(BaseMiddleware):
    """Drops a user's updates beyond `limit` per `window` seconds, so one account (or a
    stuck client) cannot flood the database; a dropped button press is still answered."""

    def __init__(self, limit: int = 20, window: float = 10.0) -> None:
        self.limit, self.window = limit, window
        self._seen: dict[int, deque[float]] = {}

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None:
            return await handler(event, data)
        now = time.monotonic()
        seen = self._seen.setdefault(user.id, deque())
        while seen and seen[0] <= now - self.window:
            seen.popleft()
        if len(seen) >= self.limit:
            query = event.callback_query if isinstance(event, Update) else None
            if isinstance(query, CallbackQuery):
                await query.answer()
            return None
        seen.append(now)
        if len(self._seen) > 10_000:
            # Forget idle users so the table does not grow without bound.
            self._seen = {k: v for k, v in self._seen.items() if v and v[-1] > now - self.window}
        return await handler(event, data)
