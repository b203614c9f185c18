"""The batching consumer: every topic of the bus into ClickHouse, offsets committed only once ClickHouse took the rows.

A batch closes at `batch_rows` records or `batch_seconds` after its first record, whichever
comes first. It is then written (inserted, then its offsets committed) in the background while
the next batch is read; batches are written one at a time, in order. A crash between the
insert and the commit replays the batch; the insert drops events whose id is already stored
(and the tables are keyed by event id), so neither the tables nor the materialized daily
roll-up count the replay twice.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections import defaultdict
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import BaseModel

from schemas.events import DeadLetter
from schemas.registry import ALL_TOPICS
from services.analytics import rows
from services.analytics.settings import AnalyticsSettings
from services.analytics.warehouse import Warehouse
from services.common import logging as log
from services.common.bus import FETCH_MAX_WAIT_MS, KafkaPublisher, start_client
from services.common.consumer import ConsumerRunner, Record
from services.common.metrics import HANDLE_SECONDS, MESSAGES_IN

logger = log.get(__name__)

CONSUMER = "analytics"
# Attempts at the last insert once a stop was asked for; after that the batch is left to be
# replayed from the uncommitted offsets rather than holding the shutdown hostage.
FINAL_ATTEMPTS = 3
# Seconds between two garbage collections while consuming (the automatic ones are off then).
GC_EVERY = 1.0


@dataclass
class Batch:
    rows: dict[str, list[rows.Row]] = field(default_factory=lambda: defaultdict(list))
    offsets: dict[TopicPartition, int] = field(default_factory=dict)
    # Rows each table took, once its insert went through (an insert retried skips these tables).
    written: dict[str, int] = field(default_factory=dict)
    records: int = 0
    opened: float = 0.0

    def add(self, table: str, row: rows.Row) -> None:
        self.rows[table].append(row)

    def done(self, tp: TopicPartition, offset: int, count: int = 1) -> None:
        """`count` records of tp, the last at `offset`, were read into the batch."""
        if not self.records:
            self.opened = time.monotonic()
        self.records += count
        self.offsets[tp] = offset + 1

    def merge(self, later: Batch) -> Batch:
        """This batch followed by a later one, as one batch."""
        for table, table_rows in later.rows.items():
            self.rows[table].extend(table_rows)
        self.offsets.update(later.offsets)
        self.records += later.records
        self.written.clear()  # its tables have more rows now; those already stored are skipped by id
        return self

    @property
    def row_count(self) -> int:
        return sum(len(r) for r in self.rows.values())


class LetterKeeper:
    """The runner's publisher: dead letters go to their DLQ topic, except those of a DLQ topic, kept in the batch.

    A DLQ has no DLQ of its own, so an unreadable record on one is written straight into the
    dead_letters table (ConsumerRunner publishes it to `<dlq topic>.dlq`, which is no topic).
    """

    def __init__(self, ingestor: Ingestor, publisher: KafkaPublisher):
        self.ingestor = ingestor
        self.publisher = publisher

    async def publish(self, topic: str, event: BaseModel, key: str | None = None) -> None:
        if topic in ALL_TOPICS:
            await self.publisher.publish(topic, event, key)
            return
        assert isinstance(event, DeadLetter), topic
        self.ingestor.batch.add(rows.DEAD_LETTERS, rows.dead_letter_row(event, event.source_topic))


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, ingestor: Ingestor):
        self.ingestor = ingestor

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        # Write and commit what was read from these partitions while they are still ours.
        async with self.ingestor.lock:
            await self.ingestor.flush()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        logger.info("partitions_assigned", count=len(assigned))
        self.ingestor.assigned.set()


class Ingestor:
    def __init__(self, bootstrap: str, settings: AnalyticsSettings, warehouse: Warehouse, publisher: KafkaPublisher):
        self.bootstrap = bootstrap
        self.settings = settings
        self.warehouse = warehouse
        self.runner = ConsumerRunner(CONSUMER, LetterKeeper(self, publisher), self.handle,
                                     max_backoff=settings.max_backoff)
        self.batch = Batch()
        self.lock = asyncio.Lock()
        self.assigned = asyncio.Event()
        self.stopping = asyncio.Event()
        self.consumer: AIOKafkaConsumer | None = None
        self.records = 0
        self.rows_inserted = 0
        self.duplicates = 0
        self.batches = 0
        self.insert_failures = 0
        # Next offset per partition of what has been read into a batch (written or not): lag and tests.
        self.consumed: dict[str, int] = {}
        # The previous batch while it is inserted and committed in the background.
        self.writing: tuple[asyncio.Task[bool], Batch] | None = None

    async def start(self, wait: float = 60.0) -> None:
        consumer = await start_client(
            lambda: AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap,
                group_id=self.settings.group_id,
                client_id="govmail-analytics",
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                # Tansu takes about half the session timeout to form a group.
                session_timeout_ms=6000,
                heartbeat_interval_ms=1000,
                fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
            ),
            wait,
        )
        consumer.subscribe(topics=list(ALL_TOPICS), listener=_Rebalance(self))
        self.consumer = consumer

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()
            self.consumer = None

    async def handle(self, record: Record) -> None:
        table, row = rows.to_row(record.topic, record.value)
        self.batch.add(table, row)

    async def take(self, tp: TopicPartition, messages: list[ConsumerRecord]) -> None:
        """Add the rows of one partition's records to the batch.

        The common case, a valid event, is decoded here in a tight loop; any record that fails
        goes through the consumer runner, which decodes it again and takes the right path
        (dead letter with the reason, or retry) exactly as for every other consumer.
        """
        started = time.monotonic()
        clean = 0
        decoder = rows.DECODERS.get(tp.topic)
        if decoder is None:  # a DLQ topic: its few records are each handled by the runner
            for m in messages:
                await self.runner.run(Record(m.topic, m.partition, m.offset, m.key, m.value))
        else:
            validate, table, build = decoder
            table_rows = self.batch.rows[table]
            for m in messages:
                try:
                    table_rows.append(build(validate(m.value or b"")))
                except Exception:
                    self._count_clean(tp.topic, clean)
                    clean = 0
                    await self.runner.run(Record(m.topic, m.partition, m.offset, m.key, m.value))
                    continue
                clean += 1
        self._count_clean(tp.topic, clean)
        # One observation per call: the mean time of its records (one per record cost more than the decoding).
        HANDLE_SECONDS.labels(service=CONSUMER).observe((time.monotonic() - started) / len(messages))
        self.batch.done(tp, messages[-1].offset, len(messages))
        self.records += len(messages)
        self.consumed[f"{tp.topic}:{tp.partition}"] = messages[-1].offset + 1

    def _count_clean(self, topic: str, count: int) -> None:
        """What the runner counts for each input it handled without a fault, for `count` inputs at once."""
        if not count:
            return
        MESSAGES_IN.labels(service=CONSUMER, topic=topic).inc(count)
        self.runner.processed += count
        # The breaker only remembers its last `window` inputs: telling it more clean ones changes nothing.
        for _ in range(min(count, self.runner.breaker.recent.maxlen or count)):
            self.runner.breaker.record(False)

    async def run(self) -> None:
        """Consume until `stopping` is set, then write and commit the last batch."""
        assert self.consumer is not None
        # A batch is some hundred thousand young objects, none in a cycle, alive until written:
        # the collector's automatic runs would walk them again and again (a third of the
        # decoding time). It runs once a second instead, and never over what existed before.
        collecting = gc.isenabled()
        gc.disable()
        gc.freeze()
        collected = time.monotonic()
        try:
            while not self.stopping.is_set():
                room = max(1, self.settings.batch_rows - self.batch.records)
                found = await self.consumer.getmany(timeout_ms=int(self._wait() * 1000), max_records=room)
                async with self.lock:
                    for tp, messages in found.items():
                        if messages:
                            await self.take(tp, messages)
                    if self._due():
                        # Written in the background while the next batch is read (chDB works outside the GIL).
                        await self.flush(wait=False)
                if time.monotonic() - collected >= GC_EVERY:
                    gc.collect()
                    collected = time.monotonic()
            async with self.lock:
                await self.flush()
        finally:
            if self.writing is not None:
                self.writing[0].cancel()
            gc.unfreeze()
            if collecting:
                gc.enable()

    def _wait(self) -> float:
        # Short polls so that a stop request and the batch deadline are noticed in time.
        if not self.batch.records:
            return 0.5
        left = self.batch.opened + self.settings.batch_seconds - time.monotonic()
        return min(max(left, 0.0), 0.5)

    def _due(self) -> bool:
        if not self.batch.records:
            return False
        if self.batch.records >= self.settings.batch_rows:
            return True
        return time.monotonic() >= self.batch.opened + self.settings.batch_seconds

    async def flush(self, wait: bool = True) -> bool:
        """Start writing the batch (insert, then commit its offsets) once the previous one is written; the caller holds `lock`.

        With `wait`, return once it is written too. False when a batch was left unwritten (a
        stop cut its retries short): it is then the open batch again, ahead of what was read
        since, and nothing after it is written or committed, so its records are replayed.
        """
        if not await self._written():
            return False
        batch = self.batch
        if batch.records:
            self.batch = Batch()
            self.writing = (asyncio.create_task(self._write(batch)), batch)
            await asyncio.sleep(0)  # let the write reach the ClickHouse thread before decoding goes on
        return await self._written() if wait else True

    async def _written(self) -> bool:
        """Wait for the batch being written, if any; False when it was left unwritten."""
        if self.writing is None:
            return True
        task, batch = self.writing
        written = await task
        self.writing = None
        if not written:
            self.batch = batch.merge(self.batch)
        return written

    async def _write(self, batch: Batch) -> bool:
        started = time.monotonic()
        if not await self._insert(batch):
            return False
        self.batches += 1
        await self._commit(batch)
        logger.info("batch_written", records=batch.records, rows=batch.row_count,
                    tables=sorted(batch.rows), ms=round((time.monotonic() - started) * 1000, 1))
        return True

    async def _insert(self, batch: Batch) -> bool:
        backoff, attempts = 0.2, 0
        while True:
            counted = set(batch.written)
            try:
                # A table written by an earlier attempt of this batch is skipped.
                await self.warehouse.insert(batch.rows, batch.written)
                return True
            except Exception as exc:  # ClickHouse down or refusing: nothing is committed, so nothing is lost
                attempts += 1
                self.insert_failures += 1
                logger.warning("warehouse_insert_retry", error=f"{type(exc).__name__}: {exc}"[:2000],
                               rows=batch.row_count, attempts=attempts, backoff=backoff)
                if self.stopping.is_set() and attempts >= FINAL_ATTEMPTS:
                    logger.error("batch_left_for_replay", records=batch.records)
                    return False
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.settings.max_backoff)
            finally:
                for table in batch.written.keys() - counted:
                    self.rows_inserted += batch.written[table]
                    self.duplicates += len(batch.rows[table]) - batch.written[table]

    async def _commit(self, batch: Batch) -> None:
        assert self.consumer is not None
        owned = self.consumer.assignment()
        offsets = {tp: offset for tp, offset in batch.offsets.items() if tp in owned}
        if not offsets:
            return
        try:
            await self.consumer.commit(offsets)
        except (TimeoutError, KafkaError) as exc:
            # The rows are in ClickHouse; the next owner replays them and the event ids absorb the repeat.
            logger.warning("commit_failed", error=f"{type(exc).__name__}: {exc}", partitions=len(offsets))
