"""Report mail: the health self-check, the periodic unit reports and the deadline reminders, sent through the platform.

Each mail goes through `SystemMailer` (an internal MailReceived, then scanner and delivery) with a
key derived from what it reports on, so a report sent twice (a restart, a retry) is one mail.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from clickhouse_connect.driver.client import Client

from services.analytics import health, pdf, periodic
from services.analytics.settings import AnalyticsSettings
from services.common.directory import RedisDirectory, account_key, accounts_key
from services.common.settings import PlatformSettings
from services.common.system_mail import SystemMailer, compose

T = TypeVar("T")
# Runs fn(client, *args) where ClickHouse is (the service's warehouse thread, or a CLI's own client).
Query = Callable[..., Awaitable[Any]]


class NoRecipients(ValueError):
    """Nobody is configured to get the report (ANALYTICS_REPORT_RECIPIENTS)."""


@dataclass
class Reporter:
    platform: PlatformSettings
    settings: AnalyticsSettings
    query: Query
    mailer: SystemMailer
    directory: RedisDirectory

    def recipients(self, extra: list[str] | None = None) -> list[str]:
        found = list(dict.fromkeys([*self.settings.recipients, *(extra or [])]))
        if not found:
            raise NoRecipients("no recipients: set ANALYTICS_REPORT_RECIPIENTS (comma-separated addresses)")
        return found

    async def quotas(self, addresses: list[str]) -> dict[str, int]:
        """Quota in octets of each address, from its service class in the directory."""
        result = {}
        for address in addresses:
            account = await self.directory.account(address)
            if account is not None:
                result[address] = (await self.directory.service_class(account.service_class)).quota_bytes
        return result

    async def send_health(self, now: datetime | None = None, recipients: list[str] | None = None) -> dict[str, Any]:
        now = now or datetime.now(UTC)
        to = self.recipients(recipients)
        sizes = await asyncio.to_thread(health.mailbox_sizes, self.platform.mail_root)
        quotas = await self.quotas(sorted(sizes))
        report = await self.query(health.gather, self.platform, now, self.settings.health_every_days,
                                  self.settings.timezone, quotas)
        subject, text, body = health.render(report)
        message = compose(self.settings.report_from, to, subject, text, html=body,
                          hostname=self.platform.local_hostname)
        local = now.astimezone(ZoneInfo(self.settings.timezone))
        queue_id = await self.mailer.send(message, self.settings.report_from, to,
                                          key=f"health-report:{local:%Y-%m-%dT%H:%M}:{','.join(to)}")
        return {"queue_id": queue_id, "recipients": to, "subject": subject, "problems": report.problems}

    async def send_periodic(self, domain: str, unit: str, kind: str, year: int,
                            recipients: list[str] | None = None) -> dict[str, Any]:
        to = self.recipients(recipients)
        tree = periodic.UnitTree(await periodic.load_units(self.directory.redis, domain))
        report = await self.query(periodic.build, tree, unit, kind, year, self.settings.timezone)
        document = await asyncio.to_thread(pdf.render, report)
        text = f"{report.title}\n{report.period.start} – {report.period.end}\nPDF đính kèm / PDF attached.\n"
        message = compose(self.settings.report_from, to, report.title, text, html=pdf.render_html(report),
                          attachments=[(f"bao-cao-{unit}-{kind}-{year}.pdf", "application/pdf", document)],
                          hostname=self.platform.local_hostname)
        queue_id = await self.mailer.send(message, self.settings.report_from, to,
                                          key=f"periodic-report:{domain}:{unit}:{kind}:{year}:{','.join(to)}")
        return {"queue_id": queue_id, "recipients": to, "subject": report.title, "units": len(report.rows),
                "pdf_bytes": len(document)}

    async def unit_mailboxes(self, domain: str) -> list[str]:
        """Addresses of the domain's unit mailboxes (Account.kind == 'unit')."""
        found = []
        for address in sorted(await self.directory.redis.smembers(accounts_key(domain))):
            kind = await self.directory.redis.hget(account_key(address), "kind")
            if kind == "unit":
                found.append(address)
        return found

    async def send_reminders(self, today: date) -> list[dict[str, Any]]:
        """Reminders due today: units before 5 December, the province centre before 15 December (R33)."""
        sent = []
        for (month, day), audience in ((periodic.UNIT_DEADLINE, "units"), (periodic.PROVINCE_DEADLINE, "province")):
            deadline = date(today.year, month, day)
            lead = (deadline - today).days
            if lead not in self.settings.reminder_leads:
                continue
            extra = await self.unit_mailboxes(self.settings.report_domain) if (
                audience == "units" and self.settings.report_domain) else []
            to = self.recipients(extra)
            who = "các đơn vị / units" if audience == "units" else "Trung tâm gửi Tỉnh / the centre to the province"
            subject = f"[govmail] Nhắc hạn nộp báo cáo {deadline:%d/%m/%Y} — report due {deadline} ({lead} ngày / days)"
            text = (f"Hạn nộp báo cáo định kỳ của {who}: {deadline:%d/%m/%Y}, còn {lead} ngày.\n"
                    f"The periodic report of {who} is due on {deadline}, in {lead} days.\n"
                    "govmail report periodic --unit CODE --kind year --year YYYY\n")
            message = compose(self.settings.report_from, to, subject, text, hostname=self.platform.local_hostname)
            queue_id = await self.mailer.send(message, self.settings.report_from, to,
                                              key=f"reminder:{deadline}:{lead}:{','.join(to)}")
            sent.append({"queue_id": queue_id, "deadline": deadline.isoformat(), "lead_days": lead, "recipients": to})
        return sent


