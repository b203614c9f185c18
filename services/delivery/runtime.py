"""Everything the delivery service needs, built once on the worker's event loop, and its background loop."""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from dataclasses import dataclass

import redis.asyncio as aioredis

from schemas.events import MailRetry
from schemas.registry import RETRY
from services.common import logging as log
from services.common.blobstore import FileBlobStore
from services.common.bus import KafkaPublisher
from services.common.cancelled import raise_if_cancelled
from services.common.consumer import BreakerTripped, ConsumerRunner, Record
from services.common.directory import RedisDirectory
from services.common.dns import make_resolver
from services.common.settings import PlatformSettings
from services.common.spool import Spool
from services.common.system_mail import SystemMailer
from services.delivery.actions import Actions
from services.delivery.activity import Activity
from services.delivery.copies import CopyStates
from services.delivery.dkim_keys import Signer, load_keys
from services.delivery.local import LocalDelivery
from services.delivery.mailboxes import Mailboxes
from services.delivery.notices import Notices
from services.delivery.outbound import Outbound
from services.delivery.remote import Destinations
from services.delivery.retry import RetrySchedule
from services.delivery.router import Delivery
from services.delivery.settings import DeliverySettings
from services.delivery.status import StatusStore

logger = log.get(__name__)


@dataclass
class Runtime:
    redis: aioredis.Redis
    publisher: KafkaPublisher
    delivery: Delivery
    activity: Activity
    actions: Actions
    schedule: RetrySchedule
    destinations: Destinations
    settings: DeliverySettings

    async def close(self) -> None:
        await self.destinations.close()
        await self.redis.aclose()


def build_runtime(platform: PlatformSettings, settings: DeliverySettings, publisher: KafkaPublisher) -> Runtime:
    client = aioredis.from_url(platform.redis, decode_responses=True)
    directory = RedisDirectory(client)
    blobs = FileBlobStore.from_uri(platform.blobs)
    notices = Notices(SystemMailer(publisher, blobs, directory, producer="delivery"), directory, client,
                      platform.local_hostname)
    copy_states = CopyStates(client, settings.status_ttl)
    status = StatusStore(client, settings.status_ttl)
    mailboxes = Mailboxes(platform.mail_root)
    local = LocalDelivery(directory, mailboxes, copy_states, notices, platform.data, settings.burn_after)
    destinations = Destinations(make_resolver(platform.dns_resolver), settings.remote_smtp_port,
                                platform.local_hostname, settings.smtp_timeout, settings.connection_idle)
    outbound = Outbound(destinations, Signer(load_keys(settings.dkim_keys)), client)
    schedule = RetrySchedule(client)
    delivery = Delivery(directory, blobs, Spool(platform.spool_dir), publisher, status, schedule, local, outbound,
                        notices, settings)
    activity = Activity(copy_states, mailboxes, status, notices, publisher)
    actions = Actions(directory, status, copy_states, mailboxes, notices, publisher, platform.data)
    return Runtime(client, publisher, delivery, activity, actions, schedule, destinations, settings)


async def run_scheduled(runtime: Runtime, concurrency: int = 16) -> None:
    """Run due attempts (each in its own task, so a slow destination holds up nobody else), burn
    unopened burn-after-reading copies, and close idle connections; forever."""
    runner = ConsumerRunner("delivery-retry", runtime.publisher, lambda r: attempt(runtime, r),
                            runtime.settings.breaker(), runtime.settings.max_backoff)
    slots = asyncio.Semaphore(concurrency)
    running: set[asyncio.Task] = set()

    async def one(event: MailRetry) -> None:
        async with slots:
            # Through the consumer paths: a temporary fault is retried, a broken input dead-lettered.
            value = event.model_dump_json().encode()
            try:
                await runner.run(Record(RETRY, -1, zlib.crc32(event.event_id.encode()), None, value))
            except BreakerTripped:
                # Too many attempts dead-lettered lately: leave this one leased (it comes back) and say so.
                logger.error("retry_breaker_tripped", message_id=event.message_id, event_id=event.event_id)
                return
            await runtime.schedule.done(event)

    try:
        while True:
            raise_if_cancelled()  # a cancel that aiosmtplib swallowed (polite_quit in close_idle) still stops the loop
            try:
                for event in await runtime.schedule.claim_due():
                    task = asyncio.create_task(one(event))
                    running.add(task)
                    task.add_done_callback(running.discard)
                await runtime.activity.burn_unopened()
                await runtime.destinations.close_idle()
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis down and the like: the loop must outlive it
                logger.exception("scheduler_error")
            runtime.schedule.wakeup.clear()
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(runtime.settings.sweep_interval):
                    await runtime.schedule.wakeup.wait()
    finally:
        for task in running:
            task.cancel()  # leased attempts come back when their lease ends


async def attempt(runtime: Runtime, record: Record) -> None:
    await runtime.delivery.run_attempt(MailRetry.model_validate_json(record.value or b""))
