"""Gegevens delen met anderen: when the school may pass data on, and what it did."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery
from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import keyboards, secure_links
from bot.callbacks import SharingCb
from bot.filters import pressed
from bot.render import render
from bot.replies import chosen_child, show, show_new
from flows import disclosures
from flows.actor import Actor


async def view(
    query: CallbackQuery, callback_data: SharingCb, session: AsyncSession, actor: Actor
) -> None:
    if secure_links.enabled():
        label = _("Gegevens delen met anderen")
        markup = keyboards.secure_screen(label, "delen", pupil=callback_data.pupil_id)
        await show_new(query, render("secure_line.j2", what="sharing"), markup)
        return
    pupil_id = await chosen_child(
        query, session, actor, callback_data.pupil_id, lambda pid: SharingCb(pupil_id=pid)
    )
    if pupil_id is None:
        return
    child, listed = await disclosures.for_child_screen(session, actor, pupil_id)
    text = render("sharing.j2", child=child, disclosures=listed)
    await show(query, text, keyboards.back_to_menu())


def create_router() -> Router:
    router = Router(name=__name__)
    router.callback_query.register(view, pressed(SharingCb))
    return router
