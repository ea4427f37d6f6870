"""An update that is rolled back puts its form back where it was (bot.fsm.UndoableState):
the state and the data as they were before its first change, on the process's own
storage and in Redis (several workers), also when a handler changed what it read in
place."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, StorageKey
from aiogram.fsm.storage.redis import RedisStorage

from bot.fsm import ExpiringMemoryStorage, UndoableState
from flows.clock import FixedClock

KEY = StorageKey(bot_id=42, chat_id=4001, user_id=4001)


@pytest.fixture
async def memory(clock: FixedClock) -> AsyncIterator[BaseStorage]:
    yield ExpiringMemoryStorage(clock)


@pytest.fixture
async def redis(redis_url: tuple[str, str]) -> AsyncIterator[BaseStorage]:
    server, prefix = redis_url
    storage = RedisStorage.from_url(
        server, key_builder=DefaultKeyBuilder(prefix=f"{prefix}:fsm", with_bot_id=True)
    )
    yield storage
    await storage.close()


async def _put_back(storage: BaseStorage) -> None:
    form = FSMContext(storage, KEY)
    await form.set_state("Correction:value")
    await form.set_data({"kind": "correction", "names": {"field": "Voornaam"}})

    undoable = UndoableState(form, await form.get_state())
    data = await undoable.get_data()
    data["names"]["value"] = "Anne"  # in place, as a handler may
    await undoable.update_data(names=data["names"], value="Anne")
    await undoable.set_state("Correction:explain")
    assert await form.get_state() == "Correction:explain"

    await undoable.undo()
    assert await form.get_state() == "Correction:value"
    assert await form.get_data() == {"kind": "correction", "names": {"field": "Voornaam"}}

    # An update that left the form alone puts nothing back over a later change.
    untouched = UndoableState(form, await form.get_state())
    await form.set_state(None)
    await untouched.undo()
    assert await form.get_state() is None

    # A form the update cleared comes back whole.
    await form.set_state("Question:text")
    cleared = UndoableState(form, "Question:text")
    await cleared.clear()
    assert await form.get_state() is None and await form.get_data() == {}
    await cleared.undo()
    assert await form.get_state() == "Question:text"
    assert await form.get_data() == {"kind": "correction", "names": {"field": "Voornaam"}}


async def test_a_form_is_put_back_in_the_process(memory: BaseStorage) -> None:
    await _put_back(memory)


async def test_a_form_is_put_back_in_redis(redis: BaseStorage) -> None:
    await _put_back(redis)