def next_health_time(now: datetime, at: str, tz: str) -> datetime:
    """The next local HH:MM at or after `now`, in UTC."""
    hour, minute = (int(part) for part in at.split(":"))
    local = now.astimezone(ZoneInfo(tz))
    due = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if due < local:
        due += timedelta(days=1)
    return due.astimezone(UTC)


def periodic_due(today: date) -> tuple[str, int] | None:
    """The report made automatically on `today`: the first half on 1 July, the year so far on 1 December."""
    if (today.month, today.day) == (7, 1):
        return "h1", today.year
    if (today.month, today.day) == (12, 1):
        return "year", today.year
    return None


async def run_due(reporter: Reporter, now: datetime, on_error: Callable[[str, Exception], None] | None = None
                  ) -> list[str]:
    """What is due at the health report time: the health report, today's reminders, today's periodic report."""
    settings = reporter.settings
    today = now.astimezone(ZoneInfo(settings.timezone)).date()
    jobs: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("health", lambda: reporter.send_health(now)), ("reminders", lambda: reporter.send_reminders(today))]
    planned = periodic_due(today)
    if planned and settings.report_domain and settings.report_root_unit:
        jobs.append(("periodic", lambda: reporter.send_periodic(
            settings.report_domain, settings.report_root_unit, planned[0], planned[1])))
    done = []
    for name, job in jobs:
        try:
            await job()
            done.append(name)
        except Exception as exc:  # one failed report must not stop the next ones
            if on_error:
                on_error(name, exc)
    return done


async def schedule(reporter: Reporter, stop: asyncio.Event, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                   on_error: Callable[[str, Exception], None] | None = None) -> None:
    """Every `health_every_days` at `health_at` (local): the health report, and the reminders and reports due that day."""
    settings = reporter.settings
    if not settings.health_at or not settings.recipients:
        return
    due = next_health_time(clock(), settings.health_at, settings.timezone)
    while not stop.is_set():
        if clock() >= due:
            await run_due(reporter, due, on_error)
            due = next_health_time(due + timedelta(days=settings.health_every_days) - timedelta(minutes=1),
                                   settings.health_at, settings.timezone)
        wait = min(settings.scheduler_poll_seconds, max(0.05, (due - clock()).total_seconds()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait)


async def direct_query(client: Client) -> Query:
    """A `query` for a CLI that holds its own ClickHouse client."""
    async def run(fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, client, *args)
    return run
