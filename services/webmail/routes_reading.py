"""Webmail routes for reading: folders and search, a message, its sandboxed body, downloads, delete, to-do."""

from __future__ import annotations

import asyncio
import email
import email.policy
import time
from dataclasses import asdict
from datetime import date
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import quote

from aiohttp import web

from schemas.events import MailFeedback
from schemas.registry import FEEDBACK
from services.common.bus import PublishError
from services.common.http import json_response, problem
from services.delivery.reports import build_mdn
from services.webmail import reading
from services.webmail.activity import queue_id_of
from services.webmail.context import (
    BODY_CSP,
    mail_url,
    not_found,
    opened_mailbox,
    parts,
    render,
    session_of,
    wants_json,
)
from services.webmail.mailstore import SENT, delivered_at, parse
from services.webmail.submit import SubmitError, submit


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


async def _done(request: web.Request, action: str, mailbox: str, folder: str, uid: str, path: Path,
                message: EmailMessage, seq: str = "") -> None:
    """The activity event of an action carried out on a message (deleted, to-do, burned)."""
    p = parts(request)
    account = await p.directory.account(mailbox)
    await p.activity.done(action, mailbox, uid, session_of(request).username, folder, delivered_at(path),
                          account.unit if account else None, queue_id_of(message), seq=seq)


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
                                queue_id_of(message))
        await asyncio.to_thread(p.store.mark_seen, path)
    await p.records.operation(user, "opened", mailbox=mailbox, folder=folder, subject=shown.subject)
    if request.path.startswith("/api/"):
        return json_response({"mailbox": mailbox, "folder": folder, "uid": uid, **asdict(shown),
                              "text": reading.plain_text(message)})
    images = request.query.get("images") == "1"
    return render(request, "message.html", mailbox=mailbox, folder=folder, uid=uid, m=shown, images=images,
                  blocked=reading.body_html(message, False).remote_images_blocked if not images else 0,
                  mail_url=mail_url, mailboxes=await p.store.mailboxes(user), folders=p.store.folders(mailbox))


async def message_body(request: web.Request) -> web.Response:
    """The sanitised body for the sandboxed frame; a burn-after-reading message is destroyed once served."""
    found = await _message(request)
    if found is None:
        return not_found()
    mailbox, folder, uid, path = found
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
        await _done(request, "burned", mailbox, folder, uid, path, message)
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
    await _done(request, "deleted", mailbox, folder, uid, path, message, seq=f"{time.time():.0f}")
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
    await _done(request, "todo", mailbox, folder, uid, path, message, seq=f"{time.time():.0f}")
    await p.records.operation(user, "todo", mailbox=mailbox, subject=str(message["Subject"] or ""), due=due)
    if wants_json(request):
        return json_response({"todo": f"{mailbox}/{folder}/{uid}", "due": due})
    raise web.HTTPSeeOther("/todo")


async def report(request: web.Request) -> web.StreamResponse:
    """The user says the filter misjudged a message: it goes to the scanner's training set (mail.feedback.v1)."""
    found = await _message(request)
    if found is None:
        return not_found()
    mailbox, folder, uid, path = found
    p = parts(request)
    user = session_of(request).username
    label = str((await request.post()).get("label", ""))
    if label not in ("spam", "ham"):
        return problem(400, "bad-label", "Bad label", f"label must be 'spam' or 'ham', not {label!r}")
    raw = await asyncio.to_thread(path.read_bytes)
    message = parse(raw)
    assert p.blobs is not None
    blob = await asyncio.to_thread(p.blobs.put, raw)
    event = MailFeedback(producer="webmail", message_id=queue_id_of(message), blob=blob, label=label,  # type: ignore[arg-type]
                         reporter=user, header_message_id=str(message["Message-ID"] or ""), mailbox=mailbox)
    try:
        await p.publisher.publish(FEEDBACK, event)
    except PublishError as exc:
        return problem(503, "bus-unavailable", "Try again later", f"the report could not be recorded: {exc}")
    await p.records.operation(user, f"reported_{label}", mailbox=mailbox, subject=str(message["Subject"] or ""))
    if wants_json(request):
        return json_response({"reported": label, "event_id": event.event_id})
    raise web.HTTPSeeOther(mail_url(mailbox, folder))


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


async def read_receipt(request: web.Request) -> web.StreamResponse:
    """The reader agrees to the sender's Disposition-Notification-To: an RFC 8098 receipt, sent once, as the reader."""
    found = await _message(request)
    if found is None:
        return not_found("no such message")
    mailbox, folder, uid, path = found
    p = parts(request)
    session = session_of(request)
    built = build_mdn(await asyncio.to_thread(path.read_bytes), session.username, p.hostname)
    if built is None:
        return problem(409, "no-receipt-asked", "No receipt asked", "this message asks for no read receipt")
    to, raw = built
    if not await p.directory.redis.set(receipt_key(mailbox, uid), "1", nx=True, ex=400 * 86400):
        return problem(409, "receipt-already-sent", "Already sent", "the read receipt for this message was sent")
    try:
        await submit(email.message_from_bytes(raw, policy=email.policy.default), session.username, [to],
                     session.username, session.submit_token, **p.smtp)
    except SubmitError as exc:
        await p.directory.redis.delete(receipt_key(mailbox, uid))
        return problem(422, "submission-refused", "Not sent", f"{exc.code} {exc.text}".strip())
    await p.records.operation(session.username, "read_receipt", mailbox=mailbox, to=to)
    if wants_json(request):
        return json_response({"receipt_to": to})
    raise web.HTTPSeeOther(mail_url(mailbox, folder, uid))


def receipt_key(mailbox: str, uid: str) -> str:
    return f"gm:webmail:receipt:{mailbox.lower()}:{uid}"
