"""Mail the platform writes itself (bounces, notices, reports) enters the pipeline like any accepted mail."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from schemas.events import MailInfo, MailReceived, derived_event_id
from schemas.registry import RECEIVED
from services.common.blobstore import FileBlobStore
from services.common.bus import Publisher
from services.common.directory import RedisDirectory


def queue_id(key: str | None = None) -> str:
    """A queue id like ingress's; derived from `key` when given, so that re-sending after a crash is a no-op."""
    if key is None:
        return f"{int(time.time() * 1000):013x}{os.urandom(4).hex()}"
    return "s" + hashlib.sha256(key.encode()).hexdigest()[:20]


def compose(
    mail_from: str,
    to: Sequence[str],
    subject: str,
    text: str,
    html: str | None = None,
    attachments: Sequence[tuple[str, str, bytes]] = (),
    headers: dict[str, str] | None = None,
    hostname: str = "govmail.local",
) -> EmailMessage:
    """A UTF-8 message: text (and HTML) body, attachments as (filename, content type, bytes)."""
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=hostname)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to it, no bounce loops
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text, charset="utf-8")
    if html is not None:
        message.add_alternative(html, subtype="html", charset="utf-8")
    for filename, content_type, data in attachments:
        maintype, _, subtype = content_type.partition("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message


class SystemMailer:
    """Stores a generated message in the blob store and publishes it as `MailReceived` (listener "internal").

    It then passes the scanner and delivery like mail a user sent, so it is counted, delivered
    locally or to the world, retried and bounced by the same code.
    """

    def __init__(self, publisher: Publisher, blobs: FileBlobStore, directory: RedisDirectory, producer: str):
        self.publisher = publisher
        self.blobs = blobs
        self.directory = directory
        self.producer = producer

    async def send(self, message: EmailMessage | bytes, mail_from: str, rcpt_to: Sequence[str],
                   key: str | None = None, trace_id: str | None = None) -> str:
        """Queue one message; returns its queue id. The same `key` gives the same id and event id."""
        raw = message if isinstance(message, bytes) else message.as_bytes()
        blob = await asyncio.to_thread(self.blobs.put, raw)
        locals_ = [await self.directory.is_local_domain(r.rpartition("@")[2]) for r in rcpt_to]
        message_id = queue_id(key)
        parsed = message if isinstance(message, EmailMessage) else None
        event = MailReceived(
            event_id=derived_event_id("system-mail", key) if key else derived_event_id("system-mail", message_id),
            producer=self.producer,
            message_id=message_id,
            trace_id=trace_id or message_id,
            mail=MailInfo(
                mail_from=mail_from,
                rcpt_to=list(rcpt_to),
                blob=blob,
                size=len(raw),
                listener="internal",
                client_ip="127.0.0.1",
                client_helo=self.producer,
                header_from=str(parsed["From"] or "") if parsed else "",
                subject=str(parsed["Subject"] or "") if parsed else "",
                header_message_id=str(parsed["Message-ID"] or "") if parsed else "",
                sender_domain=mail_from.rpartition("@")[2].lower(),
                direction="internal" if all(locals_) else "outbound",
                received_at=datetime.now(UTC),
            ),
        )
        await self.publisher.publish(RECEIVED, event)
        return message_id
