"""A consumer never skips a record the broker shows late: a batch past the expected offset waits for the missing one."""

from __future__ import annotations

import asyncio
import contextlib
import struct
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.consumer.fetcher import PartitionRecords
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.structs import TopicPartition

from services.common.offset_gaps import GapWatch, GuardedRecords

TP = TopicPartition("mail.scanned.v1", 3)


def batch(base_offset: int, count: int) -> bytes:
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=0, producer_id=-1,
                                        producer_epoch=-1, base_sequence=-1, batch_size=1 << 20)
    for delta in range(count):
        builder.append(delta, timestamp=None, key=None, value=f"thư {base_offset + delta}".encode(), headers=[])
    raw = bytearray(builder.build())
    struct.pack_into(">q", raw, 0, base_offset)  # the broker, not the producer, sets the base offset
    return bytes(raw)


def fetched(fetch_offset: int, watch: GapWatch, *batches: bytes) -> PartitionRecords:
    records = MemoryRecords(b"".join(batches))
    result = PartitionRecords(TP, records, [], fetch_offset, None, None, True, 0)
    result._records = GuardedRecords(records, result, watch)
    return result


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_batches_after_a_gap_wait_and_the_position_stays_at_the_missing_offset() -> None:
    watch = GapWatch(grace=10.0, clock=Clock())
    result = fetched(0, watch, batch(0, 2), batch(3, 2))
    assert [r.offset for r in result] == [0, 1]
    assert result.next_fetch_offset == 2  # the next fetch asks for offset 2 again


def test_a_fetch_that_starts_past_the_position_yields_nothing_until_the_record_shows() -> None:
    watch = GapWatch(grace=10.0, clock=Clock())
    assert [r.offset for r in fetched(5, watch, batch(6, 3))] == []
    # The broker now shows offset 5: everything comes, in order, and nothing is awaited any more.
    assert [r.offset for r in fetched(5, watch, batch(5, 1), batch(6, 3))] == [5, 6, 7, 8]
    assert watch.waiting == {}


def test_a_gap_that_stays_for_the_whole_grace_is_passed_over() -> None:
    clock = Clock()
    watch = GapWatch(grace=10.0, clock=clock)
    assert [r.offset for r in fetched(2, watch, batch(4, 1))] == []
    clock.now += 9.9
    assert [r.offset for r in fetched(2, watch, batch(4, 1))] == []
    clock.now += 0.2
    assert [r.offset for r in fetched(2, watch, batch(4, 1))] == [4]


def test_a_batch_that_began_before_the_position_is_read_from_the_position() -> None:
    watch = GapWatch(grace=10.0, clock=Clock())
    assert [r.offset for r in fetched(3, watch, batch(2, 3))] == [3, 4]


async def test_concurrent_producers_and_a_fast_polling_consumer_lose_nothing(infra_parts) -> None:
    # Four producers write to the same partitions while a consumer polls every 10 ms: without the
    # guard, Tansu let the consumer skip a record in about half of these runs.
    topic, total, producers = f"gaps-{uuid.uuid4().hex[:8]}", 6000, 4
    admin = AIOKafkaAdminClient(bootstrap_servers=infra_parts.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 4, 1)])
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=infra_parts.bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, fetch_max_wait_ms=10)
    await consumer.start()
    seen: dict[bytes, int] = {}

    async def produce(first: int) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=infra_parts.bootstrap, acks="all", linger_ms=0)
        await producer.start()
        try:
            for n in range(first, total, producers):
                await producer.send_and_wait(topic, f"Báo cáo số {n} 报告".encode(), key=str(n % 31).encode())
        finally:
            await producer.stop()

    async def consume() -> None:
        while len(seen) < total:
            for records in (await consumer.getmany(timeout_ms=100)).values():
                for record in records:
                    seen[record.value] = seen.get(record.value, 0) + 1

    try:
        reading = asyncio.create_task(consume())
        await asyncio.gather(*(produce(k) for k in range(producers)))
        with contextlib.suppress(TimeoutError):  # the assertions below say what went missing
            async with asyncio.timeout(30):
                await reading
    finally:
        reading.cancel()
        await consumer.stop()
    missing = [n for n in range(total) if f"Báo cáo số {n} 报告".encode() not in seen]
    assert missing == []
    assert set(seen.values()) == {1}
