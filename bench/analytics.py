"""Benchmark analytics: ingest N synthetic events (2,000 accounts in 100 units over a year) into chDB, then time every dashboard query.

The events go through the service's insert path (`warehouse.insert_new`: batch dedupe by event
id, insert, materialized daily roll-up) in batches of --batch rows, bypassing the broker and
pydantic decoding (their cost is the consumer's, measured by bench/pipeline.py).

Usage: .venv/bin/python -m bench.analytics [--events 10000000] [--batch 100000]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.analytics import catalog, migrations  # noqa: E402
from services.analytics.warehouse import connect, insert_new  # noqa: E402

DOMAIN = "tiengiang.gov.vn"
YEAR_START = date(2025, 11, 1)
UNITS = [f"dv{u:03d}" for u in range(100)]
ACCOUNTS = [f"canbo{a:04d}@{DOMAIN}" for a in range(2000)]
UNIT_OF = {a: UNITS[i % 100] for i, a in enumerate(ACCOUNTS)}
# A few busy accounts and many quiet ones (Zipf-like), as in a provincial administration.
WEIGHTS = [1 / (1 + i) ** 0.8 for i in range(len(ACCOUNTS))]
OUTSIDE = [f"doitac{i}@example{i % 40}.vn" for i in range(500)] + [f"partner{i}@example.cn" for i in range(100)]
PLACES = ["Tiền Giang", "TP. Hồ Chí Minh", "Bắc Kạn", "Hà Nội", "广州"]


def envelope(at: datetime, producer: str, message_id: str = "") -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "occurred_at": at, "schema_version": 1, "producer": producer,
            "trace_id": message_id or "t", "message_id": message_id}


class Generator:
    """Mail of one year in time order, as rows of the analytics tables."""

    def __init__(self, seed: int = 7):
        self.random = random.Random(seed)
        self.count = 0

    def moment(self, day: date) -> datetime:
        # Working hours mostly (07:00–17:30 local = 00:00–10:30 UTC), some evening mail.
        minutes = self.random.randint(0, 630) if self.random.random() < 0.9 else self.random.randint(630, 1440)
        return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(minutes=minutes,
                                                                               seconds=self.random.random() * 60)

    def mail(self, day: date, out: dict[str, list]) -> None:
        r = self.random
        at = self.moment(day)
        kind = r.random()
        sender = r.choices(ACCOUNTS, WEIGHTS)[0] if kind < 0.55 else r.choice(OUTSIDE)
        if kind < 0.35:
            direction, rcpts = "internal", r.sample(ACCOUNTS, r.choice((1, 1, 1, 2, 3)))
        elif kind < 0.55:
            direction, rcpts = "outbound", [r.choice(OUTSIDE)]
        else:
            direction, rcpts = "inbound", r.sample(ACCOUNTS, r.choice((1, 1, 2)))
        message_id = f"{int(at.timestamp() * 1000):013x}{r.getrandbits(32):08x}"
        size = int(r.lognormvariate(9.5, 1.2))
        threat = r.random()
        groups, action = [], "accept"
        if direction == "inbound" and threat < 0.12:
            groups, action = ["spam"], "reject" if threat < 0.06 else "add_header"
        elif direction == "inbound" and threat < 0.125:
            groups, action = ["virus"], "quarantine"
        elif direction == "inbound" and threat < 0.13:
            groups, action = ["phishing"], "reject"
        route = {"received_at": at, "direction": direction, "mail_from": sender,
                 "sender_domain": sender.rpartition("@")[2], "sender_unit": UNIT_OF.get(sender, ""),
                 "header_from": sender, "subject": f"Công văn số {self.count} — 第{self.count}号文件",
                 "rcpt_to": rcpts, "rcpt_count": len(rcpts), "size": size, "client_ip": "203.162.4.191"}
        out["mail_received"].append({**envelope(at, "ingress", message_id), **route, "listener": "mx",
                                     "authenticated_as": "", "header_message_id": f"<{message_id}@{DOMAIN}>",
                                     "blob_sha256": "ab" * 32, "client_helo": "mx.example.vn", "smtputf8": True,
                                     "separate_delivery": False})
        scanned_at = at + timedelta(seconds=1)
        out["mail_scanned"].append({**envelope(scanned_at, "scanner", message_id), **route, "action": action,
                                    "score": 10.0 * len(groups), "required_score": 6.0,
                                    "symbols": [f"{g.upper()}_X" for g in groups], "symbol_scores": [10.0] * len(groups),
                                    "symbol_groups": groups, "symbol_options": [[] for _ in groups],
                                    "scanner_version": "bench", "check_ms": {"bayes": 1.5}})
        if action == "reject":
            return
        for rcpt in rcpts:
            delivered_at = scanned_at + timedelta(seconds=r.random() * 5)
            status = "quarantined" if action == "quarantine" else (
                "bounced" if direction == "outbound" and r.random() < 0.03 else "delivered")
            out["mail_delivery"].append({
                **envelope(delivered_at, "delivery", message_id), "recipient": rcpt,
                "recipient_domain": rcpt.rpartition("@")[2], "recipient_unit": UNIT_OF.get(rcpt, ""),
                "mail_from": sender, "sender_unit": UNIT_OF.get(sender, ""), "direction": direction, "status": status,
                "final": True, "detail": "", "enhanced_status": "2.0.0", "attempt": 1, "size": size, "action": action,
                "score": 0.0, "symbols": []})
            if status == "delivered" and direction != "outbound" and r.random() < 0.85:
                opened = delivered_at + timedelta(minutes=r.expovariate(1 / 90))
                out["mailbox_activity"].append(self.activity(rcpt, message_id, "opened", opened, delivered_at))
                if r.random() < 0.2:
                    out["mailbox_activity"].append(self.activity(
                        rcpt, message_id, "replied", opened + timedelta(minutes=r.expovariate(1 / 30)), delivered_at))

    def activity(self, mailbox: str, message_id: str, action: str, at: datetime, delivered_at: datetime) -> dict:
        return {**envelope(at, "webmail", message_id), "mailbox": mailbox, "unit": UNIT_OF[mailbox], "actor": mailbox,
                "action": action, "folder": "INBOX", "delivered_at": delivered_at}

    def login(self, day: date, out: dict[str, list]) -> None:
        r = self.random
        account = r.choices(ACCOUNTS, WEIGHTS)[0]
        outcome = "failure" if r.random() < 0.08 else "success"
        out["auth_events"].append({**envelope(self.moment(day), "webmail"), "username": account,
                                   "ip": f"203.162.{r.randint(0, 255)}.{r.randint(1, 254)}", "service": "webmail",
                                   "outcome": outcome, "mechanism": "password",
                                   "reason": "" if outcome == "success" else "bad password",
                                   "place": PLACES[0] if r.random() < 0.97 else r.choice(PLACES)})

    def accounts(self) -> dict[str, list]:
        at = datetime(YEAR_START.year, YEAR_START.month, YEAR_START.day, tzinfo=UTC) - timedelta(days=30)
        rows = defaultdict(list)
        for address in ACCOUNTS:
            rows["account_events"].append({**envelope(at, "lifecycle"), "kind": "account_created", "domain": DOMAIN,
                                           "address": address, "unit": UNIT_OF[address], "actor": "admin",
                                           "details": '{"kind": "personal"}'})
        for i in range(500):
            rows["admin_audit"].append({**envelope(at + timedelta(days=30, hours=17 * i), "lifecycle"), "admin": f"admin{i % 5}",
                                        "action": "account.update", "target": ACCOUNTS[i], "outcome": "ok",
                                        "details": "{}"})
        return rows

    def batches(self, events: int, batch: int):
        """Batches of about `batch` rows, in time order, until `events` rows were made."""
        days = [YEAR_START + timedelta(days=d) for d in range(365)]
        weekday_share = [1.0 if d.weekday() < 5 else 0.15 for d in days]
        total = sum(weekday_share)
        out: dict[str, list] = self.accounts()
        made = sum(len(v) for v in out.values())
        for day, share in zip(days, weekday_share, strict=True):
            target = int(events * share / total)
            goal = made + target
            while made < goal:
                before = sum(len(v) for v in out.values())
                if self.random.random() < 0.12:
                    self.login(day, out)
                else:
                    self.mail(day, out)
                self.count += 1
                made += sum(len(v) for v in out.values()) - before
                if sum(len(v) for v in out.values()) >= batch:
                    yield out
                    out = defaultdict(list)
        if any(out.values()):
            yield out


DASHBOARD = [
    ("traffic by unit, year", "traffic", {"by": "unit"}, "year"),
    ("traffic by account, year", "traffic", {"by": "account"}, "year"),
    ("traffic by day, year", "traffic", {"by": "day"}, "year"),
    ("traffic by month, year", "traffic", {"by": "month"}, "year"),
    ("traffic by direction, 30 days", "traffic", {"by": "direction"}, "month"),
    ("hourly, 30 days", "hourly", {}, "month"),
    ("space by account", "space", {"by": "account"}, None),
    ("space by unit", "space", {"by": "unit"}, None),
    ("efficiency by unit, 30 days", "efficiency", {"by": "unit"}, "month"),
    ("efficiency by account, 30 days", "efficiency", {"by": "account"}, "month"),
    ("compliance by unit, 30 days", "compliance", {"by": "unit"}, "month"),
    ("compliance by mailbox, 30 days", "compliance", {"by": "mailbox"}, "month"),
    ("threats by week, year", "threats", {"by": "week"}, "year"),
    ("attacked accounts, 30 days", "attacked", {"min_failures": "5"}, "month"),
    ("new login places, 30 days", "places", {}, "month"),
    ("abnormal sending, 30 days", "sending", {}, "month"),
    ("long-inactive accounts", "inactive", {}, None),
    ("admin operations, year", "admin", {}, "year"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, help="chDB folder (default: a temporary one)")
    parser.add_argument("--queries-only", action="store_true", help="time the dashboard queries on --dir as it is")
    args = parser.parse_args()
    folder = args.dir or Path(tempfile.mkdtemp(prefix="govmail-bench-")) / "clickhouse"
    client = connect(f"chdb:///{folder}")
    migrations.apply(client)
    if not args.queries_only:
        ingest(client, args.events, args.batch)
    total = client.query("SELECT sum(rows) FROM system.parts WHERE database = currentDatabase() AND active "
                         "AND table NOT IN ('mail_daily', 'threat_daily', 'schema_migrations')").result_rows[0][0]
    print(f"event rows in the tables: {total:,}")
    dashboard(client)
    client.close()


def ingest(client: Any, events: int, batch_rows: int) -> None:

    inserted = generated = 0
    insert_seconds = insert_cpu = 0.0
    started = time.perf_counter()
    for number, batch in enumerate(Generator().batches(events, batch_rows), start=1):
        rows_in_batch = sum(len(v) for v in batch.values())
        generated += rows_in_batch
        t0, c0 = time.perf_counter(), time.process_time()
        for table, rows in batch.items():
            if rows:
                inserted += insert_new(client, table, rows)
        insert_seconds += time.perf_counter() - t0
        insert_cpu += time.process_time() - c0
        if number % 10 == 0:
            print(f"  {generated:>11,} events, insert {inserted / insert_seconds:,.0f} rows/s", flush=True)
    wall = time.perf_counter() - started
    print(f"ingested {inserted:,} rows ({generated:,} events generated) in batches of {batch_rows:,}")
    print(f"insert path (dedupe + insert + materialized roll-up): {insert_seconds:.1f} s = "
          f"{inserted / insert_seconds:,.0f} rows/s; {insert_cpu:.1f} CPU s (every thread) = "
          f"{inserted / insert_cpu:,.0f} rows per CPU second")
    print(f"end to end with the Python generator: {wall:.1f} s = {inserted / wall:,.0f} rows/s")


def dashboard(client: Any) -> None:

    year = {"start": YEAR_START.isoformat(), "end": (YEAR_START + timedelta(days=364)).isoformat()}
    month = {"start": (YEAR_START + timedelta(days=335)).isoformat(), "end": year["end"]}
    now = datetime(YEAR_START.year + 1, YEAR_START.month, YEAR_START.day, tzinfo=UTC).isoformat()
    print(f"{'dashboard query':<34} {'rows':>7} {'first s':>8} {'again s':>8}")
    for label, name, params, span in DASHBOARD:
        query = {**params, **({"year": year, "month": month}[span] if span else {})}
        if name == "inactive":
            query["now"] = now
        timings = []
        for _ in range(2):
            t0 = time.perf_counter()
            document = catalog.run(client, name, query)
            timings.append(time.perf_counter() - t0)
        print(f"{label:<34} {len(document['rows']):>7} {timings[0]:>8.3f} {timings[1]:>8.3f}")


if __name__ == "__main__":
    main()
