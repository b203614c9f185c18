"""Helpers for the analytics tests: a known workload of mail events, publishing it, and watching the group's commits."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import BaseModel

from schemas import events
from schemas.events import derived_event_id
from schemas.registry import ACCOUNTS, ALL_TOPICS, DELIVERY, RECEIVED, SCANNED
from services.analytics import migrations
from services.analytics.ingest import Ingestor
from services.analytics.settings import AnalyticsSettings
from services.analytics.warehouse import Warehouse
from services.common.bus import KafkaPublisher, encode, key_of

SUBJECT = "Báo cáo tháng 11 — 关于年度报告的通知"

Item = tuple[str, BaseModel | bytes]


@dataclass
class Workload:
    """Mail for accounts of two units of a domain no other test uses, on a day no other test uses."""

    rid: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    items: list[Item] = field(default_factory=list)

    def __post_init__(self) -> None:
        # A day of its own, so the by=day row holds this workload only; in the future, so that
        # the retention TTLs (two years for mail) never drop the rows while the test reads them.
        self.day = date(2040, 1, 1) + timedelta(days=int(self.rid, 16) % 8000)
        self.domain = f"d{self.rid}.tiengiang.gov.vn"
        self.unit_a = f"stttt{self.rid}"
        self.unit_b = f"vpubnd{self.rid}"
        self.hieu = f"leminhhieu@{self.domain}"
        self.anh = f"anhnv@{self.domain}"
        self.ung = f"dangthiung@{self.domain}"
        self.wei = f"zhangwei@{self.rid}.example.cn"
        self._build()

    def at(self, minutes: int) -> datetime:
        return datetime(self.day.year, self.day.month, self.day.day, 8, 0, tzinfo=UTC) + timedelta(minutes=minutes)

    def _build(self) -> None:
        for address, unit, name in [(self.hieu, self.unit_a, "Lê Minh Hiếu"), (self.anh, self.unit_b, "Nguyễn Văn Anh"),
                                    (self.ung, self.unit_b, "Đặng Thị Ưng")]:
            self.items.append((ACCOUNTS, events.AccountEvent(
                producer="lifecycle", occurred_at=self.at(0), kind="account_created", domain=self.domain,
                address=address, unit=unit, actor="admin@tiengiang.gov.vn", details={"display_name": name},
            )))
        # 1: inbound to two local recipients, both delivered.
        m1 = self.mail(1, self.wei, [self.hieu, self.anh], "inbound", None, f"张伟 <{self.wei}>", SUBJECT)
        self.scanned(m1, "accept", [])
        self.delivery(m1, self.hieu, self.unit_a, "delivered", 2)
        self.delivery(m1, self.anh, self.unit_b, "delivered", 2)
        # 2: GTUBE, rejected by the scanner; no delivery event, so the unit comes from account_events.
        m2 = self.mail(3, f"spam@{self.rid}.example.com", [self.hieu], "inbound", None, "", "Khuyến mãi lớn 大促销")
        self.scanned(m2, "reject", [events.Symbol(name="SPAM_GTUBE", score=1000.0, group="spam", options=["GTUBE"])])
        # 3: EICAR, quarantined.
        m3 = self.mail(5, f"ketoan@{self.rid}.example.com", [self.ung], "inbound", None, "", "Hóa đơn tháng 11")
        self.scanned(m3, "quarantine", [events.Symbol(name="VIRUS_EICAR", score=100.0, group="virus",
                                                      options=["hoa-don.zip"])])
        self.delivery(m3, self.ung, self.unit_b, "quarantined", 6)
        # 4: outbound, deferred once, then bounced.
        m4 = self.mail(7, self.hieu, [self.wei], "outbound", self.unit_a, f"Lê Minh Hiếu <{self.hieu}>",
                       "Kính gửi anh 张伟")
        self.scanned(m4, "accept", [])
        self.delivery(m4, self.wei, None, "deferred", 8, final=False)
        self.delivery(m4, self.wei, None, "bounced", 60, attempt=2)
        # 5: accepted, not scanned yet.
        self.mail(9, self.ung, [self.anh], "internal", self.unit_b, f"Đặng Thị Ưng <{self.ung}>", "Lịch họp tuần")

    def mail(self, minute: int, sender: str, rcpts: list[str], direction: str, sender_unit: str | None,
             header_from: str, subject: str) -> events.MailReceived:
        message_id = f"{self.rid}{minute:04d}"
        info = events.MailInfo(
            mail_from=sender, rcpt_to=rcpts, size=2048 + minute,
            blob=events.BlobRef(sha256="ab" * 32, size=2048 + minute, uri="file:///data/blobs/ab"),
            listener="submission" if sender_unit else "mx", client_ip="203.162.4.191", header_from=header_from,
            subject=subject, sender_domain=sender.rpartition("@")[2], sender_unit=sender_unit,
            direction=direction, received_at=self.at(minute), smtputf8=True,
        )
        received = events.MailReceived(producer="ingress", occurred_at=self.at(minute), message_id=message_id,
                                       mail=info)
        self.items.append((RECEIVED, received))
        return received

    def scanned(self, received: events.MailReceived, action: events.Action, symbols: list[events.Symbol]) -> None:
        verdict = events.Verdict(action=action, score=sum(s.score for s in symbols), required_score=6.0,
                                 symbols=symbols, scanner_version="test", check_ms={"gtube": 0.2, "eicar": 1.5})
        self.items.append((SCANNED, events.MailScanned(
            event_id=derived_event_id("scan", received.event_id), producer="scanner",
            occurred_at=received.occurred_at + timedelta(seconds=2), trace_id=received.trace_id,
            message_id=received.message_id, mail=received.mail, verdict=verdict,
        )))

    def delivery(self, received: events.MailReceived, recipient: str, unit: str | None, status: str, minute: int,
                 final: bool = True, attempt: int = 1) -> None:
        self.items.append((DELIVERY, events.MailDelivery(
            event_id=derived_event_id("delivery", received.message_id or "", recipient, status, str(attempt)),
            producer="delivery", occurred_at=self.at(minute), trace_id=received.trace_id,
            message_id=received.message_id, recipient=recipient, recipient_domain=recipient.rpartition("@")[2],
            recipient_unit=unit, mail_from=received.mail.mail_from, sender_unit=received.mail.sender_unit,
            direction=received.mail.direction, status=status, final=final, attempt=attempt,
            size=received.mail.size,
        )))

    # What /stats/volume must say about this workload (counted per recipient).
    def expected_accounts(self) -> dict[str, dict[str, int]]:
        return {
            self.hieu: counts(2, 1, 1, 0),
            self.anh: counts(2, 1, 0, 0),
            self.ung: counts(1, 0, 0, 1),
            self.wei: counts(1, 0, 1, 0),
        }

    def expected_units(self) -> dict[str, dict[str, int]]:
        return {self.unit_a: counts(2, 1, 1, 0), self.unit_b: counts(3, 1, 0, 1)}

    def expected_day(self) -> dict[str, dict[str, int]]:
        return {self.day.isoformat(): counts(6, 2, 2, 1)}


def counts(received: int, delivered: int, rejected: int, quarantined: int) -> dict[str, int]:
    return {"received": received, "delivered": delivered, "rejected": rejected, "quarantined": quarantined}


def rows_for(document: dict[str, Any], keys: set[str]) -> dict[str, dict[str, int]]:
    """The rows of a volume document whose key is one of ours, as {key: counts}."""
    by = document["by"]
    return {row[by]: {k: v for k, v in row.items() if k != by} for row in document["rows"] if row[by] in keys}


async def publish_events(bootstrap: str, items: list[Item]) -> dict[TopicPartition, int]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, linger_ms=0)
    await producer.start()
    try:
        last: dict[TopicPartition, int] = {}
        for topic, event in items:
            if isinstance(event, bytes):
                value, key = event, None
            else:
                value, key = encode(event), key_of(ALL_TOPICS[topic], event)
            sent = await producer.send_and_wait(topic, value, key=key)
            tp = TopicPartition(topic, sent.partition)
            last[tp] = max(last.get(tp, -1), sent.offset)
        return last
    finally:
        await producer.stop()


def publish(bootstrap: str, items: list[Item]) -> dict[TopicPartition, int]:
    """Publish and return the last offset written per partition."""
    return asyncio.run(publish_events(bootstrap, items))


async def committed_offsets(bootstrap: str, group: str, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
    # A consumer that never subscribes only reads the group's offsets; it does not join the group.
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        found = {tp: await consumer.committed(tp) for tp in partitions}
        return {tp: offset for tp, offset in found.items() if offset is not None}
    finally:
        await consumer.stop()


def committed(bootstrap: str, group: str, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
    return asyncio.run(committed_offsets(bootstrap, group, partitions))


def wait_committed(bootstrap: str, group: str, last: dict[TopicPartition, int], timeout: float = 60.0) -> None:
    """Wait until the group committed past every offset in `last`: analytics commits only what ClickHouse holds."""
    deadline = time.monotonic() + timeout
    while True:
        done = committed(bootstrap, group, list(last))
        behind = {tp: off for tp, off in last.items() if done.get(tp, -1) <= off}
        if not behind:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"group {group} has not committed past {behind} (committed: {done})")
        time.sleep(0.2)


def get_json(url: str) -> tuple[int, dict[str, Any], str]:
    """GET url; returns status, decoded JSON body and media type, also for error statuses."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.loads(response.read().decode("utf-8")), response.headers.get_content_type()
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read().decode("utf-8")), exc.headers.get_content_type()


