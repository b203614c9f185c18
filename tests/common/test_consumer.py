"""Every consumer failure takes its path: bad payload → DLQ, temporary fault → retry, bugs → DLQ and breaker."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid

import pytest
from aiokafka import AIOKafkaConsumer

from schemas.events import DeadLetter, MailReceived
from services.common.bus import KafkaPublisher
from services.common.consumer import BreakerTripped, ConsumerRunner, DlqBreaker, Record, TemporaryError
from services.common.metrics import REGISTRY


async def read_dead_letters(bootstrap: str, topic: str, consumer_name: str, want: int) -> list[DeadLetter]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    found: list[DeadLetter] = []
    try:
        async with asyncio.timeout(20):
            while len(found) < want:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for r in records:
                        # The session broker is shared: other tests put unreadable letters here on purpose.
                        with contextlib.suppress(ValueError):
                            letter = DeadLetter.model_validate_json(r.value)
                            if letter.consumer == consumer_name:
                                found.append(letter)
    finally:
        await consumer.stop()
    return found


async def test_bad_payload_goes_to_the_dlq_with_reason_and_payload(infra_parts) -> None:
    publisher = KafkaPublisher(infra_parts.bootstrap, "test")
    await publisher.start()

    async def handler(record: Record) -> None:
        MailReceived.model_validate_json(record.value)

    runner = ConsumerRunner("test-bad-payload", publisher, handler)
    await runner.run(Record("mail.received.v1", 3, 42, b"k", "{không phải JSON".encode()))
    await publisher.stop()
    [letter] = await read_dead_letters(infra_parts.bootstrap, "mail.received.v1.dlq", "test-bad-payload", 1)
    assert (letter.reason, letter.partition, letter.offset) == ("invalid_payload", 3, 42)
    assert letter.payload == "{không phải JSON"
    assert runner.dead_lettered == 1 and runner.processed == 0


async def test_temporary_faults_are_retried_until_they_pass(infra_parts) -> None:
    publisher = KafkaPublisher(infra_parts.bootstrap, "test")
    await publisher.start()
    calls = []

    async def flaky(record: Record) -> None:
        calls.append(record.offset)
        if len(calls) < 3:
            raise TemporaryError("Redis is restarting")

    runner = ConsumerRunner("test-flaky", publisher, flaky, max_backoff=0.05)
    await runner.run(Record("mail.scanned.v1", 0, 7, None, b"{}"))
    await publisher.stop()
    assert calls == [7, 7, 7]
    assert (runner.processed, runner.dead_lettered) == (1, 0)


async def test_a_bug_dead_letters_and_the_breaker_stops_the_consumer(infra_parts) -> None:
    publisher = KafkaPublisher(infra_parts.bootstrap, "test")
    await publisher.start()

    async def buggy(record: Record) -> None:
        raise KeyError("recipient")

    runner = ConsumerRunner("test-buggy", publisher, buggy, breaker=DlqBreaker(window=10, max_share=0.5, min_count=3))
    await runner.run(Record("mail.delivery.v1", 0, 1, None, json.dumps({"x": 1}).encode()))
    await runner.run(Record("mail.delivery.v1", 0, 2, None, b"{}"))
    with pytest.raises(BreakerTripped):
        await runner.run(Record("mail.delivery.v1", 0, 3, None, b"{}"))
    await publisher.stop()
    letters = await read_dead_letters(infra_parts.bootstrap, "mail.delivery.v1.dlq", "test-buggy", 3)
    assert {letter.reason for letter in letters} == {"handler_error"}
    assert "KeyError" in letters[0].error


def test_blob_read_failures_are_sorted_into_permanent_and_temporary(tmp_path) -> None:
    from services.common.blobstore import FileBlobStore
    from services.common.consumer import PermanentError, read_blob

    store = FileBlobStore(tmp_path)
    ref = store.put("Thư mời họp — 会议邀请".encode())
    assert read_blob(store, ref).decode() == "Thư mời họp — 会议邀请"
    store.path_of(ref.sha256).write_bytes(b"changed on disk")
    with pytest.raises(PermanentError) as corrupt:
        read_blob(store, ref)
    assert corrupt.value.reason == "blob_corrupt"
    store.path_of(ref.sha256).unlink()
    with pytest.raises(PermanentError) as missing:
        read_blob(store, ref)
    assert missing.value.reason == "blob_missing"
    # A file system fault (here: a file where a folder should be; root ignores permissions) is retried.
    store.path_of(ref.sha256).parent.rename(tmp_path / "moved")
    store.path_of(ref.sha256).parent.write_bytes(b"not a folder")
    with pytest.raises(TemporaryError):
        read_blob(store, ref)


async def test_runs_and_dead_letters_are_counted_for_metrics(infra_parts) -> None:
    name = f"metrics-{uuid.uuid4().hex[:8]}"
    publisher = KafkaPublisher(infra_parts.bootstrap, name)
    await publisher.start()

    async def handler(record: Record) -> None:
        MailReceived.model_validate_json(record.value or b"")

    try:
        runner = ConsumerRunner(name, publisher, handler)
        await runner.run(Record("mail.received.v1", 0, 1, None, b"not json"))
        await runner.run(Record("mail.received.v1", 0, 2, None, b"{}"))
    finally:
        await publisher.stop()
    text = REGISTRY.exposition()
    assert f'govmail_messages_in_total{{service="{name}",topic="mail.received.v1"}} 2.0' in text
    assert f'govmail_dead_letters_total{{service="{name}",topic="mail.received.v1",reason="invalid_payload"}} 2.0' in text
    assert f'govmail_handle_seconds_count{{service="{name}"}} 2' in text
    assert f'govmail_messages_out_total{{service="{name}",topic="mail.received.v1.dlq"}} 2.0' in text
