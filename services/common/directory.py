"""Read access to the account directory that lifecycle keeps in Redis (domains, units, accounts)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal, Protocol

import redis.asyncio as aioredis
from pydantic import BaseModel, Field
from redis.asyncio.client import Pipeline

# Redis keys, shared by the writer (lifecycle) and every reader.
DOMAINS = "gm:domains"


def domain_key(domain: str) -> str:
    return f"gm:domain:{domain.lower()}"


def units_key(domain: str) -> str:
    return f"gm:units:{domain.lower()}"


def unit_key(domain: str, code: str) -> str:
    return f"gm:unit:{domain.lower()}:{code}"


def account_key(address: str) -> str:
    return f"gm:account:{address.lower()}"


def accounts_key(domain: str) -> str:
    return f"gm:accounts:{domain.lower()}"


def alias_key(address: str) -> str:
    """An old address kept after a rename: a string holding the current address, expiring with the alias period."""
    return f"gm:alias:{address.lower()}"


def grants_key(mailbox: str) -> str:
    """Hash grantee address -> Grant JSON: who may use this mailbox and how (R16)."""
    return f"gm:grants:{mailbox.lower()}"


def granted_key(grantee: str) -> str:
    """Set of mailboxes an account holds a grant on (the reverse of grants_key, for the webmail's folder list)."""
    return f"gm:granted:{grantee.lower()}"


def usage_key(address: str) -> str:
    """Octets the mailbox uses now; delivery keeps it beside Maildir++'s maildirsize so ingress can refuse at RCPT."""
    return f"gm:usage:{address.lower()}"


SERVICE_CLASS_NAMES = "gm:classes"
# How long a process may use a service class it read before reading it again: a changed class
# applies everywhere within this many seconds without a Redis round trip per RCPT.
CLASS_CACHE_SECONDS = 5.0


def service_class_key(name: str) -> str:
    """Hash of a ServiceClass; lifecycle writes it, every service reads it, so a change applies at once."""
    return f"gm:class:{name}"


class ServiceClass(BaseModel):
    """Limits that come with a user's service class (R12)."""

    name: str
    quota_bytes: int
    max_message_bytes: int
    # Mail features the class allows, e.g. "external" (mail to the world), "recall", "burn", "separate".
    features: list[str] = Field(default_factory=list)

    def allows(self, feature: str) -> bool:
        return feature in self.features


# What a class may allow (R12); docs/service-classes.md says where each is enforced and how it is refused.
# "imap" and "pop3" are reserved: govmail has no IMAP or POP3 server.
FEATURES = ("external", "recall", "burn", "separate", "delegation", "imap", "pop3", "webmail", "smtp")
# The built-in classes differ in size only; a province restricts features with classes of its own.
SERVICE_CLASSES: dict[str, ServiceClass] = {
    "basic": ServiceClass(name="basic", quota_bytes=10 * 1024**2, max_message_bytes=3 * 1024**2,
                          features=list(FEATURES)),
    "standard": ServiceClass(name="standard", quota_bytes=500 * 1024**2, max_message_bytes=50 * 1024**2,
                             features=list(FEATURES)),
}
DEFAULT_CLASS = "standard"


class Domain(BaseModel):
    name: str
    scheme: str = "tiengiang"
    # Comma-separated collision steps for personal addresses; "" = the scheme's default (lifecycle naming).
    collisions: str = ""
    created_at: str = ""


class Unit(BaseModel):
    domain: str
    code: str
    name: str
    parent: str = ""
    kind: str = "unit"
    created_at: str = ""
    # Directory details of the unit (R2).
    phone: str = ""
    fax: str = ""
    postal_address: str = ""


class Account(BaseModel):
    address: str
    domain: str
    localpart: str
    name: str
    kind: Literal["personal", "unit"] = "personal"
    unit: str = ""
    status: Literal["active", "locked", "deleted"] = "active"
    service_class: str = DEFAULT_CLASS
    birth_year: int | None = None
    password_hash: str = Field("", repr=False)
    must_change_password: bool = True
    created_at: str = ""
    # R24, enforced at login; empty means no restriction. In Redis the lists are comma-separated.
    allowed_networks: list[str] = Field(default_factory=list, description="CIDRs the account may log in from.")
    allowed_hours: str = Field("", description="'HH:MM-HH:MM' in the province's time zone; may cross midnight.")
    allowed_clients: list[str] = Field(default_factory=list, description="Client types, e.g. smtp, webmail, imap.")
    sending_locked: bool = Field(False, description="Set by the daily outbound cap (R22), cleared by an admin.")
    holder: str = Field("", description="Unit mailboxes: the account of the person who holds it now (hand-over).")
    language: str = Field("vi", description="Language for notices and bounces to this account: vi, zh or en.")
    # Not part of the account hash: read from usage_key by RedisDirectory.recipient.
    used_bytes: int = Field(0, exclude=True, description="Octets the mailbox uses now (delivery's count).")
    # Directory details (R2), shown in the published directory of people.
    title: str = Field("", description="Job title, e.g. 'Phó Giám đốc'.")
    phone: str = Field("", description="Office telephone.")
    fax: str = Field("", description="Office fax.")
    postal_address: str = Field("", description="Office address.")
    # Lifecycle state (R9, R10, R11, R13); ISO-8601 UTC timestamps, "" when never.
    last_login_at: str = Field("", description="Last successful login (SMTP AUTH, webmail), from auth.events.v1.")
    password_changed_at: str = Field("", description="When the password was last set by its owner or an admin.")
    locked_reason: str = Field("", description="Why the account is locked: inactivity, revoked (R13), admin.")
    inactivity_notice: str = Field("", description="Last inactivity step taken: '', 'lock' or 'delete'.")
    closed_at: str = Field("", description="When the account was closed or deleted.")
    session_epoch: int = Field(0, description="Raised when every session must end (revocation, hand-over, reset).")

    @property
    def limits(self) -> ServiceClass:
        return SERVICE_CLASSES.get(self.service_class, SERVICE_CLASSES[DEFAULT_CLASS])

    def to_redis(self) -> dict[str, str]:
        return {k: _redis_value(v) for k, v in self.model_dump().items()}

    @classmethod
    def from_redis(cls, raw: dict[str, str]) -> Account:
        data: dict[str, object] = dict(raw)
        data["birth_year"] = int(raw["birth_year"]) if raw.get("birth_year") else None
        data["must_change_password"] = raw.get("must_change_password", "1") == "1"
        data["sending_locked"] = raw.get("sending_locked", "0") == "1"
        for name in ("allowed_networks", "allowed_clients"):
            data[name] = [item for item in raw.get(name, "").split(",") if item]
        return cls.model_validate(data)


def _redis_value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)


