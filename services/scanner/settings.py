"""Settings of the scanner service (env prefix SCANNER_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ScannerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SCANNER_", extra="ignore")

    config: Path | None = Field(
        None,
        description="Operator's TOML file merged over the shipped services/scanner/scanner.toml; "
        "it only needs the tables and keys that differ. Unset: the shipped file alone.",
    )
    check_timeout: float = Field(
        2.0, gt=0, description="Seconds one check may take on one message before it counts as CHECK_TIMEOUT_<NAME>."
    )
    publish_timeout: float = Field(10.0, gt=0, description="Seconds to wait for the broker's ack of a verdict.")
    max_backoff: float = Field(15.0, gt=0, description="Longest pause between retries of a temporary fault.")
    breaker_window: int = Field(50, ge=1, description="How many recent inputs the DLQ breaker looks at.")
    breaker_max_share: float = Field(
        0.5, gt=0, le=1, description="Share of recent inputs sent to the DLQ above which the scanner stops itself."
    )
    breaker_min_count: int = Field(
        10, ge=1, description="The breaker trips only once at least this many recent inputs went to the DLQ."
    )
    # Sender authentication and phishing (mail from outside).
    dns_timeout: float = Field(
        1.5, gt=0, description="Seconds one SPF/DKIM/DMARC DNS query may take; a query that runs out gives TEMPERROR."
    )
    trusted_networks: str = Field(
        "127.0.0.0/8,::1/128",
        description="Comma-separated CIDRs of relays the province runs itself; mail from them skips SPF/DKIM/DMARC.",
    )
    government_suffixes: str = Field(
        "gov.vn,gov.cn",
        description="Comma-separated domains only government bodies can register under: never outsiders' lookalikes, "
        "and a display name naming a government unit is expected from them.",
    )
    directory_cache_seconds: float = Field(
        30.0, ge=0, description="How long the scanner keeps the province's domain list read from Redis."
    )
    phishing_list: Path | None = Field(
        None,
        description="The province's phishing list (one URL expression or sha256:HEX a line; "
        "`govmail scanner phishing add`). Unset: <data dir>/scanner/phishing.list.",
    )
    clamd: str | None = Field(
        None,
        description="ClamAV daemon to send every decoded part to over INSTREAM: host:port or a Unix socket path. "
        "Unset: only the built-in signatures run (logged once at start).",
    )
    signatures: Path | None = Field(
        None, description="Operator's virus signature file (TOML, same form as services/scanner/data/signatures.toml), "
        "read beside the shipped one.",
    )
    archive_max_depth: int = Field(3, ge=1, description="Zip archives nested deeper than this raise ARCHIVE_TOO_DEEP.")
    archive_max_total: int = Field(
        100 * 1024 * 1024, ge=1, description="Uncompressed bytes read out of one message's archives before ARCHIVE_TOO_BIG."
    )
    archive_max_ratio: float = Field(
        200.0, gt=1, description="Compression ratio of one member (over 1 MiB uncompressed) that raises ARCHIVE_RATIO."
    )
    archive_max_files: int = Field(1000, ge=1, description="Files in one archive before ARCHIVE_TOO_MANY_FILES.")
    model_refresh: float = Field(
        60.0, gt=0, description="Seconds between looks for a newer Bayes model written by `govmail scanner train`."
    )
    concurrency: int = Field(
        16, ge=1, description="Messages one scanner process works on at once (the CPU work is shared, the waits "
        "for the broker and clamd overlap). With 4, two processes on 2 cores left a sixth of the CPU idle "
        "waiting for acks (bench/scanner_speed.py: 1.56x one process; with 16: 1.87-1.97x)."
    )
    memory_budget: int = Field(
        64 * 1024 * 1024, ge=1, description="Bytes of messages one process holds at once over all those in flight "
        "(services/scanner/budget.py): a burst of large messages waits instead of exhausting memory."
    )
    commit_every: int = Field(
        200, ge=1, description="Records between offset commits (besides the commit every second); a crash "
        "rescans at most this many, harmlessly (verdict event ids are derived from the input)."
    )
