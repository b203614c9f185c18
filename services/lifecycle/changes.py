"""Changes in an account's life (R6–R8, R13): details, transfer, rename with alias, hand-over, close, revocation."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path

from services.common import logging as log
from services.common.directory import Account, Grant, account_key, accounts_key, alias_key, grants_key
from services.delivery.export import export_mbox
from services.delivery.maildir import mailbox_root
from services.lifecycle import naming
from services.lifecycle.admins import Admin
from services.lifecycle.contract import RIGHTS
from services.lifecycle.delegation import Delegations
from services.lifecycle.errors import Conflict, Forbidden, InvalidInput, NotFound, UnknownReference
from services.lifecycle.operations import MAX_ADDRESS_ATTEMPTS, Lifecycle, clean_name
from services.lifecycle.outbox import OUTBOX

logger = log.get(__name__)

# Moves an account to a new address in one step: the record, its index entry, the grants on it,
# and an alias from the old address that expires after the alias period.
#   KEYS: old record, new record, index, alias of old, outbox, grants of old, grants of new, alias of new
#   ARGV: old address, new address, alias seconds, nfields, field/value pairs…, outbox entries…
#   Returns 1 moved, 0 new address taken (by an account or a live alias), -1 old record gone.
_RENAME = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('EXISTS', KEYS[2]) == 1 or redis.call('EXISTS', KEYS[8]) == 1 then return 0 end
local nfields = tonumber(ARGV[4])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[2], unpack(ARGV, 5, 4 + 2 * nfields))
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[2])
redis.call('SET', KEYS[4], ARGV[2], 'EX', ARGV[3])
if redis.call('EXISTS', KEYS[6]) == 1 then redis.call('RENAME', KEYS[6], KEYS[7]) end
for i = 5 + 2 * nfields, #ARGV do redis.call('LPUSH', KEYS[5], ARGV[i]) end
return 1
"""

def aliases_key(address: str) -> str:
    """Set of the old addresses that are (or were) aliases of this one, so a second rename can repoint them."""
    return f"gm:aliases-of:{address.lower()}"


DETAIL_FIELDS = ("title", "phone", "fax", "postal_address", "language")


