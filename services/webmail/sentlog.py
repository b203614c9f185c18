"""What the user sent from the webmail (queue ids for delivery status and recall), newest first, the last 200."""

from __future__ import annotations

import json
import time

import redis.asyncio as aioredis

KEEP = 200


def sent_key(username: str) -> str:
    return f"gm:webmail:sent:{username.lower()}"


class SentLog:
    def __init__(self, client: aioredis.Redis):
        self.redis = client

    async def add(self, user: str, queue_id: str, subject: str, recipients: list[str]) -> None:
        entry = {"queue_id": queue_id, "subject": subject, "to": recipients, "at": time.time()}
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(sent_key(user), json.dumps(entry, ensure_ascii=False))
            pipe.ltrim(sent_key(user), 0, KEEP - 1)
            await pipe.execute()

    async def items(self, user: str) -> list[dict]:
        return [json.loads(raw) for raw in await self.redis.lrange(sent_key(user), 0, -1)]
