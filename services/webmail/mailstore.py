"""Which mailboxes a user may open (own, held unit mailboxes, delegated with 'view'), and reading their Maildir++."""

from __future__ import annotations

import email.policy
import os
import re
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parseaddr, parsedate_to_datetime
from pathlib import Path

from services.common.directory import RedisDirectory, account_key, accounts_key, granted_key
from services.delivery.maildir import ensure_maildir, folder_path, mailbox_root

# Maildir file names and folder names as they may appear in a URL; anything else is refused before
# it gets near the file system.
_UID = re.compile(r"[A-Za-z0-9._,=-]{1,200}")
_FOLDER = re.compile(r"[^/\\\0.][^/\\\0]{0,99}")
TRASH = "Trash"
SENT = "Sent"


@dataclass(frozen=True)
class Mailbox:
    address: str
    kind: str  # "own", "unit" (the user holds it) or "delegated" (a 'view' grant)


@dataclass
class Summary:
    mailbox: str
    folder: str
    uid: str
    sender: str
    subject: str
    date: datetime | None
    delivered_at: datetime
    seen: bool
    todo: bool = False


def valid_uid(uid: str) -> bool:
    return bool(_UID.fullmatch(uid))


def valid_folder(folder: str) -> bool:
    return folder == "INBOX" or bool(_FOLDER.fullmatch(folder))


def uid_of(path: Path) -> str:
    return path.name.split(":", 1)[0]


def delivered_at(path: Path) -> datetime:
    """Maildir names start with the delivery's epoch seconds; the file's mtime otherwise."""
    head = path.name.split(".", 1)[0]
    seconds = int(head) if head.isdigit() else int(path.stat().st_mtime)
    return datetime.fromtimestamp(seconds, UTC)


def parse(raw: bytes) -> EmailMessage:
    return BytesParser(policy=email.policy.default).parsebytes(raw)  # type: ignore[return-value]


