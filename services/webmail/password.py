"""The user's password change from the webmail (R10, R11), in one function so lifecycle's history check can join it."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from schemas.events import AccountEvent
from schemas.registry import ACCOUNTS
from services.common import logging as log
from services.common.bus import Publisher, PublishError
from services.common.directory import account_key
from services.lifecycle.passwords import hash_password, policy_violations, verify_password

logger = log.get(__name__)


class PasswordRefused(ValueError):
    """The change was refused; `problems` says why (shown to the user)."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


async def change_password(redis_client: aioredis.Redis, publisher: Publisher, address: str, current: str,
                          new: str) -> None:
    """Check the current password and the policy, store the new hash, clear the first-login flag, publish.

    Publishing `password_changed` on account.events.v1 keeps analytics and the audit trail informed even
    though lifecycle did not make the change.
    """
    key = account_key(address)
    stored = await redis_client.hget(key, "password_hash") or ""
    if not stored or not await asyncio.to_thread(verify_password, current, stored):
        raise PasswordRefused(["the current password is wrong"])
    problems = policy_violations(new)
    if new == current:
        problems.append("a password different from the current one")
    if problems:
        raise PasswordRefused([f"the new password needs {p}" for p in problems])
    new_hash = await asyncio.to_thread(hash_password, new)
    await redis_client.hset(key, mapping={"password_hash": new_hash, "must_change_password": "0"})
    event = AccountEvent(producer="webmail", kind="password_changed", domain=address.rpartition("@")[2],
                         address=address, actor=address, details={"via": "webmail"})
    try:
        await publisher.publish(ACCOUNTS, event)
    except PublishError as exc:  # Redis holds the change (the state of record); the log keeps the event
        logger.warning("account_event_lost", kind=event.kind, address=address, event_id=event.event_id, error=str(exc))
