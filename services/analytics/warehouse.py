"""ClickHouse access for analytics: one clickhouse-connect client (chDB in process or a server over HTTP) on one thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlparse

import clickhouse_connect
import orjson
from clickhouse_connect.driver.client import Client

T = TypeVar("T")


class WarehouseUnavailable(RuntimeError):
    """ClickHouse cannot be reached or opened (server down, chDB path held by another process)."""


def chdb_path(dsn: str) -> Path | None:
    """The folder of a `chdb:///path` DSN, or None for a server DSN."""
    if not dsn.startswith("chdb:"):
        return None
    # "chdb:///" + an absolute path gives a path starting with "//", which POSIX keeps apart.
    return Path("/" + urlparse(dsn).path.lstrip("/"))


@dataclass(frozen=True)
class Target:
    """Where a DSN points: chDB in this process (`path`) or a ClickHouse server over HTTP(S)."""

    kind: str  # "chdb" or "http"
    path: Path | None = None
    host: str = ""
    port: int = 0
    secure: bool = False
    username: str = "default"
    password: str = ""
    database: str = ""


def parse_dsn(dsn: str) -> Target:
    """`chdb:///abs/path` or `http(s)://user:password@host:port/database`; anything else is refused."""
    path = chdb_path(dsn)
    if path is not None:
        return Target("chdb", path=path)
    parsed = urlparse(dsn)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"ClickHouse DSN must be chdb:///path or http(s)://host:port/database, not {dsn!r}")
    secure = parsed.scheme == "https"
    return Target(
        "http",
        host=parsed.hostname,
        port=parsed.port or (8443 if secure else 8123),
        secure=secure,
        username=unquote(parsed.username or "default"),
        password=unquote(parsed.password or ""),
        database=parsed.path.strip("/"),
    )


def connect(dsn: str, readonly: bool = False) -> Client:
    """A client for `chdb:///path` or `http(s)://…`; read-only clients refuse every write at the engine."""
    target = parse_dsn(dsn)
    if target.path is not None:
        if readonly and not target.path.is_dir():
            raise WarehouseUnavailable(f"no analytics data at {target.path}")
        target.path.parent.mkdir(parents=True, exist_ok=True)
    settings = {"readonly": 1} if readonly else None
    try:
        if target.kind == "chdb":
            return clickhouse_connect.get_client(dsn=dsn, settings=settings)
        return clickhouse_connect.get_client(
            host=target.host, port=target.port, interface="https" if target.secure else "http",
            username=target.username, password=target.password, database=target.database or None,
            settings=settings, connect_timeout=5,
        )
    except Exception as exc:
        # chDB allows one process per path; a second one fails here, as does a server that is down.
        raise WarehouseUnavailable(f"{type(exc).__name__}: {exc}") from exc


# How ClickHouse takes a batch. Times as orjson writes them (RFC 3339 with an offset). Parsed on
# the inserting thread alone: parallel parsing costs a sixth more CPU at these batch sizes. No
# merge of the block before it is written (optimize_on_insert, a sixth of the ingest's CPU):
# insert_new has already dropped the batch's repeats, and the roll-ups' rows are summed by every
# query and by the background merges anyway.
JSON_INSERT = {"date_time_input_format": "best_effort", "input_format_parallel_parsing": 0, "optimize_on_insert": 0}


def insert_rows(client: Client, table: str, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows given as dicts that all have the same keys (the columns).

    The batch goes as one JSONEachRow body that orjson writes in a single call and ClickHouse
    parses in C++: a third less CPU than clickhouse-connect's Native encoding, which walks
    every value in Python (measured in bench/analytics.py). Naive times are read as UTC.
    """
    body = orjson.dumps(rows, option=orjson.OPT_NAIVE_UTC)
    client.raw_insert(table, list(rows[0]), body, settings=JSON_INSERT, fmt="JSONEachRow")


def insert_new(client: Client, table: str, rows: Sequence[dict[str, Any]]) -> int:
    """Insert the rows whose event_id the table does not hold yet; returns how many were inserted.

    The materialized roll-ups count what is inserted, not what survives the ReplacingMergeTree
    merge, so a replayed event must be dropped before the insert. The batch's ids go into a
    temporary table of the session (a long literal list is slow to parse) and the lookup is
    limited to the monthly partitions of the batch, which keeps it cheap however large the table grows.
    """
    unique = list({row["event_id"]: row for row in rows}.values())
    months = sorted({row["occurred_at"].year * 100 + row["occurred_at"].month for row in unique})
    client.command("CREATE TEMPORARY TABLE IF NOT EXISTS batch_event_ids (event_id String) ENGINE = Memory")
    client.command("TRUNCATE TABLE batch_event_ids")
    client.raw_insert("batch_event_ids", ["event_id"], orjson.dumps([[row["event_id"] for row in unique]]),
                      settings=JSON_INSERT, fmt="JSONCompactColumns")
    found = client.query(
        f"SELECT event_id FROM {table} WHERE toYYYYMM(occurred_at) IN {{months:Array(UInt32)}} "
        "AND event_id IN (SELECT event_id FROM batch_event_ids)",
        parameters={"months": months},
    ).result_rows
    stored = {event_id for (event_id,) in found}
    fresh = [row for row in unique if row["event_id"] not in stored] if stored else unique
    if fresh:
        insert_rows(client, table, fresh)
    return len(fresh)


def insert_tables(client: Client, by_table: Mapping[str, Sequence[dict[str, Any]]], written: dict[str, int]) -> None:
    """insert_new for every table of a batch that is not in `written` yet, noting there how many rows it added.

    `written` outlives a failed call, so a retry starts with the first table not written yet.
    """
    for table, rows in by_table.items():
        if rows and table not in written:
            written[table] = insert_new(client, table, rows)


def query_dicts(client: Client, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    result = client.query(sql, parameters=parameters or {})
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


class Warehouse:
    """Runs every ClickHouse call on one worker thread so the event loop (and Kafka heartbeats) never block.

    One thread also keeps chDB, an in-process engine, away from concurrent callers.
    """

    def __init__(self, dsn: str):
        self.dsn = dsn
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse")
        self._client: Client | None = None

    @property
    def is_open(self) -> bool:
        return self._client is not None

    async def open(self) -> None:
        self._client = await self._run(connect, self.dsn)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run fn(client, *args) on the ClickHouse thread."""
        if self._client is None:
            raise WarehouseUnavailable("ClickHouse is not open yet")
        return await self._run(fn, self._client, *args)

    async def insert(self, by_table: Mapping[str, Sequence[dict[str, Any]]], written: dict[str, int]) -> None:
        """Insert the rows not yet stored (by event id) of every table not in `written`, in one call on the ClickHouse thread.

        One call, so that the whole batch is written while the event loop is busy elsewhere.
        """
        await self.call(insert_tables, by_table, written)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await self._run(client.close)
        self._executor.shutdown(wait=True)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
