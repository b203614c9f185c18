"""The event bus: JSON encoding of events, a producer that waits for the broker's ack, and topic creation."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from pydantic import BaseModel

from schemas.registry import ALL_TOPICS, TopicSpec
from services.common import logging as log
from services.common import offset_gaps
from services.common.metrics import MESSAGES_OUT

logger = log.get(__name__)
T = TypeVar("T", AIOKafkaProducer, AIOKafkaConsumer)


# Tansu answers a long-polling fetch only when its wait runs out, even if records arrive meanwhile
# (measured: aiokafka's 500 ms default costs ~250 ms a hop on average, faust's hard-coded 1,500 ms
# ~700 ms). Every consumer therefore polls with a short wait; on Kafka this only costs idle requests.
FETCH_MAX_WAIT_MS = 100

# A short wait makes Tansu's habit of showing a partition's record N+1 before N bite more often;
# every process that consumes imports this module, so the guard is in place before any fetch.
offset_gaps.install()


class PublishError(Exception):
    """The broker did not acknowledge an event in time; the caller must not report success."""


def encode(event: BaseModel) -> bytes:
    return event.model_dump_json().encode("utf-8")


def key_of(spec: TopicSpec, event: BaseModel) -> bytes | None:
    value = getattr(event, spec.key, None)
    return None if value is None else str(value).encode("utf-8")


async def start_client(make: Callable[[], T], wait: float) -> T:
    """Build and start an aiokafka client, retrying while the broker is not up yet (services may
    start before it answers, and the embedded broker restarts empty)."""
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        client = make()
        try:
            await client.start()
            return client
        except Exception as exc:
            await client.stop()
            if asyncio.get_running_loop().time() > deadline:
                raise
            logger.warning("bus_connect_retry", error=str(exc))
            await asyncio.sleep(1)


class Publisher(Protocol):
    async def publish(self, topic: str, event: BaseModel, key: str | None = None) -> None: ...


class KafkaPublisher:
    """Publishes events with acks=all and returns only once the broker acknowledged them."""

    def __init__(self, bootstrap: str, client_id: str, timeout: float = 5.0):
        self.bootstrap = bootstrap
        self.client_id = client_id
        self.timeout = timeout
        self._producer: AIOKafkaProducer | None = None

    def _new_producer(self) -> AIOKafkaProducer:
        # No idempotent producer: the embedded broker does not support it. Consumers are
        # idempotent instead (at-least-once), so a retried send is harmless.
        return AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id=self.client_id,
            acks="all",
            enable_idempotence=False,
            request_timeout_ms=int(self.timeout * 1000),
            retry_backoff_ms=200,
            linger_ms=0,
        )

    async def start(self, wait: float = 60.0) -> None:
        if self._producer is None:
            self._producer = await start_client(self._new_producer, wait)

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def publish(self, topic: str, event: BaseModel, key: str | None = None) -> None:
        spec = ALL_TOPICS[topic]
        raw_key = key.encode("utf-8") if key is not None else key_of(spec, event)
        await self.publish_raw(topic, encode(event), raw_key)

    async def publish_raw(self, topic: str, value: bytes, key: bytes | None) -> None:
        if self._producer is None:
            raise PublishError(f"{topic}: publisher not started")
        try:
            await asyncio.wait_for(self._producer.send_and_wait(topic, value, key=key), self.timeout)
        except Exception as exc:
            raise PublishError(f"{topic}: {type(exc).__name__}: {exc}") from exc
        MESSAGES_OUT.labels(service=self.client_id.removeprefix("govmail-"), topic=topic).inc()


async def ensure_topics(bootstrap: str, specs: list[TopicSpec] | None = None, timeout: float = 30.0) -> list[str]:
    """Create every registered topic that is missing; returns the names created."""
    specs = specs or list(ALL_TOPICS.values())
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if missing:
            new = [
                NewTopic(
                    s.name,
                    s.partitions,
                    1,
                    topic_configs={"retention.ms": str(s.retention_ms), "cleanup.policy": s.cleanup_policy},
                )
                for s in missing
            ]
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new)
        return [s.name for s in missing]
    finally:
        await admin.close()
