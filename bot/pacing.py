"""How fast the outbox may send for one bot: Telegram allows a bot about 30 messages a
second, and one message a second to one chat.

One process paces itself (`MemoryPacer`). Several workers sending for one bot share the
pace in Redis (`RedisPacer`), so the limits hold for the bot as a whole, whatever the
number of workers. A message takes its turn right before it goes: the bot's next turn is
`global_interval` after the last message actually started, the chat's `per_chat_interval`
after its last one. So the messages are spread evenly (not a burst at the start of every
second, which a counter per calendar second would allow: 29 at the end of one second and
29 at the start of the next are 58 in one second), and a worker that wakes late does not
bring its message closer to the next one. A turn refused says how long to wait, and
whether it is the chat that is busy, so the sender can send to another chat meanwhile."""

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
class Turn:
    """`wait` 0: the message may go now, and its turn is taken. Otherwise nothing was
    taken: ask again in `wait` seconds; `chat_busy` when the chat (not the bot) is what
    must wait."""

    wait: float
    chat_busy: bool = False

    @property
    def granted(self) -> bool:
        return self.wait <= 0


class Pacer(Protocol):
    per_chat_interval: float

    def now(self) -> float:
        """Seconds on this pacer's clock (for the sender's own note of busy chats)."""
        ...

    async def take(self, chat_id: int) -> Turn: ...

    async def close(self) -> None: ...


class MemoryPacer:
    """One process: when the bot, and each chat, may send next, kept here."""

    def __init__(
        self,
        global_interval: float = GLOBAL_INTERVAL,
        per_chat_interval: float = PER_CHAT_INTERVAL,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.global_interval, self.per_chat_interval = global_interval, per_chat_interval
        self._now = now
        self._next = -math.inf
        self._chat_free: dict[int, float] = {}

    def now(self) -> float:
        return self._now()

    async def take(self, chat_id: int) -> Turn:
        now = self._now()
        free = self._chat_free.get(chat_id, -math.inf)
        if free > now and free >= self._next:
            return Turn(free - now, chat_busy=True)
        if self._next > now:
            return Turn(self._next - now)
        self._next = now + self.global_interval
        self._chat_free[chat_id] = now + self.per_chat_interval
        if len(self._chat_free) > 10_000:
            # Forget chats whose second has passed, so the table does not grow for ever.
            self._chat_free = {c: t for c, t in self._chat_free.items() if t > now}
        return Turn(0)

    async def close(self) -> None:
        return None


# KEYS[1]: when the bot may send next; KEYS[2]: when the chat may (both in microseconds,
# as integers so nothing is rounded). ARGV: now (empty: Redis's own clock, the same for
# every worker on every host), the bot's and the chat's interval. Returns {wait, chat
# busy}; a wait of 0 took the turn.
_TAKE = """
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local gap, per_chat = tonumber(ARGV[2]), tonumber(ARGV[3])
local next = tonumber(redis.call('GET', KEYS[1]) or '0')
local free = tonumber(redis.call('GET', KEYS[2]) or '0')
if free > now and free >= next then
  return {free - now, 1}
end
if next > now then
  return {next - now, 0}
end
redis.call('SET', KEYS[1], string.format('%d', now + gap),
  'PX', string.format('%d', math.ceil(gap / 1000) + 1000))
redis.call('SET', KEYS[2], string.format('%d', now + per_chat),
  'PX', string.format('%d', math.ceil(per_chat / 1000) + 1))
return {0, 0}
"""
MICRO = 1_000_000


class RedisPacer:
    """Every worker's sender for one bot takes its turns here, in one atomic script, so
    two workers never send in one turn nor to one chat within its second."""

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
        """`now`: a test's clock (seconds); without it the turns are on Redis's clock,
        which every worker shares, and this process's monotonic clock only measures the
        waits it was told."""
        self.redis = redis
        self.global_interval, self.per_chat_interval = global_interval, per_chat_interval
        self._fixed_now = now
        # The braces keep a bot's keys in one slot of a Redis Cluster.
        self._bot_key = f"{prefix}:pace:{{{bot_id}}}"
        self._script = redis.register_script(_TAKE)

    def now(self) -> float:
        return self._fixed_now() if self._fixed_now is not None else time.monotonic()

    async def take(self, chat_id: int) -> Turn:
        now = "" if self._fixed_now is None else str(round(self._fixed_now() * MICRO))
        wait, chat_busy = await self._script(
            keys=[self._bot_key, f"{self._bot_key}:chat:{chat_id}"],
            args=[
                now,
                math.ceil(self.global_interval * MICRO),
                math.ceil(self.per_chat_interval * MICRO),
            ],
        )
        return Turn(int(wait) / MICRO, chat_busy=bool(chat_busy))

    async def close(self) -> None:
        await self.redis.aclose()


def create_pacer(redis_url: str | None, prefix: str, bot_id: int) -> Pacer:
    """Shared in Redis when there is one (several workers may send for this bot);
    otherwise this process is the only sender."""
    if redis_url:
        return RedisPacer(Redis.from_url(redis_url), prefix, bot_id)
    return MemoryPacer()
