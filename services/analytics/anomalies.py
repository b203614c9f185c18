"""Anomalies (R30, R9, R21, R23): threat rates, attacked accounts, unusual places, sending spikes, long-inactive accounts.

Every query counts an event once however often it was replayed: raw tables are read with FINAL
or through aggregates that a repeated row cannot change (min, max, distinct counts).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from services.analytics.period import BadParameter, Period
from services.analytics.stats import ACCOUNT_UNITS
from services.analytics.warehouse import query_dicts

THREAT_BUCKETS = ("day", "week", "month")
_BUCKET = {"day": "toString(day)", "week": "toString(toMonday(day))", "month": "formatDateTime(day, '%Y-%m')"}
_THREATS_SQL = """
SELECT {bucket} AS bucket,
       sum(threat_daily.scanned) AS scanned_n,
       sum(threat_daily.spam) AS spam_n,
       sum(threat_daily.virus) AS virus_n,
       sum(threat_daily.phishing) AS phishing_n,
       sum(threat_daily.rejected) AS rejected_n,
       sum(threat_daily.quarantined) AS quarantined_n
FROM threat_daily
WHERE day BETWEEN {{start:Date}} AND {{end:Date}}
  AND ({{direction:String}} = '' OR direction = {{direction:String}})
GROUP BY bucket
ORDER BY bucket
"""


def threats(client: Client, period: Period, bucket: str = "day", direction: str = "") -> list[dict[str, Any]]:
    """Scanned messages per local (Asia/Ho_Chi_Minh) day, week or month with spam, virus and phishing counts and rates.

    Read from the roll-up `threat_daily`, whose days are those of the province's time zone.
    """
    if bucket not in THREAT_BUCKETS:
        raise BadParameter("bucket", f"bucket must be one of {', '.join(THREAT_BUCKETS)}, not {bucket!r}")
    if direction not in ("", "inbound", "outbound", "internal"):
        raise BadParameter("direction", f"direction must be inbound, outbound or internal, not {direction!r}")
    rows = query_dicts(client, _THREATS_SQL.format(bucket=_BUCKET[bucket]), {**period.params, "direction": direction})
    result = []
    for row in rows:
        scanned = int(row["scanned_n"])
        item = {"bucket": row["bucket"], **{k: int(row[f"{k}_n"]) for k in
                                            ("scanned", "spam", "virus", "phishing", "rejected", "quarantined")}}
        for kind in ("spam", "virus", "phishing"):
            item[f"{kind}_rate"] = round(item[kind] / scanned, 4) if scanned else None
        result.append(item)
    return result


_BRUTE_FORCE_SQL = """
WITH per_ip AS (
    SELECT lower(username) AS account, ip, countIf(outcome = 'failure') AS failures,
           countIf(outcome IN ('lockout', 'blocked')) AS lockouts, max(occurred_at) AS last_at
    FROM auth_events FINAL
    WHERE toDate(occurred_at, {tz:String}) BETWEEN {start:Date} AND {end:Date}
    GROUP BY account, ip
)
SELECT account, sum(failures) AS total_failures, sum(lockouts) AS total_lockouts,
       countIf(failures > 0) AS source_ips,
       arraySlice(arrayReverseSort(x -> x.2, groupArrayIf((ip, failures), failures > 0)), 1, 10) AS top_ips,
       toString(max(last_at)) AS last_failure_at
FROM per_ip
GROUP BY account
HAVING total_failures >= {min_failures:UInt32}
ORDER BY total_failures DESC, account
LIMIT {limit:UInt32}
"""


def brute_force(client: Client, period: Period, min_failures: int = 10, limit: int = 100) -> list[dict[str, Any]]:
    """Accounts with at least `min_failures` failed logins in the period, with the IPs they came from."""
    rows = query_dicts(client, _BRUTE_FORCE_SQL, {**period.params, "min_failures": min_failures, "limit": limit})
    return [{
        "account": row["account"], "failures": int(row["total_failures"]), "lockouts": int(row["total_lockouts"]),
        "source_ips": int(row["source_ips"]),
        "top_ips": [{"ip": ip, "failures": int(n)} for ip, n in row["top_ips"]],
        "last_at": row["last_failure_at"],
    } for row in rows]


_PLACES_SQL = """
WITH firsts AS (
    SELECT lower(username) AS account, place, min(occurred_at) AS first_at,
           argMin(ip, occurred_at) AS ip, argMin(toString(service), occurred_at) AS service
    FROM auth_events
    WHERE outcome = 'success' AND place != ''
    GROUP BY account, place
),
known AS (
    SELECT account, min(first_at) AS account_first FROM firsts GROUP BY account
)
SELECT f.account AS account, f.place AS place, toString(f.first_at) AS first_at, f.ip AS ip, f.service AS service,
       arrayFilter(p -> p != f.place, groupArray(g.place)) AS usual_places
