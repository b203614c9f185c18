"""What the user sent from the webmail (queue ids for status and recall), and each recipient's outcome seen on the bus.

The per-recipient outcomes come from mail.delivery.v1 as the webmail sees it (from its start on), so the sent page
shows a status even while delivery's status API is not there; the API, when it answers, has the last word.
"""

from __future__ import annotations

import json
import time

import redis.asyncio as aioredis

KEEP = 200
STATUS_TTL = 30 * 86400  # as long as mail.delivery.v1 keeps its events


def status_key(queue_id: str) -> str:
    """Hash recipient -> JSON {status, detail, at} of one message sent from the webmail."""
    return f"gm:webmail:status:{queue_id}"


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
            if queue_id:
                # An empty marker field: the watcher records outcomes only for messages that have one.
                pipe.hset(status_key(queue_id), "", "")
                pipe.expire(status_key(queue_id), STATUS_TTL)
            await pipe.execute()

    async def record(self, queue_id: str, recipient: str, status: str, detail: str, at: str) -> bool:
        """Keep a delivery outcome if the message was sent from the webmail; True when kept."""
        if not queue_id or not await self.redis.exists(status_key(queue_id)):
            return False
        value = json.dumps({"status": status, "detail": detail, "at": at}, ensure_ascii=False)
        await self.redis.hset(status_key(queue_id), recipient.lower(), value)
        return True

    async def outcomes(self, queue_id: str) -> list[dict]:
        """[{recipient, status, detail}] seen on the bus so far; empty when none yet."""
        raw = await self.redis.hgetall(status_key(queue_id))
        return [{"recipient": r, **json.loads(v)} for r, v in sorted(raw.items()) if r]

    async def items(self, user: str) -> list[dict]:
        return [json.loads(raw) for raw in await self.redis.lrange(sent_key(user), 0, -1)]
