"""Benchmark analytics: ingest N synthetic events (2,000 accounts in 100 units over a year) into chDB, then time every dashboard query.

The events are JSON values as the services publish them; they go through the service's own
consumer (`ingest.Ingestor.run`: batches, ClickHouse reading the JSON into each topic's input
structure, the replay check by event id, the INSERT … SELECT of the rows, the materialized
roll-ups and the offset commit after the insert), fed by an in-memory stand-in for the Kafka
consumer so that the broker's own cost (measured by bench/pipeline.py) stays out.

With `--broker`, the events are first published (untimed) into a real Tansu broker started for the
run, and the ingest reads them with its real Kafka consumer: the figure then includes the
broker and the client, both on the same machine.

Usage: .venv/bin/python -m bench.analytics [--events 10000000] [--batch N] [--broker]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pickle
import random
import resource
import sys
import tempfile
import time
import uuid
import zlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiokafka import AIOKafkaProducer, TopicPartition  # noqa: E402

from schemas.registry import ACCOUNTS as ACCOUNTS_TOPIC  # noqa: E402
from schemas.registry import ACTIVITY, ALL_TOPICS, AUDIT, AUTH, DELIVERY, RECEIVED, SCANNED  # noqa: E402
from services.analytics import catalog, migrations  # noqa: E402
from services.analytics.ingest import Ingestor  # noqa: E402
from services.analytics.settings import AnalyticsSettings  # noqa: E402
from services.analytics.warehouse import Warehouse  # noqa: E402
from services.common import logging as log  # noqa: E402
from services.common.bus import KafkaPublisher, ensure_topics  # noqa: E402
from services.platform import infra  # noqa: E402

DOMAIN = "tiengiang.gov.vn"
YEAR_START = date(2025, 11, 1)
UNITS = [f"dv{u:03d}" for u in range(100)]
ACCOUNTS = [f"canbo{a:04d}@{DOMAIN}" for a in range(2000)]
UNIT_OF = {a: UNITS[i % 100] for i, a in enumerate(ACCOUNTS)}
# A few busy accounts and many quiet ones (Zipf-like), as in a provincial administration.
WEIGHTS = [1 / (1 + i) ** 0.8 for i in range(len(ACCOUNTS))]
OUTSIDE = [f"doitac{i}@example{i % 40}.vn" for i in range(500)] + [f"partner{i}@example.cn" for i in range(100)]
PLACES = ["Tiền Giang", "TP. Hồ Chí Minh", "Bắc Kạn", "Hà Nội", "广州"]


def stamp(at: datetime) -> str:
    # As pydantic writes an aware UTC datetime into the JSON of an event.
    return at.isoformat().replace("+00:00", "Z")


def envelope(at: datetime, producer: str, message_id: str | None = None) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "occurred_at": stamp(at), "schema_version": 1, "producer": producer,
            "trace_id": message_id or str(uuid.uuid4()), "message_id": message_id}


# One synthetic event on the bus: its topic, key and JSON value, as the producing service publishes it.
Payload = tuple[str, bytes | None, bytes]


class Generator:
    """Mail of one year in time order, as the events the services publish on the bus."""

    def __init__(self, seed: int = 7):
        self.random = random.Random(seed)
        self.count = 0

    def moment(self, day: date) -> datetime:
        # Working hours mostly (07:00–17:30 local = 00:00–10:30 UTC), some evening mail.
        minutes = self.random.randint(0, 630) if self.random.random() < 0.9 else self.random.randint(630, 1440)
        return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(minutes=minutes,
                                                                               seconds=self.random.random() * 60)

    @staticmethod
    def emit(out: list[Payload], topic: str, key: str | None, event: dict[str, Any]) -> None:
        out.append((topic, None if key is None else key.encode(), json.dumps(event, ensure_ascii=False).encode()))

    def mail(self, day: date, out: list[Payload]) -> None:
        r = self.random
        at = self.moment(day)
        kind = r.random()
        sender = r.choices(ACCOUNTS, WEIGHTS)[0] if kind < 0.55 else r.choice(OUTSIDE)
        if kind < 0.35:
            direction, rcpts, listener = "internal", r.sample(ACCOUNTS, r.choice((1, 1, 1, 2, 3))), "submission"
        elif kind < 0.55:
            direction, rcpts, listener = "outbound", [r.choice(OUTSIDE)], "submission"
        else:
            direction, rcpts, listener = "inbound", r.sample(ACCOUNTS, r.choice((1, 1, 2))), "mx"
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
        sha = f"{r.getrandbits(256):064x}"
        mail = {"mail_from": sender, "rcpt_to": rcpts,
                "blob": {"sha256": sha, "size": size, "uri": f"file:///var/lib/govmail/blobs/{sha[:2]}/{sha[2:4]}/{sha}"},
                "size": size, "listener": listener, "client_ip": "203.162.4.191", "client_helo": "mx.example.vn",
                "authenticated_as": sender if listener == "submission" else None, "smtputf8": True,
                "header_from": sender, "subject": f"Công văn số {self.count} — 第{self.count}号文件",
                "header_message_id": f"<{message_id}@{DOMAIN}>", "sender_domain": sender.rpartition("@")[2],
                "sender_unit": UNIT_OF.get(sender), "direction": direction, "received_at": stamp(at),
                "separate_delivery": False, "delegation": "", "delegated_mailbox": ""}
        self.emit(out, RECEIVED, message_id, {**envelope(at, "ingress", message_id), "mail": mail})
        scanned_at = at + timedelta(seconds=1)
        verdict = {"action": action, "score": 10.0 * len(groups), "required_score": 6.0,
                   "symbols": [{"name": f"{g.upper()}_X", "score": 10.0, "group": g, "options": []} for g in groups],
                   "scanner_version": "bench", "check_ms": {"bayes": 1.5}}
        self.emit(out, SCANNED, message_id,
                  {**envelope(scanned_at, "scanner", message_id), "mail": mail, "verdict": verdict})
        if action == "reject":
            return
        for rcpt in rcpts:
            delivered_at = scanned_at + timedelta(seconds=r.random() * 5)
            status = "quarantined" if action == "quarantine" else (
                "bounced" if direction == "outbound" and r.random() < 0.03 else "delivered")
            self.emit(out, DELIVERY, rcpt, {
                **envelope(delivered_at, "delivery", message_id), "recipient": rcpt,
                "recipient_domain": rcpt.rpartition("@")[2], "recipient_unit": UNIT_OF.get(rcpt),
                "mail_from": sender, "sender_unit": UNIT_OF.get(sender), "direction": direction, "status": status,
                "final": True, "detail": "", "enhanced_status": "2.0.0", "attempt": 1, "size": size, "action": action,
                "score": verdict["score"], "symbols": [s["name"] for s in verdict["symbols"]]})
            if status == "delivered" and direction != "outbound" and r.random() < 0.85:
                opened = delivered_at + timedelta(minutes=r.expovariate(1 / 90))
                self.activity(out, rcpt, message_id, "opened", opened, delivered_at)
                if r.random() < 0.2:
                    self.activity(out, rcpt, message_id, "replied", opened + timedelta(minutes=r.expovariate(1 / 30)),
                                  delivered_at)

    def activity(self, out: list[Payload], mailbox: str, message_id: str, action: str, at: datetime,
                 delivered_at: datetime) -> None:
        self.emit(out, ACTIVITY, mailbox, {**envelope(at, "webmail", message_id), "mailbox": mailbox,
                                           "unit": UNIT_OF[mailbox], "actor": mailbox, "action": action,
                                           "folder": "INBOX", "delivered_at": stamp(delivered_at)})

    def login(self, day: date, out: list[Payload]) -> None:
        r = self.random
        account = r.choices(ACCOUNTS, WEIGHTS)[0]
        outcome = "failure" if r.random() < 0.08 else "success"
        self.emit(out, AUTH, account, {**envelope(self.moment(day), "webmail"), "username": account,
                                       "ip": f"203.162.{r.randint(0, 255)}.{r.randint(1, 254)}", "service": "webmail",
                                       "outcome": outcome, "mechanism": "password",
                                       "reason": "" if outcome == "success" else "bad password",
                                       "place": PLACES[0] if r.random() < 0.97 else r.choice(PLACES)})

    def accounts(self) -> list[Payload]:
        at = datetime(YEAR_START.year, YEAR_START.month, YEAR_START.day, tzinfo=UTC) - timedelta(days=30)
        out: list[Payload] = []
        for address in ACCOUNTS:
            self.emit(out, ACCOUNTS_TOPIC, address, {**envelope(at, "lifecycle"), "kind": "account_created",
                                                     "domain": DOMAIN, "address": address, "unit": UNIT_OF[address],
                                                     "actor": "admin", "details": {"kind": "personal"}})
        for i in range(500):
            self.emit(out, AUDIT, f"admin{i % 5}", {**envelope(at + timedelta(days=30, hours=17 * i), "lifecycle"),
                                                    "admin": f"admin{i % 5}", "action": "account.update",
                                                    "target": ACCOUNTS[i], "outcome": "ok", "details": {}})
        return out

    def chunks(self, events: int, size: int):
        """Lists of about `size` events, in time order, until `events` events were made."""
        days = [YEAR_START + timedelta(days=d) for d in range(365)]
        weekday_share = [1.0 if d.weekday() < 5 else 0.15 for d in days]
        total = sum(weekday_share)
        out = self.accounts()
        made = 0
        for day, share in zip(days, weekday_share, strict=True):
            goal = made + len(out) + int(events * share / total)
            while made + len(out) < goal:
                if self.random.random() < 0.12:
                    self.login(day, out)
                else:
                    self.mail(day, out)
                self.count += 1
                if len(out) >= size:
                    made += len(out)
                    yield out
                    out = []
        if out:
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


@dataclass(slots=True)
class BusRecord:
    """The fields of aiokafka's ConsumerRecord that the ingest reads."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


