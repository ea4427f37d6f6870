"""How fast the outbox may send for one bot: Telegram allows a bot about 30 messages a
second, and one message a second to one chat.

One process paces itself (`MemoryPacer`). Several workers sending for one bot share the
pace in Redis (`RedisPacer`), so the limits hold for the bot as a whole, whatever the
number of workers. Three rules, checked together each time a message takes its turn,
right before it goes:

- the bot's turns are `global_interval` apart (1/29 s), counted from the last turn
  taken, so messages are spread evenly: not a burst at the start of every second, which
  a counter per calendar second would allow (29 at the end of one second and 29 at the
  start of the next are 58 in one second);
- at most `per_second` (30) messages are in flight or were completed in the last second.
  A message reaches Telegram between its turn and its answer, so this holds at Telegram's
  side in any one second, however late a worker or the network is;
- a chat's next turn is `per_chat_interval` (1.05 s) after its last message was answered,
  and no turn while one is in flight: two messages to one chat reach Telegram at least
  that far apart.

`done` reports that the answer came. A message never reported (a worker that died
mid-send) counts as in flight for `FLIGHT` seconds, then as done. A refused turn says how
long to wait, and whether it is the chat that is busy, so the sender can send to another
chat meanwhile."""

from __future__ import annotations

import itertools
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

# Telegram allows about 30 messages a second; 29 leaves room for network jitter.
GLOBAL_INTERVAL = 1 / 29
PER_SECOND = 30
# One a second per chat, with a margin.
PER_CHAT_INTERVAL = 1.05
# Longer than a Bot API call may take (aiogram gives up after 60 s).
FLIGHT = 65.0


@dataclass(frozen=True)
class Turn:
    """`wait` 0: the message may go now, and its turn (`token`) is taken. Otherwise
    nothing was taken: ask again in `wait` seconds; `chat_busy` when the chat (not the
    bot) is what must wait."""

    wait: float
    chat_busy: bool = False
    token: str = ""

    @property
    def granted(self) -> bool:
        return self.wait <= 0


class Pacer(Protocol):
    per_chat_interval: float

    def now(self) -> float:
        """Seconds on this pacer's clock (for the sender's own note of busy chats)."""
        ...

    async def take(self, chat_id: int) -> Turn: ...

    async def done(self, chat_id: int, turn: Turn) -> None:
        """The message of this turn was answered (or failed): it is no longer in flight."""
        ...

    async def close(self) -> None: ...


class MemoryPacer:
    """One process: the same rules, kept here."""

    def __init__(
        self,
        global_interval: float = GLOBAL_INTERVAL,
        per_chat_interval: float = PER_CHAT_INTERVAL,
        now: Callable[[], float] = time.monotonic,
        per_second: int = PER_SECOND,
    ) -> None:
        self.global_interval, self.per_chat_interval = global_interval, per_chat_interval
        self.per_second = per_second
        self._now = now
        self._next = -math.inf
        self._chat_free: dict[int, float] = {}
        # Turn token -> when its message was answered (FLIGHT after the turn until then).
        self._recent: dict[str, float] = {}
        self._tokens = itertools.count(1)

    def now(self) -> float:
        return self._now()

    async def take(self, chat_id: int) -> Turn:
        now = self._now()
        free = self._chat_free.get(chat_id, -math.inf)
        if free > now and free >= self._next:
            # In flight, the chat is free per_chat_interval after the answer.
            return Turn(min(free - now, self.per_chat_interval), chat_busy=True)
        if self._next > now:
            return Turn(self._next - now)
        self._recent = {t: at for t, at in self._recent.items() if at > now - 1}
        if len(self._recent) >= self.per_second:
            first = min(self._recent.values())
            return Turn(self.global_interval if first > now else max(first + 1 - now, 1e-6))
        token = str(next(self._tokens))
        self._next = now + self.global_interval
        self._chat_free[chat_id] = now + FLIGHT
        self._recent[token] = now + FLIGHT
        if len(self._chat_free) > 10_000:
            # Forget chats that are free again, so the table does not grow for ever.
            self._chat_free = {c: t for c, t in self._chat_free.items() if t > now}
        return Turn(0, token=token)

    async def done(self, chat_id: int, turn: Turn) -> None:
        now = self._now()
        if turn.token in self._recent:
            self._recent[turn.token] = now
        self._chat_free[chat_id] = now + self.per_chat_interval

    async def close(self) -> None:
        return None


