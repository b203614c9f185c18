"""Last access per account (R9): successful logins on auth.events.v1 become the account's `last_login_at`.

The reader assigns itself every partition and keeps its offsets in Redis instead of joining a
consumer group: the embedded broker makes group joins slow, and the update (keep the later
time) is idempotent, so replicas reading the same events or a re-read after a crash do no harm.
"""

from __future__ import annotations

import asyncio
import json

import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from schemas.events import AuthEvent
from schemas.registry import AUTH
from services.common import logging as log
from services.common.bus import FETCH_MAX_WAIT_MS
from services.common.directory import account_key
from services.lifecycle.background import stop_task

logger = log.get(__name__)

OFFSETS = "gm:lifecycle:auth-offsets"  # hash partition -> next offset to read

# Sets last_login_at only if the account exists and the new time is later (ISO-8601 UTC sorts as text).
_TOUCH = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local current = redis.call('HGET', KEYS[1], 'last_login_at')
if current and current >= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'last_login_at', ARGV[1])
return 1
"""


class LoginRecorder:
    def __init__(self, client: aioredis.Redis, bootstrap: str, poll_ms: int = 500):
        self.redis = client
        self.bootstrap = bootstrap
        self.poll_ms = poll_ms
        self.recorded = 0
        self._touch = client.register_script(_TOUCH)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="login-recorder")

    async def stop(self) -> None:
        self._stopping = True
        await stop_task(self._task)

    async def record(self, raw: bytes) -> bool:
        """One auth event; True when it moved an account's last login forward. Garbage is skipped."""
        try:
            event = AuthEvent.model_validate(json.loads(raw))
        except (ValueError, ValidationError):
            return False
        if event.outcome != "success" or "@" not in event.username:
            return False
        moved = bool(await self._touch(keys=[account_key(event.username)], args=[event.occurred_at.isoformat()]))
        self.recorded += moved
        return moved

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or Redis away: start over from the stored offsets
                logger.warning("login_recorder_restart", error=str(exc))
                await asyncio.sleep(2.0)

    async def _consume(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                    auto_offset_reset="earliest", client_id="lifecycle-logins",
                                    fetch_max_wait_ms=FETCH_MAX_WAIT_MS)
        await consumer.start()
        try:
            partitions = [TopicPartition(AUTH, p) for p in sorted(consumer.partitions_for_topic(AUTH) or {0})]
            consumer.assign(partitions)
            stored = await self.redis.hgetall(OFFSETS)
            for tp in partitions:
                if str(tp.partition) in stored:
                    consumer.seek(tp, int(stored[str(tp.partition)]))
                else:
                    await consumer.seek_to_beginning(tp)
            while True:
                batches = await consumer.getmany(timeout_ms=self.poll_ms)
                for tp, records in batches.items():
                    for record in records:
                        await self.record(record.value)
                    if records:
                        await self.redis.hset(OFFSETS, str(tp.partition), records[-1].offset + 1)
        finally:
            await consumer.stop()
