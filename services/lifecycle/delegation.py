"""Delegation (R16): grants to view, send on behalf of, or send as a mailbox, with an optional expiry."""

from __future__ import annotations

from datetime import datetime

from services.common.directory import Grant, granted_key, grants_key
from services.lifecycle.admins import SYSTEM, Admin
from services.lifecycle.contract import RIGHTS
from services.lifecycle.errors import Conflict, FeatureNotAllowed, Forbidden, InvalidInput, NotFound
from services.lifecycle.operations import Lifecycle
from services.lifecycle.outbox import OUTBOX


class Delegations:
    """Writes `grants_key(mailbox)` and its reverse `granted_key(grantee)`; ingress and webmail read them."""

    def __init__(self, core: Lifecycle):
        self.core = core
        self.redis = core.store.redis

    async def grants(self, mailbox: str) -> list[Grant]:
        raw = await self.redis.hgetall(grants_key(mailbox))
        return sorted((Grant.model_validate_json(v) for v in raw.values()), key=lambda g: g.grantee)

    async def list(self, admin: Admin, mailbox: str) -> list[Grant]:
        account = await self.core.account(mailbox)
        await self.core.check(admin, "grant.list", account.domain, account.unit)
        return await self.grants(account.address)

    async def add(self, admin: Admin, mailbox: str, grantee: str, rights: list[str],
                  expires_at: datetime | None = None) -> Grant:
        async with self.core._action(admin, "grant.add", f"{grantee}->{mailbox}") as trace_id:
            account = await self.core.account(mailbox)
            await self.core.check(admin, "grant.add", account.domain, account.unit)
            delegate = await self.core.account(grantee)
            if delegate.address == account.address:
                raise InvalidInput("a mailbox needs no grant on itself")
            if delegate.status != "active" or account.status != "active":
                raise Conflict("both the mailbox and the delegate must be active")
            # The mailbox's owner delegates, so its class decides (R12); the delegate's class does not matter.
            owner_class = await self.core.store.service_class(account.service_class)
            if not owner_class.allows("delegation"):
                raise FeatureNotAllowed(f"the service class {owner_class.name} of {account.address} does not "
                                        f"include delegation", feature="delegation")
            bad = sorted(set(rights) - set(RIGHTS))
            if bad or not rights:
                raise InvalidInput(f"rights must be some of {', '.join(RIGHTS)}; got {', '.join(bad) or 'none'}")
            now = self.core.clock()
            if expires_at is not None and expires_at <= now:
                raise InvalidInput("the expiry must lie in the future")
            grant = Grant(
                mailbox=account.address, grantee=delegate.address,
                rights=[r for r in RIGHTS if r in rights],  # type: ignore[misc]
                expires_at=expires_at.isoformat() if expires_at else "",
                granted_by=admin.name, granted_at=now.isoformat(),
            )
            details = {"grantee": grant.grantee, "rights": grant.rights, "expires_at": grant.expires_at}
            events = [
                self.core._change(trace_id, admin, "grant_added", account.domain, address=account.address,
                                  unit=account.unit or None, details=details),
                self.core._audit(trace_id, admin, "grant.add", account.address, **details),
            ]
            await self._write([grant], [], events)
            return grant

    async def add_by_holder(self, holder: str, mailbox: str, grantee: str, rights: list[str],
                            expires_at: datetime | None = None) -> Grant:
        """The head holding a unit mailbox authorises a delegate on it (R8), e.g. from webmail."""
        account = await self.core.account(mailbox)
        if account.kind != "unit" or account.holder != holder.lower():
            await self.core.audit_only(holder.lower(), "grant.add", f"{grantee}->{mailbox}", "denied",
                                       error="not the holder of this unit mailbox")
            raise Forbidden(f"{holder} does not hold {mailbox}")
        return await self.add(Admin(name=holder.lower(), role="system"), mailbox, grantee, rights, expires_at)

    async def revoke(self, admin: Admin, mailbox: str, grantee: str, reason: str = "revoked") -> Grant:
        async with self.core._action(admin, "grant.revoke", f"{grantee}->{mailbox}") as trace_id:
            account = await self.core.account(mailbox)
            await self.core.check(admin, "grant.revoke", account.domain, account.unit)
            raw = await self.redis.hget(grants_key(account.address), grantee.lower())
            if raw is None:
                raise NotFound(f"{grantee} holds no grant on {account.address}")
            grant = Grant.model_validate_json(raw)
            await self._write([], [grant], self.revoked_events(trace_id, admin, grant, account.domain, reason))
            return grant

    def revoked_events(self, trace_id: str, admin: Admin, grant: Grant, domain: str, reason: str) -> list[str]:
        details = {"grantee": grant.grantee, "rights": grant.rights, "reason": reason}
        return [
            self.core._change(trace_id, admin, "grant_revoked", domain, address=grant.mailbox, details=details),
            self.core._audit(trace_id, admin, "grant.revoke", grant.mailbox, **details),
        ]

    async def _write(self, added: list[Grant], removed: list[Grant], events: list[str]) -> None:
        """Both directions of every grant and the events, in one MULTI/EXEC."""
        async with self.redis.pipeline(transaction=True) as pipe:
            for grant in removed:
                pipe.hdel(grants_key(grant.mailbox), grant.grantee)
                pipe.srem(granted_key(grant.grantee), grant.mailbox)
            for grant in added:
                pipe.hset(grants_key(grant.mailbox), grant.grantee, grant.model_dump_json())
                pipe.sadd(granted_key(grant.grantee), grant.mailbox)
            if events:
                pipe.lpush(OUTBOX, *events)
            await pipe.execute()
        self.core.notify()

    async def involving(self, address: str) -> list[Grant]:
        """Every grant on the mailbox and every grant the account holds on others."""
        held = [await self.redis.hget(grants_key(m), address.lower()) for m in await self.redis.smembers(granted_key(address))]
        return await self.grants(address) + [Grant.model_validate_json(r) for r in held if r]

    async def cut(self, trace_id: str, admin: Admin, address: str, domain: str, reason: str,
                  only: list[Grant] | None = None) -> list[Grant]:
        """Remove grants at once (close, revocation, hand-over), each with its own events."""
        grants = await self.involving(address) if only is None else only
        events = [e for g in grants for e in self.revoked_events(trace_id, admin, g, domain, reason)]
        await self._write([], grants, events)
        return grants

    async def expire(self) -> list[Grant]:
        """The daily job: remove grants whose expiry has passed (readers already ignore them)."""
        now = self.core.clock()
        expired: list[Grant] = []
        async for key in self.redis.scan_iter(match=grants_key("*"), count=500):
            for raw in (await self.redis.hgetall(key)).values():
                grant = Grant.model_validate_json(raw)
                if not grant.active(now):
                    expired.append(grant)
        for grant in expired:
            domain = grant.mailbox.rpartition("@")[2]
            await self.cut("expiry", SYSTEM, grant.mailbox, domain, "expired", only=[grant])
        return expired
