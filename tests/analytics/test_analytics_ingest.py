"""The batching consumer in process, on the real broker and chDB: no offset is committed before ClickHouse took the batch."""

from __future__ import annotations

import asyncio
import time

from aiokafka import TopicPartition

from schemas.registry import ALL_TOPICS
from services.analytics import migrations, rows, stats
from services.analytics.ingest import Ingestor
from services.analytics.settings import AnalyticsSettings
from services.analytics.warehouse import Warehouse
from services.common.bus import KafkaPublisher
from tests.analytics.support import Workload, committed_offsets, publish_events, rows_for

TABLES = [table for table, _ in rows.MAIN_TABLES.values()] + [rows.DEAD_LETTERS]


def rename_all(suffix_from: str, suffix_to: str):
    def run(client) -> None:
        for table in TABLES:
            client.command(f"RENAME TABLE {table}{suffix_from} TO {table}{suffix_to}")

    return run


def every_partition() -> list[TopicPartition]:
    # Topics are created from the registry, with its partition counts.
    return [TopicPartition(spec.name, p) for spec in ALL_TOPICS.values() for p in range(spec.partitions)]


async def until(condition, timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def test_offsets_are_committed_only_after_clickhouse_took_the_batch(infra_parts, tmp_path):
    bootstrap = infra_parts.bootstrap
    work = Workload()
    sent = await publish_events(bootstrap, work.items)
    # A group of its own starts from the beginning of every topic, this workload included.
    settings = AnalyticsSettings(group_id=f"govmail-analytics-commit-{work.rid}", batch_seconds=0.2, max_backoff=0.5)
    warehouse = Warehouse(f"chdb:///{tmp_path / 'clickhouse'}")
    await warehouse.open()
    publisher = KafkaPublisher(bootstrap, "test-analytics")
    ingestor = Ingestor(bootstrap, settings, warehouse, publisher)
    consuming = None
    try:
        await warehouse.call(migrations.apply)
        # ClickHouse refuses every insert: no table is where the consumer writes.
        await warehouse.call(rename_all("", "_away"))
        await publisher.start()
        await ingestor.start()
        consuming = asyncio.create_task(ingestor.run())

        async def failed_twice() -> bool:
            return ingestor.insert_failures >= 2

        await until(failed_twice, what="two failed inserts")
        assert ingestor.records > 0 and ingestor.batches == 0
        assert await committed_offsets(bootstrap, settings.group_id, every_partition()) == {}

        await warehouse.call(rename_all("_away", ""))

        async def committed_past_workload() -> bool:
            done = await committed_offsets(bootstrap, settings.group_id, list(sent))
            return all(done.get(tp, -1) > offset for tp, offset in sent.items())

        await until(committed_past_workload, what="the workload's offsets to be committed")
        assert ingestor.batches >= 1
        by_account = {"by": "account", "rows": await warehouse.call(stats.volume, "account")}
        assert rows_for(by_account, set(work.expected_accounts())) == work.expected_accounts()
    finally:
        ingestor.stopping.set()
        if consuming is not None:
            await consuming
        await ingestor.stop()
        await publisher.stop()
        await warehouse.close()
