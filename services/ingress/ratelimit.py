"""Per-client-IP limits on MX (R22): concurrent connections, connections and messages per minute, in Redis."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time

import redis.exceptions

from services.common import logging as log
from services.ingress import replies
from services.ingress.pipelined import PipelinedRedis

logger = log.get(__name__)

# The counters are not written to Redis's append-only file nor sent to replicas (REPL_NONE): they
# matter for a minute or for one connection's life, and with `appendfsync always` each propagated
# write would cost an fsync per connection and per message. A Redis restart or failover only
# forgets them (connections and messages counted from zero again), which a limiter can afford.
_UNLOGGED = "redis.set_repl(redis.REPL_NONE)\n"

# Sliding windows in sorted sets (score = start time). All windows are checked before any is charged,
# so a refused attempt does not count, and check + charge are one atomic step across replicas.
# Returns 0 when admitted, else the 1-based index of the first window that is full.
_HIT = _UNLOGGED + """
local now = tonumber(ARGV[1])
local member = ARGV[2]
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[1 + 2 * i])
  local window = tonumber(ARGV[2 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= limit then return i end
end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, member)
  redis.call('EXPIRE', key, math.ceil(tonumber(ARGV[2 + 2 * i])) + 1)
end
return 0
"""

# A closed connection's slot, freed without an append-only-file write either.
_RELEASE = _UNLOGGED + "return redis.call('ZREM', KEYS[1], ARGV[1])"

_REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


class Script:
    """A Lua script run by its SHA-1, loaded on first use (and again after a Redis restart forgot it)."""

    def __init__(self, client: PipelinedRedis, source: str):
        self.client = client
        self.source = source
        self.sha = hashlib.sha1(source.encode("utf-8")).hexdigest()

    async def __call__(self, keys: list[str], args: list[float | str]) -> object:
        try:
            return await self.client.call("EVALSHA", self.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            return await self.client.call("EVAL", self.source, len(keys), *keys, *args)


def _key(kind: str, ip: str) -> str:
    return f"gm:limit:{kind}:{ip}"


class ClientLimits:
    """Admission of connections and messages per client IP, shared by every ingress replica through Redis.

    If Redis is unreachable the limits fail open (with a log line): refusing all mail because the
    limiter is down would be a worse outage than the abuse it guards against.
    """

    def __init__(self, client: PipelinedRedis, *, max_connections: int, connections_per_minute: int,
                 messages_per_minute: int, connection_lease: float):
        self.redis = client
        self.max_connections = max_connections
        self.connections_per_minute = connections_per_minute
        self.messages_per_minute = messages_per_minute
        # A live connection counts for at most this long, so a crashed replica cannot leak counts forever.
        self.connection_lease = connection_lease
        self.hit = Script(client, _HIT)
        self.free_slot = Script(client, _RELEASE)
        self.pending: set[asyncio.Task[None]] = set()

    async def _hit(self, ip: str, member: str, windows: list[tuple[str, int, float]]) -> int:
        args: list[float | str] = [time.time(), member]
        for _, limit, window in windows:
            args += [limit, window]
        try:
            return int(await self.hit(keys=[key for key, _, _ in windows], args=args))
        except _REDIS_DOWN as exc:
            logger.warning("client_limits_unavailable", client_ip=ip, error=str(exc))
            return 0

    async def admit_connection(self, ip: str, ticket: str) -> str | None:
        """The refusal for a new connection from `ip`, or None (then `release_connection(ip, ticket)` at its end)."""
        full = await self._hit(ip, ticket, [(_key("conn", ip), self.max_connections, self.connection_lease),
                                            (_key("connrate", ip), self.connections_per_minute, 60.0)])
        if full:
            logger.info("connection_refused", client_ip=ip, limit="concurrent" if full == 1 else "per_minute")
            return replies.TOO_MANY_CONNECTIONS
        return None

    def release_connection(self, ip: str, ticket: str) -> None:
        """Free the connection's slot; runs as a task because it is called while the session is torn down."""
        task = asyncio.get_running_loop().create_task(self._release(ip, ticket))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def _release(self, ip: str, ticket: str) -> None:
        try:
            await self.free_slot(keys=[_key("conn", ip)], args=[ticket])
        except _REDIS_DOWN as exc:
            # The lease ends the slot later.
            logger.warning("client_limits_unavailable", client_ip=ip, error=str(exc))

    async def drain(self) -> None:
        """Wait for the slots of closed connections to be freed, before the Redis client is closed."""
        if self.pending:
            await asyncio.gather(*self.pending, return_exceptions=True)

    async def refuse_message(self, ip: str) -> str | None:
        """Count one message from `ip` (at MAIL, so a flood is stopped before its data is sent)."""
        if await self._hit(ip, os.urandom(8).hex(), [(_key("msgrate", ip), self.messages_per_minute, 60.0)]):
            logger.info("message_refused", client_ip=ip, limit="per_minute")
            return replies.TOO_MANY_MESSAGES
        return None
