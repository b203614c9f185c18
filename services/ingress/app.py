"""Wiring of the ingress service: SMTP listener, publisher, spool reconciler and an orderly shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import signal
from collections.abc import Awaitable
from typing import Any

from aiohttp import web
from aiosmtpd.smtp import SMTP, AuthResult

from services.common import logging as log
from services.common import ready
from services.common.blobstore import FileBlobStore
from services.common.bus import KafkaPublisher
from services.common.directory import RedisDirectory
from services.common.settings import PlatformSettings
from services.common.spool import Spool
from services.ingress import replies
from services.ingress.auth import SubmissionAuthenticator
from services.ingress.bruteforce import AuthGuard
from services.ingress.handler import IngressHandler
from services.ingress.reconcile import republish_unfinished
from services.ingress.settings import IngressSettings
from services.ingress.submission import SubmissionHandler
from services.ingress.tls import server_context

logger = log.get(__name__)


def smtp_protocol(settings: IngressSettings) -> type[SMTP]:
    """aiosmtpd's SMTP with our line limit and enhanced status codes on its built-in refusals."""

    class GovmailSMTP(SMTP):
        line_length_limit = settings.max_line_bytes

        async def push(self, status: str) -> None:  # type: ignore[override]
            if isinstance(status, str):
                if status.startswith("552 Error: Too much mail data"):
                    status = replies.TOO_BIG.format(limit=settings.max_message_bytes)
                elif status.startswith("500 Line too long"):
                    status = replies.LINE_TOO_LONG.format(limit=settings.max_line_bytes)
                elif status.startswith(("530 Must issue a STARTTLS", "538 ")):
                    status = replies.STARTTLS_FIRST
                elif status.startswith("503 Already authenticated"):
                    status = replies.ALREADY_AUTHENTICATED
            await super().push(status)

    return GovmailSMTP


def submission_protocol(settings: IngressSettings) -> type[SMTP]:
    """The SMTP class whose AUTH mechanisms await the authenticator (aiosmtpd calls it synchronously)."""

    class SubmissionSMTP(smtp_protocol(settings)):  # type: ignore[misc]
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
    return app


async def serve(platform: PlatformSettings, settings: IngressSettings) -> None:
    log.configure("ingress", platform.log_level)
    directory = RedisDirectory.from_url(platform.redis)
    blobs = FileBlobStore.from_uri(platform.blobs)
    spool = Spool(platform.spool_dir)
    publisher = KafkaPublisher(platform.bootstrap, "govmail-ingress", timeout=settings.publish_timeout)
    await publisher.start()
    handler = IngressHandler(directory, blobs, spool, publisher, platform.local_hostname)
    submission = SubmissionHandler(directory, blobs, spool, publisher, platform.local_hostname, "submission")
    guard = AuthGuard(directory.redis, settings.auth_window, settings.auth_max_failures_per_user,
                      settings.auth_max_failures_per_ip, settings.auth_lock_seconds)
    authenticator = SubmissionAuthenticator(directory, guard, publisher)
    tls = server_context(settings.tls_cert, settings.tls_key, platform.data, platform.local_hostname)
    common: dict[str, Any] = dict(hostname=platform.local_hostname, ident="govmail ESMTP", enable_SMTPUTF8=True,
                                  decode_data=False, data_size_limit=settings.max_message_bytes,
                                  timeout=settings.session_timeout)
    mx_protocol, submission_smtp = smtp_protocol(settings), submission_protocol(settings)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: mx_protocol(handler, **common), host=platform.host,
                                      port=platform.smtp_port)
    # STARTTLS before anything but EHLO/NOOP/QUIT, so AUTH never crosses a clear channel.
    submission_server = await loop.create_server(
        lambda: submission_smtp(submission, tls_context=tls, require_starttls=True, auth_required=True,
                                auth_require_tls=True, authenticator=authenticator, **common),
        host=platform.host,
        port=platform.submission_port,
    )
    runner = web.AppRunner(await health_app(handler, publisher))
    await runner.setup()
    await web.TCPSite(runner, platform.host, platform.health_port_base + 2).start()

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

    reconciler = asyncio.create_task(reconcile_forever())
    ready.mark_ready(platform.run_dir, "ingress")
    logger.info("ingress_listening", host=platform.host, port=platform.smtp_port,
                submission_port=platform.submission_port)
    await stop.wait()

    # Stop accepting first, then let mail already in DATA reach the broker before closing the bus.
    logger.info("ingress_stopping", in_flight=handler.in_flight)
    ready.clear(platform.run_dir, "ingress")
    handler.closing = submission.closing = True
    server.close()
    submission_server.close()
    reconciler.cancel()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.gather(handler.idle.wait(), submission.idle.wait()), settings.shutdown_grace)
    await authenticator.drain(settings.publish_timeout)
    await runner.cleanup()
    await publisher.stop()
    await directory.close()
    logger.info("ingress_stopped")
