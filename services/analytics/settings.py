"""Settings of the analytics service (env prefix ANALYTICS_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AnalyticsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ANALYTICS_", extra="ignore")

    group_id: str = Field("govmail-analytics", description="Kafka consumer group; offsets are committed under it.")
    batch_rows: int = Field(
        1000, ge=1, description="Insert into ClickHouse once this many records are waiting (or batch_seconds passed)."
    )
    batch_seconds: float = Field(
        1.0, gt=0, description="Insert into ClickHouse at the latest this many seconds after the first waiting record."
    )
    max_backoff: float = Field(15.0, gt=0, description="Longest pause between retries when ClickHouse or the bus is down.")
    publish_timeout: float = Field(10.0, gt=0, description="Seconds to wait for the broker's ack of a dead letter.")
