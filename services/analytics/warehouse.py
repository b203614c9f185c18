"""ClickHouse access for analytics: one clickhouse-connect client (chDB in process or a server over HTTP) on one thread."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from services.analytics import rows

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


class UnreadableEvents(RuntimeError):
    """ClickHouse would not read the events of a table (one of them does not fit its input structure, or ClickHouse failed).

    `row` is the position (from 0) of the line ClickHouse named, when it named one.
    """

    def __init__(self, table: str, error: str):
        super().__init__(f"{table}: {error}")
        self.table = table
        found = re.search(r"\(at row (\d+)\)", error)
        self.row = int(found.group(1)) - 1 if found else None


# How the events become rows: no merge of the block before it is written (optimize_on_insert, a
# sixth of the ingest's CPU): insert_new has already dropped the batch's repeats, and the
# roll-ups' rows are summed by every query and by the background merges anyway.
ROW_INSERT = {"optimize_on_insert": 0}


def insert_new(client: Client, table: str, lines: Sequence[bytes]) -> int:
    """Insert the events (JSON lines, see rows) whose event_id the table does not hold yet; returns how many were inserted.

    ClickHouse reads the lines into a temporary table of the table's input structure (raising
    UnreadableEvents if one does not fit), then selects the rows from there. The materialized
    roll-ups count what is inserted, not what survives the ReplacingMergeTree merge, so a
    replayed event must be dropped before the insert: the lookup of stored ids is limited to the
    monthly partitions of the batch, which keeps it cheap however large the table grows.
    """
    if not lines:
        return 0
    spec = rows.TABLES[table]
    staged = f"staged_{table}"
    client.command(f"CREATE TEMPORARY TABLE IF NOT EXISTS {staged} ({spec.input.ddl}) ENGINE = Memory")
    client.command(f"TRUNCATE TABLE {staged}")
    try:
        read = client.raw_insert(staged, None, b"\n".join(lines), settings=spec.input.settings, fmt="JSONEachRow")
    except Exception as exc:
        raise UnreadableEvents(table, f"{type(exc).__name__}: {exc}") from exc
    # One row per event, or an event was no object (an empty value is skipped, a list is read as several rows).
    if read.written_rows != len(lines):
        raise UnreadableEvents(table, f"ClickHouse read {read.written_rows} rows from {len(lines)} events")
    stored = (f"SELECT event_id FROM {table} WHERE toYYYYMM(occurred_at) IN "
              f"(SELECT DISTINCT toYYYYMM(occurred_at) FROM {staged}) AND event_id IN (SELECT event_id FROM {staged})")
    unique, known = client.query(f"SELECT (SELECT uniqExact(event_id) FROM {staged}), "
                                 f"(SELECT uniqExact(event_id) FROM ({stored}))").result_rows[0]
    if known < unique:
        fresh = f"WHERE event_id NOT IN ({stored})" if known else ""
        client.command(f"INSERT INTO {table} ({spec.column_names}) SELECT {spec.select} FROM {staged} {fresh} "
                       "LIMIT 1 BY event_id", settings=ROW_INSERT)
    client.command(f"TRUNCATE TABLE {staged}")  # its memory is not held until the next batch
    return unique - known


def insert_tables(client: Client, by_table: Mapping[str, Sequence[bytes]], written: dict[str, int]) -> None:
    """insert_new for every table of a batch that is not in `written` yet, noting there how many rows it added.

    `written` outlives a failed call, so a retry starts with the first table not written yet.
    """
    for table, lines in by_table.items():
        if lines and table not in written:
            written[table] = insert_new(client, table, lines)


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

    async def insert(self, by_table: Mapping[str, Sequence[bytes]], written: dict[str, int]) -> None:
        """Insert the events not yet stored (by event id) of every table not in `written`, in one call on the ClickHouse thread.

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