def bus_file(events: int, folder: Path) -> Path:
    """The events as the broker would hand them out (topic, partition, offset, key, value), generated once and kept.

    Generating them is the producers' work, not the ingest's, and takes longer than the ingest:
    it is done before the clock starts, and the file is reused by the next run of the same size.
    """
    path = folder / f"analytics-events-{events}-seed7.pickle"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    next_offset: dict[tuple[str, int], int] = defaultdict(int)
    made = 0
    with partial.open("wb") as out:
        for chunk in Generator().chunks(events, 100_000):
            records = []
            for topic, key, value in chunk:
                partition = zlib.crc32(key or b"") % ALL_TOPICS[topic].partitions
                records.append((topic, partition, next_offset[topic, partition], key, value))
                next_offset[topic, partition] += 1
            pickle.dump(records, out, protocol=pickle.HIGHEST_PROTOCOL)
            made += len(records)
            if made % 1_000_000 < len(records):
                print(f"  generated {made:,} events", flush=True)
    partial.rename(path)
    print(f"generated {made:,} events into {path}")
    return path


class MemoryBus:
    """Stands in for the AIOKafkaConsumer of the ingest: hands out the events of a file as getmany() does and keeps the commits."""

    def __init__(self, source: BinaryIO, exhausted: asyncio.Event):
        self.source = source
        self.exhausted = exhausted
        self.pending: list[BusRecord] = []
        self.position = 0
        self.handed: dict[TopicPartition, int] = {}
        self.committed: dict[TopicPartition, int] = {}
        self.commits = 0
        self.events = 0

    def _refill(self) -> None:
        try:
            self.pending = [BusRecord(*record) for record in pickle.load(self.source)]
        except EOFError:
            self.pending = []
        self.position = 0
        self.events += len(self.pending)

    async def getmany(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[TopicPartition, list]:
        if self.position >= len(self.pending):
            self._refill()
            if not self.pending:
                self.exhausted.set()
                return {}
        end = min(len(self.pending), self.position + (max_records or len(self.pending)))
        found: dict[TopicPartition, list[BusRecord]] = defaultdict(list)
        for record in self.pending[self.position:end]:
            found[TopicPartition(record.topic, record.partition)].append(record)
        self.position = end
        for tp, records in found.items():
            self.handed[tp] = records[-1].offset + 1
        return found

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition(spec.name, p) for spec in ALL_TOPICS.values() for p in range(spec.partitions)}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.committed.update(offsets)
        self.commits += 1


