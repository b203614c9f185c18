"""Settings of the ingress service (env prefix INGRESS_)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class IngressSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INGRESS_", extra="ignore")

    group_commit: bool = Field(
        True, description="Make blob and spool entry durable with one syncfs shared by concurrent sessions "
        "instead of an fsync per file per message."
    )
    publish_timeout: float = Field(5.0, description="Seconds to wait for the broker's ack before answering 451.")
    max_message_bytes: int = Field(
        52 * 1024**2, description="Largest DATA accepted at all; service classes set lower limits per account."
    )
    max_line_bytes: int = Field(
        64 * 1024, description="Longest line accepted in DATA; real mail exceeds RFC 5321's 1000 octets."
    )
    session_timeout: float = Field(300.0, description="Seconds of client silence before the session is closed.")
    reconcile_interval: float = Field(30.0, description="Seconds between scans of the spool for stuck messages.")
    republish_after: float = Field(
        600.0, description="A spooled message untouched this long is published again (idempotent downstream)."
    )
    shutdown_grace: float = Field(30.0, description="Seconds in-flight sessions get to finish on shutdown.")
    tls_cert: Path | None = Field(
        None, description="PEM certificate for STARTTLS on submission; unset: a self-signed one under <data>/tls/."
    )
    tls_key: Path | None = Field(None, description="PEM private key matching INGRESS_TLS_CERT.")
    auth_window: float = Field(900.0, description="Seconds over which failed AUTH attempts are counted (R21).")
    auth_max_failures_per_user: int = Field(
        5, description="Failed AUTH attempts on one username within the window that lock the username."
    )
    auth_max_failures_per_ip: int = Field(
        20, description="Failed AUTH attempts from one client IP within the window that lock the IP."
    )
    auth_lock_seconds: float = Field(
        900.0, description="How long a locked username or IP gets 535 5.7.8 even with the right password."
    )
    # Loopback load in the repository stays below these: tests/e2e sends 40 messages on one connection,
    # bench/pipeline.py 300 messages over 4 connections in well under a minute.
    max_connections_per_ip: int = Field(
        20, description="Concurrent MX connections one client IP may hold, over all replicas (R22); more get 421."
    )
    max_connections_per_minute: int = Field(
        60, description="MX connections one client IP may open within a sliding minute (R22); more get 421."
    )
    max_messages_per_minute: int = Field(
        600, description="Messages (counted at MAIL) one client IP may start on MX within a sliding minute; "
                         "more get 451 4.7.1."
    )
    max_recipients_per_message: int = Field(
        100, description="RCPTs accepted per message (RFC 5321's minimum); more get 452 4.5.3."
    )
    connection_lease: float = Field(
        900.0, description="Longest a connection counts against its IP's concurrency limit, so a crashed "
                           "replica's connections stop counting."
    )
    timezone: str = Field(
        "Asia/Ho_Chi_Minh", description="The province's time zone: accounts' allowed hours and the day of the cap."
    )
    max_messages_per_account_per_day: int = Field(
        500, description="Messages one account may submit per local day before its sending is locked (R22)."
    )
    over_quota: Literal["temporary", "permanent"] = Field(
        "temporary", description="Recipient over quota at RCPT: 'temporary' answers 452 4.2.2 (the sender retries "
        "while the owner frees space), 'permanent' 552 5.2.2."
    )
    workers: int = Field(
        1, ge=1, description="Processes sharing the SMTP ports with SO_REUSEPORT (`govmail ingress --workers N`)."
    )
