"""Helpers for delivery tests: scanned events, a runtime on the session's real broker and Redis, remote SMTP
servers on loopback, and readers of the topics filtered by the test's own ids."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiosmtpd.controller import Controller
from pydantic import BaseModel

from schemas.events import MailInfo, MailReceived, MailScanned, Symbol, Verdict
from schemas.registry import SCANNED
from services.common.blobstore import FileBlobStore
from services.common.bus import KafkaPublisher, encode
from services.common.consumer import Record
from services.common.directory import DOMAINS, Account, account_key
from services.common.settings import PlatformSettings
from services.delivery.runtime import Runtime, build_runtime
from services.delivery.settings import DeliverySettings
from services.ingress.tls import self_signed


def new_id() -> str:
    return "t" + uuid.uuid4().hex[:20]


def add_account(redis_client, address: str, name: str, language: str = "vi", service_class: str = "standard",
                **extra: Any) -> Account:
    localpart, _, domain = address.partition("@")
    redis_client.sadd(DOMAINS, domain)
    account = Account(address=address, domain=domain, localpart=localpart, name=name, language=language,
                      service_class=service_class, **extra)
    redis_client.hset(account_key(address), mapping=account.to_redis())
    return account


def message(mail_from: str, to: list[str], subject: str, body: str, extra: dict[str, str] | None = None) -> bytes:
    msg = email.message.EmailMessage()
    msg["From"] = mail_from
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@tiengiang.gov.vn>"
    msg["Date"] = email.utils.formatdate()
    for name, value in (extra or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes(policy=email.policy.SMTP)


def scanned(blobs: FileBlobStore, raw: bytes, mail_from: str, rcpt_to: list[str], action: str = "accept",
            symbols: list[Symbol] | None = None, direction: str = "internal", listener: str = "submission",
            received_at: datetime | None = None, separate: bool = False) -> MailScanned:
    ref = blobs.put(raw)
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    message_id = new_id()
    info = MailInfo(mail_from=mail_from, rcpt_to=rcpt_to, blob=ref, size=len(raw), listener=listener,
                    header_from=str(parsed["From"] or ""), subject=str(parsed["Subject"] or ""),
                    header_message_id=str(parsed["Message-ID"] or ""),
                    sender_domain=mail_from.rpartition("@")[2], direction=direction,
                    received_at=received_at or datetime.now(UTC), separate_delivery=separate)
    score = sum(s.score for s in symbols or [])
    verdict = Verdict(action=action, score=score, required_score=6.0, symbols=symbols or [], scanner_version="test")
    return MailScanned(producer="scanner", message_id=message_id, trace_id=message_id, mail=info, verdict=verdict)


def record(event: BaseModel, topic: str = SCANNED) -> Record:
    return Record(topic, 0, 0, None, encode(event))


@dataclass
class Stack:
    """The delivery runtime as the service builds it, on real Redis, broker, DNS and Maildirs."""

    platform: PlatformSettings
    settings: DeliverySettings
    runtime: Runtime
    publisher: KafkaPublisher
    blobs: FileBlobStore

    def maildir(self, address: str, folder: str = "") -> Path:
        local, _, domain = address.partition("@")
        root = self.platform.mail_root / domain / local / "Maildir"
        return root / f".{folder}" if folder else root

    def messages(self, address: str, folder: str = "") -> list[bytes]:
        box = self.maildir(address, folder)
        return [p.read_bytes() for sub in ("new", "cur") if (box / sub).exists() for p in sorted((box / sub).iterdir())]

    async def deliver(self, event: MailScanned) -> None:
        await self.runtime.delivery.handle_scanned(record(event))


@contextlib.asynccontextmanager
async def stack(infra_parts, tmp_path: Path, dns: str = "", **settings: Any):
    platform = PlatformSettings(data_dir=tmp_path / "data", kafka_bootstrap=infra_parts.bootstrap,
                                redis_url=infra_parts.redis_url, dns_resolver=dns,
                                local_hostname="mail.tiengiang.gov.vn")
    delivery_settings = DeliverySettings(**settings)
    publisher = KafkaPublisher(infra_parts.bootstrap, "test-delivery")
    await publisher.start()
    runtime = build_runtime(platform, delivery_settings, publisher)
    try:
        yield Stack(platform, delivery_settings, runtime, publisher, FileBlobStore.from_uri(platform.blobs))
    finally:
        try:
            async with asyncio.timeout(20):
                await runtime.close()
                await publisher.stop()
        except TimeoutError:
            for t in asyncio.all_tasks():
                t.print_stack()
            raise


async def events(bootstrap: str, topic: str, model: type[BaseModel], predicate: Callable[[Any], bool],
                 count: int = 1, timeout: float = 20.0, settle: float = 1.0) -> list[Any]:
    """Events of `topic` matching `predicate`, once `count` arrived (and `settle` s more for repeats to show)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    found: list[Any] = []
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while len(found) < count:
                    found += _matching(await consumer.getmany(timeout_ms=300), model, predicate)
        if found and settle:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(settle):
                    while True:
                        found += _matching(await consumer.getmany(timeout_ms=300), model, predicate)
    finally:
        await consumer.stop()
    return found


