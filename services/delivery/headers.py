"""Header work on raw bytes: the webmail's control headers, and the single-recipient To: of separate delivery.

The body is never re-encoded: only the header block is rewritten, so signatures over the body
and 8-bit content survive.
"""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Iterable
from email.headerregistry import Address

SEPARATE = "X-Govmail-Separate"
BURN = "X-Govmail-Burn"
# Written by delivery on every copy, read by the webmail (first occurrence: ours is prepended).
QUEUE_ID = "X-Govmail-Queue-Id"
SYMBOLS = "X-Govmail-Symbols"


def symbols_header(symbols: Iterable[tuple[str, list[str]]]) -> str:
    """`X-Govmail-Symbols: [{"name": …, "options": […]}]` on one line, ASCII-only JSON so it needs no encoding."""
    value = json.dumps([{"name": n, "options": o} for n, o in symbols], separators=(",", ":"))
    return f"{SYMBOLS}: {value}"


def split(raw: bytes) -> tuple[list[bytes], bytes]:
    """Header fields (each with its continuation lines) and the rest (blank line and body)."""
    end = raw.find(b"\r\n\r\n")
    sep = b"\r\n"
    if end < 0 or (0 <= raw.find(b"\n\n") < end):
        end, sep = raw.find(b"\n\n"), b"\n"
    if end < 0:
        head, rest = raw, b""
    else:
        head, rest = raw[:end + len(sep)], raw[end + len(sep):]
    fields: list[bytes] = []
    for line in head.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line
        else:
            fields.append(line)
    return fields, rest


def field_name(field: bytes) -> str:
    return field.split(b":", 1)[0].strip().decode("ascii", "replace").lower()


def value(raw: bytes, name: str) -> str:
    """The first value of a header, decoded; "" when absent."""
    fields, _ = split(raw)
    for field in fields:
        if field_name(field) == name.lower():
            parsed = email.message_from_bytes(field + b"\r\n", policy=email.policy.default)
            return str(parsed[name] or "").strip()
    return ""


def asks(raw: bytes, name: str) -> bool:
    """Whether a yes/no control header says yes."""
    return value(raw, name).lower() in ("yes", "1", "true")


def local_asks(listener: str, raw: bytes, name: str) -> bool:
    """Whether a control header says yes on mail from a local sender (submission or our own mail).

    Anyone on the internet can write these headers: mail that came in on the MX is never burnt
    after reading or split for separate delivery because it says so.
    """
    return listener != "mx" and asks(raw, name)


def without(raw: bytes, *names: str) -> bytes:
    drop = {n.lower() for n in names}
    fields, rest = split(raw)
    return b"".join(f for f in fields if field_name(f) not in drop) + rest


def only_recipient(raw: bytes, recipient: str) -> bytes:
    """The copy one recipient of a separate delivery gets: To: is them alone, Cc: is gone."""
    fields, rest = split(raw)
    kept = [f for f in fields if field_name(f) not in ("to", "cc", SEPARATE.lower())]
    localpart, _, domain = recipient.rpartition("@")
    to = str(Address(addr_spec=recipient)) if localpart.isascii() and domain.isascii() else recipient
    return f"To: {to}\r\n".encode() + b"".join(kept) + rest
