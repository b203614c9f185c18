"""Wiring of the ingress service: SMTP listener, publisher, spool reconciler and an orderly shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
from collections.abc import Awaitable, Iterable
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from aiohttp import web
from aiosmtpd.smtp import SMTP, AuthResult

from services.common import logging as log
from services.common import ready
from services.common.blobstore import FileBlobStore
from services.common.bus import KafkaPublisher
from services.common.durable import GroupSync
from services.common.metrics import REGISTRY, SMTP_REPLIES
from services.common.settings import PlatformSettings
from services.common.spool import Spool
from services.ingress import replies
from services.ingress.auth import SubmissionAuthenticator
from services.ingress.bruteforce import AuthGuard
from services.ingress.handler import IngressHandler, peer_ip
from services.ingress.lookup import IngressDirectory
from services.ingress.ratelimit import ClientLimits
from services.ingress.reconcile import republish_unfinished
from services.ingress.restrictions import OutboundCap
from services.ingress.settings import IngressSettings
from services.ingress.streaming import StreamingSMTP
from services.ingress.submission import SubmissionHandler
from services.ingress.tls import server_context
from services.ingress.workers import worker_marker
from services.lifecycle.settings import LifecycleSettings

logger = log.get(__name__)


def smtp_protocol(settings: IngressSettings) -> type[SMTP]:
    """aiosmtpd's SMTP streaming DATA to disk, with our line limit and enhanced status codes on its built-in refusals."""

    class GovmailSMTP(StreamingSMTP):
        listener = "mx"
        line_length_limit = settings.max_line_bytes
        # Every live session, so shutdown can let open transactions finish and then close the rest.
        live: set[SMTP] = set()
        reply_counters: dict[tuple[str, str], Any] = {}

        async def _handle_client(self) -> None:
            handler: IngressHandler = self.event_handler
            ip, ticket, limits = peer_ip(self.session), os.urandom(8).hex(), handler.limits
            try:
                refusal = replies.SHUTTING_DOWN if handler.closing else None
                if refusal is None and limits is not None:
                    refusal = await limits.admit_connection(ip, ticket)
                if refusal:
                    await self.push(refusal)
                    if self.transport is not None:
                        self.transport.close()
                    return
                self.live.add(self)
                await super()._handle_client()
            finally:
                self.live.discard(self)
                if limits is not None:
                    limits.release_connection(ip, ticket)

        async def push(self, status: str) -> None:  # type: ignore[override]
            if isinstance(status, str):
                if status.startswith(("552 Error: Too much mail data", "552 Error: message size exceeds")):
                    status = replies.TOO_BIG.format(limit=settings.max_message_bytes)
                elif status.startswith("500 Line too long"):
                    status = replies.LINE_TOO_LONG.format(limit=settings.max_line_bytes)
                elif status.startswith(("530 Must issue a STARTTLS", "538 ")):
                    status = replies.STARTTLS_FIRST
                elif status.startswith("503 Already authenticated"):
                    status = replies.ALREADY_AUTHENTICATED
                key = (self.listener, status[:3])
                counter = self.reply_counters.get(key)
                if counter is None:  # a labelled child per reply code, found once instead of on every reply
                    counter = self.reply_counters[key] = SMTP_REPLIES.labels(listener=key[0], code=key[1])
                counter.inc()
            await super().push(status)

    return GovmailSMTP


def submission_protocol(settings: IngressSettings) -> type[SMTP]:
    """The SMTP class whose AUTH mechanisms await the authenticator (aiosmtpd calls it synchronously)."""

    class SubmissionSMTP(smtp_protocol(settings)):  # type: ignore[misc]
        listener = "submission"

        async def auth_PLAIN(self, _: SMTP, args: list[str]) -> AuthResult:
            return await settled(await super().auth_PLAIN(_, args))

        async def auth_LOGIN(self, _: SMTP, args: list[str]) -> AuthResult:
            return await settled(await super().auth_LOGIN(_, args))

    return SubmissionSMTP


async def settled(result: AuthResult | Awaitable[AuthResult]) -> AuthResult:
    return await result if inspect.isawaitable(result) else result


async def health_app(handler: IngressHandler, publisher: KafkaPublisher) -> web.Application:
    app = web.Application()

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "service": "ingress"})

    async def readyz(request: web.Request) -> web.Response:
        ok = not handler.closing
        return web.json_response({"ready": ok, "in_flight": handler.in_flight}, status=200 if ok else 503)

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", REGISTRY.handler())
    return app


async def transactions_ended(groups: Iterable[set[SMTP]]) -> None:
    """Until no session is between MAIL and the end of DATA; polled, as aiosmtpd has no hook for RSET."""
    while any(s.envelope is not None and s.envelope.mail_from for group in groups for s in group):
        await asyncio.sleep(0.1)


