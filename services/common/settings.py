"""Platform-wide settings (env prefix GOVMAIL_): where the data lives and how the parts reach each other."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class PlatformSettings(BaseSettings):
    """Wiring shared by every service; each service adds its own settings class with its own prefix."""

    model_config = SettingsConfigDict(env_prefix="GOVMAIL_", extra="ignore")

    data_dir: Path = Field(Path("./data"), description="Root folder for mail, blobs, spool, Redis and ClickHouse data.")
    host: str = Field("127.0.0.1", description="Address the services listen on.")
    smtp_port: int = Field(2525, description="MX listener (port 25 in a cluster).")
    submission_port: int = Field(2587, description="Submission listener for authenticated clients.")
    kafka_port: int = Field(9092, description="Port of the embedded broker started by 'govmail up'.")
    redis_port: int = Field(16379, description="Port of the embedded Redis/Valkey started by 'govmail up'.")
    admin_port: int = Field(8025, description="Lifecycle admin HTTP API.")
    analytics_port: int = Field(8026, description="Analytics HTTP API (statistics).")
    health_port_base: int = Field(
        8030, description="Scanner and delivery serve /healthz on base+0 and base+1; ingress on base+2."
    )
    kafka_bootstrap: str = Field("", description="Kafka bootstrap servers; default: the embedded broker.")
    redis_url: str = Field("", description="Redis URL; default: the embedded server.")
    clickhouse_dsn: str = Field("", description="ClickHouse DSN; default: chDB under the data dir.")
    blob_uri: str = Field("", description="Blob store location; default: file:// under the data dir.")
    log_level: str = Field("info", description="debug, info, warning or error.")
    dns_resolver: str = Field(
        "", description="DNS server 'host:port' for MX, SPF, DKIM and DMARC lookups; empty: the system resolver."
    )
    local_hostname: str = Field("mail.govmail.local", description="Name this system gives itself in SMTP and headers.")
    webmail_port: int = Field(8028, description="Webmail (user web UI and API); loopback HTTP, TLS at the Ingress in a cluster.")
    delivery_port: int = Field(8027, description="Delivery HTTP API (delivery status, recall, quarantine).")
    internal_token: str = Field(
        "", description="Shared secret of the platform's internal HTTP calls (webmail and `govmail mail` to the "
        "delivery API); empty: the one in DATA/secrets/internal.token, made on first use."
    )

    @cached_property
    def data(self) -> Path:
        return self.data_dir.resolve()

    @property
    def bootstrap(self) -> str:
        return self.kafka_bootstrap or f"127.0.0.1:{self.kafka_port}"

    @property
    def redis(self) -> str:
        return self.redis_url or f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def clickhouse(self) -> str:
        return self.clickhouse_dsn or f"chdb://{self.data / 'clickhouse'}"

    @property
    def blobs(self) -> str:
        return self.blob_uri or (self.data / "blobs").as_uri()

    @property
    def mail_root(self) -> Path:
        return self.data / "mail"

    @property
    def run_dir(self) -> Path:
        return self.data / "run"

    @property
    def spool_dir(self) -> Path:
        return self.data / "spool"
