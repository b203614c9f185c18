"""The analytics schema on real chDB: migrations applied once and recorded, every column commented, every topic mapped."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from schemas.export import example_paths
from schemas.registry import ALL_TOPICS
from services.analytics import migrations, rows
from services.analytics.warehouse import connect, insert_new, query_dicts
from services.common.bus import encode
from tests.analytics.ledger import Ledger


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    # chDB holds one path per process: close it before the next test opens its own.
    ch = connect(f"chdb:///{tmp_path / 'clickhouse'}")
    yield ch
    ch.close()


def test_migrations_apply_once_and_are_recorded(client):
    applied = migrations.apply(client)
    assert [m.label for m in applied] == [m.label for m in migrations.discover()]
    assert applied[0].label == "001_initial"
    recorded = query_dicts(client, "SELECT version, name, checksum FROM schema_migrations FINAL ORDER BY version")
    assert recorded == [{"version": m.version, "name": m.name, "checksum": m.checksum} for m in applied]

    assert migrations.apply(client) == []
    assert query_dicts(client, "SELECT count() AS n FROM schema_migrations") == [{"n": len(applied)}]


def test_a_migration_changed_after_it_was_applied_is_refused(client, tmp_path):
    folder = tmp_path / "migrations"
    shutil.copytree(migrations.FOLDER, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    migrations.apply(client, folder)
    first = folder / "001_initial.sql"
    first.write_text(first.read_text(encoding="utf-8") + "\n-- sửa lại\n", encoding="utf-8")
    with pytest.raises(migrations.MigrationError, match="001_initial.sql changed after it was applied"):
        migrations.apply(client, folder)


def test_a_new_migration_file_is_applied_after_the_others(client, tmp_path):
    folder = tmp_path / "migrations"
    shutil.copytree(migrations.FOLDER, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    migrations.apply(client, folder)
    following = migrations.discover()[-1].version + 1
    (folder / f"{following:03d}_unit_names.sql").write_text(
        "ALTER TABLE account_events ADD COLUMN IF NOT EXISTS unit_name String DEFAULT '' "
        "COMMENT 'Tên đơn vị; 单位名称';\n", encoding="utf-8")
    assert [m.label for m in migrations.apply(client, folder)] == [f"{following:03d}_unit_names"]
    comment = query_dicts(client, "SELECT comment FROM system.columns WHERE database = currentDatabase() "
                                  "AND table = 'account_events' AND name = 'unit_name'")
    assert comment == [{"comment": "Tên đơn vị; 单位名称"}]


ROLLUPS = {"mail_daily": "day, account, direction, unit", "threat_daily": "day, direction"}
# A materialized view stores nothing itself (it writes into mail_daily): its columns are the target's.
NOT_A_VIEW = ("AND table NOT IN (SELECT name FROM system.tables "
              "WHERE database = currentDatabase() AND engine = 'MaterializedView')")
ROLLUP_VIEWS = {"mail_daily_received", "mail_daily_delivery", "mail_daily_scanned", "threat_daily_scanned"}
# The retention policy of docs/analytics.md, in years (dead letters: 90 days).
RETENTION = {"mail_received": "2 YEAR", "mail_scanned": "2 YEAR", "mail_delivery": "2 YEAR", "mail_retry": "2 YEAR",
             "mailbox_activity": "2 YEAR", "auth_events": "1 YEAR", "dead_letters": "90 DAY",
             "account_events": "10 YEAR", "admin_audit": "10 YEAR", "mail_feedback": "2 YEAR"}


def test_every_table_is_a_monthly_merge_tree_keyed_by_event_id_with_every_column_commented(client):
    migrations.apply(client)
    tables = query_dicts(client, "SELECT name, engine, partition_key, sorting_key, comment, create_table_query "
                                 "FROM system.tables WHERE database = currentDatabase() "
                                 "AND name NOT IN {rollups:Array(String)} AND name != 'schema_migrations' "
                                 "AND engine != 'MaterializedView' ORDER BY name", {"rollups": list(ROLLUPS)})
    expected = set(rows.TABLES)
    assert {t["name"] for t in tables} == expected
    for table in tables:
        assert table["engine"] == "ReplacingMergeTree", table
        assert table["partition_key"] == "toYYYYMM(occurred_at)", table
        assert table["sorting_key"] == "event_id", table
        assert table["comment"], table
        amount, unit = RETENTION[table["name"]].split()
        ttl = f"TTL toDateTime(occurred_at) + toInterval{unit.title()}({amount})"
        assert ttl in table["create_table_query"], (table["name"], table["create_table_query"][-300:])
    views = query_dicts(client, "SELECT name FROM system.tables WHERE database = currentDatabase() "
                                "AND engine = 'MaterializedView'")
    assert {v["name"] for v in views} == ROLLUP_VIEWS
    rollups = query_dicts(client, "SELECT name, engine, partition_key, sorting_key FROM system.tables "
                                  "WHERE database = currentDatabase() AND name IN {rollups:Array(String)}",
                          {"rollups": list(ROLLUPS)})
    assert {r["name"]: (r["engine"], r["partition_key"], r["sorting_key"]) for r in rollups} == {
        name: ("SummingMergeTree", "toYYYYMM(day)", key) for name, key in ROLLUPS.items()}
    uncommented = query_dicts(client, "SELECT table, name FROM system.columns "
                                      "WHERE database = currentDatabase() AND comment = '' " + NOT_A_VIEW)
    assert uncommented == []
    mail_from = query_dicts(client, "SELECT comment FROM system.columns WHERE database = currentDatabase() "
                                    "AND table = 'mail_received' AND name IN ('mail_from', 'header_from') ORDER BY name")
    assert "RFC5322.From" in mail_from[0]["comment"] and "RFC5321.MailFrom" in mail_from[1]["comment"]


def test_split_statements_keeps_semicolons_inside_quotes_and_drops_comments():
    sql = "-- đầu; tiên\nCREATE TABLE a (x String COMMENT 'một; hai') ENGINE = Log;\n\nSELECT 'it''s;';  -- cuối;\n"
    assert migrations.split_statements(sql) == [
        "CREATE TABLE a (x String COMMENT 'một; hai') ENGINE = Log",
        "SELECT 'it''s;'",
    ]


def recent(topic: str, value: bytes) -> tuple[str, bytes, str]:
    """The table, line and event id of an example as if it happened a day ago: the examples date from 2024, which the retention TTLs would drop."""
    event = ALL_TOPICS[topic].model.model_validate_json(value)
    event.occurred_at = datetime.now(UTC) - timedelta(days=1)
    return rows.table_of(topic), rows.canonical_line(topic, encode(event)), event.event_id


def test_every_example_of_every_topic_lands_in_its_table_once(client):
    migrations.apply(client)
    assert set(rows.MAIN_TABLES) | {t for t in ALL_TOPICS if t.endswith(".dlq")} == set(ALL_TOPICS)
    expected: dict[str, set[str]] = {}
    for topic in ALL_TOPICS:
        paths = example_paths(topic)
        assert paths, f"no example for {topic}"
        for path in paths:
            table, line, event_id = recent(topic, path.read_bytes())
            # Inserted twice, as a replayed batch would be: the event id keeps one row.
            insert_new(client, table, [line])
            insert_new(client, table, [line])
            expected.setdefault(table, set()).add(event_id)
    for table, ids in expected.items():
        found = query_dicts(client, f"SELECT event_id FROM {table} FINAL")
        assert sorted(r["event_id"] for r in found) == sorted(ids), table

    received = query_dicts(client, "SELECT subject, header_from FROM mail_received FINAL "
                                   "WHERE subject LIKE '%关于年度报告%' ORDER BY event_id LIMIT 1")
    assert received == [{"subject": "Báo cáo tháng 11 — 关于年度报告的通知",
                         "header_from": "Lê Minh Hiếu <leminhhieu@tiengiang.gov.vn>"}]


DOC = Path(__file__).resolve().parents[2] / "docs" / "analytics.md"


def doc_sections() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    parts = re.split(r"^### `([a-z_]+)`$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_the_docs_describe_every_table_and_column(client):
    migrations.apply(client)
    sections = doc_sections()
    columns = query_dicts(client, "SELECT table, name FROM system.columns WHERE database = currentDatabase() "
                                  + NOT_A_VIEW)
    missing = [f"{c['table']}.{c['name']}" for c in columns if f"| `{c['name']}` |" not in sections.get(c["table"], "")]
    assert missing == []


def test_the_example_queries_in_the_docs_run(client):
    migrations.apply(client)
    for topic in ALL_TOPICS:
        for path in example_paths(topic):
            table, line, _ = recent(topic, path.read_bytes())
            insert_new(client, table, [line])
    examples = DOC.read_text(encoding="utf-8").split("## Example queries", 1)[1]
    queries = re.findall(r"```sql\n(.*?)```", examples, flags=re.DOTALL)
    assert len(queries) >= 10
    for sql in queries:
        client.query(sql.strip().rstrip(";"))


def test_the_roll_ups_are_backfilled_from_what_was_stored_before_their_migration(tmp_path):
    ledger_lines = [(rows.table_of(topic), encode(event)) for topic, event in Ledger().events()]
    early = tmp_path / "first-only"
    early.mkdir()
    shutil.copy(migrations.FOLDER / "001_initial.sql", early)

    def load(client: Client) -> None:
        for table, line in ledger_lines:
            insert_new(client, table, [line])

    sums = ("SELECT sum(received), sum(sent), sum(delivered), sum(deferred), sum(bounced), sum(spam), sum(virus), "
            "sum(phishing), sum(quarantined), sum(received_bytes), sum(sent_bytes), sum(delivered_bytes), "
            "(SELECT sum(scanned) + sum(spam) + sum(rejected) FROM threat_daily) FROM mail_daily")
    found = []
    for order in ("rows first", "migrations first"):
        client = connect(f"chdb:///{tmp_path / order.replace(' ', '-')}")
        try:
            if order == "rows first":
                migrations.apply(client, early)
                load(client)
                migrations.apply(client)
                # Run again (as after a crash before the ledger was written): nothing is added twice.
                for migration in migrations.discover()[1:]:
                    for statement in migrations.split_statements(migration.sql):
                        client.command(statement)
            else:
                migrations.apply(client)
                load(client)
            found.append(client.query(sums).result_rows[0])
        finally:
            client.close()
    assert found[0] == found[1] and found[0][0] > 0 and found[0][-1] > 0
