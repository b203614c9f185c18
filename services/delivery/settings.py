"""Settings of the delivery service (env prefix DELIVERY_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.consumer import DlqBreaker


class DeliverySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DELIVERY_", extra="ignore")

    publish_timeout: float = Field(10.0, description="Seconds to wait for the broker's ack of an outcome event.")
    max_backoff: float = Field(15.0, description="Longest pause between retries of a temporary fault.")
    concurrency: int = Field(16, ge=1, description="Scanned messages delivered side by side (the work waits on "
                             "disk, Redis and the broker, not the CPU); a mailbox takes one writer at a time.")
    commit_every: int = Field(
        100, ge=1, description="Records between offset commits (besides the commit every second). Committing "
        "after each record cost a broker round trip per message; a crash now replays at most this many, "
        "harmlessly (copies, statuses and events are keyed by message and recipient)."
    )
    breaker_window: int = Field(50, ge=1, description="How many recent inputs the DLQ breaker looks at.")
    breaker_max_share: float = Field(
        0.5, gt=0, le=1, description="Share of recent inputs sent to the DLQ above which a consumer stops itself."
    )
    breaker_min_count: int = Field(
        10, ge=1, description="The breaker trips only once at least this many recent inputs went to the DLQ."
    )
    # Mail to the world.
    remote_smtp_port: int = Field(25, description="Port of remote MX hosts (tests point it at a loopback server).")
    deliver_until: float = Field(5 * 86400.0, gt=0, description="Seconds after acceptance during which a "
                                 "temporary failure is retried; then the sender gets a DSN.")
    retry_first: float = Field(300.0, gt=0, description="Seconds before the first retry of a temporary failure; "
                               "each further retry waits twice as long.")
    retry_max: float = Field(4 * 3600.0, gt=0, description="Longest wait between two retries.")
    smtp_timeout: float = Field(60.0, gt=0, description="Seconds to wait for a remote SMTP reply.")
    connection_idle: float = Field(30.0, gt=0, description="Seconds an idle connection to a destination is kept "
                                   "open for the next message.")
    dkim_keys: Path | None = Field(None, description="Folder of DKIM private keys named '<domain>.<selector>.pem'; "
                                   "mail from <domain> is signed with it. Unset: no signing.")
    # Local delivery.
    quota_defer: float = Field(86400.0, gt=0, description="Seconds a message to a full mailbox waits for space "
                               "before it is bounced.")
    quota_retry: float = Field(600.0, gt=0, description="Seconds between attempts to deliver into a full mailbox.")
    burn_after: float = Field(7 * 86400.0, gt=0, description="Seconds after which an unopened burn-after-reading "
                              "message is removed.")
    status_ttl: float = Field(30 * 86400.0, ge=14 * 86400.0, description="Seconds delivery status and copy "
                              "states are kept (at least 14 days, R15).")
    sweep_interval: float = Field(1.0, gt=0, description="Seconds between looks at due retries and burn deadlines.")

    def breaker(self) -> DlqBreaker:
        return DlqBreaker(self.breaker_window, self.breaker_max_share, self.breaker_min_count)
