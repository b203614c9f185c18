"""What users do with messages, as `mailbox.activity.v1` events; "opened" is emitted once per mailbox and message."""

from __future__ import annotations

from datetime import datetime
from email.message import Message

import redis.asyncio as aioredis

from schemas.events import MailboxActivity, derived_event_id
from schemas.registry import ACTIVITY
from services.common import logging as log
from services.common.bus import Publisher, PublishError
from services.delivery.headers import QUEUE_ID

logger = log.get(__name__)

# Delivery names the govmail queue id of each copy in this header; the events carry it when present.
QUEUE_ID_HEADER = QUEUE_ID
_OPENED_TTL = 400 * 86400  # longer than any mail is kept in practice; bounded so keys do not pile up forever


def queue_id_of(message: Message) -> str | None:
    value = message.get(QUEUE_ID_HEADER)
    return str(value).strip() if value else None


def opened_key(mailbox: str, uid: str) -> str:
    return f"gm:webmail:opened:{mailbox.lower()}:{uid}"


class Activity:
    def __init__(self, client: aioredis.Redis, publisher: Publisher):
        self.redis = client
        self.publisher = publisher

    async def opened(self, mailbox: str, uid: str, actor: str, folder: str, delivered_at: datetime,
                     unit: str | None, queue_id: str | None) -> bool:
        """Emit "opened" the first time anyone opens this message in this mailbox; True when it was the first.

        SETNX makes the first opening win across tabs and replicas. If the publish fails the mark is
        taken back, so the next opening tries again instead of the event being lost.
        """
        key = opened_key(mailbox, uid)
        if not await self.redis.set(key, actor, nx=True, ex=_OPENED_TTL):
            return False
        try:
            await self.emit("opened", mailbox, uid, actor, folder, delivered_at, unit, queue_id)
        except Exception:
            await self.redis.delete(key)
            raise
        return True

    async def done(self, action: str, mailbox: str, uid: str, actor: str, folder: str, delivered_at: datetime | None,
                   unit: str | None, queue_id: str | None, seq: str = "") -> None:
        """Emit for an action already carried out: a broker fault is logged, not reported as the action failing."""
        try:
            await self.emit(action, mailbox, uid, actor, folder, delivered_at, unit, queue_id, seq)
        except PublishError as exc:
            logger.warning("activity_event_lost", action=action, mailbox=mailbox, uid=uid, error=str(exc))

    async def emit(self, action: str, mailbox: str, uid: str, actor: str, folder: str,
                   delivered_at: datetime | None, unit: str | None, queue_id: str | None, seq: str = "") -> None:
        event = MailboxActivity(
            # The same action on the same message derives the same id, so a retried publish is counted once.
            event_id=derived_event_id("webmail", action, mailbox.lower(), uid, seq),
            producer="webmail", message_id=queue_id, mailbox=mailbox.lower(), unit=unit or None, actor=actor,
            action=action, folder=folder, delivered_at=delivered_at)
        await self.publisher.publish(ACTIVITY, event)
