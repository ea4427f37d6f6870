"""/start, the deep link from the letter, and a typed code."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import CommandObject, CommandStart
from aiogram.methods import SendMessage
from aiogram.types import Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import keyboards
from bot.config import Settings
from bot.filters import has_text
from bot.render import render
from flows import codes, linking
from flows.actor import Actor, current_actor
from flows.clock import Clock
from flows.errors import CodeExpired, CodeLocked, CodeUnknown, CodeUsed


async def start_with_code(
    message: Message, command: CommandObject, session: AsyncSession, actor: Actor, clock: Clock
) -> SendMessage:
    return await _redeem(message, command.args or "", session, actor, clock)


async def start(message: Message, session: AsyncSession, actor: Actor, settings: Settings) -> None:
    if actor.is_linked:
        profile = await linking.profile(session, actor.telegram_user_id)
        await message.answer(
            render("profile.j2", profile=profile, just_linked=False),
            reply_markup=keyboards.menu_for(actor),
        )
    else:
        await message.answer(render("welcome.j2", school=settings.school_name))


# async: see bot.filters.
async def _is_code_attempt(message: Message, actor: Actor) -> bool:
    text = message.text or ""
    return codes.looks_like_code(text) or (not actor.is_linked and not text.startswith("/"))


async def typed_code(
    message: Message, session: AsyncSession, actor: Actor, clock: Clock
) -> SendMessage:
    text = message.text or ""
    if not codes.looks_like_code(text):
        return message.answer(render("code_error.j2", reason="not_a_code"))
    return await _redeem(message, text, session, actor, clock)


async def _redeem(
    message: Message, typed: str, session: AsyncSession, actor: Actor, clock: Clock
) -> SendMessage:
    """The answer to a code, returned rather than sent: aiogram sends it once the update is
    committed (bot.middlewares), as it does a handler's returned method. So "Uw account is
    gekoppeld" is said only of a link that was stored, and on SQLite the update does not
    keep its turn to write while Telegram answers: on the evening the letters go home,
    every parent's first update is this one."""
    now = clock.now()
    try:
        profile = await linking.redeem(session, actor, typed, now)
    except CodeUnknown:
        attempts = await linking.code_attempts(session, actor, now)
        if attempts.locked_until is not None:
            return message.answer(
                render("code_error.j2", reason="locked", until=attempts.locked_until)
            )
        # Counting down only near the end: a first typo needs no warning.
        left = attempts.left if attempts.left <= 3 else None
        return message.answer(render("code_error.j2", reason="unknown", attempts_left=left))
    except CodeLocked as locked:
        return message.answer(render("code_error.j2", reason="locked", until=locked.until))
    except CodeUsed as used:
        reason = "used_by_you" if used.by_you else "used"
        return message.answer(render("code_error.j2", reason=reason))
    except CodeExpired:
        return message.answer(render("code_error.j2", reason="expired"))
    # The menu of who the account is now: a board member's is the board's.
    linked = await current_actor(session, actor.telegram_user_id, actor.locale)
    return message.answer(
        render("profile.j2", profile=profile, just_linked=True),
        reply_markup=keyboards.menu_for(linked),
    )


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(start_with_code, CommandStart(deep_link=True))
    router.message.register(start, CommandStart())
    router.message.register(typed_code, has_text, _is_code_attempt)
    return router
