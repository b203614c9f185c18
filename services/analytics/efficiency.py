"""Processing efficiency (how fast delivered mail is opened and answered) and compliance (R31, R32).

Definitions (docs/analytics.md says the same):
- A delivery is a (message, local mailbox) pair with a `delivered` event of inbound or internal
  mail; its time is the first such event, its local day decides whether it is in the period
  (only events within two days of the period are read: the monthly partitions are pruned).
- Its first opening / reply is the earliest `opened` / `replied` activity on that pair.
- Median and p90 use the nearest-rank method: the ceil(q·n)-th smallest of the n delays.
- Opened the same working day: the first opening falls on or before the delivery's working day
  (the local day of delivery, or the next Monday for mail delivered on a Saturday or Sunday).
- Compliance: on each working day (Mon–Fri, local) a personal mailbox must be checked (an
  `opened` or `replied` activity) in the morning (before `noon`) and in the afternoon; a unit
  mailbox once. A mailbox counts from the day its account was created until it was deleted.
"""

from __future__ import annotations

from typing import Any

from clickhouse_connect.driver.client import Client

from services.analytics.period import BadParameter, Period
from services.analytics.stats import ACCOUNT_UNITS, NEAR_PERIOD
from services.analytics.warehouse import query_dicts

EFFICIENCY_BY = ("account", "unit")

_EFFICIENCY_SQL = """
WITH {units},
deliveries AS (
    SELECT message_id, lower(recipient) AS mailbox, min(occurred_at) AS delivered_at,
           anyIf(toString(recipient_unit), recipient_unit != '') AS hinted_unit
    FROM mail_delivery
    WHERE status = 'delivered' AND direction != 'outbound' AND message_id != '' AND {near_period}
    GROUP BY message_id, mailbox
    HAVING toDate(delivered_at, {{tz:String}}) BETWEEN {{start:Date}} AND {{end:Date}}
),
actions AS (
    SELECT message_id, lower(mailbox) AS mailbox,
           minIf(occurred_at, action = 'opened') AS opened_at, countIf(action = 'opened') > 0 AS opened,
           minIf(occurred_at, action = 'replied') AS replied_at, countIf(action = 'replied') > 0 AS replied
    FROM mailbox_activity
    WHERE action IN ('opened', 'replied') AND message_id != ''
      AND occurred_at >= toDateTime({{start:Date}}, 'UTC') - INTERVAL 2 DAY
    GROUP BY message_id, mailbox
),
joined AS (
    SELECT d.mailbox AS mailbox,
           if(u.account_unit != '', u.account_unit, d.hinted_unit) AS unit,
           d.delivered_at AS delivered_at,
           a.opened AS opened, a.replied AS replied,
           greatest(dateDiff('millisecond', d.delivered_at, a.opened_at), 0) / 1000 AS open_s,
           greatest(dateDiff('millisecond', d.delivered_at, a.replied_at), 0) / 1000 AS reply_s,
           toDate(d.delivered_at, {{tz:String}}) AS delivered_day,
           delivered_day + multiIf(toDayOfWeek(delivered_day) = 6, 2, toDayOfWeek(delivered_day) = 7, 1, 0)
               AS working_day,
           a.opened AND toDate(a.opened_at, {{tz:String}}) <= working_day AS same_day
    FROM deliveries AS d
    LEFT JOIN actions AS a ON a.message_id = d.message_id AND a.mailbox = d.mailbox
    LEFT JOIN account_units AS u ON u.account = d.mailbox
)
SELECT {key} AS key,
       count() AS delivered_n,
       countIf(opened) AS opened_n,
       countIf(replied) AS replied_n,
       countIf(same_day) AS same_day_n,
       arraySort(groupArrayIf(open_s, opened)) AS open_delays,
       arraySort(groupArrayIf(reply_s, replied)) AS reply_delays
FROM joined
GROUP BY key
ORDER BY key
"""


