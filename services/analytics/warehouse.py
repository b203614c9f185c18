"""ClickHouse access for analytics: one clickhouse-connect client (chDB in process or a server over HTTP) on one thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import clickhouse_connect
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


def connect(dsn: str, readonly: bool = False) -> Client:
    """A client for `chdb:///path` or `http(s)://…`; read-only clients refuse every write at the engine."""
    path = chdb_path(dsn)
    if path is not None:
        if readonly and not path.is_dir():
            raise WarehouseUnavailable(f"no analytics data at {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return clickhouse_connect.get_client(dsn=dsn, settings={"readonly": 1} if readonly else None)
    except Exception as exc:
        # chDB allows one process per path; a second one fails here, as does a server that is down.
        raise WarehouseUnavailable(f"{type(exc).__name__}: {exc}") from exc


def insert_rows(client: Client, table: str, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows given as dicts that all have the same keys (the columns)."""
    columns = list(rows[0])
    client.insert(table, [[row[c] for c in columns] for row in rows], column_names=columns)


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

    async def insert(self, table: str, rows: Sequence[dict[str, Any]]) -> None:
        await self.call(insert_rows, table, rows)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await self._run(client.close)
        self._executor.shutdown(wait=True)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
