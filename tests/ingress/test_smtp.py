"""Ingress over real SMTP: precise refusals, 250 only once the broker has the event, 451 when it does not."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import smtplib
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from schemas.events import MailReceived
from services.common.directory import DOMAINS, Account, account_key, service_class_key, usage_key
from services.common.spool import Spool
from services.platform import infra
from tests.conftest import govmail_command

DOMAIN = "tiengiang.gov.vn"


def add_account(redis_client, address: str, name: str, **fields) -> None:
    """An account whose owner already replaced the one-time password (else mail clients may not log in)."""
    local = address.split("@")[0]
    fields.setdefault("must_change_password", False)
    account = Account(address=address, domain=DOMAIN, localpart=local, name=name, **fields)
    redis_client.hset(account_key(address), mapping=account.to_redis())


@pytest.fixture
def directory(redis_client) -> None:
    redis_client.sadd(DOMAINS, DOMAIN)
    add_account(redis_client, "leminhhieu@tiengiang.gov.vn", "Lê Minh Hiếu")
    add_account(redis_client, "bikhoa@tiengiang.gov.vn", "Bị Khoá", status="locked")
    add_account(redis_client, "daxoa@tiengiang.gov.vn", "Đã Xoá", status="deleted")
    add_account(redis_client, "nho@tiengiang.gov.vn", "Hộp Nhỏ", service_class="basic")


def start_ingress(env: dict[str, str]) -> subprocess.Popen:
    # Logs go to a file: a pipe nobody reads fills up and blocks the service mid-test.
    data = Path(env["GOVMAIL_DATA_DIR"])
    data.mkdir(parents=True, exist_ok=True)
    log = data / "ingress.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(govmail_command("ingress"), env=env, stdout=out, stderr=subprocess.STDOUT)
    marker = data / "run" / "ready" / "ingress"
    deadline = time.monotonic() + 60
    while not (marker.exists() and marker.read_text() == str(proc.pid)):
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")
        time.sleep(0.1)
    return proc


@pytest.fixture
def ingress(platform_env, directory) -> Iterator[dict[str, str]]:
    proc = start_ingress(platform_env)
    yield platform_env
    proc.terminate()
    assert proc.wait(30) == 0


def read_received(bootstrap: str, message_id: str) -> MailReceived:
    async def run() -> MailReceived:
        consumer = AIOKafkaConsumer("mail.received.v1", bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            async with asyncio.timeout(20):
                while True:
                    for records in (await consumer.getmany(timeout_ms=500)).values():
                        for r in records:
                            # The session broker is shared: other tests put garbage here on purpose.
                            with contextlib.suppress(ValueError):
                                event = json.loads(r.value)
                                if isinstance(event, dict) and event.get("message_id") == message_id:
                                    return MailReceived.model_validate(event)
        finally:
            await consumer.stop()

    return asyncio.run(run())


def letter() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Phòng Hành chính <hanhchinh@example.vn>"
    msg["To"] = "leminhhieu@tiengiang.gov.vn"
    msg["Subject"] = "Lịch họp giao ban — 周例会安排"
    msg.set_content("Kính mời anh dự họp lúc 8 giờ sáng thứ Hai.\n请准时参加。\n", cte="8bit")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def test_accepted_mail_is_published_and_spooled_before_250(ingress, infra_parts) -> None:
    with smtplib.SMTP("127.0.0.1", int(ingress["GOVMAIL_SMTP_PORT"])) as smtp:
        smtp.ehlo("mail.example.vn")
        smtp.mail("hanhchinh@example.vn")
        smtp.rcpt("leminhhieu@tiengiang.gov.vn")
        code, reply = smtp.data(letter())
    assert code == 250 and reply.startswith(b"2.0.0 Ok: queued as ")
    message_id = reply.decode().rsplit(" ", 1)[1]
    event = read_received(infra_parts.bootstrap, message_id)
    assert event.mail.rcpt_to == ["leminhhieu@tiengiang.gov.vn"]
    assert event.mail.subject == "Lịch họp giao ban — 周例会安排"
    assert event.mail.client_helo == "mail.example.vn"
    stored = Path(event.mail.blob.uri.removeprefix("file://")).read_bytes()
    assert stored.startswith(b"Received: from mail.example.vn ([127.0.0.1])")
    assert stored.endswith(letter())
    spool = Spool(Path(ingress["GOVMAIL_DATA_DIR"]) / "spool")
    assert [e.message_id for e in spool.unfinished()] == [message_id]


@pytest.mark.parametrize(
    ("rcpt", "code", "status"),
    [
        ("khongco@tiengiang.gov.vn", 550, b"5.1.1"),
        ("daxoa@tiengiang.gov.vn", 550, b"5.1.1"),
        ("bikhoa@tiengiang.gov.vn", 550, b"5.2.1"),
        ("someone@gmail.com", 550, b"5.7.1"),
        ("khong-co-a-cong", 553, b"5.1.3"),
    ],
)
def test_recipients_are_refused_precisely(ingress, rcpt: str, code: int, status: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", int(ingress["GOVMAIL_SMTP_PORT"])) as smtp:
        smtp.ehlo("client")
        smtp.mail("a@example.vn")
        got_code, text = smtp.rcpt(rcpt)
    assert (got_code, text[:5]) == (code, status)


def test_message_over_the_recipients_class_limit_is_refused_with_the_limit(ingress) -> None:
    big = b"Subject: big\r\n\r\n" + (b"y" * 998 + b"\r\n") * (3 * 1100)
    with smtplib.SMTP("127.0.0.1", int(ingress["GOVMAIL_SMTP_PORT"])) as smtp:
        smtp.ehlo("client")
        smtp.mail("a@example.vn")
        smtp.rcpt("nho@tiengiang.gov.vn")
        code, text = smtp.data(big)
    assert code == 552 and text.startswith(b"5.3.4") and str(3 * 1024 * 1024).encode() in text


def test_declared_size_over_the_recipients_class_is_refused_at_rcpt(ingress) -> None:
    with smtplib.SMTP("127.0.0.1", int(ingress["GOVMAIL_SMTP_PORT"])) as smtp:
        smtp.ehlo("client")
        assert smtp.docmd("MAIL", f"FROM:<a@example.vn> SIZE={4 * 1024**2}")[0] == 250
        code, text = smtp.rcpt("nho@tiengiang.gov.vn")
        assert (code, text[:5]) == (552, b"5.3.4") and str(3 * 1024**2).encode() in text
        assert smtp.rcpt("leminhhieu@tiengiang.gov.vn")[0] == 250  # a 50 MB class takes it


def test_a_class_stored_by_lifecycle_sets_the_limit(platform_env, directory, redis_client) -> None:
    redis_client.hset(service_class_key("thu-nghiem"), mapping={
        "name": "thu-nghiem", "quota_bytes": 10**9, "max_message_bytes": 2000, "features": ""})
    redis_client.hset(account_key("nho@tiengiang.gov.vn"), "service_class", "thu-nghiem")
    proc = start_ingress(platform_env)
    try:
        with smtplib.SMTP("127.0.0.1", int(platform_env["GOVMAIL_SMTP_PORT"])) as smtp:
            smtp.ehlo("client")
            smtp.mail("a@example.vn")
            smtp.rcpt("nho@tiengiang.gov.vn")
            code, text = smtp.data(b"Subject: x\r\n\r\n" + b"z" * 3000 + b"\r\n")
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
    assert (code, text[:5]) == (552, b"5.3.4") and b"2000" in text


@pytest.mark.parametrize(("setting", "code", "status"), [("temporary", 452, b"4.2.2"), ("permanent", 552, b"5.2.2")])
def test_recipient_over_quota_is_refused_as_configured(platform_env, directory, redis_client, setting, code, status):
    redis_client.set(usage_key("nho@tiengiang.gov.vn"), 10 * 1024**2)  # the basic class's whole quota
    redis_client.set(usage_key("leminhhieu@tiengiang.gov.vn"), 10 * 1024**2)  # far below the standard quota
    proc = start_ingress(dict(platform_env, INGRESS_OVER_QUOTA=setting))
    try:
        with smtplib.SMTP("127.0.0.1", int(platform_env["GOVMAIL_SMTP_PORT"])) as smtp:
            smtp.ehlo("client")
            smtp.mail("a@example.vn")
            got = smtp.rcpt("nho@tiengiang.gov.vn")
            other = smtp.rcpt("leminhhieu@tiengiang.gov.vn")
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
    assert (got[0], got[1][:5]) == (code, status) and b"nho@tiengiang.gov.vn" in got[1]
    assert other[0] == 250


def test_lines_longer_than_1000_octets_are_accepted_intact(ingress, infra_parts) -> None:
    """Real mail (the SpamAssassin corpus among it) has such lines; refusing them would bounce it."""
    raw = b"Subject: long\r\n\r\n" + "Đây là dòng rất dài ".encode() * 300 + b"\r\n"
    with smtplib.SMTP("127.0.0.1", int(ingress["GOVMAIL_SMTP_PORT"])) as smtp:
        smtp.ehlo("client")
        smtp.mail("a@example.vn")
        smtp.rcpt("leminhhieu@tiengiang.gov.vn")
        code, reply = smtp.data(raw)
    assert code == 250
    event = read_received(infra_parts.bootstrap, reply.decode().split()[-1])
    assert Path(event.mail.blob.uri.removeprefix("file://")).read_bytes().endswith(raw)


def test_ehlo_advertises_the_extensions_and_a_pipelined_transaction_gets_every_reply_in_order(ingress) -> None:
    with smtplib.SMTP("127.0.0.1", int(ingress["GOVMAIL_SMTP_PORT"])) as smtp:
        smtp.ehlo("mail.example.vn")
        assert {"pipelining", "8bitmime", "smtputf8", "enhancedstatuscodes", "size"} <= set(smtp.esmtp_features)
    # RFC 2920: MAIL, both RCPTs and DATA in one write; the replies come back in the same order.
    sock = socket.create_connection(("127.0.0.1", int(ingress["GOVMAIL_SMTP_PORT"])))
    f = sock.makefile("rb")
    f.readline()
    sock.sendall(b"EHLO mail.example.vn\r\n")
    while f.readline()[3:4] == b"-":
        pass
    sock.sendall(b"MAIL FROM:<hanhchinh@example.vn>\r\nRCPT TO:<khongco@tiengiang.gov.vn>\r\n"
                 b"RCPT TO:<leminhhieu@tiengiang.gov.vn>\r\nDATA\r\n")
    replies = [f.readline()[:9] for _ in range(4)]
    assert replies == [b"250 2.1.0", b"550 5.1.1", b"250 2.1.5", b"354 End d"]
    sock.sendall(letter() + b".\r\nQUIT\r\n")
    assert f.readline().startswith(b"250 2.0.0 Ok: queued as ")
    assert f.readline().startswith(b"221")
    sock.close()


def test_smtp_smuggling_bare_lf_dot_does_not_end_data(ingress, infra_parts) -> None:
    """`\\n.\\r\\n` inside DATA is content, so a second, smuggled message cannot be injected."""
    sock = socket.create_connection(("127.0.0.1", int(ingress["GOVMAIL_SMTP_PORT"])))
    f = sock.makefile("rb")

    def cmd(line: bytes) -> bytes:
        sock.sendall(line)
        reply = f.readline()
        while reply[3:4] == b"-":
            reply = f.readline()
        return reply

    f.readline()
    cmd(b"EHLO attacker\r\n")
    cmd(b"MAIL FROM:<a@example.vn>\r\n")
    cmd(b"RCPT TO:<leminhhieu@tiengiang.gov.vn>\r\n")
    assert cmd(b"DATA\r\n").startswith(b"354")
    sock.sendall(b"Subject: one\r\n\r\nhello\n.\r\nMAIL FROM:<ceo@tiengiang.gov.vn>\r\nRCPT TO:<leminhhieu@tiengiang.gov.vn>\r\n"
                 b"DATA\r\nSubject: smuggled\r\n\r\nhi\r\n.\r\n")
    reply = f.readline()
    assert reply.startswith(b"250 2.0.0")
    assert cmd(b"QUIT\r\n").startswith(b"221")
    sock.close()
    event = read_received(infra_parts.bootstrap, reply.decode().split()[-1])
    stored = Path(event.mail.blob.uri.removeprefix("file://")).read_bytes()
    assert b"Subject: smuggled" in stored and event.mail.mail_from == "a@example.vn"


def test_broker_not_answering_gives_451_and_leaves_nothing_in_the_spool(platform_env, directory, tmp_path) -> None:
    port = infra.free_port()
    broker = infra.start_broker(port, tmp_path / "tansu.log")
    env = dict(platform_env, GOVMAIL_KAFKA_BOOTSTRAP=f"127.0.0.1:{port}", INGRESS_PUBLISH_TIMEOUT="2")
    from services.common.bus import ensure_topics

    asyncio.run(ensure_topics(env["GOVMAIL_KAFKA_BOOTSTRAP"]))
    proc = start_ingress(env)
    try:
        broker.send_signal(signal.SIGSTOP)
        with smtplib.SMTP("127.0.0.1", int(env["GOVMAIL_SMTP_PORT"]), timeout=30) as smtp, \
                pytest.raises(smtplib.SMTPDataError) as refused:
            smtp.sendmail("a@example.vn", ["leminhhieu@tiengiang.gov.vn"], letter())
        assert (refused.value.smtp_code, refused.value.smtp_error[:5]) == (451, b"4.3.0")
        assert Spool(Path(env["GOVMAIL_DATA_DIR"]) / "spool").unfinished() == []
    finally:
        broker.send_signal(signal.SIGCONT)
        proc.terminate()
        proc.wait(30)
        infra.stop(broker)


def test_metrics_count_smtp_replies_by_listener_and_code(ingress) -> None:
    with smtplib.SMTP("127.0.0.1", int(ingress["GOVMAIL_SMTP_PORT"])) as smtp:
        smtp.ehlo("client")
        smtp.mail("a@example.vn")
        smtp.rcpt("khongco@tiengiang.gov.vn")
        smtp.rcpt("khongco2@tiengiang.gov.vn")
    port = int(ingress["GOVMAIL_HEALTH_PORT_BASE"]) + 2
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    assert 'govmail_smtp_replies_total{listener="mx",code="550"} 2.0' in text
    assert 'govmail_smtp_replies_total{listener="mx",code="220"} 1.0' in text
