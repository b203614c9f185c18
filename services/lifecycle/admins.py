"""Administrators (R27) and their bearer tokens in Redis, and the bootstrap province administrator."""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path
from typing import Literal

import redis.asyncio as aioredis
from pydantic import BaseModel, Field

from services.common import logging as log

logger = log.get(__name__)

ADMINS = "gm:admins"


def admin_key(name: str) -> str:
    return f"gm:admin:{name.lower()}"


def token_key(token: str) -> str:
    """Tokens are kept only as their SHA-256: a copy of Redis gives no one a way in."""
    return f"gm:admin-token:{hashlib.sha256(token.encode()).hexdigest()}"


def admin_tokens_key(name: str) -> str:
    """Set of the token keys of one administrator, so that they can all be revoked."""
    return f"gm:admin-tokens:{name.lower()}"


Role = Literal["province", "unit", "auditor", "system"]


class Admin(BaseModel):
    """Who acts: an administrator (province, unit or auditor), or the platform itself ('system')."""

    name: str
    role: Role
    domain: str = Field("", description="Unit administrators: the domain of their unit.")
    unit: str = Field("", description="Unit administrators: the code of the unit whose subtree they manage.")
    created_at: str = ""
    created_by: str = ""
    operator: str = Field("", exclude=True, description="Who said they were at the terminal (X-Govmail-Admin).")


SYSTEM = Admin(name="system", role="system")
ANONYMOUS = "anonymous"


def new_token() -> str:
    return "gma_" + secrets.token_urlsafe(32)


class AdminRegistry:
    """Administrators as hashes `gm:admin:<name>`; each token maps from its hash to the administrator's name."""

    def __init__(self, client: aioredis.Redis):
        self.redis = client

    async def get(self, name: str) -> Admin | None:
        raw = await self.redis.hgetall(admin_key(name))
        return Admin.model_validate(raw) if raw else None

    async def all(self) -> list[Admin]:
        names = sorted(await self.redis.smembers(ADMINS))
        found = [await self.get(name) for name in names]
        return [admin for admin in found if admin is not None]

    async def add(self, admin: Admin) -> bool:
        """False when an administrator of that name exists already."""
        if not await self.redis.sadd(ADMINS, admin.name.lower()):
            return False
        await self.redis.hset(admin_key(admin.name), mapping=admin.model_dump())
        return True

    async def remove(self, name: str) -> bool:
        await self.revoke_tokens(name)
        removed = await self.redis.srem(ADMINS, name.lower())
        await self.redis.delete(admin_key(name))
        return bool(removed)

    async def issue_token(self, name: str, token: str | None = None) -> str:
        token = token or new_token()
        key = token_key(token)
        async with self.redis.pipeline(transaction=True) as pipe:
            await pipe.set(key, name.lower()).sadd(admin_tokens_key(name), key).execute()
        return token

    async def revoke_tokens(self, name: str) -> int:
        keys = list(await self.redis.smembers(admin_tokens_key(name)))
        if keys:
            await self.redis.delete(*keys)
        await self.redis.delete(admin_tokens_key(name))
        return len(keys)

    async def authenticate(self, token: str) -> Admin | None:
        if not token:
            return None
        name = await self.redis.get(token_key(token))
        return await self.get(name) if name else None

    async def bootstrap(self, name: str, token: str, path: Path, created_at: str) -> None:
        """Make sure a province administrator `name` exists and that the operator holds a token for it.

        A token given in the settings (a Kubernetes Secret) is registered as it is; otherwise the
        token in `path` is (re)registered, and when there is no file a new token is written to it
        (mode 0600), readable only by whoever runs the platform.
        """
        if await self.add(Admin(name=name, role="province", created_at=created_at, created_by="bootstrap")):
            logger.info("admin_bootstrapped", admin=name)
        if token:
            await self.issue_token(name, token)
            return
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # written before (or by a replica starting beside us): keep it valid
            existing = path.read_text().strip()
            if existing:
                await self.issue_token(name, existing)
                return
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC, 0o600)
        token = new_token()
        await self.issue_token(name, token)
        with os.fdopen(fd, "w") as out:
            out.write(token + "\n")
            out.flush()
            os.fsync(out.fileno())
        logger.info("admin_token_written", admin=name, path=str(path))
