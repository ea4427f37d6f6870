"""When a handler fails (a database error, a bug), the button that was pressed still
gets an answer, so it does not keep spinning on the parent's phone. The failure itself
is logged by aiogram as before; the engines hide the statement's values
(storage/db.py), so that log line carries none."""

from __future__ import annotations

import contextlib
from typing import Any

from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.exceptions import TelegramAPIError
from aiogram.types import ErrorEvent
from aiogram.utils.i18n import I18n

from flows.actor import Actor
from flows.errors import InvalidInput, NotAllowed, NotFound

_ANSWERED_BY_ROUTERS = (NotFound, NotAllowed, InvalidInput)


async def answer_the_button(event: ErrorEvent, **data: Any) -> Any:
    query = event.update.callback_query
    if isinstance(event.exception, _ANSWERED_BY_ROUTERS):
        # bot.domain_errors answers these in the user's words.
        return UNHANDLED
    i18n: I18n | None = data.get("i18n")
    if query is not None and i18n is not None:
        actor: Actor | None = data.get("actor")
        locale = actor.locale if actor is not None else i18n.default_locale
        text = i18n.gettext("Er ging iets mis. Probeer het straks opnieuw.", locale=locale)
        with contextlib.suppress(TelegramAPIError):
            await query.answer(text, show_alert=True)
    # Not handled: aiogram goes on to log the failure as for any other update.
    return UNHANDLED
