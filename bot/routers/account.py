"""Unlinking: removes only the link between this Telegram account and the school's records."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import keyboards
from bot.callbacks import MenuAction, MenuCb
from bot.filters import pressed
from bot.render import render
from bot.replies import show
from flows import linking
from flows.actor import Actor
from flows.clock import Clock
from flows.errors import NotLinked


async def ask_unlink(query: CallbackQuery) -> None:
    await show(query, render("unlink.j2", done=False), keyboards.confirm_unlink())


async def unlink(query: CallbackQuery, session: AsyncSession, actor: Actor, clock: Clock) -> None:
    try:
        await linking.unlink(session, actor, clock.now())
    except NotLinked:
        await show(query, render("unknown.j2", linked=False))
        return
    await show(query, render("unlink.j2", done=True))


def create_router() -> Router:
    router = Router(name=__name__)
    router.callback_query.register(ask_unlink, pressed(MenuCb, F.action == MenuAction.UNLINK))
    router.callback_query.register(unlink, pressed(MenuCb, F.action == MenuAction.UNLINK_CONFIRM))
    return router
