"""Webmail routes for sending: compose (new, reply, forward), send through submission, sent mail, recall."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any
from urllib.parse import quote

from aiohttp import web

from services.common import logging as log
from services.common.directory import ServiceClass, granted_key
from services.common.http import json_response, problem
from services.webmail import reading
from services.webmail.activity import queue_id_of
from services.webmail.context import Parts, mail_url, not_found, parts, render, session_of, wants_json
from services.webmail.mailstore import delivered_at, parse
from services.webmail.submit import Draft, SubmitError, build, parse_addresses, sent_copy, submit

logger = log.get(__name__)


async def senders(p: Parts, user: str) -> list[str]:
    """Addresses the user may put in From:: itself and mailboxes granting send_as or send_on_behalf."""
    found = [user]
    for mailbox in sorted(await p.directory.redis.smembers(granted_key(user))):
        grant = await p.directory.grant(mailbox, user)
        if grant is not None and {"send_as", "send_on_behalf"} & set(grant.rights):
            found.append(mailbox.lower())
    return found


# What the compose form may ask for (R15), each the feature of the author's service class (R12) of the same name.
OPTIONS = (("burn", "Burn-after-reading"), ("separate", "Separate delivery"))


def not_allowed(draft: Draft, service_class: ServiceClass) -> web.Response | None:
    """403 for an option the author's class does not include, else None.

    Submission would refuse the control header too (550 5.7.1); answering here names the option plainly.
    """
    for feature, name in OPTIONS:
        if getattr(draft, feature) and not service_class.allows(feature):
            return problem(403, "feature-not-allowed", f"{name} not allowed",
                           f"the service class {service_class.name} does not include {name.lower()}; "
                           f"send the message without it", feature=feature)
    return None


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
    account = await p.directory.account(user)
    features = (await p.directory.service_class(account.service_class)).features if account else []
    return render(request, "compose.html", prefill=prefill, senders=await senders(p, user), features=features,
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
    service_class = await p.directory.service_class(account.service_class)
    refused = not_allowed(draft, service_class)
    if refused is not None:
        return refused
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
    limit = service_class.max_message_bytes
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
    await asyncio.to_thread(p.store.save_sent, user, sent_copy(message, draft), f"{int(time.time())}.webmail.{queue_id or secrets.token_hex(8)}")
    await p.sentlog.add(user, queue_id, draft.subject, draft.recipients)
    await p.records.operation(user, "sent", queue_id=queue_id, subject=draft.subject, to=draft.recipients,
                              separate=draft.separate, burn=draft.burn, receipt=draft.receipt, sender=from_mailbox)
    if original_path is not None and mode in ("reply", "forward"):
        mailbox, _, rest = ref.partition("/")
        folder, _, uid = rest.rpartition("/")
        account_of = await p.directory.account(mailbox)
        await p.activity.done("replied" if mode == "reply" else "forwarded", mailbox, uid, user, folder,
                              delivered_at(original_path), account_of.unit if account_of else None,
                              queue_id_of(parse(original_raw)), seq=queue_id)
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
    statuses = await asyncio.gather(*(p.delivery.status(i["queue_id"], user) for i in items[:20]))
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

