"""The delivery runner: each scanned message (or due retry) becomes one outcome per recipient.

Local recipients are written at once; remote ones are filed as attempts the scheduler runs
beside other work. Temporary failures are retried until their deadline; permanent ones and
expired ones end in one DSN to the sender (never to a null sender).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from schemas.events import MailDelivery, MailRetry, MailScanned, derived_event_id
from schemas.registry import DELIVERY, RETRY
from services.common import logging as log
from services.common.blobstore import BlobStore
from services.common.bus import Publisher
from services.common.consumer import Record, read_blob
from services.common.directory import RedisDirectory
from services.common.metrics import DELIVERY_OUTCOMES
from services.common.spool import Spool
from services.delivery.local import LocalDelivery, Outcome
from services.delivery.notices import Notices
from services.delivery.outbound import Outbound
from services.delivery.remote import Reply
from services.delivery.reports import Failure
from services.delivery.retry import RetrySchedule, backoff
from services.delivery.settings import DeliverySettings
from services.delivery.status import StatusStore
from services.delivery.texts import text
from services.delivery.verdicts import reject_reason

logger = log.get(__name__)

# What the sender reads in a DSN for a local failure, by RFC 3463 status.
LOCAL_REASONS = {"5.1.1": "no_mailbox", "5.2.2": "mailbox_full"}


def retry_event(scanned: MailScanned, recipients: Sequence[str], attempt: int, not_before: float,
                deliver_until: float, last_error: str) -> MailRetry:
    return MailRetry(
        # The same failure of the same attempt always gives the same id: the schedule files it once.
        event_id=derived_event_id("retry", scanned.message_id or "", ",".join(sorted(recipients)), str(attempt)),
        producer="delivery",
        trace_id=scanned.trace_id,
        message_id=scanned.message_id,
        mail=scanned.mail,
        verdict=scanned.verdict,
        recipients=list(recipients),
        attempt=attempt,
        not_before=datetime.fromtimestamp(not_before, UTC),
        deliver_until=datetime.fromtimestamp(deliver_until, UTC),
        last_error=last_error,
    )


class SenderInfo:
    """Whether the sender is ours and their language, looked up only when a message needs them (failures)."""

    def __init__(self, directory: RedisDirectory, notices: Notices, mail_from: str):
        self.directory = directory
        self.notices = notices
        self.mail_from = mail_from
        self._local: bool | None = None
        self._language: str | None = None

    async def is_local(self) -> bool:
        if self._local is None:
            domain = self.mail_from.rpartition("@")[2]
            self._local = bool(self.mail_from) and await self.directory.is_local_domain(domain)
        return self._local

    async def language(self) -> str:
        if self._language is None:
            self._language = await self.notices.language_of(self.mail_from) if await self.is_local() else "en"
        return self._language


class Delivery:
    def __init__(self, directory: RedisDirectory, blobs: BlobStore, spool: Spool, publisher: Publisher,
                 status: StatusStore, schedule: RetrySchedule, local: LocalDelivery, outbound: Outbound,
                 notices: Notices, settings: DeliverySettings):
        self.directory = directory
        self.blobs = blobs
        self.spool = spool
        self.publisher = publisher
        self.status = status
        self.schedule = schedule
        self.local = local
        self.outbound = outbound
        self.notices = notices
        self.settings = settings

    async def handle_scanned(self, record: Record) -> None:
        scanned = MailScanned.model_validate_json(record.value or b"")
        mail = scanned.mail
        raw = await asyncio.to_thread(read_blob, self.blobs, mail.blob)
        deliver_until = mail.received_at.timestamp() + self.settings.deliver_until
        await self.process(scanned, raw, mail.rcpt_to, 1, deliver_until, scheduled=False)

    async def handle_retry(self, record: Record) -> None:
        """The retry topic's consumer: file the attempt for its time; the scheduler runs it."""
        event = MailRetry.model_validate_json(record.value or b"")
        if await self.schedule.add(event):
            logger.info("retry_filed", message_id=event.message_id, attempt=event.attempt,
                        not_before=event.not_before.isoformat(), recipients=event.recipients)

    async def run_attempt(self, event: MailRetry) -> None:
        scanned = MailScanned(event_id=event.event_id, producer="delivery", trace_id=event.trace_id,
                              message_id=event.message_id, mail=event.mail, verdict=event.verdict)
        raw = await asyncio.to_thread(read_blob, self.blobs, event.mail.blob)
        await self.process(scanned, raw, event.recipients, event.attempt, event.deliver_until.timestamp(),
                           scheduled=True)
        await self.schedule.done(event)

    async def process(self, scanned: MailScanned, raw: bytes, recipients: Sequence[str], attempt: int,
                      deliver_until: float, scheduled: bool) -> None:
        message_id = scanned.message_id or ""
        mail = scanned.mail
        failures: list[Failure] = []
        finished: list[str] = []
        remote: list[str] = []
        sender = SenderInfo(self.directory, self.notices, mail.mail_from)
        # What every recipient needs from Redis, in one round trip: it is most of delivery's cost.
        async with self.directory.redis.pipeline(transaction=False) as pipe:
            if not scheduled:
                self.status.queue_message(pipe, message_id, mail.mail_from, mail.subject, mail.header_message_id,
                                          mail.received_at.timestamp())
            read_waiting = self.schedule.queue_waiting(pipe, message_id)
            read_recipients = [self.directory.queue_recipient(pipe, recipient) for recipient in recipients]
            replies = await pipe.execute()
        waiting = set() if scheduled else read_waiting(replies)
        for recipient, read_recipient in zip(recipients, read_recipients, strict=True):
            if recipient.lower() in waiting:
                # A republished copy of mail already waiting for its retry: the retry will deliver it.
                await asyncio.to_thread(self.spool.touch, message_id)
                continue
            is_local, account = read_recipient(replies)
            if scanned.verdict.action == "reject" or (not is_local and scanned.verdict.action == "quarantine"):
                # Refused mail is not sent on; only local senders hear why (no backscatter to forged ones).
                status, reason = reject_reason(scanned.verdict, await sender.language())
                await self.record(scanned, recipient, Outcome("rejected", reason, status), attempt, not is_local)
                finished.append(recipient)
                if await sender.is_local():
                    failures.append(Failure(recipient, status, reason))
                continue
            if not is_local:
                remote.append(recipient)
                continue
            quota_until = mail.received_at.timestamp() + self.settings.quota_defer
            outcome = await self.local.deliver(scanned, raw, recipient, account, may_defer=time.time() < quota_until)
            if outcome.status == "deferred":
                await self.publisher.publish(RETRY, retry_event(
                    scanned, [recipient], attempt + 1, time.time() + self.settings.quota_retry, quota_until,
                    "452 4.2.2 mailbox full"))
            await self.record(scanned, recipient, outcome, attempt, False)
            if outcome.final:
                finished.append(recipient)
            if outcome.status == "bounced":
                reason = LOCAL_REASONS.get(outcome.enhanced_status, "no_mailbox")
                failures.append(Failure(recipient, outcome.enhanced_status, text(reason, await sender.language())))
        if remote and scheduled:
            failures += await self.send_remote(scanned, raw, remote, attempt, deliver_until, await sender.language(),
                                               finished)
        elif remote:
            await self.schedule.add(retry_event(scanned, remote, 1, time.time(), deliver_until, ""))
            for recipient in remote:
                await self.status.set(message_id, recipient, "queued", "", remote=True)
        if failures:
            key = f"{message_id}|{attempt}|{','.join(sorted(f.recipient for f in failures))}"
            await self.notices.bounce(scanned, raw, failures, key)
        # Only now, with every outcome published and the bounce queued, may the spool forget them.
        for recipient in finished:
            await asyncio.to_thread(self.spool.finish, message_id, recipient)
        if len(finished) < len(recipients):
            await asyncio.to_thread(self.spool.touch, message_id)

    async def send_remote(self, scanned: MailScanned, raw: bytes, recipients: Sequence[str], attempt: int,
                          deliver_until: float, language: str, finished: list[str]) -> list[Failure]:
        replies = await self.outbound.attempt(scanned, raw, recipients)
        failures: list[Failure] = []
        deferred: dict[str, Reply] = {}
        wait = backoff(attempt, self.settings.retry_first, self.settings.retry_max)
        for recipient, reply in replies.items():
            if reply.accepted:
                outcome = Outcome("delivered", str(reply), reply.enhanced)
            elif reply.permanent:
                outcome = Outcome("bounced", str(reply), reply.enhanced)
                failures.append(Failure(recipient, reply.enhanced, text("remote_refused", language), str(reply),
                                        reply.remote_mta))
            elif time.time() + wait < deliver_until:
                outcome = Outcome("deferred", str(reply), reply.enhanced, final=False)
                deferred[recipient] = reply
            else:
                outcome = Outcome("bounced", f"deadline passed; last reply: {reply}", "4.4.7")
                failures.append(Failure(recipient, "4.4.7", text("expired", language, reply=str(reply)), str(reply),
                                        reply.remote_mta))
            await self.record(scanned, recipient, outcome, attempt, True)
            if outcome.final:
                finished.append(recipient)
            logger.info("remote_outcome", message_id=scanned.message_id, recipient=recipient, status=outcome.status,
                        reply=str(reply), attempt=attempt)
        if deferred:
            last = str(next(iter(deferred.values())))
            await self.publisher.publish(RETRY, retry_event(scanned, list(deferred), attempt + 1, time.time() + wait,
                                                            deliver_until, last))
        return failures

    async def record(self, scanned: MailScanned, recipient: str, outcome: Outcome, attempt: int,
                     remote: bool) -> None:
        """Publish the recipient's outcome and keep it as the sender's delivery status."""
        status = outcome.status
        event = MailDelivery(
            # The same message, recipient, outcome and attempt always yield the same id: a replay counts once.
            event_id=derived_event_id("delivery", scanned.message_id or "", recipient.lower(), status, str(attempt)),
            producer="delivery",
            trace_id=scanned.trace_id,
            message_id=scanned.message_id,
            recipient=recipient,
            recipient_domain=recipient.rpartition("@")[2].lower(),
            recipient_unit=(outcome.account.unit or None) if outcome.account else None,
            mail_from=scanned.mail.mail_from,
            sender_unit=scanned.mail.sender_unit,
            direction=scanned.mail.direction,
            # A copy recalled before it arrived is dropped, as far as the bus's statuses go.
            status="dropped" if status == "recalled" else status,
            final=outcome.final,
            detail=outcome.detail,
            enhanced_status=outcome.enhanced_status,
            attempt=attempt,
            size=scanned.mail.size,
            action=scanned.verdict.action,
            score=scanned.verdict.score,
            symbols=[s.name for s in scanned.verdict.symbols],
        )
        await self.publisher.publish(DELIVERY, event)
        DELIVERY_OUTCOMES.labels(outcome=event.status, route="remote" if remote else "local").inc()
        await self.status.set(scanned.message_id or "", recipient, status, outcome.detail, remote=remote)