FROM firsts AS f
INNER JOIN known AS k ON k.account = f.account
INNER JOIN firsts AS g ON g.account = f.account AND g.first_at < f.first_at
WHERE f.first_at > k.account_first
  AND toDate(f.first_at, {tz:String}) BETWEEN {start:Date} AND {end:Date}
GROUP BY f.account, f.place, f.first_at, f.ip, f.service
ORDER BY f.first_at DESC, account
"""


def unusual_places(client: Client, period: Period) -> list[dict[str, Any]]:
    """Successful logins in the period from a place the account had never logged in from before."""
    return [{**row, "usual_places": sorted(row["usual_places"])} for row in query_dicts(client, _PLACES_SQL, period.params)]


_SENDING_SQL = """
WITH daily AS (
    SELECT account, day, sum(mail_daily.sent) AS day_sent
    FROM mail_daily
    WHERE mail_daily.sent > 0 AND day BETWEEN {start:Date} - {window:UInt16} AND {end:Date}
    GROUP BY account, day
),
scored AS (
    SELECT account, day, day_sent AS sent,
           sum(day_sent) OVER w AS history_sum,
           sum(day_sent * day_sent) OVER w AS history_squares
    FROM daily
    WINDOW w AS (PARTITION BY account ORDER BY toUInt32(day)
                 RANGE BETWEEN {window:UInt16} PRECEDING AND 1 PRECEDING)
)
SELECT account, toString(day) AS sent_day, sent,
       history_sum / {window:UInt16} AS mean,
       sqrt(greatest(history_squares / {window:UInt16} - pow(history_sum / {window:UInt16}, 2), 0)) AS stddev
FROM scored
WHERE day BETWEEN {start:Date} AND {end:Date}
  AND sent >= {min_sent:UInt32}
  AND sent > mean + {sigmas:Float64} * stddev
ORDER BY day DESC, sent DESC, account
"""


def abnormal_sending(client: Client, period: Period, window: int = 30, sigmas: float = 3.0, min_sent: int = 10
                     ) -> list[dict[str, Any]]:
    """Account-days whose sent count exceeds mean + sigmas·σ of the account's previous `window` days (idle days count 0)."""
    rows = query_dicts(client, _SENDING_SQL, {**period.params, "window": window, "sigmas": sigmas, "min_sent": min_sent})
    return [{"account": r["account"], "day": r["sent_day"], "sent": int(r["sent"]),
             "mean": round(float(r["mean"]), 3), "stddev": round(float(r["stddev"]), 3)} for r in rows]


_INACTIVE_SQL = """
WITH {units},
accounts AS (
    SELECT lower(address) AS account, minIf(occurred_at, kind = 'account_created') AS created_at,
           countIf(kind = 'account_deleted') > 0 AS deleted
    FROM account_events
    WHERE address != ''
    GROUP BY account
    HAVING countIf(kind = 'account_created') > 0 AND NOT deleted
),
logins AS (
    SELECT lower(username) AS account, max(occurred_at) AS last_login
    FROM auth_events
    WHERE outcome = 'success'
    GROUP BY account
),
idle AS (
    SELECT a.account AS account, u.account_unit AS unit, a.created_at AS created_at,
           l.last_login AS last_login, l.account != '' AS logged_in,
           if(logged_in, l.last_login, a.created_at) AS since,
           {{now:DateTime64(3, 'UTC')}} AS now_
    FROM accounts AS a
    LEFT JOIN logins AS l ON l.account = a.account
    LEFT JOIN account_units AS u ON u.account = a.account
)
SELECT account, unit, toString(created_at) AS created_at, if(logged_in, toString(last_login), '') AS last_login,
       dateDiff('day', since, now_) AS idle_days,
       multiIf(addMonths(since, 12) <= now_, 'over_12_months',
               addMonths(since, 12) - toIntervalDay({{warn_days:UInt16}}) <= now_, 'approaching_12_months',
               addMonths(since, 6) <= now_, 'over_6_months',
               addMonths(since, 6) - toIntervalDay({{warn_days:UInt16}}) <= now_, 'approaching_6_months', '') AS status
FROM idle
WHERE status != ''
ORDER BY idle_days DESC, account
"""


def inactive(client: Client, now: datetime | None = None, warn_days: int = 30) -> list[dict[str, Any]]:
    """Accounts without a successful login (or, never logged in, since creation) near or past 6 and 12 months (R9)."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    rows = query_dicts(client, _INACTIVE_SQL.format(units=ACCOUNT_UNITS), {"now": moment, "warn_days": warn_days})
    return [{**row, "idle_days": int(row["idle_days"])} for row in rows]
