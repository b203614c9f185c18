"""`govmail stats …`: statistics from the running analytics service, or straight from ClickHouse when it is not running."""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from services.analytics import stats
from services.analytics.warehouse import WarehouseUnavailable, connect
from services.common.settings import PlatformSettings

TIMEOUT = 30.0


class StatsError(Exception):
    """The statistics could not be fetched; the message says why, for a person."""


def service_url(platform: PlatformSettings) -> str:
    # A service bound to every interface is still reached through loopback.
    host = "127.0.0.1" if platform.host in ("", "0.0.0.0", "::") else platform.host
    return f"http://{host}:{platform.analytics_port}"


def fetch(url: str, path: str, params: dict[str, str]) -> dict[str, Any] | None:
    """GET a statistics document; None when nothing answers at url (the service is not running)."""
    full = f"{url.rstrip('/')}{path}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(full, timeout=TIMEOUT) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read().decode("utf-8")).get("detail", exc.reason)
        except ValueError:
            detail = exc.reason
        raise StatsError(f"the analytics service at {url} answered {exc.code}: {detail}") from exc
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def volume_direct(dsn: str, by: str) -> dict[str, Any]:
    """The same document as GET /stats/volume, read from ClickHouse with a read-only client of our own."""
    client = connect(dsn, readonly=True)
    try:
        return {"by": by, "counting": "recipients", "rows": stats.volume(client, by)}
    finally:
        client.close()


def volume(platform: PlatformSettings, url: str, by: str) -> dict[str, Any]:
    document = fetch(url, "/stats/volume", {"by": by})
    if document is not None:
        return document
    try:
        document = volume_direct(platform.clickhouse, by)
    except WarehouseUnavailable as exc:
        raise StatsError(
            f"the analytics service is not reachable at {url}, and ClickHouse ({platform.clickhouse}) "
            f"cannot be read directly: {exc}"
        ) from exc
    print(f"govmail stats: the analytics service is not reachable at {url}; read {platform.clickhouse} directly",
          file=sys.stderr)
    return document


def width(text: str) -> int:
    """Columns a string takes in a terminal (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def render_table(by: str, rows: list[dict[str, Any]]) -> str:
    header = [by, *stats.VOLUME_COLUMNS]
    totals = {c: sum(row[c] for row in rows) for c in stats.VOLUME_COLUMNS}
    body = [[row[by] or "(none)", *(str(row[c]) for c in stats.VOLUME_COLUMNS)] for row in rows]
    body.append(["total", *(str(totals[c]) for c in stats.VOLUME_COLUMNS)])
    widths = [max(width(line[i]) for line in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0] + " " * (widths[0] - width(cells[0]))
        rest = [" " * (widths[i] - width(cells[i])) + cells[i] for i in range(1, len(cells))]
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(cells) for cells in body[:-1]), rule, line(body[-1])])


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="govmail stats", description="Print statistics from ClickHouse.")
    commands = top.add_subparsers(dest="command", required=True)
    vol = commands.add_parser(
        "volume",
        help="received / delivered / rejected / quarantined mail, counted per recipient",
        description="Mail volume counted per recipient. Asks the running analytics service; when it is "
        "not running, reads ClickHouse directly (chDB: only when no other process holds the data).",
    )
    vol.add_argument("--by", choices=stats.VOLUME_BY, default="unit", help="group by the recipient's unit or "
                     "address, or by UTC day (default: unit)")
    vol.add_argument("--json", action="store_true", help="print the JSON document instead of a table")
    vol.add_argument("--url", help="analytics service URL (default: from GOVMAIL_HOST and GOVMAIL_ANALYTICS_PORT)")
    vol.add_argument("--data-dir", type=Path, help="data folder of the platform (default: GOVMAIL_DATA_DIR or ./data)")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    platform = PlatformSettings(**({"data_dir": args.data_dir} if args.data_dir else {}))
    url = args.url or service_url(platform)
    try:
        document = volume(platform, url, args.by)
    except StatsError as exc:
        print(f"govmail stats: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        print(render_table(args.by, document["rows"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
