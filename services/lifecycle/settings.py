"""Settings of the lifecycle service (env prefix LIFECYCLE_); ports and Redis come from PlatformSettings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
