"""Faust app factory with the settings the embedded broker (Tansu) needs, plus /healthz, /readyz and /metrics."""

from __future__ import annotations

import faust
from aiohttp import web
from faust.transport.drivers import aiokafka as faust_aiokafka

from services.common import ready
from services.common.bus import FETCH_MAX_WAIT_MS
from services.common.metrics import CONSUMER_LAG, CONTENT_TYPE, REGISTRY
from services.common.settings import PlatformSettings


def _short_fetch_wait() -> None:
    """faust hard-codes a 1,500 ms fetch wait for its consumers; on Tansu that is added to every hop
    (bus.FETCH_MAX_WAIT_MS says why), so the consumer it creates gets ours before it starts."""
    thread = faust_aiokafka.AIOKafkaConsumerThread
    if getattr(thread, "_govmail_short_wait", False):
        return
    create = thread._create_worker_consumer

    def create_worker_consumer(self: faust_aiokafka.AIOKafkaConsumerThread, transport: object) -> object:
        consumer = create(self, transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read by AIOKafkaConsumer.start() to build its fetcher
        return consumer

    thread._create_worker_consumer = create_worker_consumer  # type: ignore[method-assign]
    thread._govmail_short_wait = True  # type: ignore[attr-defined]


def make_app(service: str, settings: PlatformSettings, web_port: int) -> faust.App:
    _short_fetch_wait()
    datadir = settings.run_dir / "faust" / service
    datadir.parent.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        f"govmail-{service}",
        broker=f"kafka://{settings.bootstrap}",
        store="memory://",
        datadir=str(datadir),
        # Tansu reports wrong end offsets when a batch holds several records.
        producer_max_batch_size=1,
        producer_acks=-1,
        # Group join takes about half the session timeout on Tansu; faust's 60 s default is too slow.
        broker_session_timeout=6.0,
        broker_heartbeat_interval=1.0,
        broker_rebalance_timeout=12.0,
        broker_commit_every=1,
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        # Topics come from the schemas/ registry (created by 'govmail up' or the k8s Job), not from faust.
        topic_allow_declare=False,
        topic_disable_leader=True,
        web_enabled=True,
        web_bind=settings.host,
        web_port=web_port,
        web_in_thread=False,
    )

    @app.page("/healthz")
    async def healthz(self, request: web.Request) -> web.Response:
        return self.json({"status": "ok", "service": service})

    @app.page("/readyz")
    async def readyz(self, request: web.Request) -> web.Response:
        assigned = bool(app.consumer.assignment()) if app.consumer else False
        return self.json({"ready": assigned}, status=200 if assigned else 503)

    @app.page("/metrics")
    async def metrics(self, request: web.Request) -> web.Response:
        return self.bytes(REGISTRY.exposition().encode("utf-8"), headers={"Content-Type": CONTENT_TYPE})

    @app.on_rebalance_complete.connect
    async def on_rebalance_complete(sender: faust.App, **kwargs: object) -> None:
        assignment = app.consumer.assignment()
        if assignment:
            ready.mark_ready(settings.run_dir, service)
        for tp in assignment:
            # Approximate on Tansu, whose end offsets are wrong for multi-record batches; right on Kafka.
            CONSUMER_LAG.labels(service=service, topic=tp.topic, partition=str(tp.partition)).set_function(
                lambda tp=tp: max(0, (app.consumer.highwater(tp) or 0) - (app.consumer._committed_offset.get(tp) or 0))
            )

    return app
