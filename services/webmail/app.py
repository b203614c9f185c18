"""Wiring of the webmail: Redis, the bus, the new-mail watcher and the HTTP app, started and stopped in order."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import signal
from zoneinfo import ZoneInfo

from aiohttp import web

from services.common import internal_auth, ready
from services.common import logging as log
from services.common.blobstore import FileBlobStore
from services.common.bus import KafkaPublisher
from services.common.directory import RedisDirectory
from services.common.settings import PlatformSettings
from services.common.system_mail import SystemMailer
from services.ingress.bruteforce import AuthGuard
from services.webmail.activity import Activity
from services.webmail.context import Parts
from services.webmail.delivery_api import DeliveryApi
from services.webmail.iplib import IpLibrary, library_path
from services.webmail.login import LoginDesk
from services.webmail.mailstore import MailStore
from services.webmail.notify import DeliveryWatcher, Hub
from services.webmail.records import Records
from services.webmail.sentlog import SentLog
from services.webmail.sessions import SessionStore
from services.webmail.settings import WebmailSettings
from services.webmail.todo import Todos
from services.webmail.web import build_app

logger = log.get(__name__)
SERVICE = "webmail"


def make_parts(platform: PlatformSettings, settings: WebmailSettings, directory: RedisDirectory,
               publisher: KafkaPublisher, hub: Hub, is_ready) -> Parts:
    client = directory.redis
    # The very same counters as submission's guard (gm:authfail:*, gm:authlock:*): a password guessed
    # over SMTP and over the web adds up, and a lock holds on both.
    guard = AuthGuard(client, settings.auth_window, settings.auth_max_failures_per_user,
                      settings.auth_max_failures_per_ip, settings.auth_lock_seconds)
    records = Records(client, settings.record_days)
    mailer = SystemMailer(publisher, FileBlobStore.from_uri(platform.blobs), directory, SERVICE)
    desk = LoginDesk(directory, guard, publisher, records, IpLibrary(library_path(platform, settings)), mailer,
                     ZoneInfo(settings.timezone), settings.place_memory_days, settings.alert_sender)
    return Parts(
        directory=directory, publisher=publisher, sessions=SessionStore(client, settings.session_seconds),
        desk=desk, records=records, store=MailStore(platform.mail_root, directory),
        activity=Activity(client, publisher), todos=Todos(client), sentlog=SentLog(client), hub=hub,
        delivery=DeliveryApi(settings.delivery_api or f"http://{platform.host}:{platform.delivery_port}",
                             settings.delivery_api_timeout, internal_auth.internal_token(platform)),
        cookie_secure=settings.cookie_secure,
        smtp={"host": settings.smtp_host, "port": platform.submission_port, "verify_tls": settings.smtp_verify_tls,
              "timeout": settings.smtp_timeout},
        hostname=platform.local_hostname, max_list=settings.max_list, ready=is_ready,
        trusted_proxies=[ipaddress.ip_network(c, strict=False) for c in settings.trusted_proxies],
        blobs=mailer.blobs)


async def serve(platform: PlatformSettings, settings: WebmailSettings, stop: asyncio.Event) -> None:
    if not settings.cookie_secure and not ipaddress.ip_address(platform.host).is_loopback:
        raise ValueError("WEBMAIL_COOKIE_SECURE=false is allowed only on a loopback address (plain HTTP, one machine)")
    directory = RedisDirectory.from_url(platform.redis)
    publisher = KafkaPublisher(platform.bootstrap, "govmail-webmail", timeout=settings.publish_timeout)
    hub = Hub()
    parts = make_parts(platform, settings, directory, publisher, hub, lambda: watcher.assigned.is_set())
    watcher = DeliveryWatcher(platform.bootstrap, hub, parts.sentlog)
    runner = web.AppRunner(build_app(parts), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, platform.host, platform.webmail_port).start()
    logger.info("webmail_listening", host=platform.host, port=platform.webmail_port)
    watching: asyncio.Task | None = None
    try:
        await publisher.start()
        await watcher.start()
        watching = asyncio.create_task(watcher.run())
        ready.mark_ready(platform.run_dir, SERVICE)
        logger.info("service_ready")
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait([watching, stopped], return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if watching.done():
            watching.result()  # re-raise a crash of the watcher: the supervisor restarts us
    finally:
        ready.clear(platform.run_dir, SERVICE)
        if watching is not None and not watching.done():
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
        await runner.cleanup()
        await watcher.stop()
        await publisher.stop()
        await directory.close()
        logger.info("service_stopped")


async def run(platform: PlatformSettings, settings: WebmailSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve(platform, settings, stop)
