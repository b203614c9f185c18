"""A spam flood: 5,000 messages through ingress while one scanner runs, then a second scanner joins its
consumer group; the partitions rebalance, the backlog drains, and every message is delivered exactly once."""

from __future__ import annotations

import smtplib
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest

from services.common import ready
from services.platform import infra
from tests.e2e.harness import Platform, parse

DOMAIN = "backan.gov.vn"
FLOOD = 5000
CONNECTIONS = 4
SECOND_AFTER = 1000  # the operator scales out once the backlog is visibly growing


def flood_mail(to: str, n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Khuyến Mãi Siêu Rẻ <deal{n % 97}@khuyenmai-sieure.example>"
    msg["To"] = to
    msg["Subject"] = f"Ưu đãi số {n} — 限时优惠 {n}"
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(f"flood{n}", "khuyenmai-sieure.example")
    msg["X-Flood-Id"] = str(n)
    msg.set_content(f"Nhận quà tặng số {n} ngay hôm nay.\n点击领取第{n}号礼品。\n")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def send_share(port: int, to: str, worker: int, accepted: Counter) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=120) as smtp:
        for n in range(worker, FLOOD, CONNECTIONS):
            smtp.sendmail(f"deal{n % 97}@khuyenmai-sieure.example", [to], flood_mail(to, n))
            accepted[worker] += 1  # one key per thread: no two threads update the same entry


def scanned_count(log: Path) -> int:
    return log.read_text(encoding="utf-8").count('"event": "mail_scanned"') if log.exists() else 0


def delivered_ids(platform: Platform, address: str) -> list[str]:
    ids = []
    for folder in ("", "Junk"):
        for raw in platform.messages(address, folder):
            ids.append(str(parse(raw)["X-Flood-Id"]))
    return ids


@pytest.mark.timeout(420)
def test_a_second_scanner_takes_over_half_of_a_flood_and_nothing_is_lost_or_doubled(tmp_path: Path) -> None:
    platform = Platform(tmp_path / "data")
    # On loopback the whole flood comes from one IP; in the field it comes from thousands.
    platform.env["INGRESS_MAX_MESSAGES_PER_MINUTE"] = str(10 * FLOOD)
    platform.start()
    second = None
    try:
        platform.govmail("admin", "domain", "add", DOMAIN)
        to = platform.create_account(DOMAIN, "Nguyễn Văn Anh")["address"]
        accepted: Counter = Counter()
        with ThreadPoolExecutor(CONNECTIONS) as pool:
            senders = [pool.submit(send_share, platform.smtp_port, to, w, accepted) for w in range(CONNECTIONS)]
            while sum(accepted.values()) < SECOND_AFTER:
                assert not any(s.done() and s.exception() for s in senders)
                time.sleep(0.1)  # the first scanner is at work
            # The operator scales out: a second scanner in the same consumer group, its own data dir
            # for its logs and readiness, the platform's broker and blob store.
            data = tmp_path / "second"
            env = {**platform.env, "GOVMAIL_DATA_DIR": str(data),
                   "GOVMAIL_KAFKA_BOOTSTRAP": f"127.0.0.1:{platform.env['GOVMAIL_KAFKA_PORT']}",
                   "GOVMAIL_BLOB_URI": (tmp_path / "data" / "blobs").resolve().as_uri(),
                   "GOVMAIL_HEALTH_PORT_BASE": str(infra.free_port())}
            log = data / "scanner.log"
            data.mkdir()
            second = infra.spawn([sys.executable, "-m", "services.scanner"], log, env)
            for sender in senders:
                sender.result()
        deadline = time.monotonic() + 240
        while not ready.is_ready(data / "run", "scanner", second.pid):
            assert second.poll() is None and time.monotonic() < deadline, log.read_text(encoding="utf-8")
            time.sleep(0.2)
        # It joined while there was still a backlog to share.
        assert len(delivered_ids(platform, to)) < FLOOD
        while len(ids := delivered_ids(platform, to)) < FLOOD and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(2)  # anything delivered twice would show up now
        ids = delivered_ids(platform, to)
        assert sorted(map(int, set(ids))) == list(range(FLOOD)), f"missing: {FLOOD - len(set(ids))}"
        assert [i for i, n in Counter(ids).items() if n > 1] == []
        assert len(ids) == FLOOD
        # The second scanner did take a share of the partitions, and the first kept working.
        assert scanned_count(log) > 0
        first = platform.data_dir / "logs" / "scanner.log"
        assert scanned_count(first) > 0
        assert scanned_count(first) + scanned_count(log) >= FLOOD
        platform.wait_spool_empty()
    finally:
        if second is not None:
            infra.stop(second, 30)
        assert platform.stop() == 0
