"""The webmail's HTTP routes and middlewares: sessions, CSRF, the first-login gate, pages and their JSON twins."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
import redis.exceptions
from aiohttp import web

from services.common import logging as log
from services.common.bus import Publisher, PublishError
from services.common.directory import RedisDirectory, account_key, granted_key
from services.common.http import http_error, json_response, problem
from services.webmail import i18n, reading
from services.webmail.activity import QUEUE_ID_HEADER, Activity
from services.webmail.delivery_api import DeliveryApi
from services.webmail.login import LoginDesk
from services.webmail.mailstore import SENT, MailStore, delivered_at, parse
from services.webmail.notify import Hub, sse
from services.webmail.password import PasswordRefused, change_password
from services.webmail.records import Records
from services.webmail.sentlog import SentLog
from services.webmail.sessions import COOKIE, Session, SessionStore
from services.webmail.submit import Draft, SubmitError, build, parse_addresses, submit
from services.webmail.todo import Todos

logger = log.get(__name__)
HERE = Path(__file__).parent
LOGIN_COOKIE = "gm_login"  # pre-session CSRF token of the login form (double submit)
LANG_COOKIE = "gm_lang"
PUBLIC = ("/login", "/healthz", "/readyz", "/link", "/static/")
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


PARTS = web.AppKey("parts", Parts)
TEMPLATES = web.AppKey("templates", jinja2.Environment)


# --- helpers --------------------------------------------------------------------------------------------

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


# --- middlewares ------------------------------------------------------------------------------------------

@web.middleware
async def errors(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = http_error(request, exc)
    except (PublishError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        # The bus or Redis is down: nothing was half done that a retry would repeat wrongly (events are
        # idempotent by id, "opened" is taken back), so the user is told to try again.
        logger.warning("webmail_dependency_unavailable", path=request.path, error=str(exc))
        response = problem(503, "unavailable", "Service unavailable", "the mail system is busy; try again shortly")
    if response.prepared:  # a finished event stream: its headers went out when it started
        return response
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@web.middleware
async def authenticated(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
    """Session, first-login gate and CSRF, in that order, before any route runs."""
    if request.path.startswith(PUBLIC):
        return await handler(request)
    p = parts(request)
    session = await p.sessions.get(request.cookies.get(COOKIE, ""))
    if session is not None and await p.directory.redis.hget(account_key(session.username), "status") != "active":
        # Locked or deleted since login (R13 emergency revocation): the session and its token end now.
        await p.sessions.destroy(session)
        session = None
    if session is None:
        if request.method in SAFE_METHODS and not wants_json(request):
            raise web.HTTPSeeOther("/login")
        return problem(401, "login-required", "Login required", "log in to the webmail first")
    request["session"] = session
    if request.method not in SAFE_METHODS:
        sent = request.headers.get("X-CSRF-Token", "")
        if not sent and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            sent = str((await request.post()).get("csrf", ""))
        if not secrets.compare_digest(sent.encode(), session.csrf.encode()):
            return problem(403, "csrf", "Forbidden", "missing or wrong CSRF token; reload the page")
    if session.must_change_password and request.path not in ("/password", "/logout"):
        if request.method in SAFE_METHODS and not wants_json(request):
            return render(request, "password.html", status=403, forced=True, problems=[])
        return problem(403, "password-change-required", "Forbidden",
                       "the initial password must be changed first (POST /password)")
    return await handler(request)


# --- login, logout, password ----------------------------------------------------------------------------

async def login_page(request: web.Request) -> web.Response:
    # Kept while the browser has one: other tabs and stray requests (favicon → /login) must not replace
    # the token of a form already on screen.
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    response = render(request, "login.html", login_csrf=token, failed=False)
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="Strict", secure=parts(request).cookie_secure)
    return response


async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    if not cookie or not secrets.compare_digest(str(form.get("csrf", "")).encode(), cookie.encode()):
        return problem(403, "csrf", "Forbidden", "missing or wrong login form token; reload the login page")
    p = parts(request)
    ip = client_ip(request)
    account, place = await p.desk.attempt(str(form.get("username", "")), str(form.get("password", "")), ip)
    if account is None:
        # One answer for every refusal: no hint whether the password, a lock or a restriction stopped it.
        token = secrets.token_urlsafe(24)
        response = render(request, "login.html", status=401, login_csrf=token, failed=True)
        response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="Strict", secure=p.cookie_secure)
        return response
    session = await p.sessions.create(account.address, ip, place, account.must_change_password)
    await p.records.operation(account.address, "login", ip=ip, place=place)
    response = web.HTTPSeeOther("/password" if account.must_change_password else "/")
    response.set_cookie(COOKIE, session.token, httponly=True, samesite="Strict", secure=p.cookie_secure,
                        max_age=p.sessions.ttl, path="/")
    response.del_cookie(LOGIN_COOKIE)
    if account.language in i18n.LANGUAGES and LANG_COOKIE not in request.cookies:
        response.set_cookie(LANG_COOKIE, account.language, httponly=True, samesite="Strict", secure=p.cookie_secure)
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    await parts(request).sessions.destroy(session_of(request))
    response = web.HTTPSeeOther("/login")
    response.del_cookie(COOKIE, path="/")
    raise response


async def password_page(request: web.Request) -> web.Response:
    return render(request, "password.html", forced=session_of(request).must_change_password, problems=[])


async def password_change(request: web.Request) -> web.StreamResponse:
    p = parts(request)
    session = session_of(request)
    form = await request.post()
    try:
        await change_password(p.directory.redis, p.publisher, session.username, str(form.get("current", "")),
                              str(form.get("new", "")))
    except PasswordRefused as exc:
        if wants_json(request):
            return problem(422, "password-refused", "Password refused", "; ".join(exc.problems),
                           problems=exc.problems)
        return render(request, "password.html", status=422, forced=session.must_change_password,
                      problems=exc.problems)
    await p.sessions.password_changed(session)
    await p.records.operation(session.username, "password_changed")
    if wants_json(request):
        return json_response({"changed": True})
    raise web.HTTPSeeOther("/")


# --- reading -------------------------------------------------------------------------------------------

async def home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther(mail_url(session_of(request).username, "INBOX"))


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        raise web.HTTPBadRequest(text=f"{text!r} is not a date like 2026-11-21") from None


async def folder_view(request: web.Request) -> web.Response:
    found = await opened_mailbox(request)
    if found is None:
        return not_found()
    mailbox, folder = found
    p = parts(request)
    user = session_of(request).username
    query = request.query
    try:
        since, until = _day(query.get("since", "")), _day(query.get("until", ""))
    except web.HTTPBadRequest as exc:
        return problem(400, "bad-date", "Bad date", exc.text or "")
    if folder not in p.store.folders(mailbox):
        return not_found()
    summaries = await asyncio.to_thread(p.store.summaries, mailbox, folder, query.get("sender", ""),
                                        query.get("subject", ""), since, until, p.max_list)
    todo = await p.todos.refs(user)
    for s in summaries:
        s.todo = f"{s.mailbox}/{s.folder}/{s.uid}" in todo
    if request.path.startswith("/api/"):
        return json_response({"mailbox": mailbox, "folder": folder, "messages": [asdict(s) for s in summaries]})
    return render(request, "folder.html", mailbox=mailbox, folder=folder, summaries=summaries,
                  mailboxes=await p.store.mailboxes(user), folders=p.store.folders(mailbox), query=query,
                  mail_url=mail_url)


async def _message(request: web.Request):
    """(mailbox, folder, uid, path) of a message the user may open, or None."""
    found = await opened_mailbox(request)
    if found is None:
        return None
    mailbox, folder = found
    uid = request.match_info["uid"]
    path = await asyncio.to_thread(parts(request).store.find, mailbox, folder, uid)
    return None if path is None else (mailbox, folder, uid, path)


async def message_view(request: web.Request) -> web.Response:
    found = await _message(request)
    if found is None:
        return not_found()
    mailbox, folder, uid, path = found
    p = parts(request)
    user = session_of(request).username
    raw = await asyncio.to_thread(path.read_bytes)
    message = parse(raw)
    shown = reading.view(message)
    if folder != SENT:
        account = await p.directory.account(mailbox)
        await p.activity.opened(mailbox, uid, user, folder, delivered_at(path), account.unit if account else None,
                                _queue_id(message))
        await asyncio.to_thread(p.store.mark_seen, path)
    await p.records.operation(user, "opened", mailbox=mailbox, folder=folder, subject=shown.subject)
    if request.path.startswith("/api/"):
        return json_response({"mailbox": mailbox, "folder": folder, "uid": uid, **asdict(shown),
                              "text": reading.plain_text(message)})
    images = request.query.get("images") == "1"
    return render(request, "message.html", mailbox=mailbox, folder=folder, uid=uid, m=shown, images=images,
                  blocked=reading.body_html(message, False).remote_images_blocked if not images else 0,
                  mail_url=mail_url, mailboxes=await p.store.mailboxes(user), folders=p.store.folders(mailbox))


def _queue_id(message: Any) -> str | None:
    value = message.get(QUEUE_ID_HEADER)
    return str(value).strip() if value else None


async def message_body(request: web.Request) -> web.Response:
    """The sanitised body for the sandboxed frame; a burn-after-reading message is destroyed once served."""
    found = await _message(request)
    if found is None:
        return not_found()
    mailbox, folder, uid, path = found
    p = parts(request)
    message = parse(await asyncio.to_thread(path.read_bytes))
    images = request.query.get("images") == "1"
    cleaned = reading.body_html(message, images)
    page = ("<!doctype html><html><head><meta charset=\"utf-8\">"
            "<style>body{font:15px/1.5 system-ui,sans-serif;margin:8px;overflow-wrap:anywhere;color:#1b1f24}"
            "img{max-width:100%}pre.plain{white-space:pre-wrap;font:inherit}</style></head>"
            f"<body>{cleaned.html}</body></html>")
    response = web.Response(text=page, content_type="text/html", charset="utf-8")
    response.headers["Content-Security-Policy"] = BODY_CSP.format(images="http: https:" if images else "'none'")
    if reading.view(message).burn and folder != SENT:
        await asyncio.to_thread(path.unlink, missing_ok=True)
        account = await p.directory.account(mailbox)
        await p.activity.done("burned", mailbox, uid, session_of(request).username, folder, delivered_at(path),
                              account.unit if account else None, _queue_id(message))
    return response


async def attachment(request: web.Request) -> web.StreamResponse:
    found = await _message(request)
    if found is None:
        return not_found()
    path = found[3]
    try:
        index = int(request.match_info["index"])
    except ValueError:
        return not_found("no such attachment")
    part = reading.attachment(parse(await asyncio.to_thread(path.read_bytes)), index)
    if part is None:
        return not_found("no such attachment")
    filename, data = part
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return web.Response(body=data, headers={
        # Always a download, never a page: octet-stream + attachment + nosniff, whatever the sender claimed.
        "Content-Type": "application/octet-stream",
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox"})


async def delete(request: web.Request) -> web.StreamResponse:
    found = await _message(request)
    if found is None:
        return not_found()
    mailbox, folder, uid, path = found
    p = parts(request)
    user = session_of(request).username
    message = parse(await asyncio.to_thread(path.read_bytes))
    await asyncio.to_thread(p.store.delete, mailbox, folder, path)
    account = await p.directory.account(mailbox)
    await p.activity.done("deleted", mailbox, uid, user, folder, delivered_at(path), account.unit if account else None,
                          _queue_id(message), seq=f"{time.time():.0f}")
    await p.records.operation(user, "deleted", mailbox=mailbox, folder=folder, subject=str(message["Subject"] or ""))
    if wants_json(request):
        return json_response({"deleted": uid})
    raise web.HTTPSeeOther(mail_url(mailbox, folder))


async def mark_todo(request: web.Request) -> web.StreamResponse:
    found = await _message(request)
    if found is None:
        return not_found()
    mailbox, folder, uid, path = found
    p = parts(request)
    user = session_of(request).username
    form = await request.post()
    due = str(form.get("due", "")).strip()
    try:
        _day(due)
    except web.HTTPBadRequest:
        return problem(400, "bad-date", "Bad date", f"{due!r} is not a date like 2026-11-21")
    message = parse(await asyncio.to_thread(path.read_bytes))
    await p.todos.add(user, mailbox, folder, uid, str(message["Subject"] or ""), str(message["From"] or ""), due)
    account = await p.directory.account(mailbox)
    await p.activity.done("todo", mailbox, uid, user, folder, delivered_at(path), account.unit if account else None,
                          _queue_id(message), seq=f"{time.time():.0f}")
    await p.records.operation(user, "todo", mailbox=mailbox, subject=str(message["Subject"] or ""), due=due)
    if wants_json(request):
        return json_response({"todo": f"{mailbox}/{folder}/{uid}", "due": due})
    raise web.HTTPSeeOther("/todo")


async def todo_list(request: web.Request) -> web.Response:
    p = parts(request)
    user = session_of(request).username
    items = await p.todos.items(user)
    if request.path.startswith("/api/"):
        return json_response({"todo": items})
    return render(request, "todo.html", items=items, mail_url=mail_url, mailboxes=await p.store.mailboxes(user))


async def todo_done(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    await parts(request).todos.done(session_of(request).username, str(form.get("ref", "")))
    raise web.HTTPSeeOther("/todo")


# --- links ----------------------------------------------------------------------------------------------

async def link_warning(request: web.Request) -> web.Response:
    """Shows where a suspicious or deceptive link really goes; needs no session and reveals nothing."""
    target = request.query.get("u", "")
    scheme = urlsplit(target).scheme.lower()
    return render(request, "link.html", target=target, shown=request.query.get("t", ""),
                  flagged=request.query.get("f") == "1", followable=scheme in ("http", "https"))


# --- sending --------------------------------------------------------------------------------------------

async def senders(p: Parts, user: str) -> list[str]:
    """Addresses the user may put in From:: itself and mailboxes granting send_as or send_on_behalf."""
    found = [user]
    for mailbox in sorted(await p.directory.redis.smembers(granted_key(user))):
        grant = await p.directory.grant(mailbox, user)
        if grant is not None and {"send_as", "send_on_behalf"} & set(grant.rights):
            found.append(mailbox.lower())
    return found


async def compose_page(request: web.Request) -> web.Response:
    p = parts(request)
    user = session_of(request).username
    prefill: dict[str, str] = {"to": "", "subject": "", "body": "", "ref": "", "mode": ""}
    ref = request.query.get("reply") or request.query.get("forward") or ""
    if ref:
        mailbox, _, rest = ref.partition("/")
        folder, _, uid = rest.rpartition("/")
        if not await p.store.may_open(user, mailbox):
            return not_found()
        path = await asyncio.to_thread(p.store.find, mailbox, folder, uid)
        if path is None:
            return not_found()
        original = parse(await asyncio.to_thread(path.read_bytes))
        subject = str(original["Subject"] or "")
        quoted = "\n".join("> " + line for line in reading.plain_text(original).splitlines())
        if "reply" in request.query:
            prefill.update(to=str(original["Reply-To"] or original["From"] or ""), mode="reply",
                           subject=subject if subject.lower().startswith("re:") else f"Re: {subject}")
        else:
            prefill.update(mode="forward", subject=f"Fwd: {subject}")
        prefill.update(body=f"\n\n{original['From']}:\n{quoted}\n", ref=ref)
    return render(request, "compose.html", prefill=prefill, senders=await senders(p, user),
                  mailboxes=await p.store.mailboxes(user), mail_url=mail_url)


async def compose_send(request: web.Request) -> web.StreamResponse:
    p = parts(request)
    user = session_of(request).username
    form = await request.post()
    account = await p.directory.account(user)
    if account is None:
        return problem(403, "no-account", "Forbidden", "the account is gone")
    from_mailbox = str(form.get("from", user)).lower() or user
    if from_mailbox not in await senders(p, user):
        return problem(403, "not-your-mailbox", "Forbidden", f"{from_mailbox} has not granted you sending")
    attachments = []
    for value in form.getall("attachment", []):
        if isinstance(value, web.FileField) and value.filename:
            attachments.append((value.filename, value.content_type or "application/octet-stream", value.file.read()))
    draft = Draft(author=user, from_mailbox=from_mailbox,
                  from_name=account.name if from_mailbox == user else "",
                  to=parse_addresses(str(form.get("to", ""))), cc=parse_addresses(str(form.get("cc", ""))),
                  subject=str(form.get("subject", "")), body=str(form.get("body", "")), attachments=attachments,
                  separate=form.get("separate") == "yes", burn=form.get("burn") == "yes",
                  receipt=form.get("receipt") == "yes")
    if not draft.recipients:
        return problem(400, "no-recipients", "No recipients", "give at least one address in To or Cc")
    ref, mode = str(form.get("ref", "")), str(form.get("mode", ""))
    original_path = None
    if ref:
        mailbox, _, rest = ref.partition("/")
        folder, _, uid = rest.rpartition("/")
        if await p.store.may_open(user, mailbox):
            original_path = await asyncio.to_thread(p.store.find, mailbox, folder, uid)
    if original_path is not None:
        original_raw = await asyncio.to_thread(original_path.read_bytes)
        original = parse(original_raw)
        if mode == "reply":
            draft.in_reply_to = str(original["Message-ID"] or "")
            draft.references = str(original["References"] or "")
        elif mode == "forward":
            draft.attachments.append((f"{str(original['Subject'] or 'message')[:60]}.eml", "message/rfc822",
                                      original_raw))
    limit = (await p.directory.service_class(account.service_class)).max_message_bytes
    message = build(draft, p.hostname)
    raw = message.as_bytes()
    if len(raw) > limit:
        return problem(413, "too-big", "Message too big",
                       f"the message has {len(raw)} octets; your service class allows {limit}", limit=limit)
    try:
        queue_id = await submit(message, from_mailbox, draft.recipients, user, session_of(request).submit_token,
                                **p.smtp)
    except SubmitError as exc:
        logger.warning("webmail_submit_refused", username=user, code=exc.code, reply=exc.text)
        status = 502 if exc.code == 0 or exc.code >= 500 and exc.code not in (550, 552, 553, 554) else 422
        return problem(status, "submission-refused", "Not sent", f"{exc.code} {exc.text}".strip(),
                       smtp_code=exc.code)
    await asyncio.to_thread(p.store.save_sent, user, raw, f"{int(time.time())}.webmail.{queue_id or secrets.token_hex(8)}")
    await p.sentlog.add(user, queue_id, draft.subject, draft.recipients)
    await p.records.operation(user, "sent", queue_id=queue_id, subject=draft.subject, to=draft.recipients,
                              separate=draft.separate, burn=draft.burn, receipt=draft.receipt, sender=from_mailbox)
    if original_path is not None and mode in ("reply", "forward"):
        mailbox, _, rest = ref.partition("/")
        folder, _, uid = rest.rpartition("/")
        account_of = await p.directory.account(mailbox)
        await p.activity.done("replied" if mode == "reply" else "forwarded", mailbox, uid, user, folder,
                              delivered_at(original_path), account_of.unit if account_of else None,
                              _queue_id(parse(original_raw)), seq=queue_id)
    if wants_json(request):
        return json_response({"queue_id": queue_id, "recipients": draft.recipients}, status=201)
    raise web.HTTPSeeOther(f"/sent?queued={quote(queue_id)}")


async def sent_list(request: web.Request) -> web.Response:
    return await _sent_page(request, recall=None)


async def _sent_page(request: web.Request, recall: dict[str, Any] | None) -> web.Response:
    """Sent messages with each recipient's delivery status (the newest 20 asked), and a recall's result."""
    p = parts(request)
    user = session_of(request).username
    items = await p.sentlog.items(user)
    statuses = await asyncio.gather(*(p.delivery.status(i["queue_id"]) for i in items[:20]))
    for item, status in zip(items, statuses, strict=False):
        # Delivery's API when it answers; else the outcomes this webmail saw on the bus; else "not available".
        item["status"] = status if status is not None else (await p.sentlog.outcomes(item["queue_id"]) or None)
    if request.path.startswith("/api/"):
        return json_response({"sent": items})
    return render(request, "sent.html", items=items, queued=request.query.get("queued", ""), recall=recall,
                  mailboxes=await p.store.mailboxes(user), mail_url=mail_url)


async def recall(request: web.Request) -> web.Response:
    p = parts(request)
    user = session_of(request).username
    queue_id = request.match_info["queue_id"]
    if queue_id not in {i["queue_id"] for i in await p.sentlog.items(user)}:
        return not_found("no such sent message")
    result = await p.delivery.recall(queue_id, user)
    await p.records.operation(user, "recall", queue_id=queue_id, available=result is not None)
    if wants_json(request):
        if result is None:
            return problem(503, "delivery-api-unavailable", "Not available", "the delivery service does not answer")
        return json_response({"queue_id": queue_id, "recipients": result})
    return await _sent_page(request, recall={"queue_id": queue_id, "result": result})


# --- records, notifications, health ---------------------------------------------------------------------

async def activity_page(request: web.Request) -> web.Response:
    p = parts(request)
    user = session_of(request).username
    logins, operations = await p.records.logins(user), await p.records.operations(user)
    if request.path.startswith("/api/"):
        return json_response({"logins": logins, "operations": operations})
    for entry in logins + operations:
        entry["when"] = datetime.fromtimestamp(entry["at"], UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        entry["details"] = json.dumps({k: v for k, v in entry.items() if k not in ("at", "when", "action")},
                                      ensure_ascii=False)
    return render(request, "activity.html", logins=logins, operations=operations,
                  mailboxes=await p.store.mailboxes(user), mail_url=mail_url)


async def events(request: web.Request) -> web.StreamResponse:
    p = parts(request)
    mailboxes = [m.address for m in await p.store.mailboxes(session_of(request).username)]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no", "X-Content-Type-Options": "nosniff"})
    await response.prepare(request)
    queue = p.hub.subscribe(mailboxes)
    try:
        await response.write(sse("ready", {"mailboxes": mailboxes}))
        while True:
            try:
                payload = await asyncio.wait_for(queue.get(), 15)
                if payload is None:  # the server is shutting down
                    break
                await response.write(sse("mail", payload))
            except TimeoutError:
                await response.write(b": keep-alive\n\n")  # proxies close silent streams
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        p.hub.unsubscribe(queue)
    return response


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    if parts(request).ready():
        return json_response({"status": "ready"})
    return problem(503, "not-ready", "Not ready", "the webmail is still connecting to the bus")


def build_app(p: Parts) -> web.Application:
    app = web.Application(middlewares=[errors, authenticated], client_max_size=64 * 1024**2)
    app[PARTS] = p

    async def end_streams(app: web.Application) -> None:
        p.hub.close()

    app.on_shutdown.append(end_streams)
    app[TEMPLATES] = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                                       autoescape=True, undefined=jinja2.StrictUndefined)
    m = "/mail/{mailbox}/{folder}/{uid}"
    app.add_routes([
        web.get("/healthz", healthz), web.get("/readyz", readyz),
        web.get("/login", login_page), web.post("/login", login), web.post("/logout", logout),
        web.get("/password", password_page), web.post("/password", password_change),
        web.get("/", home), web.get("/link", link_warning),
        web.get("/mail/{mailbox}/{folder}", folder_view), web.get("/api/mail/{mailbox}/{folder}", folder_view),
        web.get(m, message_view), web.get("/api" + m, message_view),
        web.get(m + "/body", message_body), web.get(m + "/part/{index}", attachment),
        web.post(m + "/delete", delete), web.post(m + "/todo", mark_todo),
        web.get("/todo", todo_list), web.get("/api/todo", todo_list), web.post("/todo/done", todo_done),
        web.get("/compose", compose_page), web.post("/compose", compose_send),
        web.get("/sent", sent_list), web.get("/api/sent", sent_list),
        web.post("/sent/{queue_id}/recall", recall),
        web.get("/activity", activity_page), web.get("/api/activity", activity_page),
        web.get("/events", events),
        web.static("/static", HERE / "static"),
    ])
    return app
