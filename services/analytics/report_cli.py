"""`govmail report …`: mail the health self-check or a periodic unit report now, through the running analytics service or directly."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from services.analytics.cli import StatsError, fetch, service_url
from services.analytics.reports import NoRecipients, Reporter, direct_query
from services.analytics.settings import AnalyticsSettings
from services.analytics.warehouse import WarehouseUnavailable, connect
from services.common.blobstore import FileBlobStore
from services.common.bus import KafkaPublisher
from services.common.directory import RedisDirectory
from services.common.settings import PlatformSettings
from services.common.system_mail import SystemMailer


async def send_directly(platform: PlatformSettings, settings: AnalyticsSettings, args: argparse.Namespace
                        ) -> dict[str, Any]:
    """Without the service: read ClickHouse ourselves and publish the mail on the bus."""
    client = connect(platform.clickhouse, readonly=True)
    publisher = KafkaPublisher(platform.bootstrap, "govmail-report")
    directory = RedisDirectory.from_url(platform.redis)
    try:
        await publisher.start(wait=20)
        mailer = SystemMailer(publisher, FileBlobStore.from_uri(platform.blobs), directory, "analytics")
        reporter = Reporter(platform, settings, await direct_query(client), mailer, directory)
        if args.kind_of_report == "health":
            return await reporter.send_health(recipients=args.to)
        return await reporter.send_periodic(args.domain, args.unit, args.kind, args.year, args.to)
    finally:
        await publisher.stop()
        await directory.close()
        client.close()


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="govmail report", description="Mail a report now.")
    commands = top.add_subparsers(dest="kind_of_report", required=True)
    health = commands.add_parser("health", help="the health self-check report (R30)")
    health.add_argument("--now", action="store_true", required=True, help="send it now (the service also sends it "
                        "daily at ANALYTICS_HEALTH_AT)")
    periodic = commands.add_parser("periodic", help="a unit's semi-annual or annual report with its PDF (R33)")
    periodic.add_argument("--domain", required=True, help="mail domain of the unit tree")
    periodic.add_argument("--unit", required=True, help="unit code; the report rolls up every unit below it")
    periodic.add_argument("--kind", choices=("h1", "h2", "year"), default="year", help="half-year or year")
    periodic.add_argument("--year", type=int, required=True)
    for command in (health, periodic):
        command.add_argument("--to", action="append", help="recipient (repeatable); added to ANALYTICS_REPORT_RECIPIENTS")
        command.add_argument("--url", help="analytics service URL (default: from GOVMAIL_HOST and GOVMAIL_ANALYTICS_PORT)")
        command.add_argument("--data-dir", type=Path, help="data folder of the platform (default: GOVMAIL_DATA_DIR)")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    platform = PlatformSettings(**({"data_dir": args.data_dir} if args.data_dir else {}))
    settings = AnalyticsSettings()
    url = args.url or service_url(platform)
    params = {"to": ",".join(args.to or [])}
    if args.kind_of_report == "periodic":
        params.update(domain=args.domain, unit=args.unit, kind=args.kind, year=str(args.year))
    try:
        sent = fetch(url, f"/reports/{args.kind_of_report}", params, method="POST", timeout=300)
        if sent is None:
            print(f"govmail report: the analytics service is not reachable at {url}; reading "
                  f"{platform.clickhouse} directly", file=sys.stderr)
            sent = asyncio.run(send_directly(platform, settings, args))
    except (StatsError, NoRecipients, WarehouseUnavailable, ValueError) as exc:
        print(f"govmail report: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(sent, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
