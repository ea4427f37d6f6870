"""The main menu, help and language choice."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import keyboards
from bot.callbacks import LanguageCb, MenuAction, MenuCb
from bot.filters import pressed
from bot.render import render
from bot.replies import below, show
from flows import linking
from flows.actor import Actor


async def _menu_text(session: AsyncSession, actor: Actor) -> str:
    profile = await linking.profile(session, actor.telegram_user_id)
    return render("profile.j2", profile=profile, just_linked=False)


async def menu_command(message: Message, session: AsyncSession, actor: Actor) -> None:
    if not actor.is_linked:
        await message.answer(render("unknown.j2", linked=False))
        return
    await message.answer(await _menu_text(session, actor), reply_markup=keyboards.menu_for(actor))


async def menu_button(
    query: CallbackQuery, callback_data: MenuCb, session: AsyncSession, actor: Actor
) -> None:
    if not actor.is_linked:
        await show(query, render("unknown.j2", linked=False))
        return
    text, markup = await _menu_text(session, actor), keyboards.menu_for(actor)
    if callback_data.action == MenuAction.BELOW:
        await below(query, text, markup)
    else:
        await show(query, text, markup)


async def help_command(message: Message, actor: Actor) -> None:
    markup = keyboards.back_to_menu() if actor.is_linked else None
    text = render("help.j2", linked=actor.is_linked, staff=actor.is_staff)
    await message.answer(text, reply_markup=markup)


async def help_button(query: CallbackQuery, actor: Actor) -> None:
    text = render("help.j2", linked=actor.is_linked, staff=actor.is_staff)
    await show(query, text, keyboards.back_to_menu())


async def language_command(message: Message, actor: Actor) -> None:
    await message.answer(
        render("language.j2", changed=False), reply_markup=keyboards.languages(actor.locale)
    )


async def language_button(query: CallbackQuery, actor: Actor) -> None:
    await show(query, render("language.j2", changed=False), keyboards.languages(actor.locale))


async def language_chosen(
    query: CallbackQuery, callback_data: LanguageCb, session: AsyncSession, actor: Actor, i18n: I18n
) -> None:
    await linking.set_locale(session, actor, callback_data.locale.value)
    with i18n.use_locale(callback_data.locale.value):
        markup = keyboards.menu_for(actor) if actor.is_linked else None
        await show(query, render("language.j2", changed=True), markup)


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(menu_command, Command("menu"))
    router.callback_query.register(
        menu_button, pressed(MenuCb, F.action.in_((MenuAction.MAIN, MenuAction.BELOW)))
    )
    router.message.register(help_command, Command("help"))
    router.callback_query.register(help_button, pressed(MenuCb, F.action == MenuAction.HELP))
    router.message.register(language_command, Command("taal", "language"))
    router.callback_query.register(
        language_button, pressed(MenuCb, F.action == MenuAction.LANGUAGE)
    )
    router.callback_query.register(language_chosen, pressed(LanguageCb))
    return router
