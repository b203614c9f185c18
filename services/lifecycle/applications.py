"""Apply → review → issue (R5): applications kept for good, decided by the centre, issued within the SLA."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from services.lifecycle import naming
from services.lifecycle.admins import SYSTEM, Admin
from services.lifecycle.errors import Conflict, InvalidInput, LifecycleError, NotFound
from services.lifecycle.operations import Lifecycle, clean_name, normalize_domain
from services.lifecycle.outbox import OUTBOX

APPLICATIONS = "gm:applications"  # sorted set id -> submission time: every application ever made
PENDING = "gm:applications:pending"  # sorted set id -> submission time: those still waiting

# Replaces an application's record only if it is still the one read (two reviewers at once: one wins).
_SWAP = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
if ARGV[3] == 'pending' then redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5]) else redis.call('ZREM', KEYS[2], ARGV[5]) end
for i = 6, #ARGV do redis.call('LPUSH', KEYS[3], ARGV[i]) end
return 1
"""


def application_key(app_id: str) -> str:
    return f"gm:application:{app_id}"


class Application(BaseModel):
    """A unit administrator's request for a mailbox, and the centre's answer."""

    id: str
    domain: str
    unit: str
    unit_mailbox: bool = False
    name: str = ""
    birth_year: int | None = None
    title: str = ""
    phone: str = ""
    service_class: str = "standard"
    note: str = Field("", description="Why the mailbox is needed, as the applicant wrote it.")
    status: Literal["pending", "approved", "refused"] = "pending"
    submitted_by: str
    submitted_at: str
    decided_by: str = ""
    decided_at: str = ""
    reason: str = Field("", description="The centre's reason (required for a refusal).")
    address: str = Field("", description="The mailbox issued on approval.")
    late: bool = Field(False, description="Decided after the SLA had run out.")
    overdue_flagged_at: str = Field("", description="When the SLA job first reported it overdue.")

    @property
    def submitted(self) -> datetime:
        return datetime.fromisoformat(self.submitted_at)

    def overdue(self, now: datetime, sla: timedelta) -> bool:
        return self.status == "pending" and now - self.submitted > sla


