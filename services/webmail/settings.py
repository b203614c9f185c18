"""Settings of the webmail service (env prefix WEBMAIL_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebmailSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WEBMAIL_", extra="ignore")

    session_seconds: int = Field(8 * 3600, description="A web session (and its submission token) expires this "
                                 "many seconds after its last request.")
    cookie_secure: bool = Field(True, description="Mark the session cookie Secure; turn off only for plain HTTP "
                                "on loopback (one machine). In a cluster TLS ends at the Ingress.")
    timezone: str = Field("Asia/Ho_Chi_Minh", description="The province's time zone: allowed login hours (R24).")
    auth_window: float = Field(900.0, description="Same meaning and default as INGRESS_AUTH_WINDOW (shared counters).")
    auth_max_failures_per_user: int = Field(5, description="As INGRESS_AUTH_MAX_FAILURES_PER_USER.")
    auth_max_failures_per_ip: int = Field(20, description="As INGRESS_AUTH_MAX_FAILURES_PER_IP.")
    auth_lock_seconds: float = Field(900.0, description="As INGRESS_AUTH_LOCK_SECONDS.")
    iplib: Path | None = Field(None, description="The province's IP library (CIDR -> place), one 'CIDR place' "
                               "per line; default <data>/webmail/iplib.txt.")
    place_memory_days: int = Field(30, description="A login from a place the account has not used for this many "
                                   "days sends the user an alert mail (R23).")
    record_days: int = Field(14, description="Login records and the operation log are kept this many days (R15).")
    smtp_host: str = Field("127.0.0.1", description="Submission listener the webmail sends through.")
    smtp_verify_tls: bool = Field(False, description="Verify submission's certificate; off on loopback, where "
                                  "ingress uses a self-signed one.")
    smtp_timeout: float = Field(30.0, description="Seconds for one submission conversation.")
    delivery_api: str = Field(
        "", description="Base URL of delivery's status/recall HTTP API; empty: GOVMAIL_HOST:GOVMAIL_DELIVERY_PORT."
    )
    delivery_api_timeout: float = Field(3.0, description="Seconds before the delivery API counts as not answering.")
    alert_sender: str = Field("", description="From: of login alerts; default postmaster@<the user's domain>.")
    max_list: int = Field(200, description="Messages listed per folder page (newest first).")
    trusted_proxies: list[str] = Field(default_factory=list, description="CIDRs of the cluster's Ingress; from "
                                       "these peers the client's IP is taken from X-Forwarded-For (JSON list).")
    publish_timeout: float = Field(5.0, description="Seconds to wait for the broker's ack of an event.")
