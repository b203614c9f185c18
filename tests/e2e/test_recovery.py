"""The platform loses no accepted mail when the broker dies, when delivery is killed, or when it is restarted."""

from __future__ import annotations

import json
import os
import signal
import smtplib
import time
from email.message import EmailMessage

import pytest

from tests.e2e.harness import Platform, parse

DOMAIN = "backan.gov.vn"


def mail(to: str, subject: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Hoàng Thị Lan <lanht@example.vn>"
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(f"Nội dung: {subject}\n内容：{subject}\n")
    return msg.as_bytes()


def subjects(platform: Platform, address: str) -> list[str]:
    return sorted(str(parse(m)["Subject"]) for m in platform.messages(address))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone for every practical purpose.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def setup_account(platform: Platform, name: str) -> str:
    platform.govmail("admin", "domain", "add", DOMAIN, check=False)
    return platform.create_account(DOMAIN, name)["address"]


def test_broker_outage_gives_451_and_recovers_without_loss_or_duplicates(tmp_path) -> None:
    platform = Platform(tmp_path / "data")
    platform.start()
    try:
        anh = setup_account(platform, "Nguyễn Văn Anh")
        # Mail accepted while delivery is paused is still in flight when the broker dies.
        platform.signal("delivery", signal.SIGSTOP)
        platform.send("lanht@example.vn", [anh], mail(anh, "Trước sự cố — 事故前"))
        assert platform.spool_size() == 1

        platform.signal("broker", signal.SIGSTOP)
        with pytest.raises(smtplib.SMTPDataError) as refused:
            platform.send("lanht@example.vn", [anh], mail(anh, "Trong sự cố — 事故中"))
        assert refused.value.smtp_code == 451
        assert refused.value.smtp_error.startswith(b"4.3.0")
        assert platform.spool_size() == 1, "a refused message must not stay in the spool"

        # The broker dies for good; the supervisor brings back an empty one and recovers by itself.
        platform.signal("broker", signal.SIGKILL)
        platform.wait_for_line("govmail spool-republished", 120)
        platform.send("lanht@example.vn", [anh], mail(anh, "Trong sự cố — 事故中"))
        platform.wait_messages(anh, 2, timeout=90)
        platform.wait_spool_empty()
        time.sleep(2)  # any duplicate would arrive now
        assert subjects(platform, anh) == ["Trong sự cố — 事故中", "Trước sự cố — 事故前"]
    finally:
        assert platform.stop() == 0


def test_killing_delivery_mid_stream_delivers_every_message_exactly_once(tmp_path) -> None:
    platform = Platform(tmp_path / "data")
    platform.start()
    try:
        lan = setup_account(platform, "Hoàng Thị Lan")
        count = 40
        with smtplib.SMTP("127.0.0.1", platform.smtp_port) as smtp:
            for i in range(count):
                smtp.sendmail("lanht@example.vn", [lan], mail(lan, f"Công văn số {i:03d}"))
                if i == 10:
                    platform.wait_messages(lan, 1)
                    platform.signal("delivery", signal.SIGKILL)
        platform.wait_for_line("govmail restart service=delivery", 60)
        platform.wait_messages(lan, count, timeout=120)
        platform.wait_spool_empty()
        time.sleep(2)
        assert subjects(platform, lan) == [f"Công văn số {i:03d}" for i in range(count)]
    finally:
        assert platform.stop() == 0


def test_restarting_the_platform_keeps_accounts_mail_and_statistics(tmp_path) -> None:
    platform = Platform(tmp_path / "data")
    platform.start()
    hung = setup_account(platform, "Trần Quốc Hùng")
    platform.send("lanht@example.vn", [hung], mail(hung, "Thư thứ nhất"))
    platform.wait_messages(hung, 1)
    platform.wait_volume(lambda rows: any(r["account"] == hung and r["delivered"] == 1 for r in rows), by="account")
    pids = platform.pids()
    assert platform.stop() == 0
    assert not [name for name, pid in pids.items() if alive(pid)], "processes left behind"
    said = "".join(platform.output)
    # Ingress stops before anything else, and the stop completes.
    assert said.index("govmail stopping") < said.index("govmail drained") < said.index("govmail stopped")

    platform.start()
    try:
        shown = json.loads(platform.govmail("admin", "account", "show", hung, "--json").stdout)
        assert shown["address"] == hung and shown["name"] == "Trần Quốc Hùng"
        assert subjects(platform, hung) == ["Thư thứ nhất"]
        platform.send("lanht@example.vn", [hung], mail(hung, "Thư thứ hai"))
        platform.wait_messages(hung, 2)
        rows = platform.wait_volume(lambda rows: any(r["account"] == hung and r["delivered"] == 2 for r in rows),
                                    by="account")
        [row] = [r for r in rows if r["account"] == hung]
        assert row["received"] == 2
    finally:
        assert platform.stop() == 0
