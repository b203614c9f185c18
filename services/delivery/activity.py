"""What users do with delivered mail drives delivery: an opening marks the copy read, burns a
burn-after-reading copy (and tells its sender), and from then on refuses a recall."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

from schemas.events import MailboxActivity, derived_event_id
from schemas.registry import ACTIVITY
from services.common import logging as log
from services.common.bus import Publisher
from services.common.consumer import Record
from services.delivery import copies
from services.delivery.copies import BURN_DUE, CopyStates
from services.delivery.mailboxes import Mailboxes
from services.delivery.notices import Notices
from services.delivery.status import StatusStore

logger = log.get(__name__)


async def announce(publisher: Publisher, message_id: str, mailbox: str, actor: str, action: str) -> None:
    """A mailbox.activity.v1 event of delivery's own (recalled, burned, released); the same act gives the same id."""
    event = MailboxActivity(event_id=derived_event_id("activity", action, message_id, mailbox.lower()),
                            producer="delivery", message_id=message_id, mailbox=mailbox, actor=actor, action=action)
    await publisher.publish(ACTIVITY, event)


class Activity:
    def __init__(self, copy_states: CopyStates, mailboxes: Mailboxes, status: StatusStore, notices: Notices,
                 publisher: Publisher):
        self.copies = copy_states
        self.mailboxes = mailboxes
        self.status = status
        self.notices = notices
        self.publisher = publisher

    async def handle(self, record: Record) -> None:
        event = MailboxActivity.model_validate_json(record.value or b"")
        if event.action == "opened" and event.message_id and event.producer != "delivery":
            await self.opened(event.message_id, event.mailbox, event.actor, event.occurred_at)

    async def opened(self, message_id: str, mailbox: str, actor: str, when: datetime) -> str:
        """The copy's state after the opening: "opened", or "recalled"/"burned" when the opening came too late."""
        moved = await self.copies.move(message_id, mailbox, copies.OPENED, copies.DELIVERED)
        if moved.previous not in (copies.DELIVERED, copies.OPENED):
            logger.info("open_ignored", message_id=message_id, mailbox=mailbox, state=moved.previous or "none")
            return moved.previous or "none"
        await self.status.set(message_id, mailbox, "read", f"opened by {actor} at {when.isoformat()}")
        info = await self.copies.info(message_id, mailbox)
        if info.get("burn") and info.get("state") == copies.OPENED:
            await self.burn(message_id, mailbox, info)
            if info.get("sender"):
                await self.notices.read(info["sender"], mailbox, info.get("subject", ""), message_id, when)
        return copies.OPENED

    async def burn(self, message_id: str, recipient: str, info: dict[str, str]) -> None:
        await asyncio.to_thread(self.mailboxes.remove, info["mailbox"], info["key"])
        await self.copies.move(message_id, recipient, copies.BURNED, copies.OPENED, copies.DELIVERED)
        await announce(self.publisher, message_id, info["mailbox"], "system", "burned")
        await self.copies.redis.zrem(BURN_DUE, f"{message_id}|{recipient.lower()}")
        logger.info("copy_burned", message_id=message_id, mailbox=info["mailbox"])

    async def burn_unopened(self, now: float | None = None) -> int:
        """Burn the burn-after-reading copies nobody opened in time; returns how many."""
        due = await self.copies.redis.zrangebyscore(BURN_DUE, "-inf", now or time.time(), start=0, num=100)
        burned = 0
        for member in due:
            message_id, _, recipient = member.rpartition("|")
            info = await self.copies.info(message_id, recipient)
            if info.get("state") == copies.DELIVERED and info.get("key"):
                await self.burn(message_id, recipient, info)
                burned += 1
            else:
                await self.copies.redis.zrem(BURN_DUE, member)
        return burned