class ApplicationDesk:
    """Submit, list, approve (which issues the mailbox) and refuse applications; flag those past the SLA."""

    def __init__(self, core: Lifecycle, sla: timedelta = timedelta(hours=24)):
        self.core = core
        self.sla = sla
        self.redis = core.store.redis
        self._swap = self.redis.register_script(_SWAP)

    async def get(self, app_id: str) -> tuple[Application, str]:
        raw = await self.redis.get(application_key(app_id))
        if raw is None:
            raise NotFound(f"application {app_id} does not exist")
        return Application.model_validate_json(raw), raw

    async def submit(self, admin: Admin, domain: str, unit: str, name: str = "", unit_mailbox: bool = False,
                     birth_year: int | None = None, title: str = "", phone: str = "",
                     service_class: str = "standard", note: str = "") -> Application:
        core = self.core
        async with core._action(admin, "application.submit", f"{unit}@{domain}") as trace_id:
            domain = normalize_domain(domain)
            unit = naming.unit_code(unit) if unit else ""
            if not unit:
                raise InvalidInput("an application names the unit the mailbox is for")
            await core.check(admin, "application.submit", domain, unit)
            if await core.store.unit(domain, unit) is None:
                raise NotFound(f"unit {unit!r} does not exist in {domain}")
            name = clean_name(name)
            if not unit_mailbox:
                if not name:
                    raise InvalidInput("a personal mailbox needs the person's name")
                naming.name_words(name)  # refuse now a name no address can be made from
            if service_class not in (known := await core.class_names()):
                raise InvalidInput(f"unknown service class {service_class!r}; known: {', '.join(known)}")
            now = core.clock()
            app = Application(
                id=uuid.uuid4().hex[:12], domain=domain, unit=unit, unit_mailbox=unit_mailbox, name=name,
                birth_year=birth_year, title=clean_name(title), phone=phone.strip(), service_class=service_class,
                note=clean_name(note), submitted_by=admin.name, submitted_at=now.isoformat(),
            )
            events = [
                core._change(trace_id, admin, "application_submitted", domain, unit=unit,
                             details={"application": app.id, "name": name, "unit_mailbox": unit_mailbox}),
                core._audit(trace_id, admin, "application.submit", app.id, unit=unit, name=name),
            ]
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.set(application_key(app.id), app.model_dump_json(), nx=True)
                pipe.zadd(APPLICATIONS, {app.id: now.timestamp()})
                pipe.zadd(PENDING, {app.id: now.timestamp()})
                pipe.lpush(OUTBOX, *events)
                await pipe.execute()
            return app

    async def list(self, admin: Admin, status: str = "", overdue: bool = False) -> list[Application]:
        await self.core.check(admin, "application.list")
        ids = await self.redis.zrange(PENDING if overdue or status == "pending" else APPLICATIONS, 0, -1)
        raws = await self.redis.mget([application_key(i) for i in ids]) if ids else []
        apps = [Application.model_validate_json(r) for r in raws if r]
        now = self.core.clock()
        if status:
            apps = [a for a in apps if a.status == status]
        if overdue:
            apps = [a for a in apps if a.overdue(now, self.sla)]
        if admin.role == "unit":
            apps = [a for a in apps if await self.core.policy.in_scope(admin, a.domain, a.unit)]
        return apps

    async def show(self, admin: Admin, app_id: str) -> Application:
        app, _ = await self.get(app_id)
        await self.core.check(admin, "application.show", app.domain, app.unit)
        return app

    async def _decide(self, admin: Admin, app: Application, raw: str, trace_id: str, kind: str,
                      action: str, **changes: object) -> Application:
        now = self.core.clock()
        decided = app.model_copy(update={
            "decided_by": admin.name, "decided_at": now.isoformat(),
            "late": now - app.submitted > self.sla, **changes,
        })
        details = {"application": app.id, "late": decided.late, "reason": decided.reason,
                   "address": decided.address}
        events = [
            self.core._change(trace_id, admin, kind, app.domain, unit=app.unit,
                              address=decided.address or None, details=details),
            self.core._audit(trace_id, admin, action, app.id, **details),
        ]
        swapped = await self._swap(
            keys=[application_key(app.id), PENDING, OUTBOX],
            args=[raw, decided.model_dump_json(), decided.status,
                  app.submitted.timestamp(), app.id, *events],
        )
        if not swapped:
            raise Conflict(f"application {app.id} was decided by someone else meanwhile")
        return decided

    async def refuse(self, admin: Admin, app_id: str, reason: str) -> Application:
        async with self.core._action(admin, "application.refuse", app_id) as trace_id:
            await self.core.check(admin, "application.refuse")
            app, raw = await self.get(app_id)
            if app.status != "pending":
                raise Conflict(f"application {app_id} is already {app.status}")
            if not reason.strip():
                raise InvalidInput("a refusal needs a reason")
            return await self._decide(admin, app, raw, trace_id, "application_refused", "application.refuse",
                                      status="refused", reason=clean_name(reason))

    async def approve(self, admin: Admin, app_id: str, reason: str = "") -> tuple[Application, str]:
        """Approve and issue at once: the mailbox is created, its one-time password returned to the reviewer."""
        async with self.core._action(admin, "application.approve", app_id) as trace_id:
            await self.core.check(admin, "application.approve")
            app, raw = await self.get(app_id)
            if app.status != "pending":
                raise Conflict(f"application {app_id} is already {app.status}")
            approved = await self._decide(admin, app, raw, trace_id, "application_approved",
                                          "application.approve", status="approved", reason=clean_name(reason))
            try:
                account, password = await self.core.create_account(
                    admin, app.domain, name=app.name, unit=app.unit, birth_year=app.birth_year,
                    unit_mailbox=app.unit_mailbox, service_class=app.service_class,
                    details={"title": app.title, "phone": app.phone},
                )
            except LifecycleError:
                # Nothing was issued: the application waits again, and the failure is in the audit log.
                await self.redis.set(application_key(app.id), raw)
                await self.redis.zadd(PENDING, {app.id: app.submitted.timestamp()})
                raise
            issued = approved.model_copy(update={"address": account.address})
            await self.redis.set(application_key(app.id), issued.model_dump_json())
            return issued, password

    async def flag_overdue(self) -> list[Application]:
        """The SLA job: report each pending application past the SLA once (event + log), and return them all."""
        now = self.core.clock()
        overdue = await self.list(SYSTEM, overdue=True)
        for app in overdue:
            if app.overdue_flagged_at:
                continue
            raw = app.model_dump_json()
            flagged = app.model_copy(update={"overdue_flagged_at": now.isoformat()})
            event = self.core._change(
                "sla-" + app.id, SYSTEM, "application_overdue", app.domain, unit=app.unit,
                details={"application": app.id, "submitted_at": app.submitted_at, "sla_hours": self.sla / timedelta(hours=1)},
            )
            await self._swap(keys=[application_key(app.id), PENDING, OUTBOX],
                             args=[raw, flagged.model_dump_json(), "pending", app.submitted.timestamp(), app.id, event])
        self.core.notify()
        return overdue
