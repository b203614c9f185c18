"""VIRUS_*, ARCHIVE_*, ATTACH_*: signatures, zip bombs and dangerous file types in every part and archive member."""

from __future__ import annotations

import threading
from pathlib import Path

from services.common import logging as log
from services.scanner import archive, filetypes, signatures
from services.scanner.check import Check, Findings
from services.scanner.message import ParsedMail

logger = log.get(__name__)

# A signature's symbol: EICAR has its own (every filter must name it), the rest share one.
SIGNATURE_SYMBOLS = {signatures.EICAR: "VIRUS_EICAR"}
OTHER_SIGNATURE = "VIRUS_SIGNATURE"
PROBLEM_SYMBOLS = {
    "depth": "ARCHIVE_TOO_DEEP",
    "size": "ARCHIVE_TOO_BIG",
    "ratio": "ARCHIVE_RATIO",
    "members": "ARCHIVE_TOO_MANY_FILES",
    "encrypted": "ARCHIVE_ENCRYPTED",
    "corrupt": "ARCHIVE_CORRUPT",
}
DANGER_SYMBOLS = {
    "executable": "ATTACH_EXECUTABLE",
    "script": "ATTACH_SCRIPT",
    "double_extension": "ATTACH_DOUBLE_EXT",
    "macro": "ATTACH_MACRO",
}

_lock = threading.Lock()
_signatures: signatures.Signatures | None = None
_limits = archive.Limits()


def configure(limits: archive.Limits, extra_signatures: Path | None = None) -> None:
    """Set the archive limits and load the signatures now (SignatureError stops the scanner at start)."""
    global _signatures, _limits
    loaded = signatures.load(extra_signatures)
    with _lock:
        _signatures, _limits = loaded, limits
    logger.info("virus_signatures_loaded", hashes=len(loaded.hashes), patterns=len(loaded.patterns))


def current() -> tuple[signatures.Signatures, archive.Limits]:
    global _signatures
    with _lock:
        if _signatures is None:
            _signatures = signatures.load()
        return _signatures, _limits


def run(mail: ParsedMail, found: Findings) -> None:
    engine, limits = current()
    for part in mail.parts:
        found.check_time()
        # An archive is never a text part, but a text part may carry a signature (EICAR in a body).
        walk = archive.walk_part(part.label, part.filename, part.data, limits, found.check_time)
        for item in walk.items:
            for name in engine.match(item.data):
                symbol = SIGNATURE_SYMBOLS.get(name, OTHER_SIGNATURE)
                found.add(symbol, item.path if symbol != OTHER_SIGNATURE else f"{name} in {item.path}")
            # A part without a file name is body text: its type is not a file a user double-clicks.
            if item.name or item.depth:
                for kind, why in filetypes.dangers(item.name, item.data):
                    found.add(DANGER_SYMBOLS[kind], f"{item.path} ({why})")
        for problem in walk.problems:
            found.add(PROBLEM_SYMBOLS[problem.kind], f"{problem.path}: {problem.detail}")


CHECK = Check("virus", ("VIRUS_EICAR", OTHER_SIGNATURE, *PROBLEM_SYMBOLS.values(), *DANGER_SYMBOLS.values()), run)
