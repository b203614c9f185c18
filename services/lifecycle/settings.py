"""Settings of the lifecycle service (env prefix LIFECYCLE_); ports and Redis come from PlatformSettings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.lifecycle.passwords import PasswordPolicy


class LifecycleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIFECYCLE_", extra="ignore")

    password_length: int = Field(
        12, ge=8, le=64, description="Length of the one-time initial passwords issued."
    )
    publish_timeout_s: float = Field(
        5.0, gt=0, description="How long one publish waits for the broker's ack."
    )
    outbox_poll_s: float = Field(
        2.0,
        gt=0,
        description="How often the outbox is checked without a wake-up (entries left by another replica).",
    )
    outbox_max_backoff_s: float = Field(
        15.0, gt=0, description="Longest wait between publish attempts while the broker is away."
    )
    stop_drain_s: float = Field(
        5.0, ge=0, description="On SIGTERM, how long queued events may still be published before exiting."
    )
    bootstrap_admin: str = Field(
        "province-admin", description="Name of the province administrator created on first start."
    )
    bootstrap_token: str = Field(
        "",
        description="Token of the bootstrap administrator (e.g. from a Kubernetes Secret); empty: a token is "
        "generated once and written to <data dir>/secrets/admin.token (mode 0600).",
    )
    application_sla_hours: float = Field(24.0, gt=0, description="An application must be decided within this (R5).")
    alias_days: int = Field(180, ge=0, description="How long an old address keeps working after a rename.")
    inactivity_lock_days: int = Field(183, gt=0, description="No login for this long: notice, then lock (R9).")
    inactivity_delete_days: int = Field(365, gt=0, description="No login for this long: notice, export, delete (R9).")
    job_interval_s: float = Field(
        86400.0, gt=0, description="How often the timed jobs run (inactivity, SLA, expired grants): daily."
    )
    export_dir: str = Field("", description="Where mail is exported before an account is closed; default <data>/exports.")
    password_min_length: int = Field(8, ge=8, le=128, description="R11: shortest password a user may choose.")
    password_specials: str = Field("!@#%&*", description="R11: a password needs one of these characters.")
    password_history: int = Field(5, ge=1, le=24, description="R11: a new password differs from the last N.")
    password_max_age_days: int = Field(0, ge=0, description="R11: change the password this often; 0 = never forced.")
    record_logins: bool = Field(True, description="Read auth.events.v1 to keep each account's last login (R9).")

    def password_policy(self) -> PasswordPolicy:
        """The R11 policy these settings describe; ingress and webmail read the same LIFECYCLE_PASSWORD_* values."""
        return PasswordPolicy(self.password_min_length, self.password_specials, self.password_history,
                              self.password_max_age_days)