def header_date(message: EmailMessage) -> datetime | None:
    try:
        value = parsedate_to_datetime(str(message["Date"]))
    except (TypeError, ValueError, IndexError):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class MailStore:
    """Every path a webmail route touches goes through `open_mailbox`, which checks the user may open it."""

    def __init__(self, mail_root: Path, directory: RedisDirectory, holders_cache_seconds: float = 10.0):
        self.mail_root = mail_root
        self.directory = directory
        self.holders_cache_seconds = holders_cache_seconds
        self._holders: dict[str, tuple[float, dict[str, list[str]]]] = {}

    async def _unit_holders(self, domain: str) -> dict[str, list[str]]:
        """holder -> the active unit mailboxes of the domain they hold; one scan per domain every few seconds.

        Only the folder list uses it: may_open reads the account itself, so access follows a hand-over at once.
        """
        cached = self._holders.get(domain)
        if cached is not None and time.monotonic() - cached[0] < self.holders_cache_seconds:
            return cached[1]
        redis = self.directory.redis
        addresses = sorted(await redis.smembers(accounts_key(domain)))
        async with redis.pipeline(transaction=False) as pipe:
            for address in addresses:
                pipe.hmget(account_key(address), "kind", "holder", "status")
            rows = await pipe.execute() if addresses else []
        held: dict[str, list[str]] = {}
        for address, (kind, holder, status) in zip(addresses, rows, strict=True):
            if kind == "unit" and holder and status == "active":
                held.setdefault(holder.lower(), []).append(address.lower())
        self._holders[domain] = (time.monotonic(), held)
        return held

    async def mailboxes(self, user: str) -> list[Mailbox]:
        user = user.lower()
        found = [Mailbox(user, "own")]
        held = await self._unit_holders(user.rpartition("@")[2])
        found += [Mailbox(a, "unit") for a in held.get(user, []) if a != user]
        redis = self.directory.redis
        for mailbox in sorted(await redis.smembers(granted_key(user))):
            grant = await self.directory.grant(mailbox, user)
            if grant is not None and "view" in grant.rights and mailbox.lower() not in {m.address for m in found}:
                found.append(Mailbox(mailbox.lower(), "delegated"))
        return found

    async def may_open(self, user: str, mailbox: str) -> bool:
        mailbox = mailbox.lower()
        if mailbox == user.lower():
            return True
        account = await self.directory.account(mailbox)
        if account is None or account.status != "active":
            return False
        if account.kind == "unit" and account.holder.lower() == user.lower():
            return True
        grant = await self.directory.grant(mailbox, user)
        return grant is not None and "view" in grant.rights

    def maildir(self, mailbox: str) -> Path:
        return mailbox_root(self.mail_root, mailbox) / "Maildir"

    def folders(self, mailbox: str) -> list[str]:
        root = self.maildir(mailbox)
        names = ["INBOX"]
        if root.is_dir():
            names += sorted(p.name[1:] for p in root.iterdir() if p.name.startswith(".") and (p / "cur").is_dir())
        return names

    def _files(self, mailbox: str, folder: str) -> list[Path]:
        base = folder_path(self.maildir(mailbox), folder)
        files: list[Path] = []
        for sub in ("new", "cur"):
            if (base / sub).is_dir():
                files += [p for p in (base / sub).iterdir() if p.is_file() and not p.name.startswith(".")]
        return files

    def find(self, mailbox: str, folder: str, uid: str) -> Path | None:
        if not (valid_folder(folder) and valid_uid(uid)):
            return None
        return next((p for p in self._files(mailbox, folder) if uid_of(p) == uid), None)

    def summaries(self, mailbox: str, folder: str, sender: str = "", subject: str = "",
                  since: date | None = None, until: date | None = None, limit: int = 200) -> list[Summary]:
        """Newest first; the search terms are case-insensitive substrings, the dates inclusive (UTC days)."""
        if not valid_folder(folder):
            return []
        found = []
        for path in sorted(self._files(mailbox, folder), key=lambda p: p.name, reverse=True):
            with path.open("rb") as f:
                head = f.read(64 * 1024).split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
            message = parse(head + b"\r\n\r\n")
            summary = Summary(mailbox=mailbox, folder=folder, uid=uid_of(path),
                              sender=str(message["From"] or ""), subject=str(message["Subject"] or ""),
                              date=header_date(message), delivered_at=delivered_at(path),
                              seen="S" in path.name.partition(":2,")[2])
            if sender and sender.lower() not in summary.sender.lower():
                continue
            if subject and subject.lower() not in summary.subject.lower():
                continue
            day = (summary.date or summary.delivered_at).astimezone(UTC).date()
            if (since and day < since) or (until and day > until):
                continue
            found.append(summary)
            if len(found) >= limit:
                break
        return found

    @staticmethod
    def mark_seen(path: Path) -> Path:
        """Maildir: a read message lives in cur/ with the S flag."""
        name, _, flags = path.name.partition(":2,")
        if "S" in flags:
            return path
        target = path.parent.parent / "cur" / f"{name}:2,{''.join(sorted(flags + 'S'))}"
        os.rename(path, target)
        return target

    def delete(self, mailbox: str, folder: str, path: Path) -> None:
        """To Trash; from Trash, for good."""
        if folder == TRASH:
            path.unlink()
            return
        trash = ensure_maildir(folder_path(self.maildir(mailbox), TRASH))
        os.rename(path, trash / "cur" / path.name if ":2," in path.name else trash / "new" / path.name)

    def save_sent(self, mailbox: str, raw: bytes, uid: str) -> None:
        sent = ensure_maildir(folder_path(self.maildir(mailbox), SENT))
        tmp = sent / "tmp" / uid
        tmp.write_bytes(raw)
        os.rename(tmp, sent / "cur" / f"{uid}:2,S")


def sender_address(message: EmailMessage) -> str:
    return parseaddr(str(message["From"] or ""))[1]

