"""The directory as ingress reads it: the RCPT lookup goes over the pipelined Redis connection, the rest as before."""

from __future__ import annotations

import redis.asyncio as aioredis

from services.common.directory import DOMAINS, Account, RedisDirectory, account_key, usage_key
from services.ingress.pipelined import PipelinedRedis


class IngressDirectory(RedisDirectory):
    """RedisDirectory whose `recipient` (asked on every RCPT) shares one connection with other sessions' lookups."""

    def __init__(self, client: aioredis.Redis, pipelined: PipelinedRedis):
        super().__init__(client)
        self.pipelined = pipelined

    @classmethod
    def from_url(cls, url: str) -> IngressDirectory:
        return cls(aioredis.from_url(url, decode_responses=True), PipelinedRedis.from_url(url))

    async def recipient(self, address: str) -> tuple[bool, Account | None]:
        local, fields, used = await self.pipelined.calls([
            ("SISMEMBER", DOMAINS, address.rpartition("@")[2].lower()),
            ("HGETALL", account_key(address)),
            ("GET", usage_key(address)),
        ])
        for reply in (local, fields, used):
            if isinstance(reply, Exception):
                raise reply
        if not fields:
            return bool(local), None
        account = Account.from_redis(dict(zip(fields[::2], fields[1::2], strict=True)))
        account.used_bytes = int(used or 0)
        return bool(local), account

    async def close(self) -> None:
        await self.pipelined.close()
        await super().close()
