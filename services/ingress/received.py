"""What ingress adds to and reads from a message: the Received trace header and the summary headers."""

from __future__ import annotations

import email.utils
from email.parser import BytesHeaderParser
from email.policy import default as default_policy


def received_header(helo: str, ip: str, hostname: str, message_id: str, recipients: list[str],
                    smtputf8: bool, tls: bool = False, authenticated: bool = False) -> bytes:
    """RFC 5321 §4.4 trace line, prepended so the stored blob is exactly what is delivered."""
    protocol = ("UTF8SMTP" if smtputf8 else "ESMTP") + ("S" if tls else "") + ("A" if authenticated else "")
    for_clause = f"\r\n\tfor <{recipients[0]}>" if len(recipients) == 1 else ""
    date = email.utils.format_datetime(email.utils.localtime())
    line = (
        f"Received: from {helo or 'unknown'} ([{ip}])\r\n"
        f"\tby {hostname} (govmail) with {protocol} id {message_id}{for_clause};\r\n"
        f"\t{date}\r\n"
    )
    return line.encode("utf-8")


def summary(raw: bytes) -> dict[str, str]:
    """Decoded From, Subject and Message-ID; malformed headers give empty strings, never an error."""
    out = {"header_from": "", "subject": "", "header_message_id": ""}
    try:
        headers = BytesHeaderParser(policy=default_policy).parsebytes(raw)
        for key, name in (("header_from", "from"), ("subject", "subject"), ("header_message_id", "message-id")):
            value = headers.get(name)
            if value is not None:
                out[key] = str(value)[:998]
    except Exception:  # a header we cannot parse is the scanner's business, not a reason to refuse mail
        pass
    return out
