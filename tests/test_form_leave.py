"""A parent in the middle of a form who presses another button (here: on the menu above
it) leaves the form and gets what the button is for; the next thing typed is not taken
as the form's answer. The form's own buttons still work: the routers let a press in on
the prefixes of their own buttons (bot.filters.gate)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from aiogram import Router
from aiogram.filters import StateFilter

from bot.app import get_routers
from bot.callbacks import InzageCb
from bot.filters import PressedAny, gate, pressed
from storage.db import SessionFactory
from tests import factories
from tests.recording import ChatDriver


async def _linked_parent(chat: Callable[..., ChatDriver], factory: SessionFactory) -> ChatDriver:
    async with factory() as session:
        emma = await factories.pupil(session, "Emma")
        sanne = await factories.guardian(session, "Sanne de Vries", emma)
        code = await factories.guardian_code(session, sanne, datetime(2026, 11, 2, tzinfo=UTC))
        await session.commit()
    parent = chat(3201)
    await parent.send(f"/start {code}")
    return parent


async def test_another_button_in_the_middle_of_a_form_leaves_it(
    chat: Callable[..., ChatDriver], factory: SessionFactory
) -> None:
    parent = await _linked_parent(chat, factory)
    await parent.press("Correctie vragen")
    assert "Welk gegeven klopt niet?" in parent.last_text
    await parent.press("Voornaam")
    assert "voornaam" in parent.last_text.lower()

    await parent.press("Foto's en video's")  # on the menu, above the form
    assert "Foto's en video's van Emma" in parent.last_text
    await parent.send("Anne Sophie")
    # Not the correction's new value: the form is gone, so nothing asks to send it.
    assert "Versturen" not in parent.buttons()


async def test_the_forms_own_buttons_still_work(
    chat: Callable[..., ChatDriver], factory: SessionFactory
) -> None:
    parent = await _linked_parent(chat, factory)
    await parent.press("Correctie vragen")
    await parent.press("Voornaam")
    await parent.send("Anne Sophie")
    await parent.press("Annuleren")
    assert "geannuleerd" in parent.last_text.lower()


def test_a_router_takes_presses_only_on_its_own_prefixes() -> None:
    async def handler() -> None:
        return None

    own = Router(name="own")
    own.callback_query.register(handler, pressed(InzageCb))
    gated = gate(own).callback_query._handler.filters or []
    assert len(gated) == 1
    only = gated[0].callback
    assert isinstance(only, PressedAny) and only.heads == (f"{InzageCb.__prefix__}:",)

    # A handler that takes any press (a form's "leave" on its state) keeps its router open.
    open_router = Router(name="open")
    open_router.callback_query.register(handler, StateFilter("some:state"))
    assert not gate(open_router).callback_query._handler.filters

    names = [r.name for r in get_routers()]
    # The form's "leave" comes just before the form's router, as it did inside it.
    assert names.index("bot.routers.requests.leave") + 1 == names.index("bot.routers.requests")
    assert names[-1] == "bot.routers.fallback"