class NoDeadLetters:
    """The ingest's publisher: every generated event is valid, so a dead letter is a bug of the benchmark."""

    async def publish(self, topic: str, event: Any, key: str | None = None) -> None:
        raise SystemExit(f"an event was dead-lettered to {topic}: {getattr(event, 'error', event)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--batch", type=int, default=AnalyticsSettings().batch_rows,
                        help="records per insert (default: the service's ANALYTICS_BATCH_ROWS)")
    parser.add_argument("--dir", type=Path, help="chDB folder (default: a temporary one)")
    parser.add_argument("--queries-only", action="store_true", help="time the dashboard queries on --dir as it is")
    parser.add_argument("--broker", action="store_true",
                        help="publish the events into a real Tansu broker first and ingest them from there")
    parser.add_argument("--cache", type=Path, default=Path(__file__).resolve().parent.parent / ".cache" / "bench",
                        help="where the generated events are kept for the next run")
    args = parser.parse_args()
    log.configure("bench-analytics", "warning")  # no line per batch written
    folder = args.dir or Path(tempfile.mkdtemp(prefix="govmail-bench-")) / "clickhouse"
    source = None if args.queries_only else bus_file(args.events, args.cache)
    asyncio.run(run(f"chdb:///{folder}", source, args.batch, args.broker))


async def run(dsn: str, source: Path | None, batch_rows: int, broker: bool) -> None:
    warehouse = Warehouse(dsn)
    await warehouse.open()
    try:
        await warehouse.call(migrations.apply)
        if source is not None and broker:
            await ingest_from_broker(warehouse, source, batch_rows)
        elif source is not None:
            await ingest(warehouse, source, batch_rows)
        total = await warehouse.call(lambda client: client.query(
            "SELECT sum(rows) FROM system.parts WHERE database = currentDatabase() AND active "
            "AND table NOT IN ('mail_daily', 'threat_daily', 'schema_migrations')").result_rows[0][0])
        print(f"event rows in the tables: {total:,}")
        await warehouse.call(dashboard)
    finally:
        await warehouse.close()


