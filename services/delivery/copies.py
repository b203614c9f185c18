"""The state of each local copy of a message (delivered, opened, recalled, burned), changed atomically in Redis.

A recall and an opening of the same copy can arrive at the same moment; both go through one
compare-and-set script, so exactly one of them wins and everyone sees the same answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

DELIVERED, OPENED, RECALLED, BURNED = "delivered", "opened", "recalled", "burned"
NONE = ""  # no copy yet (not delivered, or deferred)

# KEYS[1] the copy; ARGV: new state, time, ttl, then the states it may come from.
TRANSITION = """
local s = redis.call('HGET', KEYS[1], 'state') or ''
for i = 4, #ARGV do
  if ARGV[i] == s then
    redis.call('HSET', KEYS[1], 'state', ARGV[1], ARGV[1] .. '_at', ARGV[2])
    redis.call('EXPIRE', KEYS[1], ARGV[3])
    return {s, 1}
  end
end
return {s, 0}
"""


# The same as TRANSITION from NONE to DELIVERED, also keeping where the copy is, in one round trip.
DELIVERED_SCRIPT = """
redis.call('HSET', KEYS[1], 'mailbox', ARGV[3], 'key', ARGV[4], 'sender', ARGV[5], 'subject', ARGV[6], 'burn', ARGV[7])
local s = redis.call('HGET', KEYS[1], 'state') or ''
if s == '' then
  redis.call('HSET', KEYS[1], 'state', 'delivered', 'delivered_at', ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return {s, 1}
end
return {s, 0}
"""


def copy_key(message_id: str, recipient: str) -> str:
    return f"gm:copy:{message_id}:{recipient.lower()}"


BURN_DUE = "gm:burn:due"  # sorted set "message_id|recipient" by the time an unopened copy is burned


@dataclass(frozen=True)
class Transition:
    previous: str
    changed: bool


class CopyStates:
    def __init__(self, client: aioredis.Redis, ttl: float):
        self.redis = client
        self.ttl = int(ttl)
        self._script = client.register_script(TRANSITION)
        self._delivered = client.register_script(DELIVERED_SCRIPT)

    async def move(self, message_id: str, recipient: str, to: str, *sources: str) -> Transition:
        previous, changed = await self._script(keys=[copy_key(message_id, recipient)],
                                               args=[to, f"{time.time():.3f}", self.ttl, *sources])
        return Transition(previous, bool(int(changed)))

    async def delivered(self, message_id: str, recipient: str, mailbox: str, delivery_key: str, sender: str,
                        subject: str, burn: bool) -> Transition:
        """Record a copy that reached `mailbox`; a recall that came first wins (the caller removes the file)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            read = await self.queue_delivered(pipe, message_id, recipient, mailbox, delivery_key, sender, subject, burn)
            return read(await pipe.execute())

    async def queue_delivered(self, pipe: Pipeline, message_id: str, recipient: str, mailbox: str, delivery_key: str,
                              sender: str, subject: str, burn: bool) -> Callable[[list], Transition]:
        """The same, on a caller's pipeline; returns the reader of its reply."""
        at = len(pipe)
        await self._delivered(keys=[copy_key(message_id, recipient)],
                              args=[f"{time.time():.3f}", self.ttl, mailbox, delivery_key, sender, subject,
                                    "1" if burn else ""], client=pipe)

        def read(replies: list) -> Transition:
            previous, changed = replies[at]
            return Transition(previous, bool(int(changed)))

        return read

    async def info(self, message_id: str, recipient: str) -> dict[str, str]:
        return await self.redis.hgetall(copy_key(message_id, recipient))
