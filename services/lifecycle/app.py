"""Wiring of the lifecycle service: Redis, the outbox drainer and the admin HTTP API, started and stopped in order."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
import redis.exceptions
from aiohttp import web

from services.common import logging as log
from services.common import ready
from services.common.settings import PlatformSettings
from services.lifecycle.api import make_app
from services.lifecycle.operations import Lifecycle
from services.lifecycle.outbox import OutboxDrainer
from services.lifecycle.settings import LifecycleSettings
from services.lifecycle.store import AccountStore

logger = log.get(__name__)

SERVICE = "lifecycle"


class LifecycleService:
    def __init__(self, platform: PlatformSettings, settings: LifecycleSettings):
        self.platform = platform
        self.settings = settings
        self.redis = aioredis.from_url(platform.redis, decode_responses=True)
        self.drainer = OutboxDrainer(
            self.redis,
            platform.bootstrap,
            publish_timeout=settings.publish_timeout_s,
            poll_interval=settings.outbox_poll_s,
            max_backoff=settings.outbox_max_backoff_s,
        )
        self.lifecycle = Lifecycle(AccountStore(self.redis), self.drainer.wake, settings.password_length)
        self._runner = web.AppRunner(make_app(self.lifecycle), access_log=None)

    @property
    def url(self) -> str:
        return f"http://{self.platform.host}:{self.platform.admin_port}"

    async def start(self) -> None:
        """Listen, then wait for Redis; ready (marker written) once both hold."""
        await self._runner.setup()
        await web.TCPSite(self._runner, self.platform.host, self.platform.admin_port).start()
        logger.info("admin_api_listening", host=self.platform.host, port=self.platform.admin_port)
        await self._wait_for_redis()
        self.drainer.start()
        ready.mark_ready(self.platform.run_dir, SERVICE)
        logger.info("service_ready")

    async def _wait_for_redis(self) -> None:
        delay = 0.1
        while True:
            try:
                await self.redis.ping()
                return
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
                logger.warning("store_connect_retry", error=str(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def stop(self) -> None:
        """Stop taking requests first, then let queued events go out, then close Redis."""
        ready.clear(self.platform.run_dir, SERVICE)
        await self._runner.cleanup()
        await self.drainer.stop(self.settings.stop_drain_s)
        await self.redis.aclose()
        logger.info("service_stopped")
