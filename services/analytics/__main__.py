"""Entry point: `python -m services.analytics` / `govmail analytics` runs the analytics service."""

from __future__ import annotations

import argparse
import asyncio
import sys

from services.analytics.app import run
from services.analytics.migrations import MigrationError
from services.analytics.settings import AnalyticsSettings
from services.common import logging as log
from services.common.consumer import BreakerTripped
from services.common.settings import PlatformSettings


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="govmail analytics",
        description="Consume every topic into ClickHouse and serve statistics over HTTP. "
        "Configured by GOVMAIL_* (platform) and ANALYTICS_* (batching) environment variables.",
    ).parse_args(sys.argv[1:] if argv is None else argv)
    platform = PlatformSettings()
    logger = log.configure("analytics", platform.log_level)
    try:
        asyncio.run(run(platform, AnalyticsSettings()))
    except (BreakerTripped, MigrationError) as exc:
        # Both need a person: a flood of bad input, or a schema that disagrees with the files.
        logger.error("service_failed", error=f"{type(exc).__name__}: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
