"""Province administrators appoint, re-key and remove other administrators; each such act is audited."""

from __future__ import annotations

import re

from services.lifecycle import naming
from services.lifecycle.admins import Admin, AdminRegistry
from services.lifecycle.contract import ROLES
from services.lifecycle.errors import Conflict, InvalidInput, NotFound, UnknownReference
from services.lifecycle.operations import Lifecycle, normalize_domain

_NAME = re.compile(r"[\w.@-]{2,64}")


class AdminOffice:
    def __init__(self, core: Lifecycle, registry: AdminRegistry):
        self.core = core
        self.registry = registry

    async def add(self, admin: Admin, name: str, role: str, domain: str = "", unit: str = "") -> tuple[Admin, str]:
        """A new administrator and their first token (shown once)."""
        async with self.core._action(admin, "admin.add", name) as trace_id:
            await self.core.check(admin, "admin.add")
            if not _NAME.fullmatch(name):
                raise InvalidInput("an administrator's name is 2-64 letters, digits, '.', '@', '-' or '_'")
            if role not in ROLES:
                raise InvalidInput(f"role is one of {', '.join(ROLES)}")
            if role == "unit":
                if not domain or not unit:
                    raise InvalidInput("a unit administrator needs --domain and --unit")
                domain, unit = normalize_domain(domain), naming.unit_code(unit)
                if await self.core.store.unit(domain, unit) is None:
                    raise UnknownReference(f"unit {unit!r} does not exist in {domain}")
            else:
                domain, unit = "", ""
            new = Admin(name=name, role=role, domain=domain, unit=unit,  # type: ignore[arg-type]
                        created_at=self.core.now(), created_by=admin.name)
            if not await self.registry.add(new):
                raise Conflict(f"administrator {name} exists already")
            token = await self.registry.issue_token(name)
            await self.core.store.queue([self.core._audit(trace_id, admin, "admin.add", name, role=role,
                                                          domain=domain, unit=unit)])
            return new, token

    async def list(self, admin: Admin) -> list[Admin]:
        await self.core.check(admin, "admin.list")
        return await self.registry.all()

    async def rotate(self, admin: Admin, name: str) -> str:
        """Revoke every token of an administrator and issue a new one."""
        async with self.core._action(admin, "admin.token", name) as trace_id:
            await self.core.check(admin, "admin.token")
            if await self.registry.get(name) is None:
                raise NotFound(f"administrator {name} does not exist")
            revoked = await self.registry.revoke_tokens(name)
            token = await self.registry.issue_token(name)
            await self.core.store.queue([self.core._audit(trace_id, admin, "admin.token", name, revoked=revoked)])
            return token

    async def remove(self, admin: Admin, name: str) -> None:
        async with self.core._action(admin, "admin.remove", name) as trace_id:
            await self.core.check(admin, "admin.remove")
            if name.lower() == admin.name.lower():
                raise InvalidInput("an administrator cannot remove themself")
            if not await self.registry.remove(name):
                raise NotFound(f"administrator {name} does not exist")
            await self.core.store.queue([self.core._audit(trace_id, admin, "admin.remove", name)])
