"""The batching consumer: every topic of the bus into ClickHouse, offsets committed only once ClickHouse took the rows.

A batch closes at `batch_rows` records or `batch_seconds` after its first record, whichever
comes first. It is then written (inserted, then its offsets committed) in the background while
the next batch is read; batches are written one at a time, in order. A crash between the
insert and the commit replays the batch; the insert drops events whose id is already stored
(and the tables are keyed by event id), so neither the tables nor the materialized daily
roll-up count the replay twice.

The records' JSON goes to ClickHouse as it came (see rows): Python does not decode it. When
ClickHouse will not read a table's records, the batch's records of that table are screened:
each is validated by its model, as every other consumer does, an invalid one goes to the DLQ
with pydantic's reason, and the others are written again as their model writes them.
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
from schemas.registry import ALL_TOPICS, DLQ_TOPICS
from services.analytics import rows
from services.analytics.settings import AnalyticsSettings
from services.analytics.warehouse import UnreadableEvents, Warehouse
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
# Records screened between two yields to the event loop (heartbeats, the API).
SCREEN_SLICE = 500
# The topic of each table that takes one topic (every table but dead_letters).
TOPIC_OF = {spec.table: topic for topic, spec in rows.MAIN_TABLES.items()}


@dataclass
class Batch:
    # Per table, the records whose value is the JSON line ClickHouse reads (see rows).
    events: dict[str, list[ConsumerRecord | Record]] = field(default_factory=lambda: defaultdict(list))
    offsets: dict[TopicPartition, int] = field(default_factory=dict)
    # Rows each table took, once its insert went through (an insert retried skips these tables).
    written: dict[str, int] = field(default_factory=dict)
    # Tables whose records were screened: their lines are now each event as its model writes it.
    screened: set[str] = field(default_factory=set)
    records: int = 0
    opened: float = 0.0

    def add(self, table: str, record: ConsumerRecord | Record) -> None:
        self.events[table].append(record)

    def done(self, tp: TopicPartition, offset: int, count: int = 1) -> None:
        """`count` records of tp, the last at `offset`, were read into the batch."""
        if not self.records:
            self.opened = time.monotonic()
        self.records += count
        self.offsets[tp] = offset + 1

    def merge(self, later: Batch) -> Batch:
        """This batch followed by a later one, as one batch."""
        for table, records in later.events.items():
            self.events[table].extend(records)
        self.offsets.update(later.offsets)
        self.records += later.records
        self.screened -= later.events.keys()  # the later records were not screened
        self.written.clear()  # its tables have more rows now; those already stored are skipped by id
        return self

    def lines(self) -> dict[str, list[bytes]]:
        return {table: [record.value or b"" for record in records] for table, records in self.events.items()}

    @property
    def row_count(self) -> int:
        return sum(len(r) for r in self.events.values())


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
        line = rows.dead_letter_line(event, event.source_topic)
        self.ingestor.batch.add(rows.DEAD_LETTERS, Record(event.source_topic, event.partition, event.offset, None, line))


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
        # The lines of the table being screened (one at a time, by the batch being written).
        self.screening: list[Record] = []
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
        """The runner's handler: validate a record by its model and keep its line as the model writes it.

        It sees the records of DLQ topics (few, each validated as it is read) and those of a
        table being screened; raises pydantic's ValidationError for an invalid one.
        """
        line = Record(record.topic, record.partition, record.offset, record.key,
                      rows.canonical_line(record.topic, record.value))
        if record.topic in DLQ_TOPICS:
            self.batch.add(rows.DEAD_LETTERS, line)
        else:
            self.screening.append(line)

    async def take(self, tp: TopicPartition, messages: list[ConsumerRecord]) -> None:
        """Add one partition's records to the batch: their JSON goes to ClickHouse as it is (see rows)."""
        started = time.monotonic()
        if tp.topic in DLQ_TOPICS:
            for m in messages:
                await self.runner.run(Record(m.topic, m.partition, m.offset, m.key, m.value))
        else:
            self.batch.events[rows.MAIN_TABLES[tp.topic].table].extend(messages)
        # One observation per call: the mean time of its records.
        HANDLE_SECONDS.labels(service=CONSUMER).observe((time.monotonic() - started) / len(messages))
        self.batch.done(tp, messages[-1].offset, len(messages))
        self.records += len(messages)
        self.consumed[f"{tp.topic}:{tp.partition}"] = messages[-1].offset + 1

    async def screen(self, batch: Batch, table: str) -> None:
        """Validate each record of a table of the batch by its model: the invalid go to the DLQ, the others are kept as their model writes them."""
        records = batch.events[table]
        logger.warning("screening", table=table, records=len(records))
        self.screening = []
        for done, record in enumerate(records, start=1):
            await self.runner.run(Record(record.topic, record.partition, record.offset, record.key, record.value))
            if done % SCREEN_SLICE == 0:
                await asyncio.sleep(0)
        batch.events[table], self.screening = self.screening, []
        batch.screened.add(table)

    async def refuse(self, batch: Batch, table: str, row: int, error: UnreadableEvents) -> None:
        """Dead-letter the record whose valid event ClickHouse still will not store (a gap between the model and the input structure)."""
        record = batch.events[table].pop(row)  # a Record of the screening: its value is the event as its model writes it
        assert isinstance(record, Record)
        await self.runner.dead_letter(record, "unstorable", error)

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
        # A batch is some hundred thousand young objects (the client's records), none in a cycle,
        # alive until written: the collector's automatic runs would walk them again and again.
        # It runs once a second instead, and never over what existed before.
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
            await asyncio.sleep(0)  # let the write reach the ClickHouse thread before the next batch is read
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
                    tables=sorted(batch.events), ms=round((time.monotonic() - started) * 1000, 1))
        return True

    async def _insert(self, batch: Batch) -> bool:
        backoff, attempts = 0.2, 0
        while True:
            counted = set(batch.written)
            try:
                # A table written by an earlier attempt of this batch is skipped.
                await self.warehouse.insert(batch.lines(), batch.written)
                for table, records in batch.events.items():
                    if table in TOPIC_OF and table not in batch.screened:  # the screened were counted by the runner
                        self._count_clean(TOPIC_OF[table], len(records))
                return True
            except UnreadableEvents as exc:
                if exc.table in TOPIC_OF and exc.table not in batch.screened:
                    await self.screen(batch, exc.table)
                    continue
                if exc.table in batch.screened and exc.row is not None:
                    await self.refuse(batch, exc.table, exc.row, exc)
                    continue
                failure: Exception = exc
            except Exception as exc:  # ClickHouse down or refusing: nothing is committed, so nothing is lost
                failure = exc
            finally:
                for table in batch.written.keys() - counted:
                    self.rows_inserted += batch.written[table]
                    self.duplicates += len(batch.events[table]) - batch.written[table]
            attempts += 1
            self.insert_failures += 1
            logger.warning("warehouse_insert_retry", error=f"{type(failure).__name__}: {failure}"[:2000],
                           rows=batch.row_count, attempts=attempts, backoff=backoff)
            if self.stopping.is_set() and attempts >= FINAL_ATTEMPTS:
                logger.error("batch_left_for_replay", records=batch.records)
                return False
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.settings.max_backoff)

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