def nearest_rank(sorted_values: list[float], q: float) -> float | None:
    """The ceil(q·n)-th smallest value (nearest-rank percentile); None for no values."""
    if not sorted_values:
        return None
    rank = max(1, -(-int(q * 1000) * len(sorted_values) // 1000))
    return float(sorted_values[rank - 1])


def efficiency(client: Client, by: str, period: Period) -> list[dict[str, Any]]:
    """Per account or unit: delivered, opened, replied, delays to first opening / reply (s), same-working-day share."""
    if by not in EFFICIENCY_BY:
        raise BadParameter("by", f"by must be one of {', '.join(EFFICIENCY_BY)}, not {by!r}")
    key = "mailbox" if by == "account" else "unit"
    rows = query_dicts(client, _EFFICIENCY_SQL.format(units=ACCOUNT_UNITS, key=key, near_period=NEAR_PERIOD), period.params)
    result = []
    for row in rows:
        opens, replies = row["open_delays"], row["reply_delays"]
        delivered = int(row["delivered_n"])
        result.append({
            by: row["key"],
            "delivered": delivered,
            "opened": int(row["opened_n"]),
            "replied": int(row["replied_n"]),
            "open_median_s": nearest_rank(opens, 0.5),
            "open_p90_s": nearest_rank(opens, 0.9),
            "reply_median_s": nearest_rank(replies, 0.5),
            "reply_p90_s": nearest_rank(replies, 0.9),
            "opened_same_working_day": int(row["same_day_n"]),
            "same_working_day_share": round(int(row["same_day_n"]) / delivered, 4) if delivered else None,
        })
    return result


COMPLIANCE_BY = ("mailbox", "unit")

_COMPLIANCE_SQL = """
WITH {units},
mailboxes AS (
    SELECT lower(address) AS mailbox,
           toDate(minIf(occurred_at, kind = 'account_created'), {{tz:String}}) AS first_day,
           if(countIf(kind = 'account_deleted') > 0,
              toDate(minIf(occurred_at, kind = 'account_deleted'), {{tz:String}}), toDate('2149-01-01')) AS deleted_day,
           argMaxIf(JSONExtractString(details, 'kind'), occurred_at, JSONExtractString(details, 'kind') != '')
               AS mailbox_kind
    FROM account_events
    WHERE address != '' AND kind IN ('account_created', 'account_deleted', 'account_updated')
    GROUP BY mailbox
    HAVING countIf(kind = 'account_created') > 0
),
days AS (
    SELECT {{start:Date}} + number AS day
    FROM numbers(toUInt64(dateDiff('day', {{start:Date}}, {{end:Date}}) + 1))
    WHERE toDayOfWeek(day) <= 5
),
checks AS (
    SELECT lower(mailbox) AS mailbox, toDate(occurred_at, {{tz:String}}) AS day,
           countIf(toHour(occurred_at, {{tz:String}}) < {{noon:UInt8}}) > 0 AS morning,
           countIf(toHour(occurred_at, {{tz:String}}) >= {{noon:UInt8}}) > 0 AS afternoon
    FROM mailbox_activity
    WHERE action IN ('opened', 'replied')
      AND toDate(occurred_at, {{tz:String}}) BETWEEN {{start:Date}} AND {{end:Date}}
    GROUP BY mailbox, day
),
mailbox_days AS (
    SELECT m.mailbox AS mailbox, if(m.mailbox_kind = 'unit', 'unit', 'personal') AS kind, d.day AS day,
           u.account_unit AS unit
    FROM mailboxes AS m
    CROSS JOIN days AS d
    LEFT JOIN account_units AS u ON u.account = m.mailbox
    WHERE d.day >= m.first_day AND d.day < m.deleted_day
),
judged AS (
    SELECT md.mailbox AS mailbox, md.kind AS kind, md.unit AS unit, md.day AS day,
           c.morning AS morning, c.afternoon AS afternoon,
           if(md.kind = 'unit', c.morning OR c.afternoon, c.morning AND c.afternoon) AS compliant
    FROM mailbox_days AS md
    LEFT JOIN checks AS c ON c.mailbox = md.mailbox AND c.day = md.day
)
SELECT {key} AS key, {extra}
       count() AS mailbox_days,
       countIf(morning) AS morning_checked,
       countIf(afternoon) AS afternoon_checked,
       countIf(compliant) AS compliant_days
FROM judged
GROUP BY key{group_extra}
ORDER BY key
"""


def compliance(client: Client, by: str, period: Period, noon: int = 12) -> list[dict[str, Any]]:
    """Per mailbox (with unit and kind) or per unit: working mailbox-days, checked mornings/afternoons, compliance rate."""
    if by not in COMPLIANCE_BY:
        raise BadParameter("by", f"by must be one of {', '.join(COMPLIANCE_BY)}, not {by!r}")
    if not 1 <= noon <= 23:
        raise BadParameter("noon", f"noon must be an hour from 1 to 23, not {noon}")
    if by == "mailbox":
        sql = _COMPLIANCE_SQL.format(units=ACCOUNT_UNITS, key="mailbox", extra="any(unit) AS unit, any(kind) AS kind,",
                                     group_extra="")
    else:
        sql = _COMPLIANCE_SQL.format(units=ACCOUNT_UNITS, key="unit", extra="uniqExact(mailbox) AS mailboxes,",
                                     group_extra="")
    rows = query_dicts(client, sql, {**period.params, "noon": noon})
    result = []
    for row in rows:
        days = int(row["mailbox_days"])
        item = {by: row["key"]}
        if by == "mailbox":
            item.update(unit=row["unit"], kind=row["kind"])
        else:
            item["mailboxes"] = int(row["mailboxes"])
        item.update(
            mailbox_days=days,
            morning_checked=int(row["morning_checked"]),
            afternoon_checked=int(row["afternoon_checked"]),
            compliant_days=int(row["compliant_days"]),
            compliance_rate=round(int(row["compliant_days"]) / days, 4) if days else None,
        )
        result.append(item)
    return result
