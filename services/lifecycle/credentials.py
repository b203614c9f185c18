"""A user's password over its life (R10, R11): first-login change, no reuse, periodic change, admin reset, re-hashing."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Literal

import redis.asyncio as aioredis

from schemas.events import new_event_id
from services.common.directory import Account, account_key
from services.lifecycle.admins import Admin
from services.lifecycle.errors import InvalidInput, TooManyAttempts, Unauthorized
from services.lifecycle.operations import Lifecycle
from services.lifecycle.passwords import PasswordPolicy, hash_password, needs_rehash, verify_password

# Replaces a password hash only if it is still the one that was verified (a concurrent change wins).
_SWAP_HASH = """
if redis.call('HGET', KEYS[1], 'password_hash') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'password_hash', ARGV[2])
return 1
"""


MAX_FAILURES = 5
FAILURE_WINDOW_S = 900


def failures_key(address: str) -> str:
    """Wrong current passwords given to the self-service change, counted for FAILURE_WINDOW_S."""
    return f"gm:pwchange-failures:{address.lower()}"


def history_key(address: str) -> str:
    """List of the account's previous password hashes, newest first (R11: no reuse of the last N)."""
    return f"gm:pwhistory:{address.lower()}"


LoginState = Literal["ok", "must_change", "expired"]


def login_state(account: Account, now: datetime, policy: PasswordPolicy) -> LoginState:
    """What a login with the right password leads to: in, or first to a password change (R10, R11).

    Webmail lets a 'must_change'/'expired' user do nothing but change the password; SMTP/IMAP
    clients cannot change it, so they are refused until the user did so in webmail.
    """
    if account.must_change_password:
        return "must_change"
    age = now - datetime.fromisoformat(account.password_changed_at or account.created_at or now.isoformat())
    if policy.max_age_days and age > timedelta(days=policy.max_age_days):
        return "expired"
    return "ok"


async def rehash_after_login(client: aioredis.Redis, address: str, password: str, stored: str) -> bool:
    """After a successful login: replace an old-format hash (scrypt) by argon2; True when replaced.

    For ingress and webmail, which hold the clear password only at that moment.
    """
    if not needs_rehash(stored):
        return False
    fresh = await asyncio.to_thread(hash_password, password)
    return bool(await client.eval(_SWAP_HASH, 1, account_key(address), stored, fresh))


class Credentials:
    def __init__(self, core: Lifecycle):
        self.core = core
        self.redis = core.store.redis

    async def change(self, address: str, current: str, new: str) -> Account:
        """The owner changes their password (first login, expiry, or at will); refused reasons say what to fix."""
        policy = self.core.password_policy
        # This door is open without an administrator's token: cap the guesses per address.
        failures = int(await self.redis.get(failures_key(address)) or 0)
        if failures >= MAX_FAILURES:
            await self.core.audit_only(address.lower(), "password.change", address.lower(), "denied",
                                       error="too many wrong passwords")
            raise TooManyAttempts(f"too many wrong passwords for {address}; try again in {FAILURE_WINDOW_S // 60} minutes")
        account = await self.core.store.account(address)
        matches = account is not None and account.password_hash and await asyncio.to_thread(
            verify_password, current, account.password_hash)
        if account is None or account.status != "active" or not matches:
            async with self.redis.pipeline(transaction=True) as pipe:
                await pipe.incr(failures_key(address)).expire(failures_key(address), FAILURE_WINDOW_S).execute()
            await self.core.audit_only(address.lower(), "password.change", address.lower(), "denied")
            raise Unauthorized("the address or the current password is wrong")
        await self.redis.delete(failures_key(address))
        if missing := policy.violations(new):
            raise InvalidInput("the new password needs " + ", ".join(missing), missing=missing)
        previous = [account.password_hash, *await self.redis.lrange(history_key(account.address), 0, policy.history - 2)]
        for old in previous[: max(policy.history, 1)]:
            if await asyncio.to_thread(verify_password, new, old):
                raise InvalidInput(f"the new password must differ from the last {max(policy.history, 1)}")
        new_hash = await asyncio.to_thread(hash_password, new)
        owner = Admin(name=account.address, role="system")  # the owner acts on their own account
        trace_id = new_event_id()
        # Every other session ends: a password is changed because it may be known to someone else.
        changes = {"password_hash": new_hash, "must_change_password": False,
                   "password_changed_at": self.core.now(), "session_epoch": account.session_epoch + 1}
        updated = await self.core._update(trace_id, owner, account.address, "password.change", changes,
                                          kind="password_changed", audit={"by": "owner"})
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(history_key(account.address), account.password_hash)
            pipe.ltrim(history_key(account.address), 0, max(policy.history - 2, 0))
            await pipe.execute()
        self.core.notify()
        return updated

    async def reset(self, admin: Admin, address: str) -> tuple[Account, str]:
        """Only an administrator resets a password: a new one-time password, every session ended."""
        async with self.core._action(admin, "account.password_reset", address) as trace_id:
            account = await self.core.account(address)
            password, password_hash = await self.core.new_password()
            changes = {"password_hash": password_hash, "must_change_password": True,
                       "password_changed_at": self.core.now(), "session_epoch": account.session_epoch + 1}
            updated = await self.core._update(trace_id, admin, address, "account.password_reset", changes,
                                              kind="password_changed", audit={"by": "admin"})
            if account.password_hash:
                await self.redis.lpush(history_key(account.address), account.password_hash)
                await self.redis.ltrim(history_key(account.address), 0, max(self.core.password_policy.history - 2, 0))
            return updated, password
