"""The directory as ingress reads it: the RCPT lookup goes over the pipelined Redis connection, the rest as before."""

from __future__ import annotations

import redis.asyncio as aioredis

from services.common.directory import Account, RedisDirectory, recipient_commands, recipient_from
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
        local, fields, used = await self.pipelined.calls(recipient_commands(address))
        for reply in (local, fields, used):
            if isinstance(reply, Exception):
                raise reply
        # This connection gives HGETALL's reply as a flat list of field, value.
        return recipient_from(local, dict(zip(fields[::2], fields[1::2], strict=True)), used)

    async def close(self) -> None:
        await self.pipelined.close()
        await super().close()
