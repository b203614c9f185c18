"""The statistics queries, run on any clickhouse-connect client (the service's, or the CLI's own read-only one).

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

from typing import Any

from clickhouse_connect.driver.client import Client

from services.analytics.warehouse import query_dicts

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
