"""A stored message as the webmail shows it: headers, the body to sanitise, attachments to download only."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from email.message import EmailMessage, Message

from services.webmail import sanitize, suspicious
from services.webmail.submit import BURN_HEADER, RECEIPT_HEADER


@dataclass
class Attachment:
    index: int
    filename: str
    size: int


@dataclass
class View:
    sender: str
    to: str
    cc: str
    subject: str
    date: str
    message_id: str
    burn: bool
    receipt: bool
    attachments: list[Attachment] = field(default_factory=list)


def leaves(message: EmailMessage) -> list[Message]:
    return [part for part in message.walk() if not part.is_multipart()]


def is_attachment(part: Message) -> bool:
    return part.get_content_disposition() == "attachment" or (
        part.get_filename() is not None and part.get_content_maintype() != "text")


def view(message: EmailMessage) -> View:
    found = View(sender=str(message["From"] or ""), to=str(message["To"] or ""), cc=str(message["Cc"] or ""),
                 subject=str(message["Subject"] or ""), date=str(message["Date"] or ""),
                 message_id=str(message["Message-ID"] or ""),
                 burn=str(message.get(BURN_HEADER, "")).strip().lower() == "yes",
                 receipt=message.get(RECEIPT_HEADER) is not None)
    for index, part in enumerate(leaves(message)):
        if is_attachment(part):
            payload = part.get_payload(decode=True) or b""
            found.attachments.append(Attachment(index, part.get_filename() or f"part-{index}", len(payload)))
    return found


def attachment(message: EmailMessage, index: int) -> tuple[str, bytes] | None:
    parts = leaves(message)
    if not 0 <= index < len(parts) or not is_attachment(parts[index]):
        return None
    part = parts[index]
    return part.get_filename() or f"part-{index}", part.get_payload(decode=True) or b""


def _text(part: Message) -> str:
    payload = part.get_payload(decode=True) or b""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except LookupError:
        return payload.decode("utf-8", "replace")


def plain_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return _text(part) if part is not None else ""


def body_html(message: EmailMessage, allow_remote_images: bool) -> sanitize.Cleaned:
    """The HTML alternative sanitised, else the text escaped; flagged links come from the scanner's header."""
    part = message.get_body(preferencelist=("html", "plain"))
    if part is None:
        return sanitize.Cleaned("")
    if part.get_content_subtype() == "html":
        return sanitize.sanitize(_text(part), suspicious.flagged_urls(message), allow_remote_images)
    return sanitize.Cleaned(f'<pre class="plain">{html.escape(_text(part))}</pre>')
