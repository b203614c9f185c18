"""Wiring of the delivery service: a faust agent over mail.scanned.v1 feeding local delivery."""

from __future__ import annotations

import faust

from schemas.registry import SCANNED
from services.common import logging as log
from services.common.blobstore import FileBlobStore
from services.common.bus import KafkaPublisher
from services.common.consumer import ConsumerRunner, Record
from services.common.directory import RedisDirectory
from services.common.faust_app import make_app
from services.common.settings import PlatformSettings
from services.common.spool import Spool
from services.delivery.local import LocalDelivery
from services.delivery.settings import DeliverySettings


def build(platform: PlatformSettings, settings: DeliverySettings) -> faust.App:
    log.configure("delivery", platform.log_level)
    app = make_app("delivery", platform, web_port=platform.health_port_base + 1)
    publisher = KafkaPublisher(platform.bootstrap, "govmail-delivery", timeout=settings.publish_timeout)
    topic = app.topic(SCANNED, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")

    @app.agent(topic)
    async def deliver(stream: faust.StreamT) -> None:
        # Built inside the agent so that every client binds to the worker's event loop.
        await publisher.start()
        local = LocalDelivery(
            RedisDirectory.from_url(platform.redis),
            FileBlobStore.from_uri(platform.blobs),
            Spool(platform.spool_dir),
            publisher,
            platform.mail_root,
            platform.data,
        )
        runner = ConsumerRunner("delivery", publisher, local.handle, max_backoff=settings.max_backoff)
        async for event in stream.events():
            message = event.message
            await runner.run(Record(message.topic, message.partition, message.offset, message.key, message.value))

    return app
