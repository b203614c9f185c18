"""Delivery status of every message a user sent, per recipient, kept in Redis for the status TTL (R15).

A later stage never gives way to an earlier one: a replayed "delivered" does not hide "read".
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

# How far along a recipient's copy is; an update with a lower rank than the stored one is ignored.
RANK = {"queued": 0, "deferred": 1, "delivered": 2, "bounced": 2, "quarantined": 2, "rejected": 2, "dropped": 2,
        "released": 2, "read": 3, "recalled": 3}

UPDATE = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old and tonumber(cjson.decode(old)['rank']) > tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""


def status_key(message_id: str) -> str:
    """Hash recipient -> JSON {state, detail, remote, at, rank}."""
    return f"gm:dstatus:{message_id}"


def meta_key(message_id: str) -> str:
    """Hash of what the message was: sender, subject, Message-ID header, when it was accepted."""
    return f"gm:dstatus:meta:{message_id}"


def sent_key(sender: str) -> str:
    """Sorted set of a sender's message ids by acceptance time."""
    return f"gm:dstatus:sent:{sender.lower()}"


def header_key(header_message_id: str) -> str:
    """The queue id of a Message-ID header, so users can name a message by either."""
    return f"gm:dstatus:hdr:{header_message_id.strip('<>').lower()}"


class StatusStore:
    def __init__(self, client: aioredis.Redis, ttl: float):
        self.redis = client
        self.ttl = int(ttl)
        self._update = client.register_script(UPDATE)

    async def message(self, message_id: str, mail_from: str, subject: str, header_message_id: str,
                      received_at: float) -> None:
        """Remember the message once (the first event about it wins; replays change nothing)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            self.queue_message(pipe, message_id, mail_from, subject, header_message_id, received_at)
            await pipe.execute()

    def queue_message(self, pipe: Pipeline, message_id: str, mail_from: str, subject: str, header_message_id: str,
                      received_at: float) -> None:
        """The same, on a caller's pipeline (delivery sends it with its other lookups in one round trip)."""
        pipe.hsetnx(meta_key(message_id), "mail_from", mail_from)
        pipe.hsetnx(meta_key(message_id), "subject", subject)
        pipe.hsetnx(meta_key(message_id), "header_message_id", header_message_id)
        pipe.hsetnx(meta_key(message_id), "received_at", f"{received_at:.3f}")
        pipe.expire(meta_key(message_id), self.ttl)
        if mail_from:
            pipe.zadd(sent_key(mail_from), {message_id: received_at})
            pipe.expire(sent_key(mail_from), self.ttl)
        if header_message_id:
            pipe.set(header_key(header_message_id), message_id, ex=self.ttl)

    async def set(self, message_id: str, recipient: str, state: str, detail: str = "", remote: bool = False) -> bool:
        entry = {"state": state, "detail": detail, "remote": remote, "at": time.time(), "rank": RANK[state]}
        done = await self._update(keys=[status_key(message_id)],
                                  args=[recipient.lower(), json.dumps(entry, ensure_ascii=False), RANK[state], self.ttl])
        return bool(done)

    async def resolve(self, name: str) -> str:
        """A queue id from a queue id or a Message-ID header."""
        if await self.redis.exists(meta_key(name)):
            return name
        return await self.redis.get(header_key(name)) or name

    async def get(self, message_id: str) -> dict[str, Any] | None:
        meta = await self.redis.hgetall(meta_key(message_id))
        if not meta:
            return None
        raw = await self.redis.hgetall(status_key(message_id))
        recipients = []
        for recipient, value in sorted(raw.items()):
            entry = json.loads(value)
            entry.pop("rank", None)
            recipients.append({"recipient": recipient, **entry})
        return {"message_id": message_id, **meta, "recipients": recipients}

    async def sent_by(self, sender: str, limit: int = 100) -> list[str]:
        return list(await self.redis.zrevrange(sent_key(sender), 0, limit - 1))
