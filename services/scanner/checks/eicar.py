"""VIRUS_EICAR: the EICAR anti-virus test file in any decoded MIME part, attachments included."""

from __future__ import annotations

from services.scanner.check import Check, Findings
from services.scanner.message import ParsedMail

# Stored reversed so that no file of this repository holds the signature itself: anti-virus
# software on developers' machines and CI runners would quarantine the file.
_REVERSED = "*H+H$!ELIF-TSET-SURIVITNA-DRADNATS-RACIE$}7)CC7)^P(45XZP\\4[PA@%P!O5X"


def signature() -> bytes:
    """The 68-byte EICAR test string, built at run time."""
    return _REVERSED[::-1].encode("ascii")


def run(mail: ParsedMail, found: Findings) -> None:
    needle = signature()
    for part in mail.parts:
        found.check_time()
        # Searched anywhere in the part, not only at its start as the EICAR spec says: a filter
        # must not be fooled by a prefix an attacker puts in front.
        if needle in part.data:
            found.add("VIRUS_EICAR", part.label)


CHECK = Check("eicar", ("VIRUS_EICAR",), run)
