"""Last in line: what no other router took. Every callback query gets an answer, or the
user's button keeps spinning."""

from __future__ import annotations

from aiogram import Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot import keyboards
from bot.render import render
from flows import requests
from flows.actor import Actor


async def stale_button(query: CallbackQuery) -> None:
    await query.answer(
        _("Deze knop werkt niet meer. Kies opnieuw in het menu: /menu"), show_alert=True
    )


async def anything_else(message: Message, actor: Actor, state: FSMContext) -> None:
    """Text no step asked for. A parent probably has a question: it is offered to be sent
    as one (the text waits in the FSM until then); anyone else is told to use the menu."""
    typed = requests.typed_question(message.text) if actor.guardian_id is not None else None
    if typed is not None:
        await state.set_state(None)
        await state.set_data({"prefill": typed})
        await message.answer(
            render("unknown.j2", linked=True, offer=True), reply_markup=keyboards.ask_typed()
        )
        return
    markup = keyboards.menu_for(actor) if actor.is_linked else None
    text = render("unknown.j2", linked=actor.is_linked, offer=False)
    await message.answer(text, reply_markup=markup)


def create_router() -> Router:
    router = Router(name=__name__)
    router.callback_query.register(stale_button)
    router.message.register(anything_else)
    return router
