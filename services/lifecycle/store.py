"""Lifecycle's writes to the Redis directory: each record is created atomically together with its outbox events."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis.asyncio as aioredis

from services.common.directory import (
    DOMAINS,
    Account,
    Domain,
    RedisDirectory,
    Unit,
    account_key,
    accounts_key,
    domain_key,
    unit_key,
    units_key,
)
from services.lifecycle.errors import UnknownReference
from services.lifecycle.outbox import OUTBOX

# Creates a record only if it does not exist yet and everything it refers to does; in the same
# step it indexes the record and queues its events, so readers never see half a record and no
# event can be lost between the write and the outbox.
#   KEYS:  record, index set, outbox, then one key per requirement
#   ARGV:  index member, number of fields, field/value pairs…, one member per requirement
#          ("" = the key must exist, else the member must be in the set), outbox entries…
#   Returns 1 created, 0 already there, -i requirement i missing.
_CREATE = """
local nfields = tonumber(ARGV[2])
local req_at = 3 + 2 * nfields
local nreq = #KEYS - 3
for i = 1, nreq do
  local key, member = KEYS[3 + i], ARGV[req_at + i - 1]
  local present
  if member == '' then present = redis.call('EXISTS', key) else present = redis.call('SISMEMBER', key, member) end
  if present == 0 then return -i end
end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 or redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3, 2 + 2 * nfields))
redis.call('SADD', KEYS[2], ARGV[1])
for i = req_at + nreq, #ARGV do redis.call('LPUSH', KEYS[3], ARGV[i]) end
return 1
"""


# Changes fields of an existing record and queues its events in one step.
#   KEYS: record, outbox.  ARGV: number of fields, field/value pairs…, outbox entries…
#   Returns 1 changed, 0 no such record.
_UPDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local nfields = tonumber(ARGV[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 2, 1 + 2 * nfields))
for i = 2 + 2 * nfields, #ARGV do redis.call('LPUSH', KEYS[2], ARGV[i]) end
return 1
"""


@dataclass
class Requirement:
    """Something that must exist for a record to be created, and what to say when it does not."""

    key: str
    member: str  # "" when the key itself must exist
    missing: str


@dataclass
class NewRecord:
    key: str
    index: str
    member: str
    fields: dict[str, str]
    events: list[str] = field(default_factory=list)
    requires: list[Requirement] = field(default_factory=list)


def _fields(model: Domain | Unit) -> dict[str, str]:
    return {k: str(v) for k, v in model.model_dump().items()}


def domain_requirement(domain: str) -> Requirement:
    return Requirement(DOMAINS, domain, f"domain {domain!r} does not exist")


def unit_requirement(domain: str, code: str) -> Requirement:
    return Requirement(units_key(domain), code, f"unit {code!r} does not exist in {domain}")


class AccountStore(RedisDirectory):
    """The directory with lifecycle's writes: every record is a hash, listed in a set (domains, unit codes, addresses)."""

    def __init__(self, client: aioredis.Redis):
        super().__init__(client)
        # The writer reads a class back right after changing it (the next change, a grant): never from a cache.
        self.class_cache_seconds = 0.0
        self._create = client.register_script(_CREATE)
        self._update = client.register_script(_UPDATE)

    async def create(self, record: NewRecord) -> bool:
        """True when created; False when it already exists. UnknownReference when a requirement is missing."""
        keys = [record.key, record.index, OUTBOX, *(r.key for r in record.requires)]
        pairs = [part for item in record.fields.items() for part in item]
        args = [
            record.member,
            len(record.fields),
            *pairs,
            *(r.member for r in record.requires),
            *record.events,
        ]
        result = int(await self._create(keys=keys, args=args))
        if result < 0:
            raise UnknownReference(record.requires[-result - 1].missing)
        return result == 1

    async def add_domain(self, domain: Domain, events: list[str]) -> bool:
        return await self.create(
            NewRecord(domain_key(domain.name), DOMAINS, domain.name, _fields(domain), events)
        )

    async def add_unit(self, unit: Unit, events: list[str]) -> bool:
        requires = [domain_requirement(unit.domain)]
        if unit.parent:
            requires.append(unit_requirement(unit.domain, unit.parent))
        record = NewRecord(
            unit_key(unit.domain, unit.code),
            units_key(unit.domain),
            unit.code,
            _fields(unit),
            events,
            requires,
        )
        return await self.create(record)

    async def add_account(self, account: Account, events: list[str]) -> bool:
        requires = [domain_requirement(account.domain)]
        if account.unit:
            requires.append(unit_requirement(account.domain, account.unit))
        record = NewRecord(
            account_key(account.address),
            accounts_key(account.domain),
            account.address,
            account.to_redis(),
            events,
            requires,
        )
        return await self.create(record)

    async def update_account(self, address: str, fields: dict[str, str], events: list[str]) -> bool:
        """Set fields of an existing account with their events; False when there is no such account."""
        pairs = [part for item in fields.items() for part in item]
        return bool(await self._update(keys=[account_key(address), OUTBOX], args=[len(fields), *pairs, *events]))

    async def queue(self, events: list[str]) -> None:
        """Queue events that go with no change (audit of a refused or read-only action)."""
        if events:
            await self.redis.lpush(OUTBOX, *events)

    async def domain(self, name: str) -> Domain | None:
        if not await self.redis.sismember(DOMAINS, name.lower()):
            return None
        raw = await self.redis.hgetall(domain_key(name))
        # A domain listed without its hash (added by hand) still counts, with the default scheme.
        return Domain.model_validate(raw) if raw else Domain(name=name.lower())

    async def domains(self) -> list[Domain]:
        names = sorted(await self.redis.smembers(DOMAINS))
        async with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hgetall(domain_key(name))
            raws = await pipe.execute()
        return [
            Domain.model_validate(raw) if raw else Domain(name=name)
            for name, raw in zip(names, raws, strict=True)
        ]

    async def units(self, domain: str) -> list[Unit]:
        codes = sorted(await self.redis.smembers(units_key(domain)))
        async with self.redis.pipeline(transaction=False) as pipe:
            for code in codes:
                pipe.hgetall(unit_key(domain, code))
            raws = await pipe.execute()
        return [Unit.model_validate(raw) for raw in raws if raw]

    async def outbox_length(self) -> int:
        return int(await self.redis.llen(OUTBOX))
