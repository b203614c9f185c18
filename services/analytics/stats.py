"""Volume statistics, mailbox space and administrator operations, run on any clickhouse-connect client.

`traffic` and `space` read the daily roll-up `mail_daily` (per local day, unit, account and
direction); `hourly` reads the raw received mail. `volume` below is the per-recipient outcome
count of the first version, kept for its API.

Mail volume is counted per recipient: one message to three recipients is three. A
recipient of a message (the pair message_id + recipient) counts at most once in each column
however many events mention it, which makes replays, rescans and republishes harmless:
- received: the pair is among the RFC5321.RcptTo of a MailReceived (ingress answered 250);
- delivered: a MailDelivery with status delivered;
- rejected: the scanner's action was reject, or a MailDelivery with status rejected or bounced;
- quarantined: the scanner's action was quarantine, or a MailDelivery with status quarantined.
Deferred, dropped and accepted-but-not-yet-delivered recipients are in none of the last three.

Rows are attributed to the recipient: `account` is the recipient address (lower case), `unit`
the recipient's unit (from delivery, else from the account's latest account event, else empty:
an outside address), `day` the UTC day the pair was first seen (normally when ingress received it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clickhouse_connect.driver.client import Client

from services.analytics.period import BadParameter, Period
from services.analytics.warehouse import query_dicts

# The unit of each account: the latest non-empty unit its account events gave (R7 moves are followed).
ACCOUNT_UNITS = """
account_units AS (
    SELECT lower(address) AS account, argMaxIf(toString(unit), occurred_at, unit != '') AS account_unit
    FROM account_events
    WHERE address != ''
    GROUP BY account
)"""

TRAFFIC_BY = ("unit", "account", "day", "direction", "month")
TRAFFIC_COLUMNS = ("received", "sent", "delivered", "deferred", "bounced", "spam", "virus", "phishing",
                   "quarantined", "received_bytes", "sent_bytes")
_TRAFFIC_KEY = {
    "unit": "resolved_unit",
    "account": "d.account",
    "day": "toString(d.day)",
    "direction": "toString(d.direction)",
    "month": "formatDateTime(d.day, '%Y-%m')",
}
_TRAFFIC_SQL = """
WITH {units}
SELECT {key} AS key, {sums}
FROM mail_daily AS d
LEFT JOIN account_units AS u ON d.account = u.account
WHERE d.day BETWEEN {{start:Date}} AND {{end:Date}} AND ({where})
GROUP BY key
ORDER BY key
"""
RESOLVED_UNIT = "if(u.account_unit != '', u.account_unit, toString(d.unit))"


# The tables are partitioned by the month of occurred_at; a statistic filtered on another time
# (received_at, or a local day) adds this loose bound so that ClickHouse skips other months.
# Events happen within two days of the time they are counted by (a verdict, a delivery).
NEAR_PERIOD = ("occurred_at >= toDateTime({start:Date}, 'UTC') - INTERVAL 2 DAY "
               "AND occurred_at < toDateTime({end:Date}, 'UTC') + INTERVAL 3 DAY")


def _key(by: str, allowed: tuple[str, ...]) -> None:
    if by not in allowed:
        raise BadParameter("by", f"by must be one of {', '.join(allowed)}, not {by!r}")


def traffic(client: Client, by: str, period: Period, units: Sequence[str] | None = None, account: str | None = None
            ) -> list[dict[str, Any]]:
    """Mail per unit, account, local day, month or direction from the daily roll-up (day of Asia/Ho_Chi_Minh).

    `units` keeps the accounts of those units only; `account` one account.
    """
    _key(by, TRAFFIC_BY)
    conditions = ["1"]
    if units:
        conditions.append(f"has({{units:Array(String)}}, {RESOLVED_UNIT})")
    if account:
        conditions.append("d.account = lower({account:String})")
    sums = ", ".join(f"sum(d.{c}) AS {c}" for c in TRAFFIC_COLUMNS)
    sql = _TRAFFIC_SQL.format(units=ACCOUNT_UNITS, key=_TRAFFIC_KEY[by].replace("resolved_unit", RESOLVED_UNIT),
                              sums=sums, where=" AND ".join(conditions))
    rows = query_dicts(client, sql, {**period.params, "units": list(units or []), "account": account or ""})
    return [{by: row["key"], **{c: int(row[c]) for c in TRAFFIC_COLUMNS}} for row in rows]


_HOURLY_SQL = """
SELECT toHour(at, {tz:String}) AS hour,
       sum(if(direction_ = 'outbound', 0, recipients)) AS received,
       countIf(direction_ != 'inbound' AND sender != '') AS sent,
       count() AS messages
