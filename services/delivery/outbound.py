"""One attempt at mail to the world: per destination domain one SMTP transaction (one per recipient for
separate delivery), signed with the sender domain's DKIM key, each recipient's reply kept."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence

import redis.asyncio as aioredis

from schemas.events import MailScanned
from services.delivery import headers
from services.delivery.dkim_keys import Signer
from services.delivery.local import copy_for, delivery_key
from services.delivery.remote import Destinations, Reply

SENT_TTL = 30 * 86400


def sent_key(message_id: str, recipient: str) -> str:
    """Set once a remote server took the recipient with 2xx: a replayed attempt does not send it again."""
    return f"gm:remote:sent:{delivery_key(message_id, recipient)}"


class Outbound:
    def __init__(self, destinations: Destinations, signer: Signer, client: aioredis.Redis):
        self.destinations = destinations
        self.signer = signer
        self.redis = client

    async def attempt(self, scanned: MailScanned, raw: bytes, recipients: Sequence[str]) -> dict[str, Reply]:
        message_id = scanned.message_id or ""
        replies: dict[str, Reply] = {}
        pending = []
        for recipient in recipients:
            if await self.redis.exists(sent_key(message_id, recipient)):
                replies[recipient] = Reply(250, "2.0.0 already delivered")
            else:
                pending.append(recipient)
        by_domain: dict[str, list[str]] = defaultdict(list)
        for recipient in pending:
            by_domain[recipient.rpartition("@")[2].lower()].append(recipient)
        separate = scanned.mail.separate_delivery or headers.local_asks(scanned.mail.listener, raw, headers.SEPARATE)
        results = await asyncio.gather(*(self.to_domain(scanned, raw, domain, group, separate)
                                         for domain, group in by_domain.items()))
        for result in results:
            replies.update(result)
        return replies

    async def to_domain(self, scanned: MailScanned, raw: bytes, domain: str, recipients: list[str],
                        separate: bool) -> dict[str, Reply]:
        # Separate delivery: each recipient's copy names only them, so each is its own transaction.
        batches = [[r] for r in recipients] if separate else [recipients]
        replies: dict[str, Reply] = {}
        for batch in batches:
            data = copy_for(scanned, raw, batch[0])
            signed = await asyncio.to_thread(self.signer.sign, data, scanned.mail.mail_from)
            got = await self.destinations.send(domain, scanned.mail.mail_from, batch, signed)
            for recipient, reply in got.items():
                if reply.accepted:
                    await self.redis.set(sent_key(scanned.message_id or "", recipient), "1", ex=SENT_TTL)
            replies.update(got)
        return replies
