"""`govmail stats …`: statistics from the running analytics service, or straight from ClickHouse when it is not running."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client

from services.analytics import catalog, readonly_sql, stats
from services.analytics.warehouse import WarehouseUnavailable, connect
from services.common.settings import PlatformSettings

TIMEOUT = 30.0


class StatsError(Exception):
    """The statistics could not be fetched; the message says why, for a person."""


def service_url(platform: PlatformSettings) -> str:
    # A service bound to every interface is still reached through loopback.
    host = "127.0.0.1" if platform.host in ("", "0.0.0.0", "::") else platform.host
    return f"http://{host}:{platform.analytics_port}"


def fetch(url: str, path: str, params: dict[str, str], method: str = "GET", timeout: float = TIMEOUT
          ) -> dict[str, Any] | None:
    """Ask the service for a JSON document; None when nothing answers at url (the service is not running)."""
    full = f"{url.rstrip('/')}{path}?{urllib.parse.urlencode(params)}"
    request = urllib.request.Request(full, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read().decode("utf-8")).get("detail", exc.reason)
        except ValueError:
            detail = exc.reason
        raise StatsError(f"the analytics service at {url} answered {exc.code}: {detail}") from exc
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def from_service_or_directly(platform: PlatformSettings, url: str, path: str, params: dict[str, str],
                             read: Callable[[Client], dict[str, Any]]) -> dict[str, Any]:
    """The service's document, or, when nothing answers, `read` run on a read-only ClickHouse client of our own."""
    document = fetch(url, path, params)
    if document is not None:
        return document
    try:
        client = connect(platform.clickhouse, readonly=True)
    except WarehouseUnavailable as exc:
        raise StatsError(
            f"the analytics service is not reachable at {url}, and ClickHouse ({platform.clickhouse}) "
            f"cannot be read directly: {exc}"
        ) from exc
    try:
        document = read(client)
    finally:
        client.close()
    print(f"govmail stats: the analytics service is not reachable at {url}; read {platform.clickhouse} directly",
          file=sys.stderr)
    return document


def volume(platform: PlatformSettings, url: str, by: str) -> dict[str, Any]:
    """The document of GET /stats/volume."""
    return from_service_or_directly(platform, url, "/stats/volume", {"by": by}, lambda client: {
        "by": by, "counting": "recipients", "rows": stats.volume(client, by)})


def statistic(platform: PlatformSettings, url: str, name: str, query: dict[str, str]) -> dict[str, Any]:
    """A catalog statistic (or, as `sql`, a read-only query) from the service or read directly."""
    if name == "sql":
        return from_service_or_directly(platform, url, "/sql", query, lambda client: readonly_sql.run(client, query["q"]))
    return from_service_or_directly(platform, url, f"/stats/{name}", query,
                                    lambda client: catalog.run(client, name, query))


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def grid(header: list[str], body: list[list[str]]) -> str:
    """Columns padded to their terminal width; the first left-aligned, the others right-aligned."""
    widths = [max(width(line[i]) for line in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0] + " " * (widths[0] - width(cells[0]))
        rest = [" " * (widths[i] - width(cells[i])) + cells[i] for i in range(1, len(cells))]
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(cells) for cells in body)])


def rows_table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    if not rows and not columns:
        return "(no rows)"
    header = columns or list(rows[0])
    return grid(header, [[cell(row[c]) if isinstance(row, dict) else cell(row[i]) for i, c in enumerate(header)]
                         for row in rows])


def rows_csv(rows: list[Any], columns: list[str] | None = None) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = columns or (list(rows[0]) if rows else [])
    writer.writerow(header)
    for row in rows:
        values = [row[c] for c in header] if isinstance(row, dict) else list(row)
        writer.writerow([cell(v) if isinstance(v, list | dict | type(None)) else v for v in values])
    return out.getvalue()


def width(text: str) -> int:
    """Columns a string takes in a terminal (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def render_table(by: str, rows: list[dict[str, Any]]) -> str:
    """The volume table with a total line under a second rule."""
    header = [by, *stats.VOLUME_COLUMNS]
    body = [[row[by] or "(none)", *(str(row[c]) for c in stats.VOLUME_COLUMNS)] for row in rows]
    total = ["total", *(str(sum(row[c] for row in rows)) for c in stats.VOLUME_COLUMNS)]
    lines = grid(header, [*body, total]).split("\n")
    return "\n".join([*lines[:-1], lines[1], lines[-1]])


def common(command: argparse.ArgumentParser) -> None:
    output = command.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the JSON document instead of a table")
    output.add_argument("--csv", action="store_true", help="print CSV (a header line, then one line per row)")
    command.add_argument("--url", help="analytics service URL (default: from GOVMAIL_HOST and GOVMAIL_ANALYTICS_PORT)")
    command.add_argument("--data-dir", type=Path, help="data folder of the platform (default: GOVMAIL_DATA_DIR or ./data)")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="govmail stats", description="Print statistics from ClickHouse.")
    commands = top.add_subparsers(dest="command", required=True)
    for name, stat in catalog.STATISTICS.items():
        sub = commands.add_parser(name, help=stat.help, description=stat.help)
        if stat.by:
            sub.add_argument("--by", choices=stat.by, help=f"group by (default: {stat.by[0]})")
        sub.add_argument("--start", help="first local day, YYYY-MM-DD (default: 30 days ago)")
        sub.add_argument("--end", help="last local day, YYYY-MM-DD (default: today)")
        sub.add_argument("--tz", help="time zone of the days (default: Asia/Ho_Chi_Minh)")
        sub.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                         help="further parameter of the statistic, e.g. min_failures=5 (see docs/analytics.md)")
        common(sub)
    query = commands.add_parser("sql", help="run one read-only SELECT query",
                                description="Run one SELECT or WITH query with ClickHouse's readonly setting.")
    query.add_argument("query", help="the SQL text")
    common(query)
    vol = commands.add_parser(
        "volume",
        help="received / delivered / rejected / quarantined mail, counted per recipient",
        description="Mail volume counted per recipient. Asks the running analytics service; when it is "
        "not running, reads ClickHouse directly (chDB: only when no other process holds the data).",
    )
    vol.add_argument("--by", choices=stats.VOLUME_BY, default="unit", help="group by the recipient's unit or "
                     "address, or by UTC day (default: unit)")
    common(vol)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    platform = PlatformSettings(**({"data_dir": args.data_dir} if args.data_dir else {}))
    url = args.url or service_url(platform)
    try:
        if args.command == "volume":
            document = volume(platform, url, args.by)
        elif args.command == "sql":
            document = statistic(platform, url, "sql", {"q": args.query})
        else:
            document = statistic(platform, url, args.command, query_of(args))
    except StatsError as exc:
        print(f"govmail stats: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # a bad parameter, caught before asking anyone
        print(f"govmail stats: {exc}", file=sys.stderr)
        return 2
    columns = document.get("columns")
    if args.json:
        print(json.dumps(document, ensure_ascii=False, indent=2))
    elif args.csv:
        print(rows_csv(document["rows"], columns), end="")
    elif args.command == "volume":
        print(render_table(args.by, document["rows"]))
    else:
        print(rows_table(document["rows"], columns))
    return 0


def query_of(args: argparse.Namespace) -> dict[str, str]:
    query = {name: value for name in ("by", "start", "end", "tz") if (value := getattr(args, name, None))}
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--param takes NAME=VALUE, not {item!r}")
        query[name] = value
    return query


if __name__ == "__main__":
    sys.exit(main())
