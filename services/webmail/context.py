"""What every webmail route shares: the service's parts, the session, language, templates and mailbox access."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from aiohttp import web

from services.common import logging as log
from services.common.blobstore import FileBlobStore
from services.common.bus import Publisher
from services.common.directory import RedisDirectory
from services.common.http import problem
from services.webmail import i18n
from services.webmail.activity import Activity
from services.webmail.delivery_api import DeliveryApi
from services.webmail.login import LoginDesk
from services.webmail.mailstore import MailStore
from services.webmail.notify import Hub
from services.webmail.records import Records
from services.webmail.sentlog import SentLog
from services.webmail.sessions import Session, SessionStore
from services.webmail.todo import Todos

logger = log.get(__name__)
HERE = Path(__file__).parent
LOGIN_COOKIE = "gm_login"  # pre-session CSRF token of the login form (double submit)
LANG_COOKIE = "gm_lang"
PUBLIC = ("/login", "/healthz", "/readyz", "/metrics", "/link", "/static/")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# The pages' own policy: our script and style only, frames only from us, nothing framing us.
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
            "frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
# A message body: no script at all, inline style attributes (already filtered), sandboxed even if opened alone.
BODY_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src {images}; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'self'; sandbox allow-popups allow-popups-to-escape-sandbox")
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass
class Parts:
    directory: RedisDirectory
    publisher: Publisher
    sessions: SessionStore
    desk: LoginDesk
    records: Records
    store: MailStore
    activity: Activity
    todos: Todos
    sentlog: SentLog
    hub: Hub
    delivery: DeliveryApi
    cookie_secure: bool
    smtp: dict[str, Any]  # host, port, verify_tls, timeout
    hostname: str
    max_list: int
    ready: Callable[[], bool]
    trusted_proxies: list[IPNetwork] = field(default_factory=list)
    blobs: FileBlobStore | None = None  # where reported messages go for the scanner's training (mail.feedback.v1)


PARTS = web.AppKey("parts", Parts)
TEMPLATES = web.AppKey("templates", jinja2.Environment)


def parts(request: web.Request) -> Parts:
    return request.app[PARTS]


def client_ip(request: web.Request) -> str:
    """The browser's IP: the peer, or behind a trusted Ingress the last hop it wrote into X-Forwarded-For.

    Restrictions (R24), places (R23) and the brute-force guard all key on it, so only a proxy we trust
    may name it; anyone else's header is ignored.
    """
    peer = request.remote or ""
    try:
        trusted = any(ipaddress.ip_address(peer) in net for net in parts(request).trusted_proxies)
    except ValueError:
        return peer
    forwarded = request.headers.get("X-Forwarded-For", "")
    if trusted and forwarded:
        return forwarded.split(",")[-1].strip()
    return peer


def session_of(request: web.Request) -> Session:
    return request["session"]


def language(request: web.Request) -> str:
    chosen = request.query.get("lang") or request.cookies.get(LANG_COOKIE, "")
    return chosen if chosen in i18n.LANGUAGES else i18n.DEFAULT


def wants_json(request: web.Request) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    lang = language(request)
    session = request.get("session")
    page = request.app[TEMPLATES].get_template(template).render(
        t=i18n.table(lang), lang=lang, session=session, csrf=session.csrf if session else "",
        path=request.path, **context)
    response = web.Response(text=page, content_type="text/html", charset="utf-8", status=status)
    if request.query.get("lang") in i18n.LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, httponly=True, samesite="Strict", max_age=365 * 86400,
                            secure=parts(request).cookie_secure)
    return response


def not_found(detail: str = "no such mailbox, folder or message") -> web.Response:
    # The same answer whether the mailbox exists and is someone else's or does not exist at all.
    return problem(404, "not-found", "Not found", detail)


def mail_url(mailbox: str, folder: str, uid: str = "") -> str:
    base = f"/mail/{quote(mailbox, safe='@')}/{quote(folder, safe='')}"
    return f"{base}/{uid}" if uid else base


async def opened_mailbox(request: web.Request) -> tuple[str, str] | None:
    """(mailbox, folder) from the URL when the session's user may open that mailbox; else None."""
    mailbox = request.match_info["mailbox"].lower()
    folder = request.match_info.get("folder", "INBOX")
    if not await parts(request).store.may_open(session_of(request).username, mailbox):
        logger.warning("mailbox_refused", username=session_of(request).username, mailbox=mailbox)
        return None
    return mailbox, folder
