"""Suppliers and their privacy leaflets."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery
from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import keyboards
from bot.callbacks import MenuAction, MenuCb, VendorCb
from bot.filters import pressed
from bot.labels import field_label
from bot.render import render
from bot.replies import not_found, show
from flows import vendors
from flows.actor import Actor
from flows.errors import NotLinked


async def vendor_list(query: CallbackQuery, session: AsyncSession, actor: Actor) -> None:
    try:
        cards = await vendors.list_vendors(session, actor)
    except NotLinked:
        await show(query, render("unknown.j2", linked=False))
        return
    await show(query, render("vendors.j2", vendors=cards), keyboards.vendors(cards))


async def vendor_card(
    query: CallbackQuery, callback_data: VendorCb, session: AsyncSession, actor: Actor
) -> None:
    try:
        card = await vendors.get_vendor(session, actor, callback_data.key)
    except NotLinked:
        await not_found(query)
        return
    text = render("vendor.j2", card=card, label=field_label, not_given=_("niet opgegeven"))
    await show(query, text, keyboards.vendor(card))


def create_router() -> Router:
    router = Router(name=__name__)
    router.callback_query.register(vendor_list, pressed(MenuCb, F.action == MenuAction.VENDORS))
    router.callback_query.register(vendor_card, pressed(VendorCb))
    return router
