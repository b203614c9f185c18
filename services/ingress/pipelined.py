"""One Redis connection per ingress process on which every session's commands are pipelined.

The SMTP hot path asks Redis two to four small things per message (limits, the recipient). Through
redis-py each costs a pool checkout, a timeout handle, a retry wrapper and a system call each way.
Here commands issued in the same event-loop turn leave in one write and the replies are matched to
the callers in order (a Redis connection answers strictly first-in, first-out), so many sessions
share one send and one receive. Errors are redis-py's, so callers handle Redis being down as before.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any
from urllib.parse import unquote, urlparse

import redis.exceptions

Reply = Any  # int, str, None, list of replies, or a redis.exceptions.ResponseError instance


def pack(args: tuple[Any, ...]) -> bytes:
    """A command as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode("utf-8")
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class _Incomplete(Exception):
    """The buffer ends inside a reply; wait for more bytes."""


def parse(buf: bytes, at: int) -> tuple[Reply, int]:
    """One RESP2 reply starting at `at`: (reply, offset after it); raises _Incomplete for a partial one."""
    end = buf.find(b"\r\n", at)
    if end < 0:
        raise _Incomplete
    kind, line = buf[at:at + 1], buf[at + 1:end]
    at = end + 2
    if kind == b":":
        return int(line), at
    if kind == b"$":
        size = int(line)
        if size < 0:
            return None, at
        if len(buf) < at + size + 2:
            raise _Incomplete
        return buf[at:at + size].decode("utf-8", "replace"), at + size + 2
    if kind == b"*":
        count = int(line)
        if count < 0:
            return None, at
        items = []
        for _ in range(count):
            if buf[at:at + 1] == b"$":  # the usual item (HGETALL's fields), read here rather than by recursion
                end = buf.find(b"\r\n", at)
                size = int(buf[at + 1:end]) if end >= 0 else 0
                if end >= 0 and size >= 0 and len(buf) >= end + 4 + size:
                    items.append(buf[end + 2:end + 2 + size].decode("utf-8", "replace"))
                    at = end + 4 + size
                    continue
            item, at = parse(buf, at)
            items.append(item)
        return items, at
    if kind == b"+":
        return line.decode("utf-8", "replace"), at
    if kind == b"-":
        text = line.decode("utf-8", "replace")
        error = redis.exceptions.NoScriptError if text.startswith("NOSCRIPT") else redis.exceptions.ResponseError
        return error(text), at
    raise redis.exceptions.InvalidResponse(f"unknown RESP type {kind!r}")


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[asyncio.Future[Reply]] = deque()
        self.outgoing: list[bytes] = []
        self.buffer = b""
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def send(self, command: bytes) -> asyncio.Future[Reply]:
        if not self.outgoing:
            asyncio.get_running_loop().call_soon(self._flush)
        self.outgoing.append(command)
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self.waiting.append(future)
        return future

    def _flush(self) -> None:
        data, self.outgoing = b"".join(self.outgoing), []
        if self.transport is not None and not self.lost:
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        buf, at = self.buffer + data, 0
        try:
            while at < len(buf):
                reply, at = parse(buf, at)
                future = self.waiting.popleft()
                if not future.done():  # a caller that timed out is skipped; the order stays right
                    future.set_result(reply)
        except _Incomplete:
            pass
        except (ValueError, IndexError, redis.exceptions.InvalidResponse) as exc:
            self._fail(redis.exceptions.ConnectionError(f"bad reply from Redis: {exc}"))
            if self.transport is not None:
                self.transport.close()
            return
        self.buffer = buf[at:]

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(redis.exceptions.ConnectionError(f"Redis closed the connection: {exc or 'EOF'}"))

    def _fail(self, error: Exception) -> None:
        self.lost = True
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)


class PipelinedRedis:
    """A minimal Redis client for a few hot commands: `await call("EVALSHA", ...)`, `await calls([...])`."""

    def __init__(self, host: str, port: int, db: int = 0, password: str | None = None,
                 username: str | None = None, timeout: float = 5.0):
        self.host, self.port, self.db = host, port, db
        self.username, self.password = username, password
        self.timeout = timeout
        self._connection: _Connection | None = None
        self._connecting: asyncio.Future[_Connection] | None = None

    @classmethod
    def from_url(cls, url: str, timeout: float = 5.0) -> PipelinedRedis:
        parsed = urlparse(url)
        if parsed.scheme != "redis":
            raise ValueError(f"unsupported Redis URL {url!r}: only redis:// is pipelined")
        db = int(parsed.path.strip("/") or 0)
        return cls(parsed.hostname or "127.0.0.1", parsed.port or 6379, db,
                   unquote(parsed.password) if parsed.password else None,
                   unquote(parsed.username) if parsed.username else None, timeout)

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, connection = await asyncio.wait_for(loop.create_connection(_Connection, self.host, self.port),
                                                   self.timeout)
        except OSError as exc:  # TimeoutError included
            raise redis.exceptions.ConnectionError(f"cannot reach Redis at {self.host}:{self.port}: {exc}") from exc
        setup = []
        if self.password is not None:
            setup.append(("AUTH", self.username, self.password) if self.username else ("AUTH", self.password))
        if self.db:
            setup.append(("SELECT", self.db))
        for reply in await self._wait([connection.send(pack(args)) for args in setup]):
            if isinstance(reply, Exception):
                connection.transport.close()  # type: ignore[union-attr]
                raise redis.exceptions.ConnectionError(f"Redis refused the connection setup: {reply}")
        return connection

    async def _ready(self) -> _Connection:
        if self._connection is not None and not self._connection.lost:
            return self._connection
        if self._connecting is None:  # one connect shared by every caller that needs it meanwhile
            self._connecting = asyncio.ensure_future(self._open())
            self._connecting.add_done_callback(self._connected)
        return await asyncio.shield(self._connecting)

    def _connected(self, attempt: asyncio.Future[_Connection]) -> None:
        self._connecting = None
        if not attempt.cancelled() and attempt.exception() is None:
            self._connection = attempt.result()

    async def _wait(self, futures: list[asyncio.Future[Reply]]) -> list[Reply]:
        try:
            async with asyncio.timeout(self.timeout):
                return [await future for future in futures]
        except TimeoutError as exc:
            raise redis.exceptions.TimeoutError(f"no reply from Redis within {self.timeout} s") from exc

    async def calls(self, commands: list[tuple[Any, ...]]) -> list[Reply]:
        """Replies to `commands`, sent together; an error reply comes back as its exception, not raised."""
        connection = await self._ready()
        return await self._wait([connection.send(pack(args)) for args in commands])

    async def call(self, *args: Any) -> Reply:
        """The reply to one command; an error reply is raised (redis.exceptions.ResponseError)."""
        (reply,) = await self.calls([args])
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and connection.transport is not None:
            connection.transport.close()
            with contextlib.suppress(Exception):
                await asyncio.sleep(0)
