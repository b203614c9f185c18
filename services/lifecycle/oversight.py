"""What auditors read (R27, R31): the recent administrator actions and account statistics, never personal mail."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from typing import Any

from services.common.directory import accounts_key
from services.lifecycle.admins import Admin
from services.lifecycle.applications import ApplicationDesk
from services.lifecycle.operations import Lifecycle
from services.lifecycle.outbox import AUDIT_LOG


class Oversight:
    def __init__(self, core: Lifecycle, desk: ApplicationDesk):
        self.core = core
        self.desk = desk

    async def audit_log(self, admin: Admin, limit: int = 100, actor: str = "", action: str = "") -> list[dict[str, Any]]:
        """The newest administrator actions first, as published on admin.audit.v1."""
        await self.core.check(admin, "audit.read")
        found: list[dict[str, Any]] = []
        seen: set[str] = set()
        last = "+"
        while len(found) < limit:
            batch = await self.core.store.redis.xrevrange(AUDIT_LOG, max=last, count=500)
            for entry_id, fields in batch:
                event = json.loads(fields["event"])
                if event["event_id"] in seen:  # an outbox entry published twice after a crash
                    continue
                seen.add(event["event_id"])
                if (not actor or event["admin"] == actor) and (not action or event["action"].startswith(action)):
                    found.append(event)
                last = "(" + entry_id
            if len(batch) < 500:
                break
        return found[:limit]

    async def stats(self, admin: Admin) -> dict[str, Any]:
        """Accounts by domain, status, kind and class; applications pending, overdue and decided late."""
        await self.core.check(admin, "stats.read")
        domains: dict[str, Any] = {}
        for domain in await self.core.store.domains():
            counts: Counter[str] = Counter()
            for address in await self.core.store.redis.smembers(accounts_key(domain.name)):
                account = await self.core.store.account(address)
                if account is None:
                    continue
                if admin.role == "unit" and not await self.core.policy.in_scope(admin, account.domain, account.unit):
                    continue
                counts.update([f"status:{account.status}", f"kind:{account.kind}", f"class:{account.service_class}"])
                if account.must_change_password:
                    counts["not_activated"] += 1
            if admin.role != "unit" or domain.name == admin.domain:
                domains[domain.name] = dict(sorted(counts.items()))
        apps = await self.desk.list(admin)
        now = self.core.clock()
        return {
            "domains": domains,
            "applications": {
                "total": len(apps),
                "pending": sum(a.status == "pending" for a in apps),
                "overdue": sum(a.overdue(now, self.desk.sla) for a in apps),
                "decided_late": sum(a.late for a in apps),
                "sla_hours": self.desk.sla / timedelta(hours=1),
            },
        }
