"""Photo and video consent: see, give or withdraw per channel, and the history."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import keyboards
from bot.callbacks import ConsentAction, ConsentCb
from bot.config import Settings
from bot.filters import pressed
from bot.labels import channel_label
from bot.render import render
from bot.replies import chosen_child, data_until, show_data
from flows import consent
from flows.actor import Actor, Wanted
from flows.clock import Clock
from flows.errors import NotFound

# Keeps the history inside one Telegram message.
HISTORY_SHOWN = 40


def alongside(data: str) -> Wanted | None:
    """A child's consent screen reads the child's choices in the update's first statement
    (bot.middlewares); a choice reads them there too, with whom to tell of it."""
    pressed = ConsentCb.unpack(data)
    if pressed.action in (ConsentAction.CHILDREN, ConsentAction.SHOW):
        return consent.SCREEN, pressed.pupil_id
    if pressed.action is ConsentAction.CONFIRM:
        return consent.CHOICE, pressed.pupil_id
    return None


async def choose_child(
    query: CallbackQuery, session: AsyncSession, actor: Actor, settings: Settings, clock: Clock
) -> None:
    pupil_id = await chosen_child(
        query, session, actor, 0, lambda pid: ConsentCb(action=ConsentAction.SHOW, pupil_id=pid)
    )
    if pupil_id is not None:
        await _show_state(query, session, actor, settings, clock, pupil_id)


async def consent_action(
    query: CallbackQuery,
    callback_data: ConsentCb,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    clock: Clock,
) -> None:
    pupil_id = callback_data.pupil_id
    if callback_data.action is ConsentAction.SHOW:
        await _show_state(query, session, actor, settings, clock, pupil_id)
    elif callback_data.action is ConsentAction.ASK:
        screen = await consent.asking(
            session, actor, pupil_id, callback_data.channel, settings.consent_channels
        )
        text = render(
            "consent_confirm.j2",
            child=screen.child,
            channel=callback_data.channel,
            grant=callback_data.grant,
            label=channel_label,
        )
        markup = keyboards.consent_confirm(pupil_id, callback_data.channel, callback_data.grant)
        await show_data(query, session, text, markup, data_until(settings, clock))
    elif callback_data.action is ConsentAction.CONFIRM:
        await consent.choose(
            session,
            actor,
            pupil_id,
            callback_data.channel,
            callback_data.grant,
            settings.consent_channels,
            clock.now(),
        )
        await _show_state(query, session, actor, settings, clock, pupil_id, changed=True)
    elif callback_data.action is ConsentAction.HISTORY:
        screen = await consent.history_screen(session, actor, pupil_id, HISTORY_SHOWN)
        text = render(
            "consent_history.j2",
            child=screen.child,
            entries=screen.history,
            label=channel_label,
        )
        markup = keyboards.consent_back(pupil_id)
        await show_data(query, session, text, markup, data_until(settings, clock))
    else:
        raise NotFound()


async def _show_state(
    query: CallbackQuery,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    clock: Clock,
    pupil_id: int,
    *,
    changed: bool = False,
) -> None:
    screen = await consent.overview(session, actor, pupil_id, settings.consent_channels)
    states = list(screen.states)
    text = render(
        "consent.j2", child=screen.child, states=states, label=channel_label, changed=changed
    )
    markup = keyboards.consent(pupil_id, states)
    await show_data(query, session, text, markup, data_until(settings, clock))


def create_router() -> Router:
    router = Router(name=__name__)
    router.callback_query.register(
        choose_child, pressed(ConsentCb, F.action == ConsentAction.CHILDREN)
    )
    router.callback_query.register(consent_action, pressed(ConsentCb))
    return router
