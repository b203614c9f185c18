"""The user's own login records and operation log (R15): Redis lists trimmed to the last 14 days."""

from __future__ import annotations

import json
import time
from typing import Any

import redis.asyncio as aioredis

DAY = 86400


def logins_key(username: str) -> str:
    return f"gm:webmail:logins:{username.lower()}"


def oplog_key(username: str) -> str:
    return f"gm:webmail:oplog:{username.lower()}"


class Records:
    """Newest first; every write drops what is older than `days` from the tail, so the lists stay small."""

    def __init__(self, client: aioredis.Redis, days: int = 14):
        self.redis = client
        self.keep = days * DAY

    async def _push(self, key: str, entry: dict[str, Any]) -> None:
        now = time.time()
        entry = {"at": now, **entry}
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(key, json.dumps(entry, ensure_ascii=False))
            pipe.expire(key, self.keep)
            await pipe.execute()
        # Trim by age from the oldest end: entries are pushed in time order.
        while True:
            oldest = await self.redis.lindex(key, -1)
            if oldest is None or json.loads(oldest)["at"] >= now - self.keep:
                break
            await self.redis.rpop(key)

    async def _read(self, key: str) -> list[dict[str, Any]]:
        cutoff = time.time() - self.keep
        entries = [json.loads(raw) for raw in await self.redis.lrange(key, 0, -1)]
        return [e for e in entries if e["at"] >= cutoff]

    async def login(self, username: str, ip: str, outcome: str, place: str, reason: str = "") -> None:
        await self._push(logins_key(username), {"ip": ip, "outcome": outcome, "place": place, "reason": reason})

    async def operation(self, username: str, action: str, **details: Any) -> None:
        await self._push(oplog_key(username), {"action": action, **details})

    async def logins(self, username: str) -> list[dict[str, Any]]:
        return await self._read(logins_key(username))

    async def operations(self, username: str) -> list[dict[str, Any]]:
        return await self._read(oplog_key(username))
