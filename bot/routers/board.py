"""The school board's view: figures per school and for the board as a whole."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import keyboards
from bot.callbacks import BoardCb
from bot.config import Settings
from bot.filters import pressed
from bot.render import render
from bot.replies import show
from flows import board
from flows.actor import Actor
from flows.clock import Clock
from storage.db import transaction
from storage.models import RequestKind, RequestStatus


# async: see bot.filters.
async def _is_board(event: Message | CallbackQuery, actor: Actor) -> bool:
    return actor.is_board


async def _screen(
    session: AsyncSession,
    actor: Actor,
    clock: Clock,
    settings: Settings,
    schools: Mapping[str, Any],
    school_key: str,
) -> str:
    """Every school where this account is linked as a board member; each school's own
    database is asked for its own figures, and records the view in its own audit trail."""
    now = clock.now()
    where = f"via {school_key}"
    found: dict[str, board.Figures | None] = {}
    # The other schools first, each committed at once: this update then never holds its
    # own school's write turn while waiting for another's (two bots, one board member
    # tapping in both, would otherwise wait for each other).
    for key, school in schools.items():
        if key != school_key:
            async with transaction(school.session_factory) as other:
                found[key] = await board.view_for_board(
                    other, actor.telegram_user_id, now, settings.consent_channels, where
                )
    found[school_key] = await board.view_for_board(
        session, actor.telegram_user_id, now, settings.consent_channels, where
    )
    rows = [
        (school.name, figures)
        for key, school in schools.items()
        if (figures := found.get(key)) is not None
    ]
    total = board.total(f for _, f in rows) if len(rows) > 1 else None
    return render(
        "board.j2",
        rows=rows,
        total=total,
        kinds=[k.value for k in RequestKind],
        statuses=[s.value for s in RequestStatus],
        channels=settings.consent_channels,
        now=now,
    )


async def board_command(
    message: Message,
    session: AsyncSession,
    actor: Actor,
    clock: Clock,
    settings: Settings,
    schools: Mapping[str, Any],
    school_key: str = "school",
) -> None:
    text = await _screen(session, actor, clock, settings, schools, school_key)
    await message.answer(text, reply_markup=keyboards.menu_for(actor))


async def board_button(
    query: CallbackQuery,
    session: AsyncSession,
    actor: Actor,
    clock: Clock,
    settings: Settings,
    schools: Mapping[str, Any],
    school_key: str = "school",
) -> None:
    text = await _screen(session, actor, clock, settings, schools, school_key)
    await show(query, text, keyboards.back_to_menu())


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(_is_board)
    router.callback_query.filter(_is_board)
    router.message.register(board_command, Command("bestuur", "board"))
    router.callback_query.register(board_button, pressed(BoardCb))
    return router
