"""Handles one record of mail.received.v1: read the message from the blob store, scan it, publish the verdict."""

from __future__ import annotations

import functools

from schemas.events import AdminAudit, MailReceived, MailScanned, Verdict, derived_event_id
from schemas.registry import AUDIT, SCANNED
from services.common import logging as log
from services.common.blobstore import BlobStore
from services.common.bus import Publisher
from services.common.consumer import PermanentError, Record, read_blob
from services.common.metrics import VERDICTS
from services.scanner.budget import ByteBudget
from services.scanner.checks.classified import SYMBOL as CLASSIFIED
from services.scanner.pipeline import Pipeline

logger = log.get(__name__)


class ScanHandler:
    def __init__(self, blobs: BlobStore, publisher: Publisher, pipeline: Pipeline, budget: ByteBudget):
        self.blobs = blobs
        self.publisher = publisher
        self.pipeline = pipeline
        self.budget = budget  # shared by the process's handlers: their messages share its memory

    async def __call__(self, record: Record) -> None:
        received = MailReceived.model_validate_json(record.value)  # type: ignore[arg-type]  # None → invalid
        if not received.message_id:
            raise PermanentError("invalid_payload", "MailReceived without message_id")
        async with self.budget.hold(received.mail.size):
            # Read in the pipeline's worker thread, with the parse and the checks: one thread hop.
            verdict = await self.pipeline.scan(functools.partial(read_blob, self.blobs, received.mail.blob),
                                               received.mail)
        scanned = MailScanned(
            # Derived from the input so that scanning the same event again yields the same event.
            event_id=derived_event_id("scanned", received.event_id),
            producer="scanner",
            trace_id=received.trace_id,
            message_id=received.message_id,
            mail=received.mail,
            verdict=verdict,
        )
        classified = next((s for s in verdict.symbols if s.name == CLASSIFIED), None)
        if classified is not None:
            # Audited before the verdict goes out: a retry publishes the same event id again.
            await self.publisher.publish(AUDIT, classified_audit(received, verdict, classified.options))
        await self.publisher.publish(SCANNED, scanned)
        VERDICTS.labels(action=verdict.action).inc()
        logger.info(
            "mail_scanned",
            message_id=received.message_id,
            event_id=scanned.event_id,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            action=verdict.action,
            score=verdict.score,
            symbols=[s.name for s in verdict.symbols],
        )


def classified_audit(received: MailReceived, verdict: Verdict, markings: list[str]) -> AdminAudit:
    """The audit record of a message refused for a secrecy marking (R26): who sent what, marked how."""
    return AdminAudit(
        event_id=derived_event_id("audit-classified", received.event_id),
        producer="scanner",
        trace_id=received.trace_id,
        message_id=received.message_id,
        admin="scanner",
        action="classified_rejected",
        target=received.mail.mail_from,
        details={
            "message_id": received.message_id,
            "header_message_id": received.mail.header_message_id,
            "subject": received.mail.subject,
            "markings": markings,
            "verdict_action": verdict.action,
        },
    )
