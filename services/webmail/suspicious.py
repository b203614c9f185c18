"""Which links in a message the scanner marked suspicious: its PHISHING_* symbols' options, from a delivery header.

The header is `X-Govmail-Symbols: <JSON list of {"name": ..., "options": [...]}>`, prepended by delivery
beside `X-Govmail-Scan` (`services.delivery.headers.symbols_header` builds it). Only the first occurrence counts: delivery prepends
it, so a copy the sender wrote further down can only add warnings, never take one away — and the webmail
also checks every link whose text and target differ, whatever the header says.
"""

from __future__ import annotations

import json
from email.message import EmailMessage
from urllib.parse import urlsplit

from services.delivery.headers import SYMBOLS

HEADER = SYMBOLS
SCAN_HEADER = "X-Govmail-Scan"  # delivery's summary: "action=… score=… required=… symbols=A,B"
PREFIX = "PHISHING_"
EVERY_LINK = "*"  # a phishing symbol fired but its URLs are not known: every link gets the warning


def flagged_urls(message: EmailMessage) -> set[str]:
    """URLs (and bare host names) listed in the options of the message's PHISHING_* symbols.

    When only delivery's X-Govmail-Scan names a PHISHING_* symbol (no options to say which link), the
    answer is {EVERY_LINK}: better a warning too many than a phishing link opened without one.
    """
    raw = message.get(HEADER)
    if raw is None:
        scan = str(message.get(SCAN_HEADER, ""))
        names = scan.partition("symbols=")[2].split(",")
        return {EVERY_LINK} if any(n.strip().startswith(PREFIX) for n in names) else set()
    try:
        symbols = json.loads(str(raw))
    except ValueError:
        return set()
    found: set[str] = set()
    for symbol in symbols if isinstance(symbols, list) else []:
        if isinstance(symbol, dict) and str(symbol.get("name", "")).startswith(PREFIX):
            found.update(str(o).strip() for o in symbol.get("options", []) if str(o).strip())
    return found


def host(url: str) -> str:
    target = url if "//" in url else f"//{url}"
    try:
        name = (urlsplit(target).hostname or "").lower().rstrip(".")
    except ValueError:
        return ""
    return name[4:] if name.startswith("www.") else name


def is_flagged(url: str, flagged: set[str]) -> bool:
    if url in flagged or EVERY_LINK in flagged:
        return True
    target = host(url)
    return bool(target) and any(host(f) == target for f in flagged)
