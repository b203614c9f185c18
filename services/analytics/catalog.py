"""Every statistic by name, with its parameters read from a query string: the one list the HTTP API and the CLI share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from services.analytics import anomalies, efficiency, stats
from services.analytics.period import BadParameter, Period

Query = dict[str, str]


def whole(query: Query, name: str, default: int, low: int = 0, high: int = 1_000_000) -> int:
    raw = query.get(name, str(default))
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise BadParameter(name, f"{name} must be a whole number from {low} to {high}, not {raw!r}")
    return int(raw)


def number(query: Query, name: str, default: float) -> float:
    raw = query.get(name, str(default))
    try:
        return float(raw)
    except ValueError as exc:
        raise BadParameter(name, f"{name} must be a number, not {raw!r}") from exc


def moment(query: Query, name: str) -> datetime | None:
    raw = query.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise BadParameter(name, f"{name} must be an ISO-8601 time, not {raw!r}") from exc
    if value.tzinfo is None:
        raise BadParameter(name, f"{name} must carry its UTC offset, e.g. 2026-11-21T07:00:00+07:00")
    return value


@dataclass(frozen=True)
class Statistic:
    help: str
    run: Callable[[Client, Query], list[dict[str, Any]]]
    by: tuple[str, ...] = ()


STATISTICS: dict[str, Statistic] = {
    "traffic": Statistic(
        "mail per unit, account, day, month or direction (received, sent, delivered, deferred, bounced, …)",
        lambda c, q: stats.traffic(c, q.get("by", "unit"), Period.from_query(q),
                                   [q["unit"]] if q.get("unit") else None, q.get("account")),
        stats.TRAFFIC_BY),
    "hourly": Statistic("mail accepted per local hour of the day",
                        lambda c, q: stats.hourly(c, Period.from_query(q))),
    "space": Statistic("mailbox space per account or unit (octets delivered)",
                       lambda c, q: stats.space(c, q.get("by", "account"), whole(q, "limit", 1000, 1)),
                       stats.SPACE_BY),
    "efficiency": Statistic(
        "time from delivery to first opening and reply (median, p90) and share opened the same working day",
        lambda c, q: efficiency.efficiency(c, q.get("by", "unit"), Period.from_query(q)), efficiency.EFFICIENCY_BY),
    "compliance": Statistic(
        "mailboxes checked morning and afternoon (unit mailboxes: daily) on working days, per mailbox or unit",
        lambda c, q: efficiency.compliance(c, q.get("by", "unit"), Period.from_query(q), whole(q, "noon", 12, 1, 23)),
        efficiency.COMPLIANCE_BY),
    "threats": Statistic(
        "spam, virus and phishing counts and rates per day, week or month",
        lambda c, q: anomalies.threats(c, Period.from_query(q), q.get("by", "day"), q.get("direction", "")),
        anomalies.THREAT_BUCKETS),
    "attacked": Statistic(
        "accounts under brute-force attack: failed logins and their source IPs",
        lambda c, q: anomalies.brute_force(c, Period.from_query(q), whole(q, "min_failures", 10, 1),
                                           whole(q, "limit", 100, 1, 10000))),
    "places": Statistic("successful logins from a place new for the account",
                        lambda c, q: anomalies.unusual_places(c, Period.from_query(q))),
    "sending": Statistic(
        "abnormal sending: a day's count above mean + sigmas·σ of the account's previous days",
        lambda c, q: anomalies.abnormal_sending(c, Period.from_query(q), whole(q, "window", 30, 2, 365),
                                                number(q, "sigmas", 3.0), whole(q, "min_sent", 10))),
    "inactive": Statistic(
        "accounts near or past 6 and 12 months without a login (R9)",
        lambda c, q: anomalies.inactive(c, moment(q, "now"), whole(q, "warn_days", 30, 0, 180))),
    "admin": Statistic("administrator operations counted per administrator, action and outcome",
                       lambda c, q: stats.admin_operations(c, Period.from_query(q))),
    "admin-log": Statistic(
        "administrator operations, newest first",
        lambda c, q: stats.admin_log(c, Period.from_query(q), q.get("admin"), whole(q, "limit", 200, 1, 10000))),
}


def run(client: Client, name: str, query: Query) -> dict[str, Any]:
    """The document a statistic answers with: its name, parameters and rows."""
    statistic = STATISTICS[name]
    if statistic.by and query.get("by") is not None and query["by"] not in statistic.by:
        raise BadParameter("by", f"by must be one of {', '.join(statistic.by)}, not {query['by']!r}")
    return {"statistic": name, "parameters": dict(query), "rows": statistic.run(client, query)}