async def find_published(bootstrap: str, topic: str, match, timeout: float = 60.0) -> list:
    """Records of `topic` (read from the start, no group) whose decoded event satisfies `match`.

    Reads until the matching records stop coming for a moment: Tansu's end offsets cannot be trusted.
    """
    model = ALL_TOPICS[topic].model
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    found = []
    try:
        partitions = [TopicPartition(topic, p) for p in range(ALL_TOPICS[topic].partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout
        quiet_since = None
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                for message in messages:
                    try:
                        event = model.model_validate_json(message.value or b"")
                    except ValueError:
                        continue  # other tests publish garbage on purpose
                    if match(event):
                        found.append(event)
            if found and not batch:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since > 1.0:
                    break
        return found
    finally:
        await consumer.stop()


@asynccontextmanager
async def running_ingestor(bootstrap: str, folder: Path, settings: AnalyticsSettings,
                           prepare: Callable[[Any], None] | None = None) -> AsyncIterator[Ingestor]:
    """The ingest consuming in this process into chDB at `folder` (migrated, then `prepare`d), stopped on leaving."""
    warehouse = Warehouse(f"chdb:///{folder}")
    await warehouse.open()
    publisher = KafkaPublisher(bootstrap, "test-analytics")
    ingestor = Ingestor(bootstrap, settings, warehouse, publisher)
    consuming = None
    try:
        await warehouse.call(migrations.apply)
        if prepare is not None:
            await warehouse.call(prepare)
        await publisher.start()
        await ingestor.start()
        consuming = asyncio.create_task(ingestor.run())
        yield ingestor
    finally:
        ingestor.stopping.set()
        if consuming is not None:
            await consuming
        await ingestor.stop()
        await publisher.stop()
        await warehouse.close()


async def until(condition: Callable[[], Awaitable[bool]], timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


def committed_past(bootstrap: str, group: str, sent: dict[TopicPartition, int]) -> Callable[[], Awaitable[bool]]:
    """A condition for `until`: the group committed past every offset in `sent`."""
    async def check() -> bool:
        done = await committed_offsets(bootstrap, group, list(sent))
        return all(done.get(tp, -1) > offset for tp, offset in sent.items())

    return check
