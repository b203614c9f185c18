"""New-mail notifications (R14): every replica reads mail.delivery.v1 (no consumer group) and fans out to open pages.

The same reading records the outcomes of mail sent from the webmail (sentlog), for the sent page.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.events import MailDelivery
from schemas.registry import DELIVERY
from services.common import logging as log
from services.common.bus import FETCH_MAX_WAIT_MS, start_client
from services.webmail.sentlog import SentLog

logger = log.get(__name__)


class Hub:
    """Open event streams by mailbox; a slow page loses notifications rather than holding others up."""

    def __init__(self) -> None:
        self.streams: dict[str, set[asyncio.Queue]] = {}

    def subscribe(self, mailboxes: list[str]) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(maxsize=100)
        for mailbox in mailboxes:
            self.streams.setdefault(mailbox.lower(), set()).add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        for mailbox in list(self.streams):
            self.streams[mailbox].discard(queue)
            if not self.streams[mailbox]:
                del self.streams[mailbox]

    def close(self) -> None:
        """End every open stream (shutdown): a stream waiting for mail would otherwise hold the server up."""
        for queue in {q for queues in self.streams.values() for q in queues}:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)

    def publish(self, mailbox: str, payload: dict[str, Any]) -> int:
        queues = self.streams.get(mailbox.lower(), set())
        for queue in queues:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(payload)
        return len(queues)


def parse_delivery(raw: bytes | None) -> MailDelivery | None:
    try:
        return MailDelivery.model_validate_json(raw or b"")
    except ValueError:
        return None  # the shared bus may carry garbage; nothing to do with it


def notification(event: MailDelivery) -> dict[str, Any] | None:
    """The page's payload for a delivery into an inbox, or None (other outcomes, junk)."""
    if event.status != "delivered" or not event.detail.startswith("INBOX"):
        return None
    return {"mailbox": event.recipient.lower(), "message_id": event.message_id, "mail_from": event.mail_from,
            "at": event.occurred_at.isoformat()}


class DeliveryWatcher:
    """Reads every partition from its end without a group, so every replica sees every delivery."""

    def __init__(self, bootstrap: str, hub: Hub, sentlog: SentLog):
        self.bootstrap = bootstrap
        self.hub = hub
        self.sentlog = sentlog
        self.consumer: AIOKafkaConsumer | None = None
        self.assigned = asyncio.Event()

    async def start(self, wait: float = 60.0) -> None:
        self.consumer = await start_client(
            lambda: AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
                                     auto_offset_reset="latest", client_id="govmail-webmail",
                                     fetch_max_wait_ms=FETCH_MAX_WAIT_MS), wait)
        partitions = await self._partitions()
        self.consumer.assign([TopicPartition(DELIVERY, p) for p in partitions])
        await self.consumer.seek_to_end()
        for tp in self.consumer.assignment():
            await self.consumer.position(tp)  # resolve the end now, so nothing after readiness is missed
        self.assigned.set()
        logger.info("delivery_watch_assigned", partitions=len(partitions))

    async def _partitions(self) -> set[int]:
        assert self.consumer is not None
        for _ in range(60):
            await self.consumer.topics()  # refreshes metadata
            found = self.consumer.partitions_for_topic(DELIVERY)
            if found:
                return found
            await asyncio.sleep(1)
        raise RuntimeError(f"topic {DELIVERY} has no partitions; create the topics first")

    async def run(self) -> None:
        assert self.consumer is not None
        while True:
            batches = await self.consumer.getmany(timeout_ms=1000)
            for records in batches.values():
                for record in records:
                    event = parse_delivery(record.value)
                    if event is None:
                        continue
                    await self.sentlog.record(event.message_id or "", event.recipient, event.status, event.detail,
                                              event.occurred_at.isoformat())
                    payload = notification(event)
                    if payload is not None:
                        sent = self.hub.publish(payload["mailbox"], payload)
                        logger.debug("new_mail_notified", mailbox=payload["mailbox"], streams=sent)

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()


def sse(event: str, payload: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()
