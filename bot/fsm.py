"""Where a half-filled form lives: the FSM storage, with an expiry. A form a parent
abandoned holds what they typed (a correction, a question about their child); it must
not stay in memory or in Redis for ever."""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import StateType, StorageKey
from aiogram.fsm.storage.memory import MemoryStorage

from flows.clock import Clock

log = logging.getLogger(__name__)

FORM_TTL = timedelta(days=1)
# A sweep over every key at most this often, so forms nobody returns to go too.
_SWEEP_EVERY = timedelta(minutes=10)


class ExpiringMemoryStorage(MemoryStorage):
    """aiogram's MemoryStorage, forgetting a chat's state and data `ttl` after it was last
    written (Redis does the same with state_ttl and data_ttl)."""

    def __init__(self, clock: Clock, ttl: timedelta = FORM_TTL) -> None:
        super().__init__()
        self.clock, self.ttl = clock, ttl
        self._written: dict[StorageKey, datetime] = {}
        self._swept = clock.now()

    def _forget_expired(self, key: StorageKey) -> None:
        now = self.clock.now()
        if now - self._swept >= _SWEEP_EVERY:
            self._swept = now
            for old in [k for k, at in self._written.items() if now - at > self.ttl]:
                self._forget(old)
        written = self._written.get(key)
        if written is not None and now - written > self.ttl:
            self._forget(key)

    def _forget(self, key: StorageKey) -> None:
        self.storage.pop(key, None)
        self._written.pop(key, None)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        self._forget_expired(key)
        await super().set_state(key, state)
        self._touch(key, state.state if isinstance(state, State) else state)

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        self._forget_expired(key)
        await super().set_data(key, data)
        self._touch(key, data)

    def _touch(self, key: StorageKey, value: object) -> None:
        record = self.storage.get(key)
        if record is not None and record.state is None and not record.data:
            self._forget(key)  # cleared: nothing left to expire
        elif value is not None:
            self._written[key] = self.clock.now()

    async def get_state(self, key: StorageKey) -> str | None:
        self._forget_expired(key)
        return await super().get_state(key)

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        self._forget_expired(key)
        return await super().get_data(key)

    async def get_value(
        self, storage_key: StorageKey, dict_key: str, default: Any | None = None
    ) -> Any | None:
        self._forget_expired(storage_key)
        return await super().get_value(storage_key, dict_key, default)


class UndoableState(FSMContext):
    """An update's form (aiogram's FSMContext) whose changes can be undone: the state and
    data are kept as they were before the update first read or changed the data (the
    state it started in aiogram read already), so an update that is rolled back
    leaves the form where the database is (a typed value that was not stored is asked
    for again, not taken as the next step's answer). The FSM is not in the database's
    transaction; this is its rollback."""

    def __init__(self, state: FSMContext, before: str | None) -> None:
        super().__init__(state.storage, state.key)
        self._state_before = before
        self._before: tuple[str | None, dict[str, Any]] | None = None

    async def _keep(self, data: dict[str, Any] | None = None) -> None:
        """Keeps the form as it was, at the update's first read or change of it: a copy
        all the way down, since a handler may change what it read in place (the process's
        own storage hands out the very dicts it holds)."""
        if self._before is None:
            if data is None:
                data = await self.storage.get_data(key=self.key)
            self._before = (self._state_before, copy.deepcopy(data))

    async def get_data(self) -> dict[str, Any]:
        data = await super().get_data()
        await self._keep(data)
        return data

    async def set_state(self, state: StateType = None) -> None:
        await self._keep()
        await super().set_state(state)

    async def set_data(self, data: Mapping[str, Any]) -> None:
        await self._keep()
        await super().set_data(data)

    async def update_data(
        self, data: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        await self._keep()
        return await super().update_data(data, **kwargs)

    async def undo(self) -> None:
        """The state and data as they were before this update changed them."""
        if self._before is None:
            return
        state, data = self._before
        self._before = None
        try:
            await self.storage.set_state(key=self.key, state=state)
            await self.storage.set_data(key=self.key, data=data)
        except Exception as error:
            # The storage itself failing (Redis gone): the update's own error is the one
            # to answer; the form stays as the update left it.
            log.warning("a form could not be put back: %s", type(error).__name__)
