"""Mail sent over SMTP to a running `govmail up` reaches the Maildir intact, and hostile mail does not."""

from __future__ import annotations

import base64
import os
import smtplib
import urllib.request
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.e2e.harness import Platform, body_of, parse

DOMAIN = "tiengiang.gov.vn"


def eicar() -> bytes:
    # Built at run time so the repository never holds the signature itself.
    return ("X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*").encode()


GTUBE = b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    plat = Platform(tmp_path_factory.mktemp("pipeline") / "data")
    plat.start()
    plat.govmail("admin", "domain", "add", DOMAIN)
    plat.govmail("admin", "unit", "add", "--domain", DOMAIN, "--code", "stttt", "--name", "Sở Thông tin và Truyền thông")
    yield plat
    assert plat.stop() == 0


@pytest.fixture(scope="module")
def hieu(platform: Platform) -> str:
    return platform.create_account(DOMAIN, "Lê Minh Hiếu", unit="stttt", birth_year="1977")["address"]


def vietnamese_mail(to: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Nguyễn Văn Anh <anhnv.tt@backan.gov.vn>"
    msg["To"] = to
    msg["Subject"] = "Báo cáo tháng 11 — 关于年度报告的通知"
    msg.set_content("Kính gửi anh Hiếu,\n\nĐề nghị Sở gửi báo cáo trước ngày 5 tháng 12.\n请于十二月五日前提交年度报告。\n")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def test_clean_mail_is_delivered_byte_identical_with_its_verdict(platform: Platform, hieu: str) -> None:
    assert hieu == "leminhhieu@tiengiang.gov.vn"
    raw = vietnamese_mail(hieu)
    platform.send("anhnv.tt@backan.gov.vn", [hieu], raw)
    [delivered] = platform.wait_messages(hieu, 1)
    assert body_of(delivered) == body_of(raw)
    msg = parse(delivered)
    assert msg["Subject"] == "Báo cáo tháng 11 — 关于年度报告的通知"
    assert "Đề nghị Sở gửi báo cáo" in msg.get_content()
    assert msg["Delivered-To"] == hieu
    assert "action=accept" in msg["X-Govmail-Scan"]
    assert msg["Received"].startswith("from")
    rows = platform.wait_volume(lambda rows: sum(r["delivered"] for r in rows) >= 1)
    assert sum(r["received"] for r in rows) >= 1


def test_chinese_mail_from_an_smtputf8_address_arrives_intact(platform: Platform) -> None:
    wei = platform.create_account(DOMAIN, "张伟", unit="stttt")["address"]
    msg = EmailMessage()
    msg["From"] = "李娜 <李娜@例子.中国>"
    msg["To"] = wei
    msg["Subject"] = "关于二〇二六年度工作总结的通知"
    msg.set_content("张伟同志：\n请于本周五前提交年度工作总结。谢谢！\n")
    raw = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n", utf8=True))
    platform.send("李娜@例子.中国", [wei], raw, smtputf8=True)
    [delivered] = platform.wait_messages(wei, 1)
    assert body_of(delivered) == body_of(raw)
    parsed = parse(delivered)
    assert parsed["Subject"] == "关于二〇二六年度工作总结的通知"
    assert "请于本周五前提交年度工作总结" in parsed.get_content()
    assert "Return-Path: <李娜@例子.中国>" in delivered.decode("utf-8")


def test_gtube_and_eicar_are_not_delivered_and_are_counted_rejected(platform: Platform) -> None:
    anh = platform.create_account(DOMAIN, "Đặng Thị Ưng", unit="stttt")["address"]
    spam = EmailMessage()
    spam["From"] = "khuyenmai@example.com"
    spam["To"] = anh
    spam["Subject"] = "Khuyến mãi lớn"
    spam.set_content("Mua ngay!\n" + GTUBE.decode() + "\n")
    virus = EmailMessage()
    virus["From"] = "ketoan@example.com"
    virus["To"] = anh
    virus["Subject"] = "Hoá đơn tháng 11"
    virus.set_content("Xem tệp đính kèm.")
    virus.add_attachment(eicar(), maintype="application", subtype="octet-stream", filename="hoadon.com")
    assert b"Content-Transfer-Encoding: base64" in virus.as_bytes()
    assert base64.b64encode(eicar()[:30])[:20] in virus.as_bytes()
    clean = vietnamese_mail(anh)
    for msg in (spam, virus):
        platform.send(str(msg["From"]), [anh], msg.as_bytes())
    platform.send("anhnv.tt@backan.gov.vn", [anh], clean)
    # The clean one was sent last; once it is in, the two before it have been decided too.
    platform.wait_messages(anh, 1)
    platform.wait_spool_empty()
    assert [parse(m)["Subject"] for m in platform.messages(anh)] == ["Báo cáo tháng 11 — 关于年度报告的通知"]
    assert platform.messages(anh, "Junk") == []
    rows = platform.wait_volume(lambda rows: any(r["account"] == anh and r["rejected"] >= 2 and r["delivered"] >= 1 for r in rows), by="account")
    [row] = [r for r in rows if r["account"] == anh]
    assert (row["received"], row["delivered"], row["rejected"]) == (3, 1, 2)


def test_unknown_users_and_foreign_domains_are_refused_with_enhanced_codes(platform: Platform, hieu: str) -> None:
    with smtplib.SMTP("127.0.0.1", platform.smtp_port) as smtp:
        smtp.ehlo("client.example")
        assert "enhancedstatuscodes" in smtp.esmtp_features
        assert "smtputf8" in smtp.esmtp_features
        assert smtp.mail("someone@example.com")[0] == 250
        code, text = smtp.rcpt("khongtontai@tiengiang.gov.vn")
        assert (code, text[:5]) == (550, b"5.1.1")
        code, text = smtp.rcpt("victim@gmail.com")
        assert (code, text[:5]) == (550, b"5.7.1")
        assert smtp.rcpt(hieu)[0] == 250


def test_stats_volume_prints_a_table(platform: Platform, hieu: str) -> None:
    table = platform.govmail("stats", "volume", "--by", "day").stdout
    assert "received" in table and "delivered" in table and "rejected" in table


def test_analytics_runs_at_a_lower_cpu_priority_than_the_mail_path(platform: Platform) -> None:
    pids = platform.pids()
    mail_path = {name: os.getpriority(os.PRIO_PROCESS, pids[name]) for name in ("ingress", "scanner", "delivery")}
    assert set(mail_path.values()) == {os.getpriority(os.PRIO_PROCESS, 0)}
    assert os.getpriority(os.PRIO_PROCESS, pids["analytics"]) == min(os.getpriority(os.PRIO_PROCESS, 0) + 10, 19)


def test_platform_writes_no_stray_files_outside_its_data_dir(platform: Platform) -> None:
    data = Path(platform.data_dir)
    for part in ("mail", "blobs", "spool", "redis", "clickhouse", "logs", "run"):
        assert (data / part).is_dir(), part


def test_every_service_serves_its_metrics_after_mail_flowed(platform: Platform, hieu: str) -> None:
    platform.send("anhnv.tt@backan.gov.vn", [hieu], vietnamese_mail(hieu))
    platform.wait_messages(hieu, 1)
    env = platform.env
    base = int(env["GOVMAIL_HEALTH_PORT_BASE"])
    ports = {"scanner": base, "delivery": base + 1, "ingress": base + 2, "lifecycle": int(env["GOVMAIL_ADMIN_PORT"]),
             "analytics": int(env["GOVMAIL_ANALYTICS_PORT"]), "webmail": int(env["GOVMAIL_WEBMAIL_PORT"])}
    pages = {}
    for service, port in ports.items():
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            pages[service] = response.read().decode()
    assert 'govmail_smtp_replies_total{listener="mx",code="250"}' in pages["ingress"]
    assert 'govmail_verdicts_total{action="accept"}' in pages["scanner"]
    assert 'govmail_delivery_outcomes_total{outcome="delivered",route="local"}' in pages["delivery"]
    assert 'govmail_messages_in_total{service="scanner",topic="mail.received.v1"}' in pages["scanner"]
    assert all("# TYPE govmail_messages_out_total counter" in page for page in pages.values())
