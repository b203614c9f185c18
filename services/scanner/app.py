"""Wiring of the scanner service: faust agents over mail.received.v1 (scan) and mail.feedback.v1 (keep reports)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Awaitable, Callable

import faust

from schemas.registry import FEEDBACK, RECEIVED
from services.common import logging as log
from services.common import ready
from services.common.blobstore import FileBlobStore
from services.common.bus import KafkaPublisher
from services.common.consumer import BreakerTripped, ConsumerRunner, DlqBreaker, Record
from services.common.faust_app import make_app
from services.common.settings import PlatformSettings
from services.scanner import config as scanner_config
from services.scanner import context, feedback
from services.scanner.archive import Limits
from services.scanner.budget import ByteBudget
from services.scanner.checks import bayes, clamav, virus
from services.scanner.handler import ScanHandler
from services.scanner.pipeline import Pipeline
from services.scanner.settings import ScannerSettings
from services.scanner.signatures import SignatureError

logger = log.get(__name__)

# Exit status when the DLQ breaker stopped the scanner, so that a supervisor can tell it from a
# requested stop (0).
EXIT_BREAKER = 3


def build(platform: PlatformSettings, settings: ScannerSettings) -> faust.App:
    """Raises config.ConfigError before anything connects when the configuration is unusable."""
    pipeline = Pipeline(scanner_config.load(settings.config), budget=settings.check_timeout)
    # Loaded now, not on the first message, so that message's checks keep their whole time budget.
    bayes.load()
    # The DNS resolver, Redis (the province's domains) and the phishing list of the network checks.
    scan_context = context.ScanContext.from_settings(platform, settings)
    context.use(scan_context)
    listed = scan_context.phishing.current()
    logger.info("phishing_list_loaded", path=str(scan_context.phishing.path), entries=len(listed),
                skipped=scan_context.phishing.skipped[:5])
    try:
        virus.configure(Limits(max_depth=settings.archive_max_depth, max_total=settings.archive_max_total,
                               max_ratio=settings.archive_max_ratio, max_members=settings.archive_max_files),
                        settings.signatures)
    except SignatureError as exc:
        raise scanner_config.ConfigError(str(exc)) from exc
    clamav.use(settings.clamd)
    app = make_app("scanner", platform, web_port=platform.health_port_base + 0)
    # Commit offsets once a second (broker_commit_interval) rather than after every record: at
    # hundreds of messages a second the commits cost more than the scans. What a crash leaves
    # uncommitted is scanned again, and the derived event ids make that harmless downstream.
    app.conf.broker_commit_every = settings.commit_every
    blobs = FileBlobStore.from_uri(platform.blobs)

    def new_breaker() -> DlqBreaker:
        return DlqBreaker(settings.breaker_window, settings.breaker_max_share, settings.breaker_min_count)

    async def consume(stream: faust.StreamT, name: str, breaker: DlqBreaker,
                      handler_for: Callable[[KafkaPublisher], Callable[[Record], Awaitable[None]]]) -> None:
        # Built inside the agent so that every client binds to the worker's event loop.
        publisher = KafkaPublisher(platform.bootstrap, f"govmail-{name}", timeout=settings.publish_timeout)
        await publisher.start()
        runner = ConsumerRunner(name, publisher, handler_for(publisher), breaker=breaker,
                                max_backoff=settings.max_backoff)
        try:
            async for event in stream.events():
                message = event.message
                record = Record(message.topic, message.partition, message.offset, message.key, message.value)
                try:
                    await runner.run(record)
                except BreakerTripped as exc:
                    logger.critical("breaker_tripped", topic=record.topic, partition=record.partition,
                                    offset=record.offset, error=str(exc))
                    # Keep the progress made before the trip, if the broker lets us in time.
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(app.consumer.commit(), settings.publish_timeout)
                    ready.clear(platform.run_dir, "scanner")
                    sys.stderr.flush()
                    # faust's orderly stop first waits until every record already handed to
                    # this agent is done, which here would mean dead-lettering them too. Leave
                    # at once: what was not committed is scanned again after a restart, and
                    # the derived event ids make that harmless downstream.
                    os._exit(EXIT_BREAKER)
        finally:
            await publisher.stop()

    received = app.topic(RECEIVED, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    reports = app.topic(FEEDBACK, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")

    # One breaker per topic, shared by the agent's concurrent actors: it judges the process's input.
    scan_breaker, feedback_breaker = new_breaker(), new_breaker()
    budget = ByteBudget(settings.memory_budget)  # one for the process: its actors share the memory

    # Several messages in flight: while one waits for the broker's ack of its verdict (or for
    # clamd), another is scanned. faust commits an offset only once every record before it is done.
    @app.agent(received, concurrency=settings.concurrency)
    async def scan(stream: faust.StreamT) -> None:
        logger.info("scanner_started", scanner_version=pipeline.version, check_timeout=settings.check_timeout)
        await consume(stream, "scanner", scan_breaker, lambda publisher: ScanHandler(blobs, publisher, pipeline, budget))

    @app.agent(reports)
    async def keep_feedback(stream: faust.StreamT) -> None:
        store = feedback.FeedbackStore(feedback.default_dir())
        await consume(stream, "scanner", feedback_breaker, lambda publisher: feedback.FeedbackHandler(blobs, store))

    @app.timer(interval=settings.model_refresh)
    async def newest_model() -> None:
        # `govmail scanner train` writes a new versioned file; pick it up without a restart.
        await asyncio.to_thread(bayes.refresh)

    return app
