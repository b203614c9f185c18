"""Why the scanner refused a message, in words for its sender, from the scanner's own symbol descriptions."""

from __future__ import annotations

from functools import lru_cache

from schemas.events import Verdict
from services.delivery.texts import text
from services.scanner.config import ScannerConfig, load
from services.scanner.settings import ScannerSettings

CLASSIFIED_PREFIX = "CLASSIFIED_"


@lru_cache(maxsize=1)
def scanner_config() -> ScannerConfig:
    # The operator's overrides apply here too, so the bounce quotes what the scanner was told.
    return load(ScannerSettings().config)


def reject_reason(verdict: Verdict, language: str) -> tuple[str, str]:
    """(RFC 3463 status, sentence): a classified marking says so; otherwise each symbol's description."""
    classified = [s for s in verdict.symbols if s.name.startswith(CLASSIFIED_PREFIX)]
    if classified:
        markings = ", ".join(dict.fromkeys(o for s in classified for o in s.options)) or classified[0].name
        return "5.7.1", text("classified", language, markings=markings)
    config = scanner_config()
    reasons = []
    for symbol in sorted(verdict.symbols, key=lambda s: -s.score):
        if symbol.score <= 0:
            continue
        rule = config.rule(symbol.name)
        described = rule.description if rule else symbol.name
        options = f" ({', '.join(symbol.options)})" if symbol.options else ""
        reasons.append(f"{symbol.name}: {described}{options}")
    return "5.7.1", text("rejected", language, reasons="; ".join(reasons) or f"score {verdict.score:.1f}")
