"""When to try again: exponential backoff, and a schedule of pending attempts kept durably in Redis.

The retry consumer files each MailRetry here; a loop takes the due ones (leasing them, so a
crashed attempt comes back after the lease) and runs them beside other work, never blocking it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from schemas.events import MailRetry

DUE = "gm:retry:due"  # sorted set: event id → when it may run (or, while running, when its lease ends)
EVENTS = "gm:retry:events"  # hash: event id → MailRetry JSON
DONE_TTL = 7 * 86400


def done_key(event_id: str) -> str:
    """Set once an attempt finished, so a replayed retry event is not run again."""
    return f"gm:retry:done:{event_id}"


def waiting_key(message_id: str) -> str:
    """Hash recipient → epoch of its next attempt: a republished message must not jump the queue."""
    return f"gm:retry:waiting:{message_id}"


CLAIM = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], ARGV[2], id)
  table.insert(out, redis.call('HGET', KEYS[2], id) or '')
end
return out
"""


def backoff(attempt: int, first: float, longest: float) -> float:
    """Seconds to wait after failed attempt number `attempt` (1, 2, …): first, 2×first, 4×first, … up to longest."""
    return min(first * 2 ** max(attempt - 1, 0), longest)


class RetrySchedule:
    def __init__(self, client: aioredis.Redis, lease: float = 600.0):
        self.redis = client
        self.lease = lease
        self.wakeup = asyncio.Event()
        self._claim = client.register_script(CLAIM)

    async def add(self, event: MailRetry) -> bool:
        """File an attempt; False when that very event already ran."""
        if await self.redis.exists(done_key(event.event_id)):
            return False
        when = event.not_before.timestamp()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(EVENTS, event.event_id, event.model_dump_json())
            pipe.zadd(DUE, {event.event_id: when}, nx=True)
            pipe.hset(waiting_key(event.message_id or ""), mapping={r.lower(): when for r in event.recipients})
            pipe.expire(waiting_key(event.message_id or ""), int(max(when - time.time(), 0)) + 86400)
            await pipe.execute()
        if when <= time.time():
            self.wakeup.set()
        return True

    async def claim_due(self, limit: int = 50, now: float | None = None) -> list[MailRetry]:
        now = time.time() if now is None else now
        raw = await self._claim(keys=[DUE, EVENTS], args=[now, now + self.lease, limit])
        return [MailRetry.model_validate_json(r) for r in raw if r]

    async def done(self, event: MailRetry) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(done_key(event.event_id), "1", ex=DONE_TTL)
            pipe.zrem(DUE, event.event_id)
            pipe.hdel(EVENTS, event.event_id)
            pipe.hdel(waiting_key(event.message_id or ""), *[r.lower() for r in event.recipients])
            await pipe.execute()

    @staticmethod
    def queue_waiting(pipe: Pipeline, message_id: str) -> Callable[[list], set[str]]:
        """Recipients with an attempt filed for later (a republished copy of the mail waits for it too): queued on a
        caller's pipeline; returns the reader of its reply."""
        at = len(pipe)
        pipe.hgetall(waiting_key(message_id))

        def read(replies: list) -> set[str]:
            now = time.time()
            return {r for r, when in replies[at].items() if float(when) > now}

        return read
