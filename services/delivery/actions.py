"""What a user asks of delivery: recall a sent message, see the delivery status, list and release quarantine.

Every request names the acting account (the webmail authenticates it); only the sender sees or
recalls a message, only those who may read a mailbox see its quarantine, and no answer carries
a held message's body (R27).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.common.bus import Publisher
from services.common.directory import RedisDirectory
from services.delivery import copies, quarantine
from services.delivery.activity import announce
from services.delivery.copies import CopyStates
from services.delivery.mailboxes import Mailboxes
from services.delivery.notices import Notices
from services.delivery.status import StatusStore


class Refused(Exception):
    """A request that cannot be done; `status` and `slug` become its problem+json answer."""

    def __init__(self, status: int, slug: str, title: str, detail: str):
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title


@dataclass(frozen=True)
class RecallLine:
    recipient: str
    outcome: str  # recalled, read, remote, gone


async def may_read(directory: RedisDirectory, mailbox: str, actor: str) -> bool:
    """The owner, the holder of a unit mailbox, and delegates with the "view" right (R8, R16)."""
    if actor.lower() == mailbox.lower():
        return True
    account = await directory.account(mailbox)
    if account is not None and account.holder and account.holder.lower() == actor.lower():
        return True
    grant = await directory.grant(mailbox, actor)
    return grant is not None and "view" in grant.rights


class Actions:
    def __init__(self, directory: RedisDirectory, status: StatusStore, copy_states: CopyStates,
                 mailboxes: Mailboxes, notices: Notices, publisher: Publisher, data_dir: Path):
        self.directory = directory
        self.status = status
        self.copies = copy_states
        self.mailboxes = mailboxes
        self.notices = notices
        self.publisher = publisher
        self.data_dir = data_dir

    async def sent_message(self, name: str, actor: str) -> dict[str, Any]:
        message_id = await self.status.resolve(name)
        found = await self.status.get(message_id)
        if found is None:
            raise Refused(404, "unknown-message", "Unknown message",
                          f"no delivery status for {name} (unknown, or older than the status is kept)")
        if found.get("mail_from", "").lower() != actor.lower():
            raise Refused(403, "not-the-sender", "Not the sender", f"{actor} did not send {name}")
        return found

    async def sent_by(self, actor: str, limit: int = 100) -> list[dict[str, Any]]:
        found = [await self.status.get(m) for m in await self.status.sent_by(actor, limit)]
        return [f for f in found if f is not None]

    async def recall(self, name: str, actor: str) -> list[RecallLine]:
        """Remove every local copy not yet opened; the sender gets the per-recipient answer by mail too."""
        found = await self.sent_message(name, actor)
        sender = await self.directory.account(actor)
        if sender is not None and not (await self.directory.service_class(sender.service_class)).allows("recall"):
            raise Refused(403, "feature-not-allowed", "Recall not allowed",
                          f"the service class {sender.service_class} does not include recall")
        message_id = found["message_id"]
        lines = []
        for entry in found["recipients"]:
            recipient = entry["recipient"]
            if entry.get("remote"):
                lines.append(RecallLine(recipient, "remote"))
                continue
            if entry.get("state") in ("bounced", "rejected"):
                lines.append(RecallLine(recipient, "gone"))
                continue
            # One atomic step per copy: an opening at the same moment either came first (read) or lost (recalled).
            moved = await self.copies.move(message_id, recipient, copies.RECALLED, copies.DELIVERED, copies.NONE)
            if moved.changed:
                info = await self.copies.info(message_id, recipient)
                if info.get("key"):
                    await asyncio.to_thread(self.mailboxes.remove, info["mailbox"], info["key"])
                await self.status.set(message_id, recipient, "recalled", f"recalled by {actor}")
                await announce(self.publisher, message_id, info.get("mailbox", recipient), actor, "recalled")
            outcome = {copies.OPENED: "read", copies.BURNED: "read"}.get(moved.previous, "recalled")
            lines.append(RecallLine(recipient, outcome))
        await self.notices.recall_report(actor, found.get("subject", ""), message_id,
                                         [(line.recipient, line.outcome) for line in lines])
        return lines

    async def check_reader(self, mailbox: str, actor: str) -> None:
        try:
            quarantine.quarantine_dir(self.data_dir, mailbox)
        except ValueError:
            raise Refused(400, "bad-address", "Bad address", f"{mailbox!r} is not a mailbox address") from None
        if not await may_read(self.directory, mailbox, actor):
            raise Refused(403, "not-your-mailbox", "Not your mailbox", f"{actor} may not read {mailbox}")

    async def quarantined(self, mailbox: str, actor: str) -> list[dict[str, Any]]:
        await self.check_reader(mailbox, actor)
        return await asyncio.to_thread(quarantine.held, self.data_dir, mailbox)

    async def release(self, mailbox: str, key: str, actor: str) -> dict[str, Any]:
        """Deliver a held message into the INBOX and forget it in the quarantine."""
        await self.check_reader(mailbox, actor)
        taken = await asyncio.to_thread(quarantine.take, self.data_dir, mailbox, key)
        if taken is None:
            raise Refused(404, "not-held", "Not in quarantine", f"nothing is held for {mailbox} under {key}")
        about, data = taken
        message_id = about.get("message_id") or ""
        if (await self.copies.info(message_id, mailbox)).get("state") == copies.RECALLED:
            raise Refused(409, "recalled", "Recalled", "the sender recalled this message")
        account = await self.directory.account(mailbox)
        limit = (await self.directory.service_class(account.service_class)).quota_bytes if account else 0
        result, _ = await asyncio.to_thread(self.mailboxes.deliver, mailbox, key, data, "INBOX", limit)
        if result is None:
            raise Refused(507, "mailbox-full", "Mailbox full", f"{mailbox} has no room for {len(data)} octets")
        await self.copies.delivered(message_id, mailbox, mailbox, key, about.get("mail_from", ""),
                                    about.get("subject", ""), burn=False)
        await self.status.set(message_id, mailbox, "released", f"released from quarantine by {actor}")
        await announce(self.publisher, message_id, mailbox, actor, "released")
        await asyncio.to_thread(quarantine.forget, self.data_dir, mailbox, key)
        return {"released": key, "message_id": message_id, "folder": "INBOX"}
