"""The state of each local copy of a message (delivered, opened, recalled, burned), changed atomically in Redis.

A recall and an opening of the same copy can arrive at the same moment; both go through one
compare-and-set script, so exactly one of them wins and everyone sees the same answer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis.asyncio as aioredis

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

    async def move(self, message_id: str, recipient: str, to: str, *sources: str) -> Transition:
        previous, changed = await self._script(keys=[copy_key(message_id, recipient)],
                                               args=[to, f"{time.time():.3f}", self.ttl, *sources])
        return Transition(previous, bool(int(changed)))

    async def delivered(self, message_id: str, recipient: str, mailbox: str, delivery_key: str, sender: str,
                        subject: str, burn: bool) -> Transition:
        """Record a copy that reached `mailbox`; a recall that came first wins (the caller removes the file)."""
        key = copy_key(message_id, recipient)
        await self.redis.hset(key, mapping={"mailbox": mailbox, "key": delivery_key, "sender": sender,
                                            "subject": subject, "burn": "1" if burn else ""})
        return await self.move(message_id, recipient, DELIVERED, NONE)

    async def info(self, message_id: str, recipient: str) -> dict[str, str]:
        return await self.redis.hgetall(copy_key(message_id, recipient))
