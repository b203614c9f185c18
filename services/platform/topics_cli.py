"""`govmail topics create`: create every topic of the schemas/ registry on a broker (idempotent)."""

from __future__ import annotations

import argparse
import asyncio

from services.common.bus import ensure_topics
from services.common.settings import PlatformSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="govmail topics", description=__doc__)
    parser.add_argument("command", choices=["create"])
    parser.add_argument("--bootstrap", default=None, help="broker address (default: GOVMAIL_KAFKA_BOOTSTRAP)")
    args = parser.parse_args(argv)
    created = asyncio.run(ensure_topics(args.bootstrap or PlatformSettings().bootstrap))
    print(f"created {len(created)} topic(s)" + (": " + ", ".join(created) if created else ""))
    return 0
