"""The ClickHouse access layer: DSN parsing and client choice (chDB or HTTP), replay-proof inserts, the read-only SQL gate."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from services.analytics import readonly_sql, rows, stats
from services.analytics.period import Period
from services.analytics.warehouse import WarehouseUnavailable, connect, insert_new, parse_dsn, query_dicts
from services.common.bus import encode
from services.platform import infra
from tests.analytics.support import Workload


def test_a_chdb_dsn_names_a_folder_and_an_http_dsn_a_server():
    target = parse_dsn("chdb:///srv/govmail/data/clickhouse")
    assert (target.kind, target.path) == ("chdb", Path("/srv/govmail/data/clickhouse"))
    server = parse_dsn("http://phan%20tich:m%E1%BA%ADt@clickhouse.tiengiang.gov.vn:8123/govmail")
    assert (server.kind, server.host, server.port, server.secure, server.username, server.password,
            server.database) == ("http", "clickhouse.tiengiang.gov.vn", 8123, False, "phan tich", "mật", "govmail")
    secure = parse_dsn("https://ch.backan.gov.vn")
    assert (secure.port, secure.secure, secure.username, secure.database) == (8443, True, "default", "")
    for bad in ("clickhouse://host:9000", "http://", "/srv/data", ""):
        with pytest.raises(ValueError, match="chdb:///path or http"):
            parse_dsn(bad)


def test_an_http_dsn_uses_the_http_client_and_a_dead_server_is_a_clear_error():
    port = infra.free_port()
    with pytest.raises(WarehouseUnavailable) as caught:
        connect(f"http://analyst:secret@127.0.0.1:{port}/govmail")
    # clickhouse-connect's HTTP client tried the server's port.
    assert f"HTTPConnectionPool(host='127.0.0.1', port={port})" in str(caught.value)
    assert "Connection refused" in str(caught.value)


def workload_lines(work: Workload) -> dict[str, list[bytes]]:
    by_table: dict[str, list[bytes]] = {}
    for topic, event in work.items:
        by_table.setdefault(rows.table_of(topic), []).append(encode(event))
    return by_table


def test_a_replayed_batch_adds_nothing_to_the_tables_nor_the_daily_roll_up(client):
    work = Workload()
    batches = workload_lines(work)
    period = Period(work.day, work.day)
    for table, table_rows in batches.items():
        assert insert_new(client, table, table_rows) == len(table_rows)
    before = {by: stats.traffic(client, by, period) for by in ("account", "unit", "direction")}
    daily = query_dicts(client, "SELECT count() AS n, sum(received) AS r FROM mail_daily")
    assert before["account"] and daily[0]["r"] == 5

    # The whole batch again, then again shuffled into one-row batches with a repeat inside one batch.
    for table, table_rows in batches.items():
        assert insert_new(client, table, table_rows) == 0
        for line in reversed(table_rows):
            assert insert_new(client, table, [line, line]) == 0
    assert {by: stats.traffic(client, by, period) for by in ("account", "unit", "direction")} == before
    assert query_dicts(client, "SELECT count() AS n, sum(received) AS r FROM mail_daily") == daily
    for table, table_rows in batches.items():
        assert query_dicts(client, f"SELECT count() AS n FROM {table}") == [{"n": len(table_rows)}]


def test_the_sql_gate_takes_one_select_or_with_and_the_engine_refuses_writes(client):
    assert readonly_sql.check("  -- số liệu\n WITH 1 AS x SELECT x;") == "WITH 1 AS x SELECT x"
    assert readonly_sql.check("(SELECT 1)") == "(SELECT 1)"
    for refused, reason in [("DROP TABLE mail_received", "only SELECT"), ("SELECT 1; DROP TABLE mail_daily", "exactly one"),
                            ("/* SELECT */ INSERT INTO mail_daily VALUES", "only SELECT"), ("", "exactly one"),
                            ("ALTER TABLE mail_received DELETE WHERE 1", "only SELECT")]:
        with pytest.raises(readonly_sql.RefusedQuery, match=reason):
            readonly_sql.check(refused)
    result = readonly_sql.run(client, "SELECT 'Tiền Giang' AS tinh, '前江省' AS sheng, toDate('2026-11-21') AS ngay")
    assert result == {"columns": ["tinh", "sheng", "ngay"], "types": ["String", "String", "Date"],
                      "rows": [["Tiền Giang", "前江省", "2026-11-21"]]}
    # A SELECT that writes through a table function is still refused by ClickHouse's readonly setting.
    with pytest.raises(DatabaseError, match="(?i)readonly"):
        readonly_sql.run(client, "SELECT * FROM numbers(3) SETTINGS readonly = 0")
    # The gate's readonly setting does not stick to the session: the service still writes afterwards.
    work = Workload()
    table, table_rows = next(iter(workload_lines(work).items()))
    assert insert_new(client, table, table_rows) == len(table_rows)


def test_a_period_is_checked_before_any_query():
    from services.analytics.period import BadParameter

    with pytest.raises(BadParameter, match="before start") as caught:
        Period(date(2026, 12, 5), date(2026, 12, 1))
    assert caught.value.parameter == "end"
    with pytest.raises(BadParameter, match="unknown time zone") as caught:
        Period.from_query({"tz": "Asia/Hà_Nội"})
    assert caught.value.parameter == "tz"
    period = Period.from_query({"start": "2026-07-01", "end": "2026-12-31", "tz": "Asia/Shanghai"})
    assert period.as_dict() == {"start": "2026-07-01", "end": "2026-12-31", "tz": "Asia/Shanghai"}
    with pytest.raises(BadParameter, match="YYYY-MM-DD"):
        Period.from_query({"start": "01/07/2026"})
