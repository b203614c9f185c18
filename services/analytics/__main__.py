"""Entry point: `python -m services.analytics` / `govmail analytics` runs the analytics service."""

from __future__ import annotations

import argparse
import asyncio
import sys

from services.analytics.app import run
from services.analytics.migrations import MigrationError, apply
from services.analytics.settings import AnalyticsSettings
from services.analytics.warehouse import connect
from services.common import logging as log
from services.common.consumer import BreakerTripped
from services.common.settings import PlatformSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="govmail analytics",
        description="Consume every topic into ClickHouse and serve statistics over HTTP. "
        "Configured by GOVMAIL_* (platform) and ANALYTICS_* (batching) environment variables.",
    )
    parser.add_argument("action", nargs="?", choices=["serve", "migrate"], default="serve",
                        help="serve (default), or only apply pending schema migrations and exit (a k8s Job)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    platform = PlatformSettings()
    logger = log.configure("analytics", platform.log_level)
    if args.action == "migrate":
        try:
            applied = apply(connect(platform.clickhouse))
        except MigrationError as exc:
            logger.error("migration_failed", error=str(exc))
            return 1
        print("applied:", ", ".join(m.label for m in applied) or "nothing, the schema is up to date")
        return 0
    try:
        asyncio.run(run(platform, AnalyticsSettings()))
    except (BreakerTripped, MigrationError) as exc:
        # Both need a person: a flood of bad input, or a schema that disagrees with the files.
        logger.error("service_failed", error=f"{type(exc).__name__}: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
