"""Wiring of the analytics service: ClickHouse and its migrations, the batching consumer and the HTTP API, started and stopped in order."""

from __future__ import annotations

import asyncio
import contextlib
import signal

from aiohttp import web

from services.analytics import migrations
from services.analytics.api import REPORTER, Schema, build_api
from services.analytics.ingest import Ingestor
from services.analytics.reports import Reporter, schedule
from services.analytics.settings import AnalyticsSettings
from services.analytics.warehouse import Warehouse, WarehouseUnavailable
from services.common import logging as log
from services.common import ready
from services.common.blobstore import FileBlobStore
from services.common.bus import KafkaPublisher
from services.common.directory import RedisDirectory
from services.common.settings import PlatformSettings
from services.common.system_mail import SystemMailer

logger = log.get(__name__)
SERVICE = "analytics"


async def open_warehouse(warehouse: Warehouse, stop: asyncio.Event, max_backoff: float) -> bool:
    """Open ClickHouse, waiting while it is down or (chDB) held by another process; False if stopped first."""
    backoff = 0.5
    while not stop.is_set():
        try:
            await warehouse.open()
            return True
        except WarehouseUnavailable as exc:
            logger.warning("warehouse_unavailable", dsn=warehouse.dsn, error=str(exc), backoff=backoff)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff)
            backoff = min(backoff * 2, max_backoff)
    return False


async def wait_first(*aws: asyncio.Future | asyncio.Task) -> None:
    await asyncio.wait(aws, return_when=asyncio.FIRST_COMPLETED)


async def serve(platform: PlatformSettings, settings: AnalyticsSettings, stop: asyncio.Event) -> None:
    warehouse = Warehouse(platform.clickhouse)
    publisher = KafkaPublisher(platform.bootstrap, "govmail-analytics", timeout=settings.publish_timeout)
    ingestor = Ingestor(platform.bootstrap, settings, warehouse, publisher)
    schema = Schema()
    # The API answers /healthz from the start; statistics and /readyz wait for the schema.
    api = build_api(ingestor, warehouse, schema)
    directory = RedisDirectory.from_url(platform.redis)
    mailer = SystemMailer(publisher, FileBlobStore.from_uri(platform.blobs), directory, "analytics")
    api[REPORTER] = Reporter(platform, settings, warehouse.call, mailer, directory)
    runner = web.AppRunner(api, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, platform.host, platform.analytics_port).start()
    logger.info("api_listening", host=platform.host, port=platform.analytics_port)
    consuming: asyncio.Task | None = None
    reporting: asyncio.Task | None = None
    try:
        if not await open_warehouse(warehouse, stop, settings.max_backoff):
            return
        done = await warehouse.call(migrations.apply)
        schema.migrated = True
        logger.info("migrations_applied", applied=[m.label for m in done], dsn=warehouse.dsn)
        await publisher.start()
        await ingestor.start()
        consuming = asyncio.create_task(ingestor.run())
        reporting = asyncio.create_task(schedule(
            api[REPORTER], stop, on_error=lambda name, exc: logger.error("report_failed", report=name,
                                                                          error=f"{type(exc).__name__}: {exc}")))
        stopped = asyncio.create_task(stop.wait())
        assigned = asyncio.create_task(ingestor.assigned.wait())
        await wait_first(consuming, stopped, assigned)
        if assigned.done():
            ready.mark_ready(platform.run_dir, SERVICE)
            logger.info("service_ready")
            await wait_first(consuming, stopped)
        for task in (stopped, assigned):
            task.cancel()
        ingestor.stopping.set()
        await consuming  # writes and commits the last batch; re-raises a crash of the consumer
    finally:
        ready.clear(platform.run_dir, SERVICE)
        for task in (consuming, reporting):
            if task is not None and not task.done():
                task.cancel()
        await runner.cleanup()
        await ingestor.stop()
        await publisher.stop()
        await warehouse.close()
        await directory.close()
        logger.info("service_stopped", records=ingestor.records, rows=ingestor.rows_inserted)


async def run(platform: PlatformSettings, settings: AnalyticsSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve(platform, settings, stop)
