"""Wiring of the lifecycle service: Redis, the outbox drainer, the login recorder, the timed jobs and the admin HTTP API."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import redis.asyncio as aioredis
import redis.exceptions
from aiohttp import web

from schemas.events import utcnow
from services.common import logging as log
from services.common import ready
from services.common.settings import PlatformSettings
from services.lifecycle.activity import LoginRecorder
from services.lifecycle.admins import SYSTEM
from services.lifecycle.api import make_app
from services.lifecycle.contract import token_file
from services.lifecycle.outbox import OutboxDrainer
from services.lifecycle.services import Services
from services.lifecycle.settings import LifecycleSettings

logger = log.get(__name__)

SERVICE = "lifecycle"


class LifecycleService:
    def __init__(self, platform: PlatformSettings, settings: LifecycleSettings, start_jobs: bool = True,
                 clock: Callable[[], datetime] = utcnow):
        self.platform = platform
        self.settings = settings
        self.start_jobs = start_jobs  # tests run the jobs by hand, with their own clock
        self.redis = aioredis.from_url(platform.redis, decode_responses=True)
        self.drainer = OutboxDrainer(
            self.redis,
            platform.bootstrap,
            publish_timeout=settings.publish_timeout_s,
            poll_interval=settings.outbox_poll_s,
            max_backoff=settings.outbox_max_backoff_s,
        )
        self.services = Services(
            self.redis, settings, mail_root=platform.mail_root,
            export_dir=Path(settings.export_dir) if settings.export_dir else platform.data / "exports",
            blobs_uri=platform.blobs, notify=self.drainer.wake, clock=clock,
        )
        self.lifecycle = self.services.core
        self.logins = LoginRecorder(self.redis, platform.bootstrap)
        self._runner = web.AppRunner(make_app(self.services), access_log=None)

    @property
    def url(self) -> str:
        return f"http://{self.platform.host}:{self.platform.admin_port}"

    @property
    def token_path(self) -> Path:
        return token_file(self.platform.data)

    async def start(self) -> None:
        """Listen, then wait for Redis; ready (marker written) once both hold and the bootstrap admin exists."""
        await self._runner.setup()
        await web.TCPSite(self._runner, self.platform.host, self.platform.admin_port).start()
        logger.info("admin_api_listening", host=self.platform.host, port=self.platform.admin_port)
        await self._wait_for_redis()
        await self.services.admins.bootstrap(self.settings.bootstrap_admin, self.settings.bootstrap_token,
                                             self.token_path, self.lifecycle.now())
        self.drainer.start()
        if self.settings.record_logins:
            self.logins.start()
        if self.start_jobs:
            self.services.start_jobs(SYSTEM)
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
        """Stop taking requests first, then the background tasks, then let queued events go out, then close Redis."""
        ready.clear(self.platform.run_dir, SERVICE)
        await self._runner.cleanup()
        await self.services.stop_jobs()
        await self.logins.stop()
        await self.drainer.stop(self.settings.stop_drain_s)
        await self.redis.aclose()
        logger.info("service_stopped")
