"""Wiring of the delivery service: faust agents over mail.scanned.v1, mail.retry.v1 and mailbox.activity.v1,
the retry scheduler, and the HTTP API, sharing one runtime."""

from __future__ import annotations

import asyncio

import faust
from aiohttp import web

from schemas.registry import ACTIVITY, RETRY, SCANNED
from services.common import internal_auth
from services.common import logging as log
from services.common.bus import KafkaPublisher
from services.common.consumer import ConsumerRunner, Record
from services.common.faust_app import make_app
from services.common.settings import PlatformSettings
from services.delivery.api import make_api
from services.delivery.runtime import Runtime, build_runtime, run_scheduled
from services.delivery.settings import DeliverySettings

logger = log.get(__name__)


def build(platform: PlatformSettings, settings: DeliverySettings) -> faust.App:
    log.configure("delivery", platform.log_level)
    app = make_app("delivery", platform, web_port=platform.health_port_base + 1)
    app.conf.broker_commit_every = settings.commit_every
    publisher = KafkaPublisher(platform.bootstrap, "govmail-delivery", timeout=settings.publish_timeout)
    built: list[Runtime] = []
    lock = asyncio.Lock()

    async def runtime() -> Runtime:
        # Built on first use inside the worker, so that every client binds to the worker's event loop.
        async with lock:
            if not built:
                await publisher.start()
                built.append(build_runtime(platform, settings, publisher))
            return built[0]

    def topic(name: str) -> faust.TopicT:
        return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")

    async def consume(stream: faust.StreamT, name: str, handler_of) -> None:
        rt = await runtime()
        runner = ConsumerRunner(name, publisher, handler_of(rt), settings.breaker(), settings.max_backoff)
        async for event in stream.events():
            m = event.message
            await runner.run(Record(m.topic, m.partition, m.offset, m.key, m.value))

    @app.agent(topic(SCANNED), concurrency=settings.concurrency)
    async def deliver(stream: faust.StreamT) -> None:
        await consume(stream, "delivery", lambda rt: rt.delivery.handle_scanned)

    @app.agent(topic(RETRY))
    async def retries(stream: faust.StreamT) -> None:
        await consume(stream, "delivery-retry", lambda rt: rt.delivery.handle_retry)

    @app.agent(topic(ACTIVITY))
    async def activity(stream: faust.StreamT) -> None:
        await consume(stream, "delivery-activity", lambda rt: rt.activity.handle)

    @app.task
    async def background() -> None:
        rt = await runtime()
        site_runner = web.AppRunner(make_api(rt.actions, internal_auth.internal_token(platform)), access_log=None)
        await site_runner.setup()
        await web.TCPSite(site_runner, platform.host, platform.delivery_port).start()
        logger.info("api_listening", host=platform.host, port=platform.delivery_port)
        try:
            await run_scheduled(rt)
        finally:
            await site_runner.cleanup()

    return app
