"""Republish spooled messages whose recipients are still unfinished (after a broker restart, or when stuck)."""

from __future__ import annotations

import asyncio

from schemas.registry import RECEIVED
from services.common import logging as log
from services.common.bus import Publisher
from services.common.spool import Spool

logger = log.get(__name__)


async def republish_unfinished(spool: Spool, publisher: Publisher, older_than: float = 0.0) -> int:
    """Publish again, with its original event id, every message still pending; returns how many.

    Downstream consumers are idempotent by message id and recipient, so a message that was in
    fact still moving through the pipeline is not delivered twice.
    """
    events = await asyncio.to_thread(spool.unfinished, older_than)
    for event in events:
        await publisher.publish(RECEIVED, event)
        await asyncio.to_thread(spool.touch, event.message_id)
        logger.info("spool_republished", message_id=event.message_id, event_id=event.event_id)
    return len(events)
