"""Per-update context: one database session, the Actor, and the language."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, TelegramObject, Update, User
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n.middleware import I18nMiddleware
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.expiry import ON_DATA_MESSAGE, shown_message
from bot.fsm import UndoableState
from bot.sent import remembered, sending, take_back
from bot.throttle import Counter
from flows.actor import ALONGSIDE, ASKED_CHILD, Actor, Wanted, adopt, arrive
from storage import catalog
from storage.db import SessionFactory, Turns, after_commit, close_for_sure
from storage.expiry import PENDING
from storage.prepared import written_later
from storage.updates import HANDLED_BEFORE, handled, mark_and_commit

HANDLED = "handled_before"

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
# By a button's prefix: what its press reads in the update's first statement, from its
# callback data (flows.actor.Alongside).
AlongsideOf = Mapping[str, Callable[[str], Wanted | None]]


# No Telegram user, chat, message, update or child has this id: what prepare reads is
# nobody's.
NOBODY = 0

# An update whose marker another worker committed first (Telegram delivered it twice).
_ANSWERED_ELSEWHERE = object()


@dataclass(frozen=True, slots=True)
class _Committed:
    """What the handler returned, and its session for what follows a commit."""

    result: Any
    session: AsyncSession


class DbSessionMiddleware(BaseMiddleware):
    """One database connection and transaction per update, and one read before the
    handler: who is asking (the Actor), whether the update was handled before, whether
    a pressed button sits on a data message, and the catalog counters (storage.catalog).

    The read, the update's marker and the commit go straight through the connection;
    the handler gets an ORM session on the same connection and transaction. The session
    costs nothing until a flow uses it, and the ORM machinery costs more than the read
    and the write themselves.

    Commits when the handler returns, rolls back when it raises: a handled domain
    error (say, a wrong code) still commits what the flow recorded about it.

    The update's id is stored in the same transaction, so an update Telegram delivers
    again (its webhook got no answer) is recognised and changes nothing twice; one that
    failed was rolled back with its marker and is handled afresh, the messages it had
    sent are deleted again (bot.sent): none of them says what the store does not, and its
    form is put back where it was (bot.fsm.UndoableState)."""

    def __init__(
        self, factory: SessionFactory, default_locale: str, alongside: AlongsideOf | None = None
    ) -> None:
        self.factory, self.default_locale = factory, default_locale
        self.alongside = alongside or {}
        self.engine: AsyncEngine = factory.kw["bind"]
        self.turns = Turns(self.engine)

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None:
            # Channel posts and the like: nobody to act for, nothing for this bot to do.
            return None
        bot: Bot | None = data.get("bot")
        if bot is not None:
            remembered(bot)
        form = data.get("state")
        if isinstance(form, FSMContext):
            form = data["state"] = UndoableState(form, data.get("raw_state"))
        with sending() as sent:
            try:
                outcome = await self._handle(handler, event, data, user)
            except (Exception, asyncio.CancelledError):
                # Rolled back: what the update said before it failed is not so, and its
                # form is where it was. Also when it was cut short (a stop that could not
                # wait for it, bot.in_flight): it did not happen either.
                if isinstance(form, UndoableState):
                    await form.undo()
                if bot is not None:
                    await take_back(bot, sent)
                raise
            if outcome is _ANSWERED_ELSEWHERE:
                # Another worker committed the same update first: its changes stand, and
                # it answered; this one's answer goes.
                if bot is not None:
                    await take_back(bot, sent)
                return None
        if isinstance(outcome, _Committed):
            await after_commit(outcome.session)
            return outcome.result
        return None

    async def _handle(
        self, handler: Handler, event: TelegramObject, data: dict[str, Any], user: User
    ) -> _Committed | object:
        """The update in its transaction: committed, handled before (None), or committed
        first by another worker (_ANSWERED_ELSEWHERE)."""
        update_id = event.update_id if isinstance(event, Update) else None
        extras, params = arrival_columns(update_id, shown_message(event))
        wanted = self._wanted(event)
        if wanted is not None:
            params[ASKED_CHILD.key] = wanted[1]
        async with self.turns:
            connection = await self.engine.connect()
            session: AsyncSession | None = None
            try:
                arrival = await arrive(
                    connection,
                    user.id,
                    self.default_locale,
                    extras,
                    params,
                    wanted[0] if wanted is not None else None,
                )
                if arrival.found.get(HANDLED):
                    return None
                # The session joins the connection's transaction: the commit below is the
                # update's, and a rollback of the session rolls the whole update back.
                session = self.factory(bind=connection)
                adopt(session, arrival)
                catalog.note_read(session, arrival.found)
                data["session"], data["actor"] = session, arrival.actor
                data[ON_DATA_MESSAGE] = bool(arrival.found.get(ON_DATA_MESSAGE))
                result = await handler(event, data)
                if session.new or session.dirty or session.deleted:
                    await session.flush()
                try:
                    await mark_and_commit(
                        connection,
                        update_id,
                        data["clock"].now(),
                        written_later(session),
                        done=session.sync_session,
                    )
                except IntegrityError:
                    await connection.rollback()
                    if update_id is None or not await handled(connection, update_id):
                        # A write refused for its own sake: not to be taken for the above.
                        raise
                    return _ANSWERED_ELSEWHERE
                return _Committed(result, session)
            finally:
                if not connection.closed:
                    # Not committed (it raised, was handled before, or was cancelled):
                    # rolled back, and the connection back in the pool.
                    await close_for_sure(connection, session)

    async def prepare(self, connection: AsyncConnection) -> None:
        """Makes the statement an update starts with once in each of its forms on
        `connection`, for nobody: as a typed message and a button press make it, and a
        press with each read alongside. The database compiles a statement once per
        connection, the first time it runs there: for all the forms about 2.5 ms on
        SQLite and 17 ms on PostgreSQL (its parse and plan of the wide reads, and asyncpg
        learning their columns), against 0.4 and 1.7 ms for a run after, on each of the
        pool's twenty connections. Made before the bot serves (storage.db.fill_pool),
        the first evening's first parents no longer wait for it."""
        pressed = (NOBODY, NOBODY)
        forms = [(None, None), (pressed, None), *((pressed, read) for read in ALONGSIDE)]
        for shown, read in forms:
            extras, params = arrival_columns(NOBODY, shown)
            if read is not None:
                params[ASKED_CHILD.key] = NOBODY
            await arrive(connection, NOBODY, self.default_locale, extras, params, read)

    def _wanted(self, event: TelegramObject) -> Wanted | None:
        """What the pressed button's screen will read, to read with the arrival."""
        query = event.callback_query if isinstance(event, Update) else None
        data = query.data if query is not None else None
        if not data:
            return None
        read = self.alongside.get(data.split(":", 1)[0])
        try:
            return read(data) if read is not None else None
        except ValueError:
            # A forged button: nothing to read ahead; its handler answers it.
            return None


