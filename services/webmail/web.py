"""The webmail's HTTP app: the middlewares (errors, session, CSRF, first-login gate) and the route table."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

import jinja2
import redis.exceptions
from aiohttp import web

from services.common import logging as log
from services.common.bus import PublishError
from services.common.directory import DEFAULT_CLASS, account_key
from services.common.http import http_error, problem
from services.common.metrics import REGISTRY
from services.webmail.context import (
    HERE,
    PAGE_CSP,
    PARTS,
    PUBLIC,
    SAFE_METHODS,
    TEMPLATES,
    Parts,
    parts,
    render,
    wants_json,
)
from services.webmail.routes_account import (
    activity_page,
    events,
    healthz,
    link_warning,
    login,
    login_page,
    logout,
    password_change,
    password_page,
    readyz,
)
from services.webmail.routes_reading import (
    attachment,
    delete,
    folder_view,
    home,
    mark_todo,
    message_body,
    message_view,
    read_receipt,
    report,
    todo_done,
    todo_list,
)
from services.webmail.routes_sending import compose_page, compose_send, recall, sent_list
from services.webmail.sessions import COOKIE

logger = log.get(__name__)


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
    except Exception:
        # A bug: logged with its traceback, answered in the same problem form, never with a page of internals.
        logger.exception("webmail_request_failed", path=request.path, method=request.method)
        response = problem(500, "internal", "Internal error", "the webmail failed on this request; it was logged")
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
    if session is not None:
        status, epoch, class_name = await p.directory.redis.hmget(
            account_key(session.username), ["status", "session_epoch", "service_class"])
        if (status != "active" or int(epoch or 0) != session.epoch
                or not (await p.directory.service_class(class_name or DEFAULT_CLASS)).allows("webmail")):
            # Locked or deleted since login (R13 emergency revocation), every session was ended (password
            # reset or changed elsewhere, unit mailbox handed over), or the account's service class no longer
            # includes the webmail (R12; classes are cached a few seconds): the session and its token end now.
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
        web.get("/healthz", healthz), web.get("/readyz", readyz), web.get("/metrics", REGISTRY.handler()),
        web.get("/login", login_page), web.post("/login", login), web.post("/logout", logout),
        web.get("/password", password_page), web.post("/password", password_change),
        web.get("/", home), web.get("/link", link_warning),
        web.get("/mail/{mailbox}/{folder}", folder_view), web.get("/api/mail/{mailbox}/{folder}", folder_view),
        web.get(m, message_view), web.get("/api" + m, message_view),
        web.get(m + "/body", message_body), web.get(m + "/part/{index}", attachment),
        web.post(m + "/delete", delete), web.post(m + "/todo", mark_todo), web.post(m + "/report", report),
        web.post(m + "/receipt", read_receipt),
        web.get("/todo", todo_list), web.get("/api/todo", todo_list), web.post("/todo/done", todo_done),
        web.get("/compose", compose_page), web.post("/compose", compose_send),
        web.get("/sent", sent_list), web.get("/api/sent", sent_list),
        web.post("/sent/{queue_id}/recall", recall),
        web.get("/activity", activity_page), web.get("/api/activity", activity_page),
        web.get("/events", events),
        web.static("/static", HERE / "static"),
    ])
    return app
