"""Reconciliation: a known week published on the real broker, ingested by the real consumer into chDB, every statistic equal to the ground truth.

Then a second consumer group reads every topic again from the start into the same tables (a
full replay): the tables, the daily roll-up and every statistic stay exactly the same.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from aiokafka import TopicPartition

from services.analytics import anomalies, efficiency, migrations, stats
from services.analytics.efficiency import nearest_rank
from services.analytics.ingest import Ingestor
from services.analytics.period import Period
from services.analytics.settings import AnalyticsSettings
from services.analytics.warehouse import Warehouse, query_dicts
from services.common.bus import KafkaPublisher
from tests.analytics.ledger import TZ, Ledger
from tests.analytics.support import committed_offsets, publish_events

TRAFFIC = ("received", "sent", "delivered", "deferred", "bounced", "spam", "virus", "phishing", "quarantined",
           "received_bytes", "sent_bytes")


async def ingest_until_committed(bootstrap: str, warehouse: Warehouse, group: str,
                                 sent: dict[TopicPartition, int]) -> Ingestor:
    settings = AnalyticsSettings(group_id=group, batch_seconds=0.3, batch_rows=500, max_backoff=0.5)
    publisher = KafkaPublisher(bootstrap, f"test-{group}")
    ingestor = Ingestor(bootstrap, settings, warehouse, publisher)
    await publisher.start()
    await ingestor.start()
    consuming = asyncio.create_task(ingestor.run())
    try:
        deadline = time.monotonic() + 90
        while True:
            done = await committed_offsets(bootstrap, group, list(sent))
            if all(done.get(tp, -1) > offset for tp, offset in sent.items()):
                return ingestor
            assert not consuming.done(), consuming.exception()
            assert time.monotonic() < deadline, f"{group} did not commit past the ledger: {done}"
            await asyncio.sleep(0.2)
    finally:
        ingestor.stopping.set()
        await consuming
        await ingestor.stop()
        await publisher.stop()


def everything(client, ledger: Ledger) -> dict:
    """Every statistic of the ledger's week, restricted to the ledger's own accounts and units."""
    period = Period(*ledger.period)
    accounts, units = set(ledger.accounts), set(ledger.unit_names)
    mine = {
        "traffic_account": [r for r in stats.traffic(client, "account", period) if r["account"] in accounts],
        "traffic_unit": [r for r in stats.traffic(client, "unit", period) if r["unit"] in units],
        "space": [r for r in stats.space(client, "account") if r["account"] in accounts],
        "hourly": stats.hourly(client, period),
        "efficiency": [r for r in efficiency.efficiency(client, "account", period) if r["account"] in accounts],
        "compliance": [r for r in efficiency.compliance(client, "mailbox", period) if r["mailbox"] in accounts],
        "compliance_unit": [r for r in efficiency.compliance(client, "unit", period) if r["unit"] in units],
        "threats": anomalies.threats(client, period, "day"),
        "attacked": [r for r in anomalies.brute_force(client, period, 10) if r["account"] in accounts],
        "places": [r for r in anomalies.unusual_places(client, period) if r["account"] in accounts],
        "sending": [r for r in anomalies.abnormal_sending(client, period) if r["account"] in accounts],
        "inactive": [r for r in anomalies.inactive(client, ledger.at(3, 12)) if r["account"] in accounts],
        "admin": [r for r in stats.admin_operations(client, period)],
        "daily_rows": query_dicts(client, "SELECT count() AS n, sum(received) AS received, sum(sent) AS sent "
                                          "FROM mail_daily WHERE account LIKE {p:String}",
                                  {"p": f"%@{ledger.domain}"}),
    }
    return mine


def check_against_ledger(found: dict, ledger: Ledger) -> None:
    # Volume per account and per unit (each unit's own accounts).
    truth = ledger.traffic()
    assert {r["account"]: {c: r[c] for c in TRAFFIC} for r in found["traffic_account"]} == {
        a: {c: int(truth[a][c]) for c in TRAFFIC} for a in truth}
    per_unit: dict[str, dict[str, int]] = {}
    for account, counts in truth.items():
        row = per_unit.setdefault(ledger.unit_of(account), dict.fromkeys(TRAFFIC, 0))
        for c in TRAFFIC:
            row[c] += int(counts[c])
    assert {r["unit"]: {c: r[c] for c in TRAFFIC} for r in found["traffic_unit"]} == per_unit

    # Per local hour of the week (the ledger's days are its own): recipients received, messages sent.
    hours: dict[int, dict[str, int]] = {}
    for mail in ledger.mails:
        if ledger.in_period(mail.at):
            row = hours.setdefault(mail.at.astimezone(TZ).hour, {"received": 0, "sent": 0, "messages": 0})
            row["received"] += len(mail.local_rcpts)
            row["sent"] += mail.direction != "inbound"
            row["messages"] += 1
    assert {r["hour"]: {k: r[k] for k in ("received", "sent", "messages")} for r in found["hourly"]} == hours

    # Mailbox space: octets delivered into each mailbox (all time).
    space = {}
    for mail in ledger.mails:
        if mail.direction != "outbound":
            for rcpt, outcomes in mail.outcomes.items():
                if rcpt in ledger.accounts and any(s == "delivered" for s, _ in outcomes):
                    space.setdefault(rcpt, [0, 0])
                    space[rcpt][0] += mail.size
                    space[rcpt][1] += 1
    assert {r["account"]: [r["bytes"], r["messages"]] for r in found["space"]} == space

    # Efficiency per mailbox: counts, nearest-rank median and p90, same working day.
    expected_eff = {}
    for mailbox, row in ledger.efficiency().items():
        opens, replies = sorted(row["opens"]), sorted(row["replies"])
        expected_eff[mailbox] = {
            "delivered": row["delivered"], "opened": row["opened"], "replied": row["replied"],
            "open_median_s": nearest_rank(opens, 0.5), "open_p90_s": nearest_rank(opens, 0.9),
            "reply_median_s": nearest_rank(replies, 0.5), "reply_p90_s": nearest_rank(replies, 0.9),
            "opened_same_working_day": row["same"]}
    assert {r["account"]: {k: r[k] for k in expected_eff[r["account"]]} for r in found["efficiency"]} == expected_eff
    # The delays are the real ones: Lê Minh Hiếu opened after 29 min 40 s (Monday) and 29 min 50 s (Friday).
    hieu = next(r for r in found["efficiency"] if r["account"] == ledger.hieu)
    assert (hieu["open_median_s"], hieu["open_p90_s"]) == (1780.0, 1790.0)

    # Compliance per mailbox and per unit.
    comp = ledger.compliance()
    assert {r["mailbox"]: (r["mailbox_days"], r["morning_checked"], r["afternoon_checked"], r["compliant_days"], r["kind"])
            for r in found["compliance"]} == {
        m: (c["mailbox_days"], c["morning"], c["afternoon"], c["compliant"], ledger.accounts[m][1])
        for m, c in comp.items()}
    per_unit_comp: dict[str, list[int]] = {}
    for mailbox, c in comp.items():
        row = per_unit_comp.setdefault(ledger.unit_of(mailbox), [0, 0, 0])
        row[0] += 1
        row[1] += c["mailbox_days"]
        row[2] += c["compliant"]
    assert {r["unit"]: [r["mailboxes"], r["mailbox_days"], r["compliant_days"]]
            for r in found["compliance_unit"]} == per_unit_comp
    for r in found["compliance_unit"]:
        assert r["compliance_rate"] == round(r["compliant_days"] / r["mailbox_days"], 4)

    # Spam, virus and phishing per day of the week (the ledger's days are its own).
    threats = {day: c for day, c in ledger.threats().items()
               if ledger.period[0].isoformat() <= day <= ledger.period[1].isoformat()}
    assert {r["bucket"]: {k: r[k] for k in ("scanned", "spam", "virus", "phishing", "rejected", "quarantined")}
            for r in found["threats"]} == {d: {k: int(c[k]) for k in ("scanned", "spam", "virus", "phishing",
                                                                       "rejected", "quarantined")}
                                           for d, c in threats.items()}

    # Anomalies.
    assert {r["account"]: (r["failures"], r["lockouts"], {i["ip"]: i["failures"] for i in r["top_ips"]})
            for r in found["attacked"]} == ledger.attacked(10)
    assert {(r["account"], r["place"]) for r in found["places"]} == ledger.new_places()
    assert {(r["account"], r["day"], r["sent"]) for r in found["sending"]} == ledger.sending_spikes()
    assert {r["account"]: r["status"] for r in found["inactive"]} == ledger.inactive(ledger.at(3, 12))

    # Administrator operations.
    counted: dict[tuple[str, str, str], int] = {}
    for admin, action, _, outcome in ledger.audits:
        counted[(admin, action, outcome)] = counted.get((admin, action, outcome), 0) + 1
    assert {(r["admin"], r["action"], r["outcome"]): r["operations"] for r in found["admin"]} == counted


async def test_every_statistic_equals_the_ground_truth_and_a_full_replay_changes_nothing(infra_parts, tmp_path):
    ledger = Ledger()
    sent = await publish_events(infra_parts.bootstrap, ledger.events())
    warehouse = Warehouse(f"chdb:///{tmp_path / 'clickhouse'}")
    await warehouse.open()
    try:
        await warehouse.call(migrations.apply)
        first = await ingest_until_committed(infra_parts.bootstrap, warehouse, f"recon-{ledger.rid}", sent)
        found = await warehouse.call(everything, ledger)
        check_against_ledger(found, ledger)
        assert first.rows_inserted > 0

        # The same events again through a new group: every one of the ledger's is already stored
        # (events other tests publish meanwhile may be new).
        again = await ingest_until_committed(infra_parts.bootstrap, warehouse, f"recon-replay-{ledger.rid}", sent)
        assert again.duplicates >= len(ledger.events())
        assert await warehouse.call(everything, ledger) == found
    finally:
        await warehouse.close()


def test_the_ledger_week_is_what_the_checks_assume():
    """Guards the ground truth itself: the cases the reconciliation must cover are all in the ledger."""
    ledger = Ledger()
    statuses = {s for m in ledger.mails for outcomes in m.outcomes.values() for s, _ in outcomes}
    assert statuses == {"delivered", "deferred", "bounced", "quarantined"}
    assert {a for _, _, a, _ in ledger.activity} == {"opened", "replied", "recalled"}
    assert {g for m in ledger.mails for g in m.groups} == {"spam", "virus", "phishing"}
    assert ledger.sending_spikes() and ledger.new_places() and ledger.attacked(10)
    assert set(ledger.inactive(ledger.at(3, 12)).values()) == {"over_6_months", "over_12_months"}
    assert ledger.monday.weekday() == 0 and ledger.at(0, 7) == ledger.at(0, 0) + timedelta(hours=7)
