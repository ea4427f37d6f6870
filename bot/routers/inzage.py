"""Mijn gegevens: what the school holds about a child."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery
from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import expiry, keyboards
from bot.callbacks import InzageCb
from bot.config import Settings
from bot.labels import channel_label, field_label
from bot.render import render
from bot.replies import show
from flows import inzage, linking
from flows.actor import Actor
from flows.clock import Clock
from flows.errors import NotFound


async def view(
    query: CallbackQuery,
    callback_data: InzageCb,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    clock: Clock,
) -> None:
    pupil_id = callback_data.pupil_id
    if pupil_id == 0:
        children = (await linking.profile(session, actor.telegram_user_id)).children
        if len(children) != 1:
            markup = keyboards.pick_child(children, lambda pid: InzageCb(pupil_id=pid))
            await show(query, render("pick_child.j2"), markup)
            return
        pupil_id = children[0].pupil_id
    try:
        record = await inzage.child_record(session, actor, pupil_id, settings.consent_channels)
    except NotFound:
        await query.answer(_("Niet gevonden."), show_alert=True)
        return
    until = clock.now() + settings.data_view_ttl
    text = render("inzage.j2", r=record, label=channel_label, label_field=field_label, until=until)
    shown = await show(query, text, keyboards.inzage(pupil_id, record.has_special_category))
    if shown is not None:
        await expiry.schedule(session, query.from_user.id, shown, until)


def create_router() -> Router:
    router = Router(name=__name__)
    router.callback_query.register(view, InzageCb.filter())
    return router