class AccountChanges:
    def __init__(self, core: Lifecycle, delegations: Delegations, mail_root: Path, export_dir: Path,
                 alias_period: timedelta = timedelta(days=180)):
        self.core = core
        self.delegations = delegations
        self.mail_root = mail_root
        self.export_dir = export_dir
        self.alias_period = alias_period
        self._rename = core.store.redis.register_script(_RENAME)

    async def change(self, admin: Admin, address: str, details: dict[str, str], service_class: str | None = None,
                     name: str | None = None) -> Account:
        """Change directory details, the displayed name (the address stays; see rename) or the service class."""
        async with self.core._action(admin, "account.change", address) as trace_id:
            changes: dict[str, object] = {k: clean_name(v) for k, v in details.items() if k in DETAIL_FIELDS}
            if details.get("language") and details["language"] not in ("vi", "zh", "en"):
                raise InvalidInput("language is vi, zh or en")
            if name is not None:
                if not clean_name(name):
                    raise InvalidInput("the name cannot be empty")
                changes["name"] = clean_name(name)
            if service_class is not None:
                if service_class not in (known := await self.core.class_names()):
                    raise InvalidInput(f"unknown service class {service_class!r}; known: {', '.join(known)}")
                changes["service_class"] = service_class
            if not changes:
                raise InvalidInput("nothing to change")
            return await self.core._update(trace_id, admin, address, "account.change", changes)

    async def transfer(self, admin: Admin, address: str, unit: str) -> Account:
        """Move an account to another unit of its domain; the address and the mail stay (R6)."""
        async with self.core._action(admin, "account.transfer", address) as trace_id:
            account = await self.core.account(address)
            unit = naming.unit_code(unit)
            if await self.core.store.unit(account.domain, unit) is None:
                raise UnknownReference(f"unit {unit!r} does not exist in {account.domain}")
            if unit == account.unit:
                raise InvalidInput(f"{account.address} is in {unit} already")
            await self.core.check(admin, "account.transfer", account.domain, unit)  # the new unit too
            return await self.core._update(trace_id, admin, address, "account.transfer", {"unit": unit},
                                           kind="account_transferred", audit={"from": account.unit, "to": unit})

    async def rename(self, admin: Admin, address: str, name: str) -> Account:
        """A new name gives a new address by the domain's rules; the old one stays an alias for the alias period."""
        async with self.core._action(admin, "account.rename", address) as trace_id:
            account = await self.core.account(address)
            await self.core.check(admin, "account.rename", account.domain, account.unit)
            if account.kind != "personal":
                raise InvalidInput("unit mailboxes are named after their unit; rename the unit instead")
            if account.status == "deleted":
                raise Conflict(f"{account.address} is closed")
            name = clean_name(name)
            domain = await self.core.store.domain(account.domain)
            assert domain is not None
            unitbox = ""
            if domain.scheme == "backan" and account.unit:
                unitbox = await self.core._unit_localpart(domain, account.unit)
            candidates = naming.person_candidates(domain.scheme, name, account.birth_year, unitbox=unitbox,
                                                  steps=domain.collisions)
            seconds = int(self.alias_period.total_seconds())
            for _, localpart in zip(range(MAX_ADDRESS_ATTEMPTS), candidates, strict=False):
                new = f"{localpart}@{domain.name}"
                if new == account.address:
                    raise InvalidInput(f"{name!r} gives the same address {new}")
                renamed = account.model_copy(update={"address": new, "localpart": localpart, "name": name})
                details = {"from": account.address, "to": new, "name": name, "alias_until":
                           (self.core.clock() + self.alias_period).isoformat()}
                events = [
                    self.core._change(trace_id, admin, "account_renamed", domain.name, address=new,
                                      unit=account.unit or None, details=details),
                    self.core._audit(trace_id, admin, "account.rename", account.address, **details),
                ]
                pairs = [p for item in renamed.to_redis().items() for p in item]
                keys = [account_key(account.address), account_key(new), accounts_key(domain.name),
                        alias_key(account.address), OUTBOX, grants_key(account.address), grants_key(new), alias_key(new)]
                result = int(await self._rename(keys=keys, args=[account.address, new, seconds,
                                                                 len(pairs) // 2, *pairs, *events]))
                if result == -1:
                    raise NotFound(f"account {address} does not exist")
                if result == 1:
                    await self._follow_rename(account.address, new)
                    logger.info("account_renamed", address=new, old=account.address, admin=admin.name)
                    return renamed
            raise Conflict(f"no free address for {name!r} in {domain.name}")

    async def _follow_rename(self, old: str, new: str) -> None:
        """What else names the old address: the grants' reverse index, held grants, unit holders, the Maildir."""
        redis = self.core.store.redis
        for grant in await self.delegations.grants(new):
            await redis.srem(f"gm:granted:{grant.grantee}", old)
            await redis.sadd(f"gm:granted:{grant.grantee}", new)
            await redis.hset(grants_key(new), grant.grantee, grant.model_copy(update={"mailbox": new}).model_dump_json())
        for mailbox in await redis.smembers(f"gm:granted:{old}"):
            raw = await redis.hget(grants_key(mailbox), old)
            if raw:
                moved = Grant.model_validate_json(raw).model_copy(update={"grantee": new})
                await redis.hdel(grants_key(mailbox), old)
                await redis.hset(grants_key(mailbox), new, moved.model_dump_json())
                await redis.sadd(f"gm:granted:{new}", mailbox)
        await redis.delete(f"gm:granted:{old}")
        # Addresses from earlier renames point straight at the newest one, each keeping its own expiry.
        earlier = await redis.smembers(aliases_key(old))
        for alias in earlier:
            await redis.set(alias_key(alias), new, xx=True, keepttl=True)
        await redis.sadd(aliases_key(new), old, *earlier)
        await redis.delete(aliases_key(old))
        if await redis.exists(f"gm:pwhistory:{old}"):
            await redis.rename(f"gm:pwhistory:{old}", f"gm:pwhistory:{new}")
        domain = new.rpartition("@")[2]
        for member in await redis.smembers(accounts_key(domain)):
            if await redis.hget(account_key(member), "holder") == old:
                await redis.hset(account_key(member), "holder", new)
        source, target = mailbox_root(self.mail_root, old), mailbox_root(self.mail_root, new)
        if source.exists() and not target.exists():
            await asyncio.to_thread(os.replace, source, target)

    async def handover(self, admin: Admin, mailbox: str, holder: str) -> tuple[Account, str]:
        """A unit mailbox passes to a new head (R8): the old head's grant goes, the password is reset at once."""
        async with self.core._action(admin, "account.handover", mailbox) as trace_id:
            account = await self.core.account(mailbox)
            await self.core.check(admin, "account.handover", account.domain, account.unit)
            if account.kind != "unit":
                raise InvalidInput(f"{account.address} is a personal mailbox; only unit mailboxes are handed over")
            head = await self.core.account(holder)
            if head.status != "active" or head.kind != "personal":
                raise InvalidInput(f"{head.address} is not an active personal account")
            if head.address == account.holder:
                raise InvalidInput(f"{head.address} holds {account.address} already")
            old = account.holder
            if old:
                held = await self.core.store.redis.hget(grants_key(account.address), old)
                if held:
                    await self.delegations.cut(trace_id, admin, account.address, account.domain, "handover",
                                               only=[Grant.model_validate_json(held)])
            now = self.core.now()
            grant = Grant(mailbox=account.address, grantee=head.address, rights=list(RIGHTS),  # type: ignore[arg-type]
                          granted_by=admin.name, granted_at=now)
            await self.delegations._write([grant], [], [])
            password, password_hash = await self.core.new_password()
            changes = {"holder": head.address, "password_hash": password_hash, "must_change_password": True,
                       "session_epoch": account.session_epoch + 1}
            updated = await self.core._update(trace_id, admin, account.address, "account.handover", changes,
                                              kind="account_handed_over", audit={"from": old, "to": head.address})
            return updated, password

    async def close(self, admin: Admin, address: str, reason: str = "", action: str = "account.close",
                    kind: str = "account_closed") -> tuple[Account, Path, int]:
        """Export the mail for hand-over, then close: no login, no grants, the address never given again."""
        async with self.core._action(admin, action, address) as trace_id:
            account = await self.core.account(address)
            await self.core.check(admin, "account.close", account.domain, account.unit)
            if account.status == "deleted":
                raise Conflict(f"{account.address} is closed already")
            out = self.export_dir / account.domain / f"{account.localpart}-{self.core.clock():%Y%m%dT%H%M%S}.mbox"
            out.parent.mkdir(parents=True, exist_ok=True)
            count = await asyncio.to_thread(export_mbox, self.mail_root, account.address, out)
            await self.delegations.cut(trace_id, admin, account.address, account.domain, "closed")
            changes = {"status": "deleted", "closed_at": self.core.now(), "password_hash": "",
                       "session_epoch": account.session_epoch + 1}
            audit = {"reason": clean_name(reason), "export": str(out), "messages": count}
            updated = await self.core._update(trace_id, admin, account.address, action, changes, kind=kind,
                                              audit=audit)
            return updated, out, count

    async def revoke(self, admin: Admin, address: str, reason: str) -> Account:
        """Emergency revocation (R13): locked, sessions ended, sending stopped, every grant cut, at once."""
        async with self.core._action(admin, "account.revoke", address) as trace_id:
            account = await self.core.account(address)
            await self.core.check(admin, "account.revoke", account.domain, account.unit)
            if not reason.strip():
                raise InvalidInput("a revocation needs a reason")
            await self.delegations.cut(trace_id, admin, account.address, account.domain, "revoked")
            changes = {"status": "locked", "locked_reason": "revoked", "sending_locked": True,
                       "session_epoch": account.session_epoch + 1}
            return await self.core._update(trace_id, admin, account.address, "account.revoke", changes,
                                           kind="account_locked", audit={"reason": clean_name(reason), **changes})

    async def unlock(self, admin: Admin, address: str) -> tuple[Account, str]:
        """Unlock a locked account with a new one-time password (its old one may be known to whoever caused the lock)."""
        async with self.core._action(admin, "account.unlock", address) as trace_id:
            account = await self.core.account(address)
            await self.core.check(admin, "account.unlock", account.domain, account.unit)
            if account.status != "locked":
                raise Conflict(f"{account.address} is {account.status}, not locked")
            if account.locked_reason == "revoked" and admin.role == "unit":
                raise Forbidden("a revoked account is unlocked by the centre only (R13)")
            password, password_hash = await self.core.new_password()
            changes = {"status": "active", "locked_reason": "", "inactivity_notice": "", "sending_locked": False,
                       "password_hash": password_hash, "must_change_password": True,
                       "password_changed_at": self.core.now()}
            updated = await self.core._update(trace_id, admin, account.address, "account.unlock", changes,
                                              kind="account_unlocked", audit={"was": account.locked_reason})
            return updated, password
