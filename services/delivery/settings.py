"""Settings of the delivery service (env prefix DELIVERY_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DeliverySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DELIVERY_", extra="ignore")

    publish_timeout: float = Field(10.0, description="Seconds to wait for the broker's ack of an outcome event.")
    max_backoff: float = Field(15.0, description="Longest pause between retries of a temporary fault.")