async def close_sessions(groups: Iterable[set[SMTP]]) -> None:
    """Tell idle sessions we are going (RFC 5321 §3.8) and wait until their teardown has run."""
    groups = list(groups)
    for session in [s for group in groups for s in group]:
        if session.transport is not None:
            session.transport.write(f"{replies.SHUTTING_DOWN}\r\n".encode())
            session.transport.close()
    with contextlib.suppress(asyncio.TimeoutError):
        async with asyncio.timeout(2):
            while any(groups):
                await asyncio.sleep(0.01)


async def serve(platform: PlatformSettings, settings: IngressSettings, worker: int | None = None) -> None:
    """Run one ingress process; `worker` is its index when several share the ports (services.ingress.workers)."""
    log.configure("ingress", platform.log_level)
    marker, shared = ("ingress", False) if worker is None else (worker_marker(worker), True)
    if shared:
        structlog.contextvars.bind_contextvars(worker=worker, pid=os.getpid())
    directory = IngressDirectory.from_url(platform.redis)
    blobs = FileBlobStore.from_uri(platform.blobs)
    spool = Spool(platform.spool_dir)
    publisher = KafkaPublisher(platform.bootstrap, "govmail-ingress", timeout=settings.publish_timeout)
    await publisher.start()
    handler = IngressHandler(directory, blobs, spool, publisher, platform.local_hostname)
    submission = SubmissionHandler(directory, blobs, spool, publisher, platform.local_hostname, "submission")
    if settings.group_commit:
        handler.group_sync = submission.group_sync = GroupSync(blobs.root, spool.root)
    guard = AuthGuard(directory.redis, settings.auth_window, settings.auth_max_failures_per_user,
                      settings.auth_max_failures_per_ip, settings.auth_lock_seconds)
    zone = ZoneInfo(settings.timezone)
    submission.cap = OutboundCap(directory.redis, settings.max_messages_per_account_per_day, zone)
    authenticator = SubmissionAuthenticator(directory, guard, publisher, zone,
                                            LifecycleSettings().password_policy(), directory.redis)
    handler.limits = ClientLimits(directory.pipelined, max_connections=settings.max_connections_per_ip,
                                  connections_per_minute=settings.max_connections_per_minute,
                                  messages_per_minute=settings.max_messages_per_minute,
                                  connection_lease=settings.connection_lease)
    handler.max_recipients = submission.max_recipients = settings.max_recipients_per_message
    handler.over_quota_permanent = submission.over_quota_permanent = settings.over_quota == "permanent"
    tls = server_context(settings.tls_cert, settings.tls_key, platform.data, platform.local_hostname)
    common: dict[str, Any] = dict(hostname=platform.local_hostname, ident="govmail ESMTP", enable_SMTPUTF8=True,
                                  decode_data=False, data_size_limit=settings.max_message_bytes,
                                  timeout=settings.session_timeout)
    mx_protocol, submission_smtp = smtp_protocol(settings), submission_protocol(settings)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: mx_protocol(handler, **common), host=platform.host,
                                      port=platform.smtp_port, reuse_port=shared)
    # STARTTLS before anything but EHLO/NOOP/QUIT, so AUTH never crosses a clear channel.
    submission_server = await loop.create_server(
        lambda: submission_smtp(submission, tls_context=tls, require_starttls=True, auth_required=True,
                                auth_require_tls=True, authenticator=authenticator, **common),
        host=platform.host,
        port=platform.submission_port,
        reuse_port=shared,
    )
    runner = web.AppRunner(await health_app(handler, publisher))
    await runner.setup()
    await web.TCPSite(runner, platform.host, platform.health_port_base + 2, reuse_port=shared).start()

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def reconcile_forever() -> None:
        while True:
            await asyncio.sleep(settings.reconcile_interval)
            try:
                await republish_unfinished(spool, publisher, older_than=settings.republish_after)
            except Exception:
                logger.exception("reconcile_failed")

    # Workers share one spool: one reconciler is enough (the others would republish the same mail).
    reconciler = asyncio.create_task(reconcile_forever()) if worker in (None, 0) else None
    ready.mark_ready(platform.run_dir, marker)
    logger.info("ingress_listening", host=platform.host, port=platform.smtp_port,
                submission_port=platform.submission_port)
    await stop.wait()

    # Stop accepting first, then let mail already in DATA reach the broker before closing the bus.
    logger.info("ingress_stopping", in_flight=handler.in_flight)
    handler.closing = submission.closing = True
    server.close()
    submission_server.close()
    # Only now "not ready": whoever sees the marker gone finds the ports closed, never a connection that a
    # listener about to close accepted (the kernel resets those).
    ready.clear(platform.run_dir, marker)
    if reconciler is not None:
        reconciler.cancel()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.gather(handler.idle.wait(), submission.idle.wait(),
                                              transactions_ended([mx_protocol.live, submission_smtp.live])),
                               settings.shutdown_grace)
    await close_sessions([mx_protocol.live, submission_smtp.live])
    await handler.limits.drain()
    await authenticator.drain(settings.publish_timeout)
    await runner.cleanup()
    await publisher.stop()
    await directory.close()
    logger.info("ingress_stopped")
