"""Sending from the webmail: build the MIME message and hand it to the submission listener, so every policy applies."""

from __future__ import annotations

import re
import ssl
from copy import deepcopy
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, formatdate, getaddresses, make_msgid

import aiosmtplib

SEPARATE_HEADER = "X-Govmail-Separate"  # each recipient gets a copy showing only themself (R15)
BURN_HEADER = "X-Govmail-Burn"  # the copy is destroyed once opened (R15)
RECEIPT_HEADER = "Disposition-Notification-To"  # RFC 8098 read receipt (R17)
UNDISCLOSED = "undisclosed-recipients:;"
_QUEUED = re.compile(r"queued as (\S+)")


class SubmitError(Exception):
    """Submission refused or could not be reached; `code` is the SMTP reply code (0: no answer)."""

    def __init__(self, code: int, text: str):
        super().__init__(f"{code} {text}")
        self.code = code
        self.text = text


@dataclass
class Draft:
    author: str  # the account writing
    from_mailbox: str  # itself, or a mailbox it holds a send_as / send_on_behalf grant on
    from_name: str
    to: list[str]
    cc: list[str] = field(default_factory=list)
    subject: str = ""
    body: str = ""
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)  # (file name, content type, bytes)
    separate: bool = False
    burn: bool = False
    receipt: bool = False
    in_reply_to: str = ""
    references: str = ""

    @property
    def recipients(self) -> list[str]:
        return [a for _, a in getaddresses(self.to + self.cc) if a]


def parse_addresses(text: str) -> list[str]:
    """'a@x, B <b@y>; c@z' as a list of header-ready addresses (empty entries dropped)."""
    return [formataddr((n, a)) if n else a for n, a in getaddresses([text.replace(";", ",")]) if a]


def build(draft: Draft, hostname: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = formataddr((draft.from_name, draft.from_mailbox)) if draft.from_name else draft.from_mailbox
    if draft.separate:
        # No recipient may see the others, whether or not delivery rewrites To: per copy; the envelope
        # carries them all, and the sender's own copy (sent_copy) keeps the list.
        message["To"] = UNDISCLOSED
    else:
        message["To"] = ", ".join(draft.to)
        if draft.cc:
            message["Cc"] = ", ".join(draft.cc)
    message["Subject"] = draft.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=hostname)
    if draft.in_reply_to:
        message["In-Reply-To"] = draft.in_reply_to
        message["References"] = f"{draft.references} {draft.in_reply_to}".strip()
    if draft.separate:
        message[SEPARATE_HEADER] = "yes"
    if draft.burn:
        message[BURN_HEADER] = "yes"
    if draft.receipt:
        message[RECEIPT_HEADER] = draft.from_mailbox
    message.set_content(draft.body, charset="utf-8")
    for filename, content_type, data in draft.attachments:
        maintype, _, subtype = content_type.partition("/")
        if maintype == "message" and subtype == "rfc822":
            message.add_attachment(data, maintype="application", subtype="octet-stream", filename=filename)
        else:
            message.add_attachment(data, maintype=maintype or "application", subtype=subtype or "octet-stream",
                                   filename=filename)
    return message


def sent_copy(message: EmailMessage, draft: Draft) -> bytes:
    """The sender's copy for the Sent folder: the same message, with every recipient named."""
    copy = deepcopy(message)
    del copy["To"], copy["Cc"]
    copy["To"] = ", ".join(draft.to)
    if draft.cc:
        copy["Cc"] = ", ".join(draft.cc)
    return copy.as_bytes()


async def submit(message: EmailMessage, envelope_from: str, recipients: list[str], username: str, token: str,
                 host: str, port: int, verify_tls: bool, timeout: float) -> str:
    """Send over STARTTLS with AUTH PLAIN username + webmail token; returns govmail's queue id."""
    context = ssl.create_default_context()
    if not verify_tls:  # loopback: ingress's self-signed certificate
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        errors, reply = await aiosmtplib.send(
            message, sender=envelope_from, recipients=recipients, hostname=host, port=port, start_tls=True,
            tls_context=context, username=username, password=token, timeout=timeout)
    except aiosmtplib.SMTPResponseException as exc:
        raise SubmitError(exc.code, exc.message) from None
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise SubmitError(0, str(exc)) from None
    if errors:
        code, text = next(iter(errors.values()))
        raise SubmitError(code, text)
    found = _QUEUED.search(reply)
    return found.group(1) if found else ""
