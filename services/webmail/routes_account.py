"""Webmail routes of the account: login, logout, password change, own records, the new-mail stream, links, health."""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import UTC, datetime
from urllib.parse import urlsplit

from aiohttp import web

from services.common.http import json_response, problem
from services.webmail import i18n
from services.webmail.context import (
    LANG_COOKIE,
    LOGIN_COOKIE,
    client_ip,
    mail_url,
    parts,
    render,
    session_of,
    wants_json,
)
from services.webmail.login import WebmailNotAllowed
from services.webmail.notify import sse
from services.webmail.password import PasswordRefused, change_password
from services.webmail.sessions import COOKIE


async def login_page(request: web.Request) -> web.Response:
    # Kept while the browser has one: other tabs and stray requests (favicon → /login) must not replace
    # the token of a form already on screen.
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    response = render(request, "login.html", login_csrf=token, failed=False, refused=False)
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="Strict", secure=parts(request).cookie_secure)
    return response


async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    if not cookie or not secrets.compare_digest(str(form.get("csrf", "")).encode(), cookie.encode()):
        return problem(403, "csrf", "Forbidden", "missing or wrong login form token; reload the login page")
    p = parts(request)
    ip = client_ip(request)
    try:
        account, place = await p.desk.attempt(str(form.get("username", "")), str(form.get("password", "")), ip)
    except WebmailNotAllowed as refused:
        if wants_json(request):
            return problem(403, "feature-not-allowed", "Webmail not allowed",
                           f"{refused}; use a mail client, or ask your administrator", feature="webmail")
        return _login_again(request, 403, refused=True)
    if account is None:
        # One answer for every refusal: no hint whether the password, a lock or a restriction stopped it.
        return _login_again(request, 401, failed=True)
    session = await p.sessions.create(account.address, ip, place, account.must_change_password, account.session_epoch)
    await p.records.operation(account.address, "login", ip=ip, place=place)
    response = web.HTTPSeeOther("/password" if account.must_change_password else "/")
    response.set_cookie(COOKIE, session.token, httponly=True, samesite="Strict", secure=p.cookie_secure,
                        max_age=p.sessions.ttl, path="/")
    response.del_cookie(LOGIN_COOKIE)
    if account.language in i18n.LANGUAGES and LANG_COOKIE not in request.cookies:
        response.set_cookie(LANG_COOKIE, account.language, httponly=True, samesite="Strict", secure=p.cookie_secure)
    raise response


def _login_again(request: web.Request, status: int, failed: bool = False, refused: bool = False) -> web.Response:
    """The login form again, with a new form token, saying why the last attempt did not log in."""
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", status=status, login_csrf=token, failed=failed, refused=refused)
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="Strict", secure=parts(request).cookie_secure)
    return response


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
        updated = await change_password(p.directory.redis, session.username, str(form.get("current", "")),
                                        str(form.get("new", "")))
    except PasswordRefused as exc:
        if wants_json(request):
            return problem(422, "password-refused", "Password refused", "; ".join(exc.problems),
                           problems=exc.problems)
        return render(request, "password.html", status=422, forced=session.must_change_password,
                      problems=exc.problems)
    await p.sessions.password_changed(session, updated.session_epoch)
    await p.records.operation(session.username, "password_changed")
    if wants_json(request):
        return json_response({"changed": True})
    raise web.HTTPSeeOther("/")


async def link_warning(request: web.Request) -> web.Response:
    """Shows where a suspicious or deceptive link really goes; needs no session and reveals nothing."""
    target = request.query.get("u", "")
    scheme = urlsplit(target).scheme.lower()
    return render(request, "link.html", target=target, shown=request.query.get("t", ""),
                  flagged=request.query.get("f") == "1", followable=scheme in ("http", "https"))


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
