"""What ingress adds to and reads from a message: the Received trace header and the summary headers."""

from __future__ import annotations

import email.utils
import re
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from email.policy import linesep_splitter


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


# The header fields the summary reports, and the MailInfo field each one fills.
SUMMARY_FIELDS = {"from": "header_from", "subject": "subject", "message-id": "header_message_id"}
# Shapes whose value email.policy.default would give back unchanged except for whitespace, so the full
# header parser (a quarter of a millisecond for one From:) is needed only for the others: quoted or
# encoded (RFC 2047) names, comments, groups, several addresses. Non-ASCII octets (raw UTF-8) are
# atext to that parser too. tests/ingress/test_summary.py holds both ways equal on real mail.
_DOT_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_ADDRESS = re.compile(rf"(?P<name>(?:[^\s\"(),.:;<>@\[\\\]]+[ \t]+)*?)<(?P<addr>{_DOT_ATOM}@{_DOT_ATOM})>|(?P<bare>{_DOT_ATOM}@{_DOT_ATOM})")
_MESSAGE_ID = re.compile(rf"<{_DOT_ATOM}@{_DOT_ATOM}>")
_BLANKS = re.compile(r"[ \t]+")


def _simple_value(name: str, value: str) -> str | None:
    """What email.policy.default makes of an unfolded header value of a common shape, or None for the others."""
    if "=?" in value:
        return None
    if name == "subject":
        return value  # unstructured text without encoded words is kept as it is
    if name == "message-id":
        return value if _MESSAGE_ID.fullmatch(value) else None
    shape = _ADDRESS.fullmatch(value.strip(" \t"))
    if shape is None:
        return None
    if shape["bare"]:
        return shape["bare"]
    display = _BLANKS.sub(" ", shape["name"]).strip(" ")
    return f"{display} <{shape['addr']}>" if display else shape["addr"]


def header_block(raw: bytes) -> bytes:
    """`raw` up to its first empty line, all that a header parser reads (the body would only be split into lines).

    An empty line is a line end followed by another, so it begins with one of these pairs."""
    ends = [at for at in (raw.find(b"\n\n"), raw.find(b"\n\r"), raw.find(b"\r\r")) if at >= 0]
    return raw[:min(ends) + 1] if ends else raw


def summary(raw: bytes) -> dict[str, str]:
    """Decoded From, Subject and Message-ID; malformed headers give empty strings, never an error."""
    out = dict.fromkeys(SUMMARY_FIELDS.values(), "")
    try:
        headers = BytesHeaderParser(policy=default_policy).parsebytes(header_block(raw))
        wanted = dict(SUMMARY_FIELDS)
        for name, value in headers.raw_items():
            key = wanted.pop(name.lower(), None)  # the first of each, as Message.get gives it
            if key is None:
                continue
            unfolded = "".join(linesep_splitter.split(value))
            simple = _simple_value(name.lower(), unfolded)
            if simple is None:
                text = str(default_policy.header_fetch_parse(name, value))
            else:  # raw 8-bit octets are decoded as the header parser does (UTF-8, else U+FFFD)
                text = email.utils._sanitize(simple) if email.utils._has_surrogates(simple) else simple
            out[key] = text[:998]
            if not wanted:
                break
    except Exception:  # a header we cannot parse is the scanner's business, not a reason to refuse mail
        pass
    return out