def _matching(batches: dict, model: type[BaseModel], predicate: Callable[[Any], bool]) -> list[Any]:
    out = []
    for records in batches.values():
        for r in records:
            try:  # other tests put garbage on the shared topics on purpose
                event = model.model_validate_json(r.value)
            except ValueError:
                continue
            if predicate(event):
                out.append(event)
    return out


async def system_mail_to(bootstrap: str, blobs: FileBlobStore, address: str, count: int = 1,
                         timeout: float = 20.0, mail_from: str | None = None,
                         trace_id: str | None = None) -> list[email.message.EmailMessage]:
    """Mail the platform generated for `address` (bounces, notices), parsed, one per distinct event."""
    def wanted(e: MailReceived) -> bool:
        return (e.mail.listener == "internal" and address in e.mail.rcpt_to
                and (mail_from is None or e.mail.mail_from == mail_from)
                and (trace_id is None or e.trace_id == trace_id))

    found = await events(bootstrap, "mail.received.v1", MailReceived, wanted, count, timeout)
    unique = {e.event_id: e for e in found}
    return [email.message_from_bytes(blobs.get(e.mail.blob), policy=email.policy.default) for e in unique.values()]


def body_text(msg: email.message.EmailMessage) -> str:
    return msg.get_body(("plain",)).get_content()


# --- remote MX servers on loopback ---------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool
    session: int


@dataclass
class RemoteMX:
    """An aiosmtpd server whose RCPT answer a test chooses per address and attempt."""

    answer: Callable[[str, int], str | None] = lambda address, attempt: None
    received: list[Received] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)
    sessions: list[object] = field(default_factory=list)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.attempts[address] = self.attempts.get(address, 0) + 1
        reply = self.answer(address, self.attempts[address])
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if not any(s is session for s in self.sessions):
            self.sessions.append(session)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or
                                      envelope.content, session.ssl is not None,
                                      next(i for i, s in enumerate(self.sessions) if s is session)))
        return "250 2.0.0 queued"


def tls_context(folder: Path) -> ssl.SSLContext:
    cert, key = folder / "mx.crt", folder / "mx.key"
    if not cert.exists():
        self_signed("mx.loopback", cert, key)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@contextlib.asynccontextmanager
async def remote_mx(handler: RemoteMX, address: str, port: int, tls_folder: Path):
    controller = Controller(handler, hostname=address, port=port, tls_context=tls_context(tls_folder),
                            require_starttls=False, decode_data=False, enable_SMTPUTF8=True)
    # Start and stop block until the server thread answers: keep them off the test's event loop.
    await asyncio.to_thread(controller.start)
    try:
        yield controller
    finally:
        await asyncio.to_thread(controller.stop)
