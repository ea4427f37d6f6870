"""Last in line: what no other router took. Every callback query gets an answer, or the
user's button keeps spinning."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot import keyboards
from bot.render import render
from flows.actor import Actor


async def stale_button(query: CallbackQuery) -> None:
    await query.answer(
        _("Deze knop werkt niet meer. Kies opnieuw in het menu: /menu"), show_alert=True
    )


async def anything_else(message: Message, actor: Actor) -> None:
    markup = keyboards.menu_for(actor) if actor.is_linked else None
    await message.answer(render("unknown.j2", linked=actor.is_linked), reply_markup=markup)


def create_router() -> Router:
    router = Router(name=__name__)
    router.callback_query.register(stale_button)
    router.message.register(anything_else)
    return router