FROM (
    -- One row per message (a replay or a republish from the spool is the same message).
    SELECT message_id, min(received_at) AS at, any(direction) AS direction_, max(rcpt_count) AS recipients,
           any(mail_from) AS sender
    FROM mail_received
    WHERE toDate(received_at, {tz:String}) BETWEEN {start:Date} AND {end:Date} AND {near_period}
    GROUP BY message_id
)
GROUP BY hour
ORDER BY hour
"""


def hourly(client: Client, period: Period) -> list[dict[str, Any]]:
    """Mail accepted per local hour of the day over the period (received counts recipients)."""
    sql = _HOURLY_SQL.replace("{near_period}", NEAR_PERIOD)
    return [{k: int(v) for k, v in row.items()} for row in query_dicts(client, sql, period.params)]


SPACE_BY = ("account", "unit")
_SPACE_SQL = """
WITH {units}
SELECT {key} AS key, sum(d.delivered_bytes) AS bytes, sum(d.delivered) AS messages
FROM mail_daily AS d
LEFT JOIN account_units AS u ON d.account = u.account
WHERE d.direction != 'outbound'
GROUP BY key
HAVING messages > 0
ORDER BY bytes DESC, key
LIMIT {{limit:UInt32}}
"""


def space(client: Client, by: str, limit: int = 1000) -> list[dict[str, Any]]:
    """Mailbox space per account or unit: octets of all mail delivered into the mailboxes.

    An upper bound of what the mailboxes hold: deletions carry no size. The health report
    adds the space the mail folders really take on disk.
    """
    _key(by, SPACE_BY)
    key = "d.account" if by == "account" else RESOLVED_UNIT
    rows = query_dicts(client, _SPACE_SQL.format(units=ACCOUNT_UNITS, key=key), {"limit": limit})
    return [{by: row["key"], "bytes": int(row["bytes"]), "messages": int(row["messages"])} for row in rows]


ADMIN_BY = ("admin", "action", "outcome")
_ADMIN_COUNTS_SQL = """
SELECT admin, toString(action) AS action, toString(outcome) AS outcome, count() AS operations
FROM admin_audit FINAL
WHERE toDate(occurred_at, {tz:String}) BETWEEN {start:Date} AND {end:Date}
GROUP BY admin, action, outcome
ORDER BY admin, action, outcome
"""
_ADMIN_LIST_SQL = """
SELECT toString(occurred_at) AS occurred_at, admin, toString(action) AS action, target,
       toString(outcome) AS outcome, details
FROM admin_audit FINAL
WHERE toDate(occurred_at, {tz:String}) BETWEEN {start:Date} AND {end:Date}
  AND ({admin:String} = '' OR admin = {admin:String})
ORDER BY occurred_at DESC, event_id
LIMIT {limit:UInt32}
"""


def admin_operations(client: Client, period: Period) -> list[dict[str, Any]]:
    """Administrator operations counted per administrator, action and outcome (R27, R31)."""
    return [{**row, "operations": int(row["operations"])} for row in query_dicts(client, _ADMIN_COUNTS_SQL, period.params)]


def admin_log(client: Client, period: Period, admin: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """The administrator operations themselves, newest first."""
    return query_dicts(client, _ADMIN_LIST_SQL, {**period.params, "admin": admin or "", "limit": limit})

VOLUME_BY = ("unit", "account", "day")
VOLUME_COLUMNS = ("received", "delivered", "rejected", "quarantined")

_VOLUME_KEY = {
    "unit": "if(p.unit_hint != '', p.unit_hint, u.unit)",
    "account": "p.recipient",
    "day": "toString(toDate(p.first_at))",
}

_VOLUME_SQL = """
WITH
outcomes AS (
    SELECT message_id, lower(rcpt) AS recipient, 'received' AS outcome, '' AS unit_hint, received_at AS at
    FROM mail_received ARRAY JOIN rcpt_to AS rcpt
    UNION ALL
    SELECT message_id, lower(rcpt), if(action = 'reject', 'rejected', 'quarantined'), '', received_at
    FROM mail_scanned ARRAY JOIN rcpt_to AS rcpt
    WHERE action IN ('reject', 'quarantine')
    UNION ALL
    SELECT message_id, lower(recipient),
           multiIf(status = 'delivered', 'delivered', status = 'quarantined', 'quarantined', 'rejected'),
           toString(recipient_unit), occurred_at
    FROM mail_delivery
    WHERE status IN ('delivered', 'quarantined', 'rejected', 'bounced')
),
pairs AS (
    SELECT message_id, recipient,
           max(outcome = 'received') AS received,
           max(outcome = 'delivered') AS delivered,
           max(outcome = 'rejected') AS rejected,
           max(outcome = 'quarantined') AS quarantined,
           anyIf(unit_hint, unit_hint != '') AS unit_hint,
           min(at) AS first_at
    FROM outcomes
    GROUP BY message_id, recipient
),
units AS (
    SELECT lower(address) AS address, argMaxIf(toString(unit), occurred_at, unit != '') AS unit
    FROM account_events
    WHERE address != ''
    GROUP BY address
)
SELECT {key} AS key,
       sum(p.received) AS received,
       sum(p.delivered) AS delivered,
       sum(p.rejected) AS rejected,
       sum(p.quarantined) AS quarantined
FROM pairs AS p
LEFT JOIN units AS u ON p.recipient = u.address
GROUP BY key
ORDER BY key
"""


def volume(client: Client, by: str) -> list[dict[str, Any]]:
    """Rows of {by: key, received, delivered, rejected, quarantined}, ordered by key."""
    if by not in VOLUME_BY:
        raise ValueError(f"by must be one of {', '.join(VOLUME_BY)}")
    rows = query_dicts(client, _VOLUME_SQL.format(key=_VOLUME_KEY[by]))
    return [{by: row["key"], **{c: int(row[c]) for c in VOLUME_COLUMNS}} for row in rows]


_DEAD_LETTERS_SQL = """
SELECT event_id, toString(occurred_at) AS occurred_at, dlq_topic, source_topic, partition, offset, key,
       consumer, reason, error, payload
FROM dead_letters FINAL
WHERE {where}
ORDER BY occurred_at DESC, event_id
LIMIT {{limit:UInt32}}
"""


def dead_letters(client: Client, source_topic: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The latest dead letters, newest first, optionally of one source topic."""
    where = "source_topic = {source_topic:String}" if source_topic else "1"
    sql = _DEAD_LETTERS_SQL.format(where=where)
    return query_dicts(client, sql, {"source_topic": source_topic or "", "limit": limit})
