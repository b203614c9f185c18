"""The batching consumer in process, on the real broker and chDB: no offset is committed before ClickHouse took the batch."""

from __future__ import annotations

from aiokafka import TopicPartition

from schemas.registry import ALL_TOPICS
from services.analytics import rows, stats
from services.analytics.settings import AnalyticsSettings
from tests.analytics.support import (
    Workload,
    committed_offsets,
    committed_past,
    publish_events,
    rows_for,
    running_ingestor,
    until,
)

TABLES = list(rows.TABLES)


def rename_all(suffix_from: str, suffix_to: str):
    def run(client) -> None:
        for table in TABLES:
            client.command(f"RENAME TABLE {table}{suffix_from} TO {table}{suffix_to}")

    return run


def every_partition() -> list[TopicPartition]:
    # Topics are created from the registry, with its partition counts.
    return [TopicPartition(spec.name, p) for spec in ALL_TOPICS.values() for p in range(spec.partitions)]


async def test_offsets_are_committed_only_after_clickhouse_took_the_batch(infra_parts, tmp_path):
    bootstrap = infra_parts.bootstrap
    work = Workload()
    sent = await publish_events(bootstrap, work.items)
    # A group of its own starts from the beginning of every topic, this workload included.
    settings = AnalyticsSettings(group_id=f"govmail-analytics-commit-{work.rid}", batch_seconds=0.2, max_backoff=0.5)
    # ClickHouse refuses every insert: no table is where the consumer writes.
    async with running_ingestor(bootstrap, tmp_path / "clickhouse", settings, rename_all("", "_away")) as ingestor:
        async def failed_twice() -> bool:
            return ingestor.insert_failures >= 2

        await until(failed_twice, what="two failed inserts")
        assert ingestor.records > 0 and ingestor.batches == 0
        assert await committed_offsets(bootstrap, settings.group_id, every_partition()) == {}

        await ingestor.warehouse.call(rename_all("_away", ""))
        await until(committed_past(bootstrap, settings.group_id, sent), what="the workload's offsets to be committed")
        assert ingestor.batches >= 1
        by_account = {"by": "account", "rows": await ingestor.warehouse.call(stats.volume, "account")}
        assert rows_for(by_account, set(work.expected_accounts())) == work.expected_accounts()
