"""The lifecycle's parts built once over one Redis connection, and its timed jobs (inactivity, SLA, expired grants)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from schemas.events import utcnow
from services.common import logging as log
from services.common.blobstore import FileBlobStore
from services.common.system_mail import SystemMailer
from services.lifecycle.admin_ops import AdminOffice
from services.lifecycle.admins import Admin, AdminRegistry
from services.lifecycle.applications import ApplicationDesk
from services.lifecycle.background import stop_task
from services.lifecycle.changes import AccountChanges
from services.lifecycle.classes import ServiceClasses
from services.lifecycle.credentials import Credentials
from services.lifecycle.delegation import Delegations
from services.lifecycle.errors import InvalidInput
from services.lifecycle.inactivity import InactivityJob
from services.lifecycle.operations import Lifecycle
from services.lifecycle.outbox import OutboxPublisher
from services.lifecycle.oversight import Oversight
from services.lifecycle.people import PeopleDirectory
from services.lifecycle.settings import LifecycleSettings
from services.lifecycle.store import AccountStore

logger = log.get(__name__)

JOBS = ("inactivity", "sla", "grants")


class Services:
    def __init__(self, client: aioredis.Redis, settings: LifecycleSettings, *, mail_root: Path, export_dir: Path,
                 blobs_uri: str, notify: Callable[[], None] = lambda: None,
                 clock: Callable[[], datetime] = utcnow):
        policy = settings.password_policy()
        self.settings = settings
        self.core = Lifecycle(AccountStore(client), notify, settings.password_length, policy, clock)
        self.admins = AdminRegistry(client)
        self.office = AdminOffice(self.core, self.admins)
        self.desk = ApplicationDesk(self.core, timedelta(hours=settings.application_sla_hours))
        self.delegations = Delegations(self.core)
        self.changes = AccountChanges(self.core, self.delegations, mail_root, export_dir,
                                      timedelta(days=settings.alias_days))
        self.classes = ServiceClasses(self.core)
        self.credentials = Credentials(self.core)
        self.people = PeopleDirectory(self.core)
        self.oversight = Oversight(self.core, self.desk)
        mailer = SystemMailer(OutboxPublisher(client, notify), FileBlobStore.from_uri(blobs_uri), self.core.store,
                              producer="lifecycle")
        self.inactivity = InactivityJob(self.core, self.changes, mailer,
                                        timedelta(days=settings.inactivity_lock_days),
                                        timedelta(days=settings.inactivity_delete_days))
        self._jobs: asyncio.Task[None] | None = None
        self._stopping = False

    async def run_job(self, admin: Admin, job: str) -> dict[str, Any]:
        """Run one timed job now (`govmail admin inactivity run --now`, tests); province administrators only."""
        async with self.core._action(admin, f"job.{job}", job):
            await self.core.check(admin, "job.run")
            if job == "inactivity":
                report = await self.inactivity.run()
                result: dict[str, Any] = {"locked": report.locked, "deleted": report.deleted,
                                          "notices": report.notices}
            elif job == "sla":
                result = {"overdue": [a.id for a in await self.desk.flag_overdue()]}
            elif job == "grants":
                result = {"expired": [f"{g.grantee}->{g.mailbox}" for g in await self.delegations.expire()]}
            else:
                raise InvalidInput(f"unknown job {job!r}; known: {', '.join(JOBS)}")
            await self.core.audit_only(admin, f"job.{job}", job, **{k: len(v) for k, v in result.items()})
            return result

    def start_jobs(self, system: Admin) -> None:
        self._jobs = asyncio.create_task(self._timed(system), name="lifecycle-jobs")

    async def stop_jobs(self) -> None:
        self._stopping = True
        await stop_task(self._jobs)

    async def _timed(self, system: Admin) -> None:
        """Every job once per interval (the jobs are idempotent, so a crash mid-run is repaired by the next run)."""
        while not self._stopping:
            for job in JOBS:
                try:
                    # One replica per interval runs each job; the others skip it.
                    lease = max(int(self.settings.job_interval_s * 0.9), 1)
                    if await self.core.store.redis.set(f"gm:job-lease:{job}", "1", nx=True, ex=lease):
                        await self.run_job(system, job)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    logger.exception("job_failed", job=job, error=str(exc))
            await asyncio.sleep(self.settings.job_interval_s)
