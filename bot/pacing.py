"""How fast the outbox may send for one bot: Telegram allows a bot about 30 messages a
second, and one message a second to one chat.

One process paces itself (`MemoryPacer`). Several workers sending for one bot share the
pace in Redis (`RedisPacer`), so the limits hold for the bot as a whole, whatever the
number of workers: each message reserves a slot, and slots are `global_interval` apart
for the bot and `per_chat_interval` apart for a chat.

A slot is reserved before the message goes and the sender waits for it, so the sends are
spread evenly (not a burst at the start of every second, which a counter per calendar
second would allow: 30 at the end of one second and 30 at the start of the next are 60
in one second). A chat that is still within its second is refused without reserving
anything, so the sender can pass the row over and send to another chat meanwhile."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

# Telegram allows about 30 messages a second; 29 leaves room for network jitter.
GLOBAL_INTERVAL = 1 / 29
# One a second per chat, with a margin so network jitter never brings two closer.
PER_CHAT_INTERVAL = 1.05


@dataclass(frozen=True)
class Slot:
    """`granted`: the message may go in `wait` seconds; its slot is reserved for it.
    Not granted: the chat is busy for `wait` more seconds, and nothing was reserved."""

    granted: bool
    wait: float


class Pacer(Protocol):
    per_chat_interval: float

    def now(self) -> float:
        """Seconds on this pacer's clock (for the sender's own note of busy chats)."""
        ...

    async def reserve(self, chat_id: int) -> Slot: ...

    async def close(self) -> None: ...


class MemoryPacer:
    """One process: the next free slot of the bot, and of each chat, kept here."""

    def __init__(
        self,
        global_interval: float = GLOBAL_INTERVAL,
        per_chat_interval: float = PER_CHAT_INTERVAL,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.global_interval, self.per_chat_interval = global_interval, per_chat_interval
        self._now = now
        self._next_slot = -math.inf
        self._chat_free: dict[int, float] = {}

    def now(self) -> float:
        return self._now()

    async def reserve(self, chat_id: int) -> Slot:
        now = self._now()
        slot = max(now, self._next_slot)
        free = self._chat_free.get(chat_id, -math.inf)
        if free > slot:
            return Slot(False, free - now)
        self._next_slot = slot + self.global_interval
        self._chat_free[chat_id] = slot + self.per_chat_interval
        if len(self._chat_free) > 10_000:
            # Forget chats whose second has passed, so the table does not grow for ever.
            self._chat_free = {c: t for c, t in self._chat_free.items() if t > now}
        return Slot(True, slot - now)

    async def close(self) -> None:
        return None


# KEYS[1]: the bot's next free slot; KEYS[2]: when the chat is free again (both in
# microseconds, as integers so nothing is rounded). ARGV: now (empty: Redis's own clock,
# the same for every worker on every host), the bot's and the chat's interval. Returns
# {1, wait} for a reserved slot, {0, wait} for a busy chat (nothing reserved).
_RESERVE = """
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local gap, per_chat = tonumber(ARGV[2]), tonumber(ARGV[3])
local slot = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'))
local free = tonumber(redis.call('GET', KEYS[2]) or '0')
if free > slot then
  return {0, free - now}
end
redis.call('SET', KEYS[1], string.format('%d', slot + gap),
  'PX', string.format('%d', math.ceil((slot + gap - now) / 1000) + 1000))
redis.call('SET', KEYS[2], string.format('%d', slot + per_chat),
  'PX', string.format('%d', math.ceil((slot + per_chat - now) / 1000) + 1))
return {1, slot - now}
"""
MICRO = 1_000_000


class RedisPacer:
    """Every worker's sender for one bot takes its slots here, in one atomic script, so
    two workers never take the same slot nor send to one chat within its second."""

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        bot_id: int,
        *,
        global_interval: float = GLOBAL_INTERVAL,
        per_chat_interval: float = PER_CHAT_INTERVAL,
        now: Callable[[], float] | None = None,
    ) -> None:
        """`now`: a test's clock (seconds); without it the slots are on Redis's clock,
        which every worker shares, and this process's monotonic clock only measures the
        waits it was told."""
        self.redis = redis
        self.global_interval, self.per_chat_interval = global_interval, per_chat_interval
        self._fixed_now = now
        # The braces keep a bot's keys in one slot of a Redis Cluster.
        self._bot_key = f"{prefix}:pace:{{{bot_id}}}"
        self._script = redis.register_script(_RESERVE)

    def now(self) -> float:
        return self._fixed_now() if self._fixed_now is not None else time.monotonic()

    async def reserve(self, chat_id: int) -> Slot:
        now = "" if self._fixed_now is None else str(round(self._fixed_now() * MICRO))
        granted, wait = await self._script(
            keys=[self._bot_key, f"{self._bot_key}:chat:{chat_id}"],
            args=[
                now,
                math.ceil(self.global_interval * MICRO),
                math.ceil(self.per_chat_interval * MICRO),
            ],
        )
        return Slot(bool(granted), int(wait) / MICRO)

    async def close(self) -> None:
        await self.redis.aclose()


def create_pacer(redis_url: str | None, prefix: str, bot_id: int) -> Pacer:
    """Shared in Redis when there is one (several workers may send for this bot);
    otherwise this process is the only sender."""
    if redis_url:
        return RedisPacer(Redis.from_url(redis_url), prefix, bot_id)
    return MemoryPacer()
