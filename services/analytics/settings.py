"""Settings of the analytics service (env prefix ANALYTICS_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AnalyticsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ANALYTICS_", extra="ignore")

    group_id: str = Field("govmail-analytics", description="Kafka consumer group; offsets are committed under it.")
    batch_rows: int = Field(
        100_000, ge=1, description="Insert into ClickHouse once this many records are waiting (or batch_seconds passed)."
    )
    batch_seconds: float = Field(
        1.0, gt=0, description="Insert into ClickHouse at the latest this many seconds after the first waiting record."
    )
    max_backoff: float = Field(15.0, gt=0, description="Longest pause between retries when ClickHouse or the bus is down.")
    publish_timeout: float = Field(10.0, gt=0, description="Seconds to wait for the broker's ack of a dead letter.")
    # Reports (R30, R33): who gets them, when, and in which time zone.
    timezone: str = Field("Asia/Ho_Chi_Minh", description="Time zone of local days, working hours and report times.")
    report_from: str = Field("postmaster@govmail.local", description="RFC5321.MailFrom and From of report mails.")
    report_recipients: str = Field("", description="Comma-separated addresses that get the health and periodic reports.")
    health_at: str = Field("07:00", description="Local time (HH:MM) of the daily health self-check report; empty: off.")
    health_every_days: int = Field(1, ge=1, le=31, description="Days between two health reports (the period they cover).")
    report_domain: str = Field("", description="Mail domain whose unit tree the periodic reports and reminders cover.")
    report_root_unit: str = Field("", description="Unit code at the top of the tree (the province); empty: every root.")
    reminder_days: str = Field("14,7,1", description="Days before 5 and 15 December when deadline reminders go out.")
    scheduler_poll_seconds: float = Field(30.0, gt=0, description="How often the report scheduler checks the clock.")

    @property
    def recipients(self) -> list[str]:
        return [r.strip() for r in self.report_recipients.split(",") if r.strip()]

    @property
    def reminder_leads(self) -> list[int]:
        return sorted({int(d) for d in self.reminder_days.split(",") if d.strip()}, reverse=True)
