"""Brute-force guard for SMTP AUTH (R21): failures counted per username and per IP in Redis, then a lock."""

from __future__ import annotations

import os
import time
from typing import Literal

import redis.asyncio as aioredis

Verdict = Literal["failure", "lockout"]


def _fail_key(kind: str, value: str) -> str:
    return f"gm:authfail:{kind}:{value.lower()}"


def _lock_key(kind: str, value: str) -> str:
    return f"gm:authlock:{kind}:{value.lower()}"


class AuthGuard:
    """Sliding-window failure counts in sorted sets, so the limits hold across ingress replicas."""

    def __init__(self, client: aioredis.Redis, window: float, max_per_user: int, max_per_ip: int,
                 lock_seconds: float):
        self.redis = client
        self.window = window
        self.max_per = {"user": max_per_user, "ip": max_per_ip}
        self.lock_ms = int(lock_seconds * 1000)

    async def locked(self, username: str, ip: str) -> bool:
        return bool(await self.redis.exists(_lock_key("user", username), _lock_key("ip", ip)))

    async def failed(self, username: str, ip: str) -> Verdict:
        """Count one failure; 'lockout' when it pushed the username or the IP over its threshold."""
        now = time.time()
        member = f"{now:.6f}:{os.urandom(4).hex()}"
        verdict: Verdict = "failure"
        for kind, value in (("user", username), ("ip", ip)):
            key = _fail_key(kind, value)
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.zadd(key, {member: now})
                pipe.zremrangebyscore(key, 0, now - self.window)
                pipe.zcard(key)
                pipe.expire(key, int(self.window) + 1)
                count = (await pipe.execute())[2]
            if count >= self.max_per[kind]:
                # nx: a lock in force is not prolonged by further tries, so it ends at a predictable time.
                if await self.redis.set(_lock_key(kind, value), "1", px=self.lock_ms, nx=True):
                    verdict = "lockout"
                await self.redis.delete(key)
        return verdict

    async def succeeded(self, username: str) -> None:
        # The rightful owner's success wipes the username's slate; the IP's count stays (one IP, many users).
        await self.redis.delete(_fail_key("user", username))