def arrival_columns(
    update_id: int | None, shown: tuple[int, int] | None
) -> tuple[dict[str, ColumnElement[Any]], dict[str, Any]]:
    """What the read an update starts with asks besides the actor, with its parameters:
    the catalog counters, whether the update was handled before, and whether the
    pressed button sits on a pending data message."""
    extras, params = catalog.columns(), {}
    if update_id is not None:
        extras[HANDLED] = HANDLED_BEFORE
        params["update_id"] = update_id
    if shown is not None:
        extras[ON_DATA_MESSAGE] = PENDING
        params["shown_chat"], params["shown_message"] = shown
    return extras, params


class ActorLocaleMiddleware(I18nMiddleware):
    def __init__(self, i18n: I18n) -> None:
        super().__init__(i18n)

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        actor: Actor | None = data.get("actor")
        if actor is not None and actor.locale in self.i18n.available_locales:
            return actor.locale
        return self.i18n.default_locale


class ThrottlingMiddleware(BaseMiddleware):
    """Refuses a user's updates beyond the counter's limit, so one account (or a stuck
    client) cannot flood the database. The first refused update is answered once, in the
    user's Telegram language, so a parent who typed something knows to wait; a refused
    button press is always answered (Telegram keeps it spinning otherwise)."""

    def __init__(self, counter: Counter, i18n: I18n) -> None:
        self.counter, self.i18n = counter, i18n

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None:
            return await handler(event, data)
        verdict = await self.counter.hit(user.id)
        if verdict.allowed:
            return await handler(event, data)
        text = self._text(user) if verdict.first_refusal else None
        update = event if isinstance(event, Update) else None
        if update is not None and isinstance(update.callback_query, CallbackQuery):
            await update.callback_query.answer(text)
        elif update is not None and isinstance(update.message, Message) and text is not None:
            await update.message.answer(text)
        return None

    def _text(self, user: User) -> str:
        # Before the database is asked (that is what is being spared), so the language
        # is the one Telegram reports for the user.
        locale = user.language_code or ""
        if locale not in self.i18n.available_locales:
            locale = self.i18n.default_locale
        with self.i18n.context(), self.i18n.use_locale(locale):
            return _("Even geduld, u stuurt veel berichten tegelijk.")
