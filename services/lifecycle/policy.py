"""What each administrator role may do (R27): province everything, unit administrators their subtree, auditors logs."""

from __future__ import annotations

from services.common.directory import RedisDirectory
from services.lifecycle.admins import Admin
from services.lifecycle.errors import Forbidden

# Every role may read the published directory and the lists that hold no personal data.
EVERYONE = frozenset({"whoami", "domain.list", "class.list", "directory.search", "directory.export"})

AUDITOR = EVERYONE | {"audit.read", "stats.read", "application.list"}

# A unit administrator manages the accounts, units and applications of their unit's subtree.
UNIT = EVERYONE | {
    "unit.add", "unit.list",
    "account.list", "account.show", "account.change", "account.transfer", "account.rename", "account.close",
    "account.handover", "account.restrict", "account.unlock_sending", "account.password_reset", "account.unlock",
    "application.submit", "application.list", "application.show",
    "grant.add", "grant.list", "grant.revoke",
    "stats.read",
}  # fmt: skip


class Policy:
    """Checks an administrator's role and, for unit administrators, that the target lies in their subtree."""

    def __init__(self, directory: RedisDirectory):
        self.directory = directory

    @staticmethod
    def may(admin: Admin, action: str) -> bool:
        """Whether the role allows the action at all, wherever its target lies (checked before reading a request)."""
        if admin.role in ("province", "system"):
            return True
        return action in (AUDITOR if admin.role == "auditor" else UNIT if admin.role == "unit" else EVERYONE)

    async def check(self, admin: Admin, action: str, domain: str = "", unit: str = "") -> None:
        """Raises Forbidden unless `admin` may do `action` on something of `unit` in `domain`."""
        if admin.role in ("province", "system"):
            return
        if admin.role == "auditor" and action in AUDITOR:
            return
        if admin.role == "unit" and action in UNIT:
            if action in EVERYONE or (not domain and not unit):
                return  # a listing: filtered to the subtree by the caller
            if await self.in_scope(admin, domain, unit):
                return
            raise Forbidden(f"{admin.name} administers {admin.unit}@{admin.domain} only, not {unit or '-'}@{domain}")
        raise Forbidden(f"a {admin.role} administrator may not do {action}")

    async def in_scope(self, admin: Admin, domain: str, unit: str) -> bool:
        """True for province administrators, and for a unit administrator when `unit` is theirs or below it."""
        if admin.role in ("province", "system"):
            return True
        if admin.role != "unit" or domain.lower() != admin.domain.lower() or not unit:
            return False
        seen: set[str] = set()
        while unit and unit not in seen:
            if unit == admin.unit:
                return True
            seen.add(unit)
            found = await self.directory.unit(domain, unit)
            unit = found.parent if found else ""
        return False
