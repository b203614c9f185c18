"""Local delivery of one scanned message: per recipient, the verdict decides inbox, junk, quarantine or refusal."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from pathlib import Path

from schemas.events import MailDelivery, MailScanned, derived_event_id
from schemas.registry import DELIVERY
from services.common import logging as log
from services.common.blobstore import BlobStore
from services.common.bus import Publisher
from services.common.consumer import Record, read_blob
from services.common.directory import Directory
from services.common.spool import Spool
from services.delivery import maildir, quarantine

logger = log.get(__name__)


def delivery_key(message_id: str, recipient: str) -> str:
    return hashlib.sha256(f"{message_id}\0{recipient.lower()}".encode()).hexdigest()


def delivery_headers(scanned: MailScanned, recipient: str) -> bytes:
    """Headers a final MTA prepends: where it bounces to, who it was for, and the scanner's word."""
    verdict = scanned.verdict
    symbols = ",".join(s.name for s in verdict.symbols) or "none"
    lines = [
        f"Return-Path: <{scanned.mail.mail_from}>",
        f"Delivered-To: {recipient}",
        f"X-Govmail-Scan: action={verdict.action} score={verdict.score:.2f} required={verdict.required_score:.2f}"
        f" symbols={symbols}",
    ]
    if verdict.action == "add_header":
        lines.append("X-Spam-Flag: YES")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


@dataclass
class Outcome:
    status: str
    detail: str
    enhanced_status: str


class LocalDelivery:
    """Turns a MailScanned event into one final outcome per local recipient."""

    def __init__(self, directory: Directory, blobs: BlobStore, spool: Spool, publisher: Publisher,
                 mail_root: Path, data_dir: Path):
        self.directory = directory
        self.blobs = blobs
        self.spool = spool
        self.publisher = publisher
        self.mail_root = mail_root
        self.data_dir = data_dir

    async def handle(self, record: Record) -> None:
        scanned = MailScanned.model_validate_json(record.value or b"")
        raw = await asyncio.to_thread(read_blob, self.blobs, scanned.mail.blob)
        for recipient in scanned.mail.rcpt_to:
            await self.deliver_one(scanned, recipient, raw)

    async def deliver_one(self, scanned: MailScanned, recipient: str, raw: bytes) -> None:
        account = await self.directory.account(recipient)
        key = delivery_key(scanned.message_id or "", recipient)
        action = scanned.verdict.action
        if account is None or account.status == "deleted":
            outcome = Outcome("bounced", "mailbox no longer exists", "5.1.1")
        elif action == "reject":
            # Already accepted with 250, so refusing now means not delivering; bounces to local
            # senders come with the delivery issue (no backscatter to forged outside senders).
            outcome = Outcome("rejected", "refused by the scanner", "5.7.1")
        elif action == "quarantine":
            await asyncio.to_thread(quarantine.hold, self.data_dir, recipient, key, raw, scanned.verdict)
            outcome = Outcome("quarantined", "held in the recipient's quarantine", "2.0.0")
        else:
            folder = "Junk" if action == "add_header" else "INBOX"
            data = delivery_headers(scanned, recipient) + raw
            mailbox = maildir.mailbox_root(self.mail_root, recipient)
            result = await asyncio.to_thread(maildir.deliver, mailbox, key, data, folder)
            outcome = Outcome("delivered", f"{folder}{' (already delivered)' if result.duplicate else ''}", "2.0.0")
            logger.info("mail_delivered", message_id=scanned.message_id, recipient=recipient, folder=folder,
                        duplicate=result.duplicate)
        await self.publish(scanned, recipient, account.unit if account else None, outcome)
        await asyncio.to_thread(self.spool.finish, scanned.message_id or "", recipient)

    async def publish(self, scanned: MailScanned, recipient: str, unit: str | None, outcome: Outcome) -> None:
        event = MailDelivery(
            # The same message and recipient always yield the same id: a replay is counted once.
            event_id=derived_event_id("delivery", scanned.message_id or "", recipient.lower(), outcome.status, "1"),
            producer="delivery",
            trace_id=scanned.trace_id,
            message_id=scanned.message_id,
            recipient=recipient,
            recipient_domain=recipient.rpartition("@")[2].lower(),
            recipient_unit=unit or None,
            mail_from=scanned.mail.mail_from,
            sender_unit=scanned.mail.sender_unit,
            direction=scanned.mail.direction,
            status=outcome.status,
            final=True,
            detail=outcome.detail,
            enhanced_status=outcome.enhanced_status,
            attempt=1,
            size=scanned.mail.size,
            action=scanned.verdict.action,
            score=scanned.verdict.score,
            symbols=[s.name for s in scanned.verdict.symbols],
        )
        await self.publisher.publish(DELIVERY, event)
