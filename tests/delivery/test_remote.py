"""Mail to the world, against real SMTP servers on loopback found through a real DNS server:
one accepts, one tempfails then accepts, one rejects."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email
import email.policy
import socket
import time

import dkim
import dns.resolver
import pytest
from aiokafka import AIOKafkaConsumer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from schemas.events import MailDelivery, MailReceived, MailRetry
from services.common.consumer import Record
from services.delivery.runtime import run_scheduled
from tests.delivery.support import (
    RemoteMX,
    add_account,
    body_text,
    events,
    message,
    remote_mx,
    scanned,
    stack,
    system_mail_to,
)

SENDER = "leminhhieu@tiengiang.gov.vn"
ACCEPTS, GREYLISTS, REJECTS = "accept.example.cn", "greylist.example.com", "reject.example.org"


def shared_port() -> int:
    """One port free on every loopback address the remote servers use (remote_smtp_port is one setting)."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.2", 0))
            port = probe.getsockname()[1]
        try:
            for host in ("127.0.0.3", "127.0.0.4"):
                with socket.socket() as other:
                    other.bind((host, port))
            return port
        except OSError:
            continue


def dkim_key(folder, domain: str, selector: str) -> str:
    """Write the private key where delivery looks for it; return the TXT record publishing the public key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{domain}.{selector}.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
    public = base64.b64encode(key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
    record_text = f"v=DKIM1; k=rsa; p={public}"
    return " ".join(f'"{record_text[i:i + 200]}"' for i in range(0, len(record_text), 200))


class World:
    def __init__(self, local_dns, tmp_path):
        self.port = shared_port()
        self.accepting = RemoteMX()
        self.greylisting = RemoteMX(answer=lambda a, n: "451 4.7.1 Greylisted, try again later" if n == 1 else None)
        self.rejecting = RemoteMX(answer=lambda a, n: f"550 5.1.1 <{a}>: no such user here")
        self.always_busy = RemoteMX(answer=lambda a, n: "452 4.3.1 Insufficient system storage")
        self.local_dns = local_dns
        for domain, address in ((ACCEPTS, "127.0.0.2"), (GREYLISTS, "127.0.0.3"), (REJECTS, "127.0.0.4")):
            local_dns.add(domain, "MX", f"10 mx.{domain}.")
            local_dns.add(f"mx.{domain}", "A", address)
        self.dkim_dir = tmp_path / "dkim"
        local_dns.add("sel2026._domainkey.tiengiang.gov.vn", "TXT",
                      dkim_key(self.dkim_dir, "tiengiang.gov.vn", "sel2026"))
        self.tls = tmp_path / "tls"

    @contextlib.asynccontextmanager
    async def servers(self, rejecting: RemoteMX | None = None):
        async with (remote_mx(self.accepting, "127.0.0.2", self.port, self.tls),
                    remote_mx(self.greylisting, "127.0.0.3", self.port, self.tls),
                    remote_mx(rejecting or self.rejecting, "127.0.0.4", self.port, self.tls)):
            yield

    def verify(self, data: bytes) -> bool:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [self.local_dns.host]
        resolver.port = self.local_dns.port

        def txt(name: bytes, timeout: int = 5) -> bytes:
            answer = resolver.resolve(name.decode().rstrip("."), "TXT")
            return b"".join(b"".join(r.strings) for r in answer)

        return dkim.verify(data, dnsfunc=txt)


@pytest.fixture
def world(local_dns, tmp_path):
    return World(local_dns, tmp_path)


@contextlib.asynccontextmanager
async def running(infra_parts, tmp_path, world: World, **settings):
    """The runtime with its scheduler, and a retry consumer fed from the real mail.retry.v1 topic."""
    options = {"remote_smtp_port": world.port, "dkim_keys": world.dkim_dir, "retry_first": 0.3,
               "sweep_interval": 0.1, **settings}
    async with stack(infra_parts, tmp_path, dns=world.local_dns.resolver_address, **options) as s:
        mine: set[str] = set()
        consumer = AIOKafkaConsumer("mail.retry.v1", bootstrap_servers=infra_parts.bootstrap,
                                    auto_offset_reset="latest", enable_auto_commit=False)
        await consumer.start()
        await consumer.seek_to_end()

        stopping = asyncio.Event()

        async def pump() -> None:
            # Stops between two fetches: cancelling aiokafka's getmany can leave consumer.stop() hanging.
            while not stopping.is_set():
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for r in records:
                        with contextlib.suppress(ValueError):
                            if MailRetry.model_validate_json(r.value).message_id in mine:
                                await s.runtime.delivery.handle_retry(record_of(r))

        scheduler, pumping = asyncio.create_task(run_scheduled(s.runtime)), asyncio.create_task(pump())
        s.mine = mine
        try:
            yield s
        finally:
            stopping.set()
            scheduler.cancel()
            await asyncio.gather(scheduler, pumping, return_exceptions=True)
            await consumer.stop()


def record_of(r) -> Record:
    return Record(r.topic, r.partition, r.offset, r.key, r.value)


async def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition never met"
        await asyncio.sleep(0.1)


async def outcomes(bootstrap: str, message_id: str, count: int) -> list[MailDelivery]:
    found = await events(bootstrap, "mail.delivery.v1", MailDelivery, lambda e: e.message_id == message_id, count)
    return sorted({e.event_id: e for e in found}.values(), key=lambda e: (e.attempt, e.recipient))


async def test_accepted_mail_is_dkim_signed_sent_over_starttls_on_one_reused_connection(
        infra_parts, redis_client, tmp_path, world) -> None:
    add_account(redis_client, SENDER, "Lê Minh Hiếu")
    async with running(infra_parts, tmp_path, world) as s, asyncio.timeout(60):
        async with world.servers():
            to = [f"wangfang@{ACCEPTS}", f"liqiang@{ACCEPTS}"]
            first = scanned(s.blobs, message(f"Lê Minh Hiếu <{SENDER}>", to, "Giấy mời họp — 会议邀请",
                                             "Kính mời quý cơ quan dự họp.\n诚邀贵单位参加会议。"),
                            SENDER, to, direction="outbound")
            second = scanned(s.blobs, message(SENDER, to[:1], "Công văn số 2", "Nội dung thứ hai"),
                             SENDER, to[:1], direction="outbound")
            await s.deliver(first)
            await s.deliver(second)
            await wait_for(lambda: len(world.accepting.received) == 2)
        got = sorted(world.accepting.received, key=lambda r: len(r.rcpt_tos))  # attempts run side by side
        assert got[0].rcpt_tos == to[:1] and sorted(got[1].rcpt_tos) == sorted(to)
        assert all(r.tls for r in got), "STARTTLS was offered and must have been used"
        assert {r.session for r in got} == {0}, "both messages must travel on one connection"
        assert s.runtime.destinations.opened == 1
        for r in got:
            assert r.data.startswith(b"DKIM-Signature:")
            assert world.verify(r.data), "the receiving side must verify the DKIM signature"
        parsed = email.message_from_bytes(got[1].data, policy=email.policy.default)
        assert parsed["Subject"] == "Giấy mời họp — 会议邀请"
        delivered = await outcomes(infra_parts.bootstrap, first.message_id, 2)
        assert [(e.status, e.final, e.enhanced_status) for e in delivered] == [("delivered", True, "2.0.0")] * 2
        status = await s.runtime.actions.sent_message(first.message_id, SENDER)
        assert {r["state"] for r in status["recipients"]} == {"delivered"}
        assert all(r["remote"] for r in status["recipients"])


async def test_a_tempfail_is_retried_through_the_retry_topic_and_then_delivered(
        infra_parts, redis_client, tmp_path, world) -> None:
    add_account(redis_client, SENDER, "Lê Minh Hiếu")
    async with running(infra_parts, tmp_path, world) as s, asyncio.timeout(60):
        async with world.servers():
            to = [f"zhaolei@{GREYLISTS}"]
            event = scanned(s.blobs, message(SENDER, to, "Báo cáo quý — 季度报告", "Kính gửi"), SENDER, to,
                            direction="outbound")
            s.mine.add(event.message_id)
            await s.deliver(event)
            await wait_for(lambda: len(world.greylisting.received) == 1)
        (retry,) = await events(infra_parts.bootstrap, "mail.retry.v1", MailRetry,
                                lambda e: e.message_id == event.message_id)
        assert retry.attempt == 2 and retry.last_error.startswith("451 4.7.1")
        assert retry.deliver_until.timestamp() == pytest.approx(event.mail.received_at.timestamp() + 5 * 86400)
        states = await outcomes(infra_parts.bootstrap, event.message_id, 2)
        assert [(e.attempt, e.status, e.final) for e in states] == [(1, "deferred", False), (2, "delivered", True)]
        assert "Greylisted" in states[0].detail


async def test_a_permanent_refusal_bounces_to_the_sender_with_an_rfc3464_report(
        infra_parts, redis_client, tmp_path, world) -> None:
    add_account(redis_client, SENDER, "Lê Minh Hiếu", language="vi")
    async with running(infra_parts, tmp_path, world) as s, asyncio.timeout(60):
        async with world.servers():
            to = [f"nobody@{REJECTS}", f"wangfang@{ACCEPTS}"]
            event = scanned(s.blobs, message(SENDER, to, "Thông báo lịch họp", "Nội dung"), SENDER, to,
                            direction="outbound")
            await s.deliver(event)
            (dsn,) = await system_mail_to(infra_parts.bootstrap, s.blobs, SENDER, mail_from="",
                                          trace_id=event.trace_id)
        assert dsn.get_content_type() == "multipart/report"
        assert dsn.get_param("report-type") == "delivery-status"
        assert dsn["Subject"] == "Thư không gửi được: Thông báo lịch họp"
        assert "Máy chủ thư của người nhận đã từ chối thư" in body_text(dsn)
        fields = next(p for p in dsn.walk() if p.get_content_type() == "message/delivery-status").get_payload()
        assert fields[0]["Reporting-MTA"] == "dns; mail.tiengiang.gov.vn"
        assert len(fields) == 2, "only the refused recipient is reported"
        assert fields[1]["Final-Recipient"] == f"rfc822; nobody@{REJECTS}"
        assert fields[1]["Status"] == "5.1.1"
        assert fields[1]["Remote-MTA"] == f"dns; mx.{REJECTS}"
        assert str(fields[1]["Diagnostic-Code"]).strip().startswith("smtp; 550 5.1.1")
        assert any(p.get_content_type() == "text/rfc822-headers" for p in dsn.walk())
        states = {e.recipient: e.status for e in await outcomes(infra_parts.bootstrap, event.message_id, 2)}
        assert states == {f"nobody@{REJECTS}": "bounced", f"wangfang@{ACCEPTS}": "delivered"}


async def test_the_deadline_turns_tempfails_into_a_bounce(infra_parts, redis_client, tmp_path, world) -> None:
    add_account(redis_client, SENDER, "Lê Minh Hiếu", language="en")
    # Retries after 1 s, 2 s, 4 s…: at least one deferral, then the 5 s deadline passes before the next try.
    async with running(infra_parts, tmp_path, world, deliver_until=5.0, retry_first=1.0) as s, asyncio.timeout(60):
        async with world.servers(rejecting=world.always_busy):
            to = [f"busy@{REJECTS}"]
            event = scanned(s.blobs, message(SENDER, to, "Deadline", "x"), SENDER, to, direction="outbound")
            s.mine.add(event.message_id)
            await s.deliver(event)
            (dsn,) = await system_mail_to(infra_parts.bootstrap, s.blobs, SENDER, mail_from="",
                                          trace_id=event.trace_id)
        fields = next(p for p in dsn.walk() if p.get_content_type() == "message/delivery-status").get_payload()
        assert fields[1]["Status"] == "4.4.7"
        assert "452 4.3.1" in body_text(dsn)
        states = await outcomes(infra_parts.bootstrap, event.message_id, 2)
        assert [(e.status, e.final) for e in states[:-1]] == [("deferred", False)] * (len(states) - 1)
        assert (states[-1].status, states[-1].final, states[-1].enhanced_status) == ("bounced", True, "4.4.7")
        assert len(states) >= 2


async def test_a_bounce_is_never_bounced(infra_parts, redis_client, tmp_path, world) -> None:
    async with running(infra_parts, tmp_path, world) as s, asyncio.timeout(60):
        async with world.servers():
            to = [f"nobody@{REJECTS}"]
            event = scanned(s.blobs, message("postmaster@tiengiang.gov.vn", to, "DSN", "x"), "", to,
                            direction="outbound", listener="internal")
            await s.deliver(event)
            (bounced,) = await outcomes(infra_parts.bootstrap, event.message_id, 1)
            assert bounced.status == "bounced"
        generated = await events(infra_parts.bootstrap, "mail.received.v1", MailReceived,
                                 lambda e: e.trace_id == event.trace_id, timeout=3)
        assert generated == []


async def test_separate_delivery_sends_each_recipient_a_copy_naming_only_them(
        infra_parts, redis_client, tmp_path, world) -> None:
    add_account(redis_client, SENDER, "Lê Minh Hiếu")
    async with running(infra_parts, tmp_path, world) as s, asyncio.timeout(60):
        async with world.servers():
            to = [f"a@{ACCEPTS}", f"b@{ACCEPTS}", f"c@{ACCEPTS}"]
            raw = message(SENDER, to, "Thư mời — 邀请函", "Kính mời", extra={"X-Govmail-Separate": "yes"})
            event = scanned(s.blobs, raw, SENDER, to, direction="outbound")
            await s.deliver(event)
            await wait_for(lambda: len(world.accepting.received) == 3)
        for r in world.accepting.received:
            parsed = email.message_from_bytes(r.data, policy=email.policy.default)
            assert len(r.rcpt_tos) == 1
            assert parsed["To"] == r.rcpt_tos[0]
            assert parsed["X-Govmail-Separate"] is None and parsed["Cc"] is None
            assert world.verify(r.data)
