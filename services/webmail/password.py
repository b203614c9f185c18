"""The user's password change from the webmail (R10, R11), made by lifecycle's own rules (policy, history, audit)."""

from __future__ import annotations

import redis.asyncio as aioredis

from services.common.directory import Account
from services.lifecycle.credentials import Credentials
from services.lifecycle.errors import InvalidInput, TooManyAttempts, Unauthorized
from services.lifecycle.operations import Lifecycle
from services.lifecycle.settings import LifecycleSettings
from services.lifecycle.store import AccountStore


class PasswordRefused(ValueError):
    """The change was refused; `problems` says why (shown to the user)."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


async def change_password(redis_client: aioredis.Redis, address: str, current: str, new: str) -> Account:
    """Check the current password, the policy and the last N passwords, store the new hash, clear the
    first-login flag, end the account's other sessions; the `password_changed` event and the audit entry go
    out through lifecycle's outbox. Returns the account as it is now."""
    core = Lifecycle(AccountStore(redis_client), password_policy=LifecycleSettings().password_policy())
    try:
        return await Credentials(core).change(address, current, new)
    except Unauthorized as exc:
        raise PasswordRefused(["the current password is wrong"]) from exc
    except (InvalidInput, TooManyAttempts) as exc:
        raise PasswordRefused([exc.detail]) from exc
