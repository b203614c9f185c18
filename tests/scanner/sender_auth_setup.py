"""What the sender-authentication and phishing tests share: a scan context on the real DNS server and Redis, and DKIM keys made at run time."""

from __future__ import annotations

import base64
import contextlib
import ipaddress
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import formatdate, make_msgid
from pathlib import Path

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from schemas.events import BlobRef, MailInfo
from services.common.directory import DOMAINS, RedisDirectory
from services.common.dns import make_resolver
from services.scanner import context
from services.scanner.checks import bayes
from services.scanner.phishing.hashlist import ListFile
from tests.dnsserver import LocalDNS


class SigningKey:
    """An RSA key generated for the test run; its public half goes into the local DNS server."""

    def __init__(self) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                             serialization.NoEncryption())
        public = key.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
        self.public_b64 = base64.b64encode(public).decode("ascii")

    def record(self) -> str:
        """The DKIM key record as TXT presentation text, cut into strings of at most 255 characters."""
        text = f"v=DKIM1; k=rsa; p={self.public_b64}"
        return " ".join(f'"{text[i:i + 200]}"' for i in range(0, len(text), 200))

    def publish(self, dns: LocalDNS, selector: str, domain: str) -> None:
        dns.add(f"{selector}._domainkey.{domain}", "TXT", self.record())

    def sign(self, raw: bytes, selector: str, domain: str) -> bytes:
        signature = dkim.sign(raw, selector.encode(), domain.encode(), self.private_pem,
                              include_headers=[b"from", b"to", b"subject", b"date", b"message-id"], linesep=b"\n")
        return signature + raw


def simple_mail(sender: str, text: str, html: str = "") -> bytes:
    """A Vietnamese notice from `sender`: plain text, or text and HTML alternatives; Date and Message-ID set, as
    real mail has them (the header heuristics would otherwise add to every score)."""
    head = (f"From: {sender}\nTo: lanlt@tiengiang.gov.vn\nSubject: =?utf-8?q?Th=C3=B4ng_b=C3=A1o?=\n"
            f"Date: {formatdate()}\nMessage-ID: {make_msgid(domain='mail.example')}\nMIME-Version: 1.0\n")
    if not html:
        return (head + f"Content-Type: text/plain; charset=utf-8\n\n{text}\n").encode()
    return (head + "Content-Type: multipart/alternative; boundary=b\n\n"
            f"--b\nContent-Type: text/plain; charset=utf-8\n\n{text}\n"
            f"--b\nContent-Type: text/html; charset=utf-8\n\n{html}\n--b--\n").encode()


def envelope(client_ip: str, helo: str, mail_from: str, listener: str = "mx", size: int = 0) -> MailInfo:
    """The MailInfo ingress would record for this SMTP session."""
    local = listener != "mx"
    return MailInfo(
        mail_from=mail_from,
        rcpt_to=["lanlt@tiengiang.gov.vn"],
        blob=BlobRef(uri="file:///unused", sha256="0" * 64, size=size),
        size=size,
        listener=listener,  # type: ignore[arg-type]
        client_ip=client_ip,
        client_helo=helo,
        authenticated_as=mail_from if local else None,
        sender_domain=mail_from.rpartition("@")[2],
        direction="outbound" if local else "inbound",
        received_at=datetime.now(UTC),
    )


@contextlib.asynccontextmanager
async def scan_context(resolver_address: str, redis_url: str, list_path: Path, domains: list[str],
                       dns_timeout: float = 1.0) -> AsyncIterator[context.ScanContext]:
    """The context the service would build, pointed at the test's DNS server, Redis and list; the Bayes model off."""
    directory = RedisDirectory.from_url(redis_url)
    if domains:
        await directory.redis.sadd(DOMAINS, *domains)
    ctx = context.ScanContext(
        resolver=make_resolver(resolver_address, timeout=dns_timeout),
        directory=directory,
        phishing=ListFile(list_path),
        dns_timeout=dns_timeout,
        trusted_networks=(ipaddress.ip_network("127.0.0.0/8"),),
    )
    context.use(ctx)
    bayes.use(None)  # the action must follow from the checks under test, not from a trained model
    try:
        yield ctx
    finally:
        context.use(None)
        bayes.reset()
        await directory.close()
