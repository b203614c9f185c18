"""Mail the delivery service writes to users: bounces (DSN), quota warnings, recall reports and read notices.

Every notice goes through SystemMailer with a key derived from what caused it, so a replayed
event produces the same queue id and is delivered once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from schemas.events import MailScanned
from services.common import logging as log
from services.common.directory import Account, RedisDirectory
from services.common.system_mail import SystemMailer, compose
from services.delivery.quota import Usage
from services.delivery.reports import Failure, build_dsn
from services.delivery.texts import text

logger = log.get(__name__)

THRESHOLDS = (80, 90, 100)
NOTICE_HEADER = "X-Govmail-Notice"  # marks our own quota notices, which a full mailbox still takes


def warned_key(address: str) -> str:
    """The highest quota threshold the owner was last warned about (0 after usage fell below 80 %)."""
    return f"gm:quota:warned:{address.lower()}"


def human_size(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(size)


class Notices:
    def __init__(self, mailer: SystemMailer, directory: RedisDirectory, client: aioredis.Redis, hostname: str):
        self.mailer = mailer
        self.directory = directory
        self.redis = client
        self.hostname = hostname

    async def language_of(self, address: str) -> str:
        account = await self.directory.account(address) if address else None
        return account.language if account else "en"

    def postmaster(self, domain: str) -> str:
        return f"postmaster@{domain or self.hostname}"

    async def bounce(self, scanned: MailScanned, raw: bytes, failures: Sequence[Failure], key: str) -> str | None:
        """A DSN to the sender; never for a message that is itself a bounce (null sender)."""
        sender = scanned.mail.mail_from
        if not sender or not failures:
            return None
        local = await self.directory.is_local_domain(sender.rpartition("@")[2])
        domain = sender.rpartition("@")[2].lower() if local else ""
        language = await self.language_of(sender) if local else "en"
        dsn = build_dsn(raw, sender, failures, language, self.hostname, self.postmaster(domain),
                        arrival=scanned.mail.received_at.timestamp())
        queued = await self.mailer.send(dsn, "", [sender], key=f"dsn|{key}", trace_id=scanned.trace_id)
        logger.info("bounce_queued", message_id=scanned.message_id, bounce_id=queued, sender=sender,
                    recipients=[f.recipient for f in failures])
        return queued

    async def quota(self, account: Account, usage: Usage, cause: str, full: bool = False,
                    warned: int | None = None) -> int | None:
        """Warn the owner when usage crossed 80, 90 or 100 % since the last warning; returns the threshold.

        `warned` is the last threshold warned about, when the caller already read it (queue_warned)."""
        level = 100 if full else max((t for t in THRESHOLDS if usage.percent >= t), default=0)
        key = warned_key(account.address)
        if warned is None:
            warned = int(await self.redis.get(key) or 0)
        if level < warned:
            await self.redis.set(key, level)  # fell below: the next crossing warns again
            return None
        if level == warned or level == 0:
            return None
        language = account.language
        values = {"address": account.address, "percent": level, "name": account.name,
                  "used": human_size(usage.used), "quota": human_size(usage.quota)}
        message = compose(self.postmaster(account.domain), [account.address],
                          text("quota_subject", language, **values), text("quota_body", language, **values),
                          headers={NOTICE_HEADER: "quota"}, hostname=self.hostname)
        await self.mailer.send(message, self.postmaster(account.domain), [account.address],
                               key=f"quota|{account.address.lower()}|{level}|{cause}")
        await self.redis.set(key, level)
        logger.info("quota_warning_queued", address=account.address, threshold=level, cause=cause)
        return level

    @staticmethod
    def queue_warned(pipe: Pipeline, address: str) -> Callable[[list], int]:
        """Read the last threshold warned about on a caller's pipeline; returns the reader of its reply."""
        at = len(pipe)
        pipe.get(warned_key(address))
        return lambda replies: int(replies[at] or 0)

    async def recall_report(self, sender: str, subject: str, message_id: str, lines: list[tuple[str, str]]) -> None:
        language = await self.language_of(sender)
        body = text("recall_intro", language, subject=subject) + "\n\n"
        body += "\n".join(f"  {recipient}: {text('recall_' + outcome, language)}" for recipient, outcome in lines)
        domain = sender.rpartition("@")[2]
        message = compose(self.postmaster(domain), [sender], text("recall_subject", language, subject=subject),
                          body + "\n", hostname=self.hostname)
        await self.mailer.send(message, self.postmaster(domain), [sender], key=f"recall|{message_id}",
                               trace_id=message_id)

    async def read(self, sender: str, reader: str, subject: str, message_id: str, when: datetime) -> None:
        """Tell the sender of a burn-after-reading message when it was read."""
        language = await self.language_of(sender)
        stamp = when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        domain = sender.rpartition("@")[2]
        message = compose(self.postmaster(domain), [sender], text("read_subject", language, subject=subject),
                          text("read_body", language, subject=subject, reader=reader, when=stamp) + "\n",
                          hostname=self.hostname)
        await self.mailer.send(message, self.postmaster(domain), [sender], key=f"read|{message_id}|{reader.lower()}",
                               trace_id=message_id)
