"""The event outbox: events are written to Redis with the change they describe, then published by a drainer.

Redis is the store of record and the embedded broker may be down or forget everything, so a
change never waits for the broker: its events go into the list `gm:outbox` in the same atomic
step as the change, and one background task publishes them oldest first, removing each only
after the broker acknowledged it. A publish that fails is retried, so no event is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable

import redis.asyncio as aioredis
import redis.exceptions
from pydantic import BaseModel

from schemas.registry import ALL_TOPICS
from services.common import logging as log
from services.common.bus import KafkaPublisher, PublishError, ensure_topics, key_of

logger = log.get(__name__)

OUTBOX = "gm:outbox"
AUDIT = "admin.audit.v1"
AUDIT_LOG = "gm:audit-log"  # the last administrator actions, as published, for GET /audit
AUDIT_LOG_LENGTH = 100_000
DEAD = "gm:outbox:dead"  # entries that can never be published (undecodable), kept for an operator

_TRANSIENT = (
    PublishError,
    OSError,
    asyncio.TimeoutError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)


def entry(topic: str, event: BaseModel, key: str | None = None) -> str:
    """The outbox form of one event: topic, key, event id and the encoded event."""
    spec = ALL_TOPICS[topic]
    raw_key = (
        key if key is not None else (k.decode("utf-8") if (k := key_of(spec, event)) is not None else None)
    )
    return json.dumps(
        {
            "topic": topic,
            "key": raw_key,
            "event_id": getattr(event, "event_id", None),
            "value": event.model_dump_json(),
        },
        ensure_ascii=False,
    )


class OutboxDrainer:
    """Publishes what is in the outbox, oldest first, and keeps retrying while the broker is away."""

    def __init__(
        self,
        client: aioredis.Redis,
        bootstrap: str,
        *,
        publish_timeout: float = 5.0,
        poll_interval: float = 2.0,
        max_backoff: float = 15.0,
    ):
        self.redis = client
        self.bootstrap = bootstrap
        self.publish_timeout = publish_timeout
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.published = 0
        self.failures = 0
        self._publisher: KafkaPublisher | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """New entries were written: publish them now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-drainer")

    async def stop(self, drain_timeout: float = 5.0) -> None:
        """Stop the loop, give what is still queued one last chance to go out, and close the producer."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, drain_timeout)
            except TimeoutError:
                logger.warning("outbox_stop_timeout", pending=await self._pending())
        if self._publisher is not None:
            await self._publisher.stop()
            self._publisher = None

    async def _pending(self) -> int | None:
        with contextlib.suppress(*_TRANSIENT):
            return int(await self.redis.llen(OUTBOX))
        return None

    async def _run(self) -> None:
        backoff = 0.5
        while True:
            try:
                await self.drain()
                backoff = 0.5
            except Exception as exc:  # nothing can be published past a failing entry: retry, never give up
                self.failures += 1
                if isinstance(exc, _TRANSIENT):
                    logger.warning("outbox_publish_failed", error=str(exc), retry_in=backoff)
                else:
                    logger.exception("outbox_drain_error", error=str(exc), retry_in=backoff)
                if self._stopping:
                    return
                await self._repair_topics()
                await self._pause(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            if self._stopping:
                return
            # Polling as well as waking picks up entries left by a replica that crashed mid-drain.
            await self._pause(self.poll_interval)

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake early for new entries or a stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    async def drain(self) -> int:
        """Publish every queued entry, oldest first; returns how many went out. Raises on the first failure."""
        count = 0
        while (raw := await self.redis.lindex(OUTBOX, -1)) is not None:
            try:
                item = json.loads(raw)
                topic, key, value = item["topic"], item["key"], item["value"].encode("utf-8")
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                logger.error("outbox_entry_dead", error=str(exc))
                async with self.redis.pipeline(transaction=True) as pipe:
                    await pipe.lrem(OUTBOX, 1, raw).lpush(DEAD, raw).execute()
                continue
            publisher = await self._ensure_publisher()
            await publisher.publish_raw(topic, value, key.encode("utf-8") if key is not None else None)
            if topic == AUDIT:  # auditors read the recent log through the admin API (GET /audit)
                await self.redis.xadd(AUDIT_LOG, {"event": item["value"]}, maxlen=AUDIT_LOG_LENGTH, approximate=True)
            # LREM of this exact entry (not RPOP): another replica may have published and removed it already.
            await self.redis.lrem(OUTBOX, 1, raw)
            self.published += 1
            count += 1
            logger.debug("outbox_published", topic=topic, event_id=item.get("event_id"))
        return count

    async def _ensure_publisher(self) -> KafkaPublisher:
        if self._publisher is None:
            publisher = KafkaPublisher(self.bootstrap, client_id="lifecycle", timeout=self.publish_timeout)
            try:
                await publisher.start()
            except Exception as exc:
                raise PublishError(f"cannot connect to {self.bootstrap}: {exc}") from exc
            self._publisher = publisher
        return self._publisher

    async def _repair_topics(self) -> None:
        """The embedded broker comes back empty after a restart: recreate the topics lifecycle writes to (notices too)."""
        specs = [ALL_TOPICS[t] for t in ("account.events.v1", "admin.audit.v1", "mail.received.v1")]
        try:
            await asyncio.wait_for(
                ensure_topics(self.bootstrap, specs, timeout=self.publish_timeout), self.publish_timeout * 2
            )
        except Exception as exc:  # broker still away: the next round tries again
            logger.debug("outbox_topics_repair_failed", error=str(exc))


class OutboxPublisher:
    """A `Publisher` that queues into the outbox: mail lifecycle writes (notices) survives a broker outage too."""

    def __init__(self, client: aioredis.Redis, wake: Callable[[], None] = lambda: None):
        self.redis = client
        self.wake = wake

    async def publish(self, topic: str, event: BaseModel, key: str | None = None) -> None:
        await self.redis.lpush(OUTBOX, entry(topic, event, key))
        self.wake()
