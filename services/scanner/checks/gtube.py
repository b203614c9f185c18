"""SPAM_GTUBE: the Generic Test for Unsolicited Bulk Email, which every spam filter must score as spam."""

from __future__ import annotations

from services.scanner.check import Check, Findings
from services.scanner.message import ParsedMail

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


def run(mail: ParsedMail, found: Findings) -> None:
    for part in mail.text_parts:
        found.check_time()
        if GTUBE in (part.text or ""):
            found.add("SPAM_GTUBE", part.label)


CHECK = Check("gtube", ("SPAM_GTUBE",), run)
