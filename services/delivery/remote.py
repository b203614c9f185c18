"""SMTP to the world: one connection per destination domain, reused across messages, with opportunistic STARTTLS.

Every recipient gets its own reply: a remote server may take one recipient and refuse another.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass

import aiosmtplib
import dns.asyncresolver

from services.common import logging as log
from services.delivery import mx

logger = log.get(__name__)


@dataclass(frozen=True)
class Reply:
    """A remote server's answer for one recipient, or our own for a failure before it could answer."""

    code: int
    text: str
    remote_mta: str = ""

    @property
    def accepted(self) -> bool:
        return 200 <= self.code < 300

    @property
    def permanent(self) -> bool:
        return self.code >= 500

    @property
    def enhanced(self) -> str:
        first = self.text.split(" ", 1)[0]
        parts = first.split(".")
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            return first
        return f"{str(self.code)[0]}.0.0"

    def __str__(self) -> str:
        return f"{self.code} {self.text}"


def unverified_tls() -> ssl.SSLContext:
    # Opportunistic TLS (RFC 3207 as most MTAs run it): encrypt when offered, without certificate checks,
    # because refusing an unverifiable certificate would only make the sender fall back to plain text.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def uses_tls(smtp: aiosmtplib.SMTP) -> bool:
    return smtp.get_transport_info("ssl_object") is not None


@dataclass
class Connection:
    smtp: aiosmtplib.SMTP
    host: str
    lock: asyncio.Lock
    last_used: float


class Destinations:
    """Open SMTP connections, one per destination domain, closed after they sit idle."""

    def __init__(self, resolver: dns.asyncresolver.Resolver, port: int, local_hostname: str,
                 timeout: float, idle: float):
        self.resolver = resolver
        self.port = port
        self.local_hostname = local_hostname
        self.timeout = timeout
        self.idle = idle
        self.connections: dict[str, Connection] = {}
        self.opened = 0  # connections made, for tests and the log
        self._locks: dict[str, asyncio.Lock] = {}

    async def _connect(self, host: str, address: str) -> aiosmtplib.SMTP:
        last: Exception | None = None
        for start_tls in (None, False):  # None: STARTTLS when offered; False: plain after a failed handshake
            smtp = aiosmtplib.SMTP(hostname=address, port=self.port, local_hostname=self.local_hostname,
                                   timeout=self.timeout, start_tls=start_tls, validate_certs=False,
                                   tls_context=unverified_tls() if start_tls is None else None)
            try:
                await smtp.connect()
                return smtp
            except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
                last = exc
                with contextlib.suppress(Exception):
                    smtp.close()
        assert last is not None
        raise last

    async def _open(self, domain: str) -> Connection:
        errors = []
        for host in await mx.mx_hosts(self.resolver, domain):
            for address in await mx.addresses(self.resolver, host):
                try:
                    smtp = await self._connect(host, address)
                except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
                    errors.append(f"{host}[{address}]: {exc}")
                    continue
                self.opened += 1
                logger.info("remote_connected", domain=domain, host=host, address=address, tls=uses_tls(smtp))
                return Connection(smtp, host, asyncio.Lock(), time.monotonic())
        raise mx.RouteError("4.4.1", "no MX host of " + domain + " answered: " + ("; ".join(errors) or "no address"))

    @contextlib.asynccontextmanager
    async def connection(self, domain: str, fresh: bool = False):
        lock = self._locks.setdefault(domain, asyncio.Lock())
        async with lock:
            conn = self.connections.get(domain)
            if fresh or conn is None or not conn.smtp.is_connected:
                if conn is not None:
                    conn.smtp.close()
                conn = self.connections[domain] = await self._open(domain)
            try:
                yield conn
            except BaseException:
                conn.smtp.close()
                self.connections.pop(domain, None)
                raise
            conn.last_used = time.monotonic()

    async def send(self, domain: str, mail_from: str, recipients: Sequence[str], data: bytes) -> dict[str, Reply]:
        """One transaction to `domain`; a reused connection the server closed meanwhile is reopened once."""
        for fresh in (False, True):
            try:
                async with self.connection(domain, fresh=fresh) as conn:
                    return await transaction(conn, mail_from, recipients, data)
            except (aiosmtplib.SMTPServerDisconnected, ConnectionError) as exc:
                if fresh:
                    return {r: Reply(421, f"4.4.2 connection lost: {exc}") for r in recipients}
            except mx.RouteError as exc:
                code = 550 if exc.permanent else 451
                return {r: Reply(code, f"{exc.status} {exc}") for r in recipients}
            except (aiosmtplib.SMTPTimeoutError, TimeoutError) as exc:
                return {r: Reply(451, f"4.4.2 timeout: {exc}") for r in recipients}
        raise AssertionError("unreachable")

    async def close_idle(self) -> None:
        now = time.monotonic()
        for domain, conn in list(self.connections.items()):
            if now - conn.last_used > self.idle and not self._locks[domain].locked():
                self.connections.pop(domain, None)
                await polite_quit(conn.smtp)

    async def close(self) -> None:
        for conn in self.connections.values():
            await polite_quit(conn.smtp)
        self.connections.clear()


async def polite_quit(smtp: aiosmtplib.SMTP) -> None:
    """QUIT if the server still answers within a few seconds, then close in any case."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(5):
            await smtp.quit()
    smtp.close()


async def transaction(conn: Connection, mail_from: str, recipients: Sequence[str], data: bytes) -> dict[str, Reply]:
    smtp = conn.smtp
    needs_utf8 = not (mail_from.isascii() and all(r.isascii() for r in recipients))
    options = []
    if not data.isascii() and smtp.supports_extension("8bitmime"):
        options.append("BODY=8BITMIME")
    if needs_utf8 and smtp.supports_extension("smtputf8"):
        options.append("SMTPUTF8")
    replies: dict[str, Reply] = {}
    try:
        await smtp.mail(mail_from, options=options)
    except aiosmtplib.SMTPResponseException as exc:
        with contextlib.suppress(aiosmtplib.SMTPException):
            await smtp.rset()
        return {r: Reply(exc.code, exc.message, conn.host) for r in recipients}
    accepted = []
    for recipient in recipients:
        try:
            await smtp.rcpt(recipient)
            accepted.append(recipient)
        except aiosmtplib.SMTPResponseException as exc:
            replies[recipient] = Reply(exc.code, exc.message, conn.host)
    if not accepted:
        with contextlib.suppress(aiosmtplib.SMTPException):
            await smtp.rset()
        return replies
    try:
        response = await smtp.data(data)
        final = Reply(response.code, response.message, conn.host)
    except aiosmtplib.SMTPResponseException as exc:
        final = Reply(exc.code, exc.message, conn.host)
    replies.update({r: final for r in accepted})
    return replies
