"""VIRUS_CLAMAV: what ClamAV finds in a decoded part, when a clamd address is configured (SCANNER_CLAMD)."""

from __future__ import annotations

from services.common import logging as log
from services.scanner import clamd
from services.scanner.check import Check, Findings
from services.scanner.message import ParsedMail
from services.scanner.settings import ScannerSettings

logger = log.get(__name__)

_configured = False
_address: str | None = None


def use(address: str | None) -> None:
    """Scan through clamd at `address` (None: do not use ClamAV); the service calls this at start."""
    global _configured, _address
    _address, _configured = address or None, True
    if _address is None:
        # Said once, at start: the built-in signatures still run, ClamAV's do not.
        logger.warning("clamd_not_configured", setting="SCANNER_CLAMD")
    else:
        logger.info("clamd_configured", address=_address)


def reset() -> None:
    global _configured, _address
    _configured, _address = False, None


def address() -> str | None:
    if not _configured:  # nobody configured it (tests, benchmarks): the environment decides, once
        use(ScannerSettings().clamd)
    return _address


async def run(mail: ParsedMail, found: Findings) -> None:
    where = address()
    if where is None:
        return
    # clamd unpacks archives itself, so whole parts go, not the members the built-in engine saw.
    # ClamdError propagates: the pipeline turns it into CHECK_ERROR_CLAMAV, never a clean pass.
    for part in mail.parts:
        if not part.data:
            continue
        name = await clamd.instream(where, part.data)
        if name is not None:
            found.add("VIRUS_CLAMAV", f"{name} in {part.label}")


CHECK = Check("clamav", ("VIRUS_CLAMAV",), run)
