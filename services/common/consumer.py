"""The three paths of every consumer: bad payload → DLQ; temporary fault → back off and retry; bug → DLQ behind a breaker.

Faust marks an event done even when the agent raises, so retrying and dead-lettering are
done here, around the handler, before the event is let go.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import redis.exceptions
from pydantic import ValidationError

from schemas.events import BlobRef, DeadLetter, derived_event_id
from schemas.registry import ALL_TOPICS
from services.common import logging as log
from services.common.blobstore import BlobCorrupt, BlobStore
from services.common.bus import KafkaPublisher, PublishError
from services.common.metrics import DEAD_LETTERS, HANDLE_SECONDS, MESSAGES_IN

logger = log.get(__name__)


class TemporaryError(Exception):
    """A fault that may go away by itself (a dependency down); the input is retried, not dropped."""


class PermanentError(Exception):
    """An input that can never succeed; it goes to the DLQ with this reason."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def read_blob(store: BlobStore, ref: BlobRef) -> bytes:
    """Read a claim-checked message, sorting failures into the consumer paths."""
    try:
        return store.get(ref)
    except FileNotFoundError as exc:
        raise PermanentError("blob_missing", f"blob {ref.sha256} is not in the store") from exc
    except BlobCorrupt as exc:
        raise PermanentError("blob_corrupt", str(exc)) from exc
    except OSError as exc:  # the file system itself failed (disk, NFS): that may well pass
        raise TemporaryError(f"blob {ref.sha256}: {exc}") from exc


class BreakerTripped(RuntimeError):
    """Too large a share of recent inputs went to the DLQ: stop rather than dead-letter everything."""


TEMPORARY = (TemporaryError, PublishError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, TimeoutError)


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class DlqBreaker:
    """Trips when more than `max_share` of the last `window` inputs were dead-lettered (and at least `min_count`)."""

    def __init__(self, window: int = 50, max_share: float = 0.5, min_count: int = 10):
        self.recent: deque[bool] = deque(maxlen=window)
        self.max_share = max_share
        self.min_count = min_count

    def record(self, dead: bool) -> None:
        self.recent.append(dead)
        bad = sum(self.recent)
        if bad >= self.min_count and bad / len(self.recent) > self.max_share:
            raise BreakerTripped(f"{bad} of the last {len(self.recent)} inputs went to the DLQ")


def message_id_of(value: bytes | None) -> str | None:
    """The mail a broken input was about, when that much of it can still be read."""
    try:
        found = json.loads(value or b"").get("message_id")
    except (ValueError, AttributeError):
        return None
    return found if isinstance(found, str) else None


class ConsumerRunner:
    """Runs one handler over records, taking the right path for each kind of failure."""

    def __init__(
        self,
        name: str,
        publisher: KafkaPublisher,
        handler: Callable[[Record], Awaitable[None]],
        breaker: DlqBreaker | None = None,
        max_backoff: float = 15.0,
    ):
        self.name = name
        self.publisher = publisher
        self.handler = handler
        self.breaker = breaker or DlqBreaker()
        self.max_backoff = max_backoff
        self.processed = 0
        self.dead_lettered = 0

    async def run(self, record: Record) -> None:
        MESSAGES_IN.labels(service=self.name, topic=record.topic).inc()
        started = time.monotonic()
        try:
            await self._run(record)
        finally:
            HANDLE_SECONDS.labels(service=self.name).observe(time.monotonic() - started)

    async def _run(self, record: Record) -> None:
        backoff = 0.2
        while True:
            try:
                await self.handler(record)
                self.processed += 1
                self.breaker.record(False)
                return
            except TEMPORARY as exc:
                logger.warning("consume_retry", consumer=self.name, topic=record.topic, partition=record.partition,
                               offset=record.offset, error=f"{type(exc).__name__}: {exc}", backoff=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
            except (ValidationError, json.JSONDecodeError, UnicodeDecodeError) as exc:
                await self.dead_letter(record, "invalid_payload", exc)
                return
            except PermanentError as exc:
                await self.dead_letter(record, exc.reason, exc)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug: keep the input, count it towards the breaker
                logger.exception("consume_bug", consumer=self.name, topic=record.topic, offset=record.offset)
                await self.dead_letter(record, "handler_error", exc)
                return

    async def dead_letter(self, record: Record, reason: str, exc: BaseException) -> None:
        DEAD_LETTERS.labels(service=self.name, topic=record.topic, reason=reason).inc()
        spec = ALL_TOPICS[record.topic]
        letter = DeadLetter(
            message_id=message_id_of(record.value),
            event_id=derived_event_id("dlq", self.name, record.topic, str(record.partition), str(record.offset)),
            producer=self.name,
            source_topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key.decode("utf-8", "backslashreplace") if record.key else None,
            consumer=self.name,
            reason=reason,
            error=f"{type(exc).__name__}: {exc}"[:4000],
            payload=(record.value or b"").decode("utf-8", "backslashreplace"),
        )
        backoff = 0.2
        while True:  # the DLQ is the only copy of the input now: keep trying until it is stored
            try:
                await self.publisher.publish(spec.dlq, letter)
                break
            except PublishError as err:
                logger.warning("dlq_publish_retry", consumer=self.name, error=str(err))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
        self.dead_lettered += 1
        logger.error("dead_lettered", consumer=self.name, topic=record.topic, partition=record.partition,
                     offset=record.offset, reason=reason, error=letter.error)
        self.breaker.record(True)
