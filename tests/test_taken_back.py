"""An update whose commit fails after it answered: what it had sent or rewritten is taken
back, and the parent is told it went wrong. Neither a screen "Uw keuze is opgeslagen" for
a choice that was not stored, nor a language "changed" that was not, nor a child's data
without its deletion time stays in the chat."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from storage.db import SessionFactory
from storage.models import ConsentEvent, MessageExpiry, Outbox
from tests import factories
from tests.recording import ChatDriver

WENT_WRONG = "Er ging iets mis. Probeer het straks opnieuw."


@pytest.fixture
async def sanne(chat: Callable[..., ChatDriver], factory: SessionFactory) -> ChatDriver:
    """Sanne, linked parent of Emma and Daan at the school of tests.factories, at her menu."""
    async with factory() as session:
        await factories.school(session)
        await session.commit()
    parent = chat(factories.SANNE_TG)
    await parent.send("/menu")
    return parent


async def _stored(factory: SessionFactory) -> tuple[int, int, int]:
    async with factory() as session:
        return (
            len((await session.exec(select(ConsentEvent))).all()),
            len((await session.exec(select(Outbox))).all()),
            len((await session.exec(select(MessageExpiry))).all()),
        )


async def test_a_consent_choice_that_was_not_stored_does_not_say_it_was(
    sanne: ChatDriver,
    factory: SessionFactory,
    failing_commits: Callable[[bool], None],
) -> None:
    await sanne.press("Foto's en video's")
    await sanne.press("Emma de Vries")
    await sanne.press("Website: toestemming geven")
    before = await _stored(factory)
    shown_before = {shown.message_id for shown in sanne.my_messages()}

    failing_commits(True)
    with pytest.raises(OperationalError):
        await sanne.press("Ja, toestemming geven")
    texts = [shown.text for shown in sanne.my_messages()]
    # The screen the choice sent is gone again; what was there before stays.
    assert not any("Uw keuze is opgeslagen" in text for text in texts)
    assert shown_before <= {shown.message_id for shown in sanne.my_messages()}
    assert texts[-1] == WENT_WRONG
    assert await _stored(factory) == before  # no choice, no notice, no deletion time

    # Once the database takes writes again, the same choice is stored and said.
    failing_commits(False)
    await sanne.send("/menu")
    await sanne.press("Foto's en video's")
    await sanne.press("Emma de Vries")
    await sanne.press("Website: toestemming geven")
    await sanne.press("Ja, toestemming geven")
    assert "Uw keuze is opgeslagen" in sanne.last_text
    assert "Website: ✅ toestemming" in sanne.last_text
    events, notices, _ = await _stored(factory)
    assert (events, notices) == (before[0] + 1, before[1] + 2)


async def test_a_childs_data_whose_deletion_time_was_not_stored_is_taken_back(
    sanne: ChatDriver,
    factory: SessionFactory,
    failing_commits: Callable[[bool], None],
) -> None:
    await sanne.press("Mijn gegevens")
    assert (await _stored(factory))[2] == 0  # the choice of child holds no data

    failing_commits(True)
    with pytest.raises(OperationalError):
        await sanne.press("Emma de Vries")
    # Emma's record would have stayed in the chat for good: nothing was left to delete it.
    assert not any("Geboortedatum" in shown.text for shown in sanne.my_messages())
    assert sanne.my_messages()[-1].text == WENT_WRONG
    assert (await _stored(factory))[2] == 0

    failing_commits(False)
    await sanne.press("Emma de Vries")
    assert "Geboortedatum" in sanne.last_text
    assert (await _stored(factory))[2] == 1


async def test_a_typed_step_that_failed_is_told(
    sanne: ChatDriver, failing_commits: Callable[[bool], None]
) -> None:
    failing_commits(True)
    with pytest.raises(OperationalError):
        await sanne.send("/menu")
    assert sanne.last_text == WENT_WRONG


async def test_a_screen_rewritten_to_say_what_was_not_stored_is_taken_back(
    sanne: ChatDriver, failing_commits: Callable[[bool], None]
) -> None:
    await sanne.press("Taal / Language")
    language_screen = sanne.last_message_id

    failing_commits(True)
    with pytest.raises(OperationalError):
        await sanne.press("English")
    # The screen was rewritten to say the language changed; it is gone, and the parent
    # is told in Dutch, the language that is still stored.
    assert language_screen not in {shown.message_id for shown in sanne.my_messages()}
    assert sanne.last_text == WENT_WRONG
    failing_commits(False)
    await sanne.send("/menu")
    assert "Mijn gegevens" in sanne.buttons()


async def test_a_form_step_that_was_not_stored_is_asked_again(
    sanne: ChatDriver, failing_commits: Callable[[bool], None]
) -> None:
    """A typed value whose update failed leaves the form where it was, as the database
    is: the parent, told it went wrong, types it again and gets the question that
    follows it, not the one after (the form had moved on, and the value typed again
    became the explanation)."""
    await sanne.press("Correctie vragen")
    await sanne.press("Emma de Vries")
    await sanne.press("Voornaam")
    assert "Wat moet er staan bij voornaam?" in sanne.last_text

    failing_commits(True)
    with pytest.raises(OperationalError):
        await sanne.send("Anne")
    assert sanne.last_text == WENT_WRONG
    failing_commits(False)
    await sanne.send("Anne")
    assert "Wilt u iets toelichten?" in sanne.last_text
    await sanne.press("Overslaan")
    assert "Klopt dit?" in sanne.last_text and "Anne" in sanne.last_text


async def test_an_update_cut_short_takes_back_what_it_said_and_puts_the_form_back(
    sanne: ChatDriver, factory: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stop that could not wait for an update (bot.in_flight) cancels it before its
    commit: its screen does not stay to say what was not stored, and its form is where
    the database left it."""
    from bot import middlewares

    await sanne.press("Correctie vragen")
    await sanne.press("Emma de Vries")
    await sanne.press("Voornaam")
    await sanne.send("Anne")
    await sanne.press("Overslaan")
    assert "Klopt dit?" in sanne.last_text
    before = await _stored(factory)
    commit = middlewares.mark_and_commit
    reached = asyncio.Event()

    async def never(*_args: object, **_kwargs: object) -> None:
        reached.set()
        await asyncio.Event().wait()

    monkeypatch.setattr(middlewares, "mark_and_commit", never)
    sending = asyncio.create_task(sanne.press("Versturen"))
    await reached.wait()
    assert any("Verstuurd" in shown.text for shown in sanne.my_messages())
    sending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sending
    assert not any("Verstuurd" in shown.text for shown in sanne.my_messages())
    assert await _stored(factory) == before

    # The bot again: the form is at its last step, and sending it now is stored and said.
    monkeypatch.setattr(middlewares, "mark_and_commit", commit)
    await sanne.press("Versturen")
    assert "Verstuurd. Uw kenmerk is OL-" in sanne.last_text
    assert (await _stored(factory))[1] > before[1]
