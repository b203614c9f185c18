"""Local delivery of one recipient's copy: verdict, quota, recall and burn-after-reading decide where it goes."""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass

from schemas.events import MailScanned
from services.common import logging as log
from services.common.directory import Account, RedisDirectory, ServiceClass, usage_key
from services.delivery import copies, headers, quarantine
from services.delivery.copies import BURN_DUE, CopyStates
from services.delivery.mailboxes import Mailboxes
from services.delivery.notices import NOTICE_HEADER, Notices

logger = log.get(__name__)
CLASS_CACHE_SECONDS = 5.0


def delivery_key(message_id: str, recipient: str) -> str:
    return hashlib.sha256(f"{message_id}\0{recipient.lower()}".encode()).hexdigest()


def delivery_headers(scanned: MailScanned, recipient: str) -> bytes:
    """Headers a final MTA prepends: where it bounces to, who it was for, and the scanner's word.

    Prepended, so they come before any a sender forged: readers (the webmail) take the first occurrence.
    X-Govmail-Queue-Id lets the reading side name the message in its "opened" events (burn, recall, read
    status); X-Govmail-Symbols carries the phishing findings with the links they name, for the warning page.
    """
    verdict = scanned.verdict
    symbols = ",".join(s.name for s in verdict.symbols) or "none"
    lines = [
        f"Return-Path: <{scanned.mail.mail_from}>",
        f"Delivered-To: {recipient}",
        f"{headers.QUEUE_ID}: {scanned.message_id}",
        f"X-Govmail-Scan: action={verdict.action} score={verdict.score:.2f} required={verdict.required_score:.2f}"
        f" symbols={symbols}",
    ]
    phishing = [(s.name, s.options) for s in verdict.symbols if s.name.startswith("PHISHING_")]
    if phishing:
        lines.append(headers.symbols_header(phishing))
    if verdict.action == "add_header":
        lines.append("X-Spam-Flag: YES")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def copy_for(scanned: MailScanned, raw: bytes, recipient: str) -> bytes:
    """The recipient's own copy: only them in To: for separate delivery, the webmail's control header gone."""
    if scanned.mail.separate_delivery or headers.local_asks(scanned.mail.listener, raw, headers.SEPARATE):
        return headers.only_recipient(raw, recipient)
    return headers.without(raw, headers.SEPARATE)


@dataclass
class Outcome:
    """What became of one recipient's copy; `status` is a MailDelivery status (or "recalled")."""

    status: str
    detail: str
    enhanced_status: str
    final: bool = True
    account: Account | None = None


class LocalDelivery:
    def __init__(self, directory: RedisDirectory, mailboxes: Mailboxes, copy_states: CopyStates, notices: Notices,
                 data_dir, burn_after: float):
        self.directory = directory
        self.mailboxes = mailboxes
        self.copies = copy_states
        self.notices = notices
        self.data_dir = data_dir
        self.burn_after = burn_after
        self._classes: dict[str, tuple[float, ServiceClass]] = {}

    async def service_class(self, name: str) -> ServiceClass:
        """The class, re-read from Redis at most every few seconds: a change by lifecycle applies almost at once."""
        now = time.monotonic()
        cached = self._classes.get(name)
        if cached is None or now - cached[0] > CLASS_CACHE_SECONDS:
            cached = self._classes[name] = (now, await self.directory.service_class(name))
        return cached[1]

    async def deliver(self, scanned: MailScanned, raw: bytes, recipient: str, account: Account | None,
                      may_defer: bool) -> Outcome:
        """`account` is the recipient's as the caller looked it up; a renamed address is followed here."""
        address = recipient
        if account is None:
            address = await self.directory.canonical(recipient)
            account = await self.directory.account(address) if address != recipient else None
        else:
            address = account.address
        message_id = scanned.message_id or ""
        key = delivery_key(message_id, recipient)
        if account is None or account.status == "deleted":
            return Outcome("bounced", "mailbox does not exist", "5.1.1")
        if scanned.verdict.action == "quarantine":
            data = delivery_headers(scanned, address) + copy_for(scanned, raw, address)
            await asyncio.to_thread(quarantine.hold, self.data_dir, address, key, data, scanned)
            return Outcome("quarantined", "held in the recipient's quarantine", "2.0.0", account=account)
        folder = "Junk" if scanned.verdict.action == "add_header" else "INBOX"
        return await self.into_mailbox(scanned, raw, recipient, address, account, key, folder, may_defer)

    async def into_mailbox(self, scanned: MailScanned, raw: bytes, recipient: str, address: str, account: Account,
                           key: str, folder: str, may_defer: bool) -> Outcome:
        message_id = scanned.message_id or ""
        limit = (await self.service_class(account.service_class)).quota_bytes
        data = delivery_headers(scanned, address) + copy_for(scanned, raw, address)
        # Our own quota notice must reach a full mailbox: that is when it matters most.
        notice = scanned.mail.listener == "internal" and headers.value(raw, NOTICE_HEADER) == "quota"
        result, usage = await asyncio.to_thread(self.mailboxes.deliver, address, key, data, folder, limit, notice)
        # maildirsize is the truth; this copy lets ingress refuse a full mailbox at RCPT (452 4.2.2) without
        # reading the mail volume. It lags removals until the next delivery, which only errs towards accepting.
        if result is None:
            await self.copies.redis.set(usage_key(address), usage.used)
            await self.notices.quota(account, usage, cause=message_id, full=True)
            if may_defer:
                return Outcome("deferred", "mailbox full", "4.2.2", final=False, account=account)
            return Outcome("bounced", "mailbox full", "5.2.2", account=account)
        burn = headers.local_asks(scanned.mail.listener, raw, headers.BURN)
        # The copy's state, the usage and the last quota warning in one round trip.
        async with self.copies.redis.pipeline(transaction=False) as pipe:
            pipe.set(usage_key(address), usage.used)
            read_state = await self.copies.queue_delivered(pipe, message_id, recipient, address, key,
                                                           scanned.mail.mail_from, scanned.mail.subject, burn)
            read_warned = self.notices.queue_warned(pipe, account.address)
            replies = await pipe.execute()
        state = read_state(replies)
        if state.previous == copies.RECALLED:
            # The recall came while the file was being written: it wins, and the file goes.
            await asyncio.to_thread(self.mailboxes.remove, address, key)
            return Outcome("recalled", "recalled by the sender before delivery", "2.0.0", account=account)
        if burn and state.changed:
            due = time.time() + self.burn_after
            await self.copies.redis.zadd(BURN_DUE, {f"{message_id}|{recipient.lower()}": due}, nx=True)
        if not result.duplicate:
            await self.notices.quota(account, usage, cause=message_id, warned=read_warned(replies))
        logger.info("mail_delivered", message_id=message_id, recipient=recipient, folder=folder,
                    duplicate=result.duplicate)
        return Outcome("delivered", f"{folder}{' (already delivered)' if result.duplicate else ''}", "2.0.0",
                       account=account)