Right = Literal["view", "send_on_behalf", "send_as"]


class Grant(BaseModel):
    """A delegation (R16): `grantee` may view, send on behalf of, or send as `mailbox`, until `expires_at`."""

    mailbox: str
    grantee: str
    rights: list[Right]
    expires_at: str = Field("", description="ISO-8601 UTC; empty means no expiry.")
    granted_by: str = ""
    granted_at: str = ""

    def active(self, now: datetime) -> bool:
        return not self.expires_at or datetime.fromisoformat(self.expires_at) > now


class Directory(Protocol):
    async def is_local_domain(self, domain: str) -> bool: ...
    async def account(self, address: str) -> Account | None: ...
    async def recipient(self, address: str) -> tuple[bool, Account | None]: ...
    async def service_class(self, name: str) -> ServiceClass: ...
    async def grant(self, mailbox: str, grantee: str, now: datetime | None = None) -> Grant | None: ...


def recipient_commands(address: str) -> list[tuple[str, ...]]:
    """Whether the address's domain is ours, its account and its usage: the three commands of a RCPT lookup."""
    return [("SISMEMBER", DOMAINS, address.rpartition("@")[2].lower()), ("HGETALL", account_key(address)),
            ("GET", usage_key(address))]


def recipient_from(local: object, raw: dict[str, str], used: str | None) -> tuple[bool, Account | None]:
    """The replies of recipient_commands() as (domain is ours, account with its usage or None)."""
    if not raw:
        return bool(local), None
    account = Account.from_redis(raw)
    account.used_bytes = int(used or 0)
    return bool(local), account


class RedisDirectory:
    """The directory as seen by ingress, delivery and webmail."""

    def __init__(self, client: aioredis.Redis):
        self.redis = client
        self._classes: dict[str, tuple[float, ServiceClass]] = {}
        self.class_cache_seconds = CLASS_CACHE_SECONDS

    @classmethod
    def from_url(cls, url: str) -> RedisDirectory:
        return cls(aioredis.from_url(url, decode_responses=True))

    async def close(self) -> None:
        await self.redis.aclose()

    async def is_local_domain(self, domain: str) -> bool:
        return bool(await self.redis.sismember(DOMAINS, domain.lower()))

    async def account(self, address: str) -> Account | None:
        raw = await self.redis.hgetall(account_key(address))
        return Account.from_redis(raw) if raw else None

    async def recipient(self, address: str) -> tuple[bool, Account | None]:
        """Whether the address's domain is ours, and its account with its usage: one round trip for RCPT."""
        async with self.redis.pipeline(transaction=False) as pipe:
            read = self.queue_recipient(pipe, address)
            return read(await pipe.execute())

    @staticmethod
    def queue_recipient(pipe: Pipeline, address: str) -> Callable[[list], tuple[bool, Account | None]]:
        """Queue the lookup of `recipient` on a caller's pipeline; returns the reader of its replies."""
        start = len(pipe)
        for command in recipient_commands(address):
            pipe.execute_command(*command)
        return lambda replies: recipient_from(*replies[start:start + 3])

    async def canonical(self, address: str) -> str:
        """The current address for `address`: itself, or where a rename alias points."""
        return await self.redis.get(alias_key(address)) or address

    async def grant(self, mailbox: str, grantee: str, now: datetime | None = None) -> Grant | None:
        """The grantee's active grant on a mailbox, or None (expired grants count as none)."""
        raw = await self.redis.hget(grants_key(mailbox), grantee.lower())
        if not raw:
            return None
        grant = Grant.model_validate_json(raw)
        return grant if grant.active(now or datetime.now(UTC)) else None

    async def service_class(self, name: str) -> ServiceClass:
        """The class as lifecycle stored it, else the built-in one of that name, else the default.

        Read at most every CLASS_CACHE_SECONDS per process: it is asked on every RCPT.
        """
        cached = self._classes.get(name)
        if cached is not None and time.monotonic() - cached[0] < self.class_cache_seconds:
            return cached[1]
        raw = await self.redis.hgetall(service_class_key(name))
        if raw:
            features = [item for item in raw.get("features", "").split(",") if item]
            found = ServiceClass.model_validate({**raw, "features": features})
        else:
            found = SERVICE_CLASSES.get(name, SERVICE_CLASSES[DEFAULT_CLASS])
        self._classes[name] = (time.monotonic(), found)
        return found

    async def unit(self, domain: str, code: str) -> Unit | None:
        raw = await self.redis.hgetall(unit_key(domain, code))
        return Unit.model_validate(raw) if raw else None
