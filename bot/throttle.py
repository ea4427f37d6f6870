"""How many updates a user may send: counted in this process, or in Redis when the bot
runs as several workers (each worker would otherwise allow the limit on its own)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    # The first update refused since the user was last allowed one: the one to answer.
    first_refusal: bool = False


class Counter(Protocol):
    async def hit(self, user_id: int) -> Verdict: ...


class MemoryCounter:
    """A sliding window per user, in this process."""

    def __init__(
        self, limit: int, window: float, now: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit, self.window, self.now = limit, window, now
        self._seen: dict[int, deque[float]] = {}
        self._told: set[int] = set()

    async def hit(self, user_id: int) -> Verdict:
        now = self.now()
        seen = self._seen.setdefault(user_id, deque())
        while seen and seen[0] <= now - self.window:
            seen.popleft()
        if len(seen) >= self.limit:
            first = user_id not in self._told
            self._told.add(user_id)
            return Verdict(False, first)
        seen.append(now)
        self._told.discard(user_id)
        if len(self._seen) > 10_000:
            # Forget idle users so the table does not grow without bound.
            self._seen = {k: v for k, v in self._seen.items() if v and v[-1] > now - self.window}
            self._told &= set(self._seen)
        return Verdict(True)


class RedisCounter:
    """A fixed window per user in Redis, shared by every worker: INCR is atomic, so
    exactly one update, in whichever worker, is the first one over the limit."""

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        limit: int,
        window: float,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.redis, self.prefix = redis, prefix
        self.limit, self.window, self.now = limit, window, now

    async def hit(self, user_id: int) -> Verdict:
        slot = int(self.now() // self.window)
        key = f"{self.prefix}:throttle:{user_id}:{slot}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            # Kept a little longer than its window: a clock a bit behind still finds it.
            pipe.expire(key, int(self.window * 2) + 1)
            count, _ = await pipe.execute()
        if count <= self.limit:
            return Verdict(True)
        return Verdict(False, first_refusal=count == self.limit + 1)

    async def close(self, **_: object) -> None:
        """Registered on the dispatcher's shutdown."""
        await self.redis.aclose()