async def ingest(warehouse: Warehouse, source: Path, batch_rows: int) -> None:
    # The bus hands out records as fast as the ingest takes them, so batches close on their row
    # count, as they do in the service under a load of batch_rows per batch_seconds or more.
    settings = AnalyticsSettings(batch_rows=batch_rows, batch_seconds=3600)
    ingestor = Ingestor("", settings, warehouse, NoDeadLetters())  # type: ignore[arg-type]
    with source.open("rb") as file:
        bus = MemoryBus(file, ingestor.stopping)
        ingestor.consumer = bus  # type: ignore[assignment]
        t0, c0, m0 = time.perf_counter(), time.process_time(), time.thread_time()
        await ingestor.run()
        seconds, cpu, consuming = time.perf_counter() - t0, time.process_time() - c0, time.thread_time() - m0
    if bus.committed != bus.handed:
        raise SystemExit("the ingest did not commit every offset it read")
    print(f"ingested {ingestor.rows_inserted:,} rows of {bus.events:,} events in {ingestor.batches:,} batches "
          f"of up to {batch_rows:,} records; {bus.commits:,} offset commits")
    print(f"ingest (ClickHouse reads the JSON + dedupe + rows + roll-ups + commit): {seconds:.1f} s = "
          f"{bus.events / seconds:,.0f} rows/s; {cpu:.1f} CPU s (every thread) = "
          f"{cpu / bus.events * 1e6:.2f} CPU s per million rows")
    # The consuming thread runs Python (it holds the GIL); the insert thread mostly runs chDB without it.
    print(f"  of which the consuming thread (bus stand-in, batches): "
          f"{consuming / bus.events * 1e6:.2f} CPU s per million rows")
    # The bench's own share: the bus stand-in holds one chunk of 100,000 records at a time.
    print(f"peak memory of the process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


async def ingest_from_broker(warehouse: Warehouse, source: Path, batch_rows: int) -> None:
    """Publish the events into a Tansu broker of the run's own (untimed), then time the ingest's real consumer reading them."""
    folder = Path(tempfile.mkdtemp(prefix="govmail-bench-broker-"))
    port = infra.free_port()
    broker = infra.start_broker(port, folder / "tansu.log")
    bootstrap = f"127.0.0.1:{port}"
    try:
        await ensure_topics(bootstrap)
        events = await publish_file(bootstrap, source)
        settings = AnalyticsSettings(batch_rows=batch_rows, group_id=f"bench-{uuid.uuid4().hex[:8]}")
        publisher = KafkaPublisher(bootstrap, "bench-analytics")
        await publisher.start()
        ingestor = Ingestor(bootstrap, settings, warehouse, publisher)
        await ingestor.start()
        consuming = asyncio.create_task(ingestor.run())
        await ingestor.assigned.wait()  # the group is formed (half the session timeout on Tansu): not timed
        t0, c0, b0 = time.perf_counter(), time.process_time(), cpu_seconds(broker.pid)
        while ingestor.records < events:
            await asyncio.sleep(0.05)
        ingestor.stopping.set()
        await consuming  # the last batch written and committed
        seconds, cpu, broker_cpu = time.perf_counter() - t0, time.process_time() - c0, cpu_seconds(broker.pid) - b0
        await ingestor.stop()
        await publisher.stop()
    finally:
        infra.stop(broker)
    print(f"ingested {ingestor.rows_inserted:,} rows of {events:,} events from the broker in {ingestor.batches:,} "
          f"batches of up to {batch_rows:,} records")
    print(f"ingest from the broker (fetch + ClickHouse reads the JSON + dedupe + rows + roll-ups + commit): "
          f"{seconds:.1f} s = {events / seconds:,.0f} rows/s; ingest {cpu / events * 1e6:.2f} + broker "
          f"{broker_cpu / events * 1e6:.2f} CPU s per million rows")


async def publish_file(bootstrap: str, source: Path) -> int:
    """Every event of the file onto its topic and partition; returns how many."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False,
                                linger_ms=5, max_batch_size=1024 * 1024)
    await producer.start()
    published = 0
    t0 = time.perf_counter()
    try:
        with source.open("rb") as file:
            while True:
                try:
                    chunk = pickle.load(file)
                except EOFError:
                    break
                sent = [await producer.send(topic, value, key=key, partition=partition)
                        for topic, partition, _, key, value in chunk]
                await asyncio.gather(*sent)
                published += len(chunk)
    finally:
        await producer.stop()
    print(f"published {published:,} events into the broker in {time.perf_counter() - t0:.0f} s (not timed)")
    return published


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
