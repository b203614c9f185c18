"""The aiosmtpd handler: recipient policy at RCPT, and at the end of DATA store → spool → publish → only then 250."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime
from typing import Any

import redis.exceptions
from aiosmtpd.smtp import SMTP, Envelope, Session

from schemas.events import MailInfo, MailReceived
from schemas.registry import RECEIVED
from services.common import logging as log
from services.common.blobstore import StreamingBlobStore
from services.common.bus import Publisher, PublishError
from services.common.directory import Directory
from services.common.durable import GroupSync
from services.common.spool import Spool
from services.ingress import replies
from services.ingress.ratelimit import ClientLimits
from services.ingress.received import received_header, summary
from services.ingress.streaming import Draft, DraftEnvelope

logger = log.get(__name__)


def new_message_id() -> str:
    """Queue id that sorts by arrival time: 13 hex digits of milliseconds plus 8 random hex digits."""
    return f"{int(time.time() * 1000):013x}{os.urandom(4).hex()}"


def peer_ip(session: Session) -> str:
    return session.peer[0] if isinstance(session.peer, tuple) else str(session.peer or "")


def declared_size(mail_options: list[str]) -> int:
    """The SIZE= the client declared at MAIL (RFC 1870), or 0."""
    for option in mail_options:
        name, _, value = option.partition("=")
        if name.upper() == "SIZE" and value.isdigit():
            return int(value)
    return 0


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


class IngressHandler:
    """Decides per recipient, then makes accepted mail durable before saying so."""

    # Set by the wiring: per-IP limits apply on MX only (a whole office behind one NAT address submits).
    limits: ClientLimits | None = None
    max_recipients = 100
    # Recipient over quota: 452 4.2.2 (the sender retries, the owner may free space) or 552 5.2.2.
    over_quota_permanent = False

    def __init__(self, directory: Directory, blobs: StreamingBlobStore, spool: Spool, publisher: Publisher,
                 hostname: str, listener: str = "mx"):
        self.directory = directory
        self.blobs = blobs
        self.spool = spool
        self.publisher = publisher
        self.hostname = hostname
        self.listener = listener
        self.in_flight = 0
        self.idle = asyncio.Event()
        self.idle.set()
        self.closing = False
        # Set by the app: blob and spool entry are then written unsynced and made durable together
        # with other sessions' by one syncfs (group commit); None means an fsync per file.
        self.group_sync: GroupSync | None = None

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        # aiosmtpd reads pipelined commands in order and speaks enhanced status codes, but advertises neither.
        return [*responses[:-1], "250-PIPELINING", "250-ENHANCEDSTATUSCODES", responses[-1]]

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          mail_options: list[str]) -> str:
        if self.closing:
            return replies.SHUTTING_DOWN
        if self.limits is not None:
            refusal = await self.limits.refuse_message(peer_ip(session))
            if refusal:
                return refusal
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return replies.MAIL_OK

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return replies.TOO_MANY_RECIPIENTS
        if "@" not in address or address.startswith("@") or address.endswith("@"):
            return replies.BAD_ADDRESS.format(address=address)
        try:
            refusal = await self.refuse_recipient(address, envelope)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            logger.warning("directory_unavailable", error=str(exc))
            return replies.DIRECTORY_DOWN
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return replies.RCPT_OK

    async def refuse_recipient(self, address: str, envelope: Envelope) -> str | None:
        """The reply refusing `address`, or None when it may receive mail here."""
        domain = domain_of(address)
        local, account = await self.directory.recipient(address)
        if not local:
            return self.foreign_domain(domain, envelope)
        if account is None or account.status == "deleted":
            return replies.USER_UNKNOWN.format(address=address)
        if account.status == "locked":
            return replies.MAILBOX_DISABLED.format(address=address)
        limits = await self.directory.service_class(account.service_class)
        if account.used_bytes >= limits.quota_bytes:
            over = replies.OVER_QUOTA_PERMANENT if self.over_quota_permanent else replies.OVER_QUOTA_TEMPORARY
            return over.format(address=address)
        declared = declared_size(envelope.mail_options)
        if declared > limits.max_message_bytes:
            return replies.DECLARED_TOO_BIG.format(size=declared, limit=limits.max_message_bytes, address=address)
        envelope.size_limits[address] = limits.max_message_bytes
        return None

    def foreign_domain(self, domain: str, envelope: Envelope) -> str | None:
        """The reply to a recipient in a domain that is not ours, or None to accept it."""
        # MX takes no AUTH, so mail for a foreign domain would make us an open relay.
        return replies.RELAY_DENIED.format(domain=domain)

    async def refuse_content(self, session: Session, envelope: Envelope, headers: dict[str, str]) -> str | None:
        """A listener's check of the message itself at the end of DATA, given its start (the header block).

        MX has none."""
        return None

    async def origin(self, session: Session, envelope: Envelope) -> dict[str, Any]:
        """Who sent the message, as MailInfo fields; mail on MX comes from the world."""
        return {"authenticated_as": None, "sender_unit": None, "direction": "inbound"}

    def open_message(self, session: Session, envelope: Envelope) -> Draft:
        """At DATA start: the queue id, and the blob begun with the Received header as its first lines."""
        message_id = new_message_id()
        trace = received_header(session.host_name or "", peer_ip(session), self.hostname, message_id,
                                list(envelope.rcpt_tos), envelope.smtp_utf8, tls=session.ssl is not None,
                                authenticated=bool(session.authenticated))
        return Draft(message_id, self.blobs.writer(), trace)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        draft = getattr(envelope, "draft", None)
        if draft is None:
            raise TypeError("ingress needs the streaming SMTP class (services.ingress.streaming.StreamingSMTP)")
        self.in_flight += 1
        self.idle.clear()
        try:
            return await self._accept(session, envelope, draft)
        finally:
            self.in_flight -= 1
            if self.in_flight == 0:
                self.idle.set()

    @staticmethod
    def _too_big(envelope: DraftEnvelope, size: int) -> str | None:
        """The recipient's service class sets the largest message it may receive (R12)."""
        for rcpt, limit in envelope.size_limits.items():
            if size > limit:
                return replies.TOO_BIG_FOR.format(size=size, limit=limit, address=rcpt)
        return None

    async def _accept(self, session: Session, envelope: Envelope, draft: Draft) -> str:
        message_id, head = draft.message_id, bytes(draft.head)
        client_ip = peer_ip(session)
        headers = summary(head)  # parsed once: the listener's checks and the event both use it
        refusal = await self.refuse_content(session, envelope, headers) or self._too_big(envelope, draft.size)
        if refusal:
            return refusal
        origin = await self.origin(session, envelope)
        grouped = self.group_sync is not None
        blob = await draft.commit(sync=not grouped)
        mail_from = envelope.mail_from or ""
        event = MailReceived(
            producer="ingress",
            message_id=message_id,
            trace_id=message_id,
            mail=MailInfo(
                mail_from=mail_from,
                rcpt_to=list(envelope.rcpt_tos),
                blob=blob,
                size=draft.size,
                listener=self.listener,
                client_ip=client_ip,
                client_helo=session.host_name or "",
                smtputf8=envelope.smtp_utf8,
                sender_domain=domain_of(mail_from) if mail_from else "",
                received_at=datetime.now(UTC),
                **headers,
                **origin,
            ),
        )
        # Blob and spool entry are durable before the broker is asked, so no acknowledged message can be lost.
        if self.group_sync is not None:
            self.spool.record(event, sync=False)  # a small file in the page cache: no thread hop needed
            await self.group_sync.barrier()
        else:
            await asyncio.to_thread(self.spool.record, event)
        try:
            await self.publisher.publish(RECEIVED, event)
        except PublishError as exc:
            await asyncio.to_thread(self.spool.discard, message_id)
            logger.warning("publish_failed", message_id=message_id, error=str(exc))
            return replies.NOT_DURABLE
        logger.info("mail_accepted", message_id=message_id, size=draft.size, rcpt_count=len(envelope.rcpt_tos),
                    client_ip=client_ip, blob=blob.sha256)
        return replies.OK_QUEUED.format(message_id=message_id)

    async def handle_exception(self, error: Exception) -> str:
        # Anything unexpected is a temporary failure: the client keeps the message and retries.
        logger.error("smtp_exception", error=f"{type(error).__name__}: {error}")
        return replies.INTERNAL_ERROR
