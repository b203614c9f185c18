"""Machine-readable reports: delivery status notifications (RFC 3464) and read receipts (RFC 8098 MDN)."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate, make_msgid

from services.delivery.texts import text


@dataclass(frozen=True)
class Failure:
    """One recipient the message did not reach."""

    recipient: str
    status: str  # RFC 3463, e.g. "5.1.1"
    reason: str  # human-readable, in the sender's language
    diagnostic: str = ""  # the remote reply ("550 5.1.1 no such user"), if there was one
    remote_mta: str = ""


def original_headers(raw: bytes) -> bytes:
    head, _, _ = raw.partition(b"\r\n\r\n")
    if head == raw:
        head, _, _ = raw.partition(b"\n\n")
    return head + b"\r\n"


def _fields(pairs: Sequence[tuple[str, str]]) -> Message:
    block = Message()
    for name, value in pairs:
        block[name] = value
    return block


def _subject_of(raw: bytes) -> str:
    parsed = email.message_from_bytes(original_headers(raw), policy=email.policy.default)
    return str(parsed["Subject"] or "")


def build_dsn(raw: bytes, sender: str, failures: Sequence[Failure], language: str, reporting_mta: str,
              postmaster: str, arrival: float | None = None) -> bytes:
    """A multipart/report; report-type=delivery-status to `sender` about `failures` of the message `raw`."""
    subject = _subject_of(raw)
    date = formatdate(arrival, localtime=False) if arrival else formatdate(localtime=False)
    lines = [text("dsn_intro", language, date=date, subject=subject), ""]
    lines += [f"  {f.recipient}: {f.reason}" + (f"\n    ({f.diagnostic})" if f.diagnostic else "") for f in failures]
    lines += ["", text("dsn_outro", language)]
    report = MIMEMultipart("report", policy=email.policy.default, report_type="delivery-status")
    report["From"] = postmaster
    report["To"] = sender
    report["Subject"] = text("dsn_subject", language, subject=subject)
    report["Date"] = formatdate(localtime=False)
    report["Message-ID"] = make_msgid(domain=reporting_mta)
    report["Auto-Submitted"] = "auto-replied"  # RFC 3834: no bounce loops
    report.attach(MIMEText("\n".join(lines) + "\n", "plain", "utf-8"))
    status = MIMEBase("message", "delivery-status")
    blocks = [_fields([("Reporting-MTA", f"dns; {reporting_mta}"), ("Arrival-Date", date)])]
    for f in failures:
        fields = [("Final-Recipient", f"rfc822; {f.recipient}"), ("Action", "failed"), ("Status", f.status)]
        if f.remote_mta:
            fields.append(("Remote-MTA", f"dns; {f.remote_mta}"))
        if f.diagnostic:
            fields.append(("Diagnostic-Code", f"smtp; {f.diagnostic}"))
        fields.append(("Last-Attempt-Date", formatdate(localtime=False)))
        blocks.append(_fields(fields))
    status.set_payload(blocks)
    report.attach(status)
    headers = MIMEBase("text", "rfc822-headers")
    headers.set_payload(original_headers(raw).decode("utf-8", "replace"), charset="utf-8")
    report.attach(headers)
    return report.as_bytes(policy=email.policy.default)


def build_mdn(raw: bytes, reader: str, reporting_ua: str, disposition: str = "displayed",
              note: str = "") -> tuple[str, bytes] | None:
    """The RFC 8098 read receipt the reading side sends for `raw`, as (recipient, message), or None.

    None when the message asked for no receipt (no Disposition-Notification-To) or it is
    itself automatic (Auto-Submitted other than "no"), so receipts never answer receipts.
    """
    original = email.message_from_bytes(original_headers(raw), policy=email.policy.default)
    addresses = original.get_all("Disposition-Notification-To") or []
    auto = str(original["Auto-Submitted"] or "no").lower()
    if not addresses or auto != "no":
        return None
    to = email.utils.getaddresses([str(a) for a in addresses])[0][1]
    subject = str(original["Subject"] or "")
    report = MIMEMultipart("report", policy=email.policy.default, report_type="disposition-notification")
    report["From"] = reader
    report["To"] = to
    report["Subject"] = f"Đã đọc / 已读 / Read: {subject}"
    report["Date"] = formatdate(localtime=False)
    report["Message-ID"] = make_msgid(domain=reporting_ua)
    report["Auto-Submitted"] = "auto-replied"
    human = f"{reader} đã mở thư / 已打开邮件 / opened the message: {subject}\n" + (f"\n{note}\n" if note else "")
    report.attach(MIMEText(human, "plain", "utf-8"))
    fields = [("Reporting-UA", f"{reporting_ua}; govmail"), ("Final-Recipient", f"rfc822; {reader}")]
    if original["Message-ID"]:
        fields.append(("Original-Message-ID", str(original["Message-ID"])))
    fields.append(("Disposition", f"manual-action/MDN-sent-manually; {disposition}"))
    notification = MIMEBase("message", "disposition-notification")
    notification.set_payload("".join(f"{name}: {value}\r\n" for name, value in fields))
    report.attach(notification)
    headers = MIMEBase("text", "rfc822-headers")
    headers.set_payload(original_headers(raw).decode("utf-8", "replace"), charset="utf-8")
    report.attach(headers)
    return to, report.as_bytes(policy=email.policy.default)
