"""MIME_BAD: the message's MIME structure is malformed, a common way to hide content from filters."""

from __future__ import annotations

from services.scanner.check import Check, Findings
from services.scanner.message import ParsedMail


def run(mail: ParsedMail, found: Findings) -> None:
    if mail.defects:
        found.add("MIME_BAD", *mail.defects)


CHECK = Check("mime", ("MIME_BAD",), run)