# KEYS: the bot's next turn, the bot's messages in flight or answered in the last second
# (a sorted set: token -> when answered, FLIGHT ahead while in flight), the chat's next
# turn. All times in microseconds, as integers so nothing is rounded. ARGV: now (empty:
# Redis's own clock, the same for every worker on every host), the bot's interval, the
# chat's interval, per second, flight, the token. Returns {wait, chat busy}; a wait of
# 0 took the turn.
_TAKE = """
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local gap, per_second, flight = tonumber(ARGV[2]), tonumber(ARGV[4]), tonumber(ARGV[5])
local next = tonumber(redis.call('GET', KEYS[1]) or '0')
local free = tonumber(redis.call('GET', KEYS[3]) or '0')
if free > now and free >= next then
  -- In flight, the chat is free per_chat after the answer, so not before now + per_chat.
  return {math.min(free - now, tonumber(ARGV[3])), 1}
end
if next > now then
  return {next - now, 0}
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('%d', now - 1000000))
if redis.call('ZCARD', KEYS[2]) >= per_second then
  -- The first answered leaves the second then; all in flight: ask again a turn later.
  local first = tonumber(redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')[2])
  if first > now then
    return {gap, 0}
  end
  return {math.max(first + 1000000 - now, 1), 0}
end
local ttl = string.format('%d', math.ceil(flight / 1000) + 2000)
redis.call('SET', KEYS[1], string.format('%d', now + gap), 'PX', ttl)
redis.call('SET', KEYS[3], string.format('%d', now + flight), 'PX', ttl)
redis.call('ZADD', KEYS[2], string.format('%d', now + flight), ARGV[6])
redis.call('PEXPIRE', KEYS[2], ttl)
return {0, 0}
"""
# KEYS: the bot's messages in flight, the chat's next turn. ARGV: now, the chat's
# interval, the token.
_DONE = """
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local per_chat = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], 'XX', string.format('%d', now), ARGV[3])
redis.call('SET', KEYS[2], string.format('%d', now + per_chat),
  'PX', string.format('%d', math.ceil(per_chat / 1000) + 1))
return 1
"""
MICRO = 1_000_000


class RedisPacer:
    """Every worker's sender for one bot takes its turns here, each in one atomic script,
    so the rules hold for all workers together."""

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        bot_id: int,
        *,
        global_interval: float = GLOBAL_INTERVAL,
        per_chat_interval: float = PER_CHAT_INTERVAL,
        per_second: int = PER_SECOND,
        now: Callable[[], float] | None = None,
    ) -> None:
        """`now`: a test's clock (seconds); without it the turns are on Redis's clock,
        which every worker shares, and this process's monotonic clock only measures the
        waits it was told."""
        self.redis = redis
        self.global_interval, self.per_chat_interval = global_interval, per_chat_interval
        self.per_second = per_second
        self._fixed_now = now
        # The braces keep a bot's keys in one slot of a Redis Cluster.
        self._bot_key = f"{prefix}:pace:{{{bot_id}}}"
        self._take = redis.register_script(_TAKE)
        self._done = redis.register_script(_DONE)

    def now(self) -> float:
        return self._fixed_now() if self._fixed_now is not None else time.monotonic()

    def _now_argument(self) -> str:
        return "" if self._fixed_now is None else str(round(self._fixed_now() * MICRO))

    def _chat_key(self, chat_id: int) -> str:
        return f"{self._bot_key}:chat:{chat_id}"

    async def take(self, chat_id: int) -> Turn:
        token = uuid.uuid4().hex
        wait, chat_busy = await self._take(
            keys=[self._bot_key, f"{self._bot_key}:recent", self._chat_key(chat_id)],
            args=[
                self._now_argument(),
                math.ceil(self.global_interval * MICRO),
                math.ceil(self.per_chat_interval * MICRO),
                self.per_second,
                math.ceil(FLIGHT * MICRO),
                token,
            ],
        )
        if int(wait) > 0:
            return Turn(int(wait) / MICRO, chat_busy=bool(chat_busy))
        return Turn(0, token=token)

    async def done(self, chat_id: int, turn: Turn) -> None:
        await self._done(
            keys=[f"{self._bot_key}:recent", self._chat_key(chat_id)],
            args=[self._now_argument(), math.ceil(self.per_chat_interval * MICRO), turn.token],
        )

    async def close(self) -> None:
        await self.redis.aclose()


def create_pacer(redis_url: str | None, prefix: str, bot_id: int) -> Pacer:
    """Shared in Redis when there is one (several workers may send for this bot);
    otherwise this process is the only sender."""
    if redis_url:
        return RedisPacer(Redis.from_url(redis_url), prefix, bot_id)
    return MemoryPacer()
