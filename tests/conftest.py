"""Fixtures that start real parts on free loopback ports: Tansu, Redis/Valkey, chDB paths, whole services."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from services.common.bus import ensure_topics
from services.platform import infra
from tests.dnsserver import LocalDNS


@dataclass
class Infra:
    kafka_port: int
    redis_port: int
    broker: subprocess.Popen
    redis_server: subprocess.Popen
    log_dir: Path

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def restart_broker(self) -> None:
        """Kill the broker and start an empty one on the same port, as a crash of Tansu would."""
        self.broker.kill()
        self.broker.wait()
        self.broker = infra.start_broker(self.kafka_port, self.log_dir / "tansu.log")
        asyncio.run(ensure_topics(self.bootstrap))


@pytest.fixture(scope="session")
def infra_parts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    """One broker and one Redis for the whole session; tests keep apart by unique names and flushes."""
    root = tmp_path_factory.mktemp("infra")
    kafka_port, redis_port = infra.free_port(), infra.free_port()
    broker = infra.start_broker(kafka_port, root / "tansu.log")
    redis_server = infra.start_redis(redis_port, root / "redis", root / "redis.log")
    parts = Infra(kafka_port, redis_port, broker, redis_server, root)
    asyncio.run(ensure_topics(parts.bootstrap))
    yield parts
    infra.stop(parts.broker)
    infra.stop(parts.redis_server)


@pytest.fixture
def redis_client(infra_parts: Infra) -> Iterator[redis.Redis]:
    """A clean Redis database for each test."""
    client = redis.Redis(port=infra_parts.redis_port, decode_responses=True)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def platform_env(infra_parts: Infra, tmp_path: Path) -> dict[str, str]:
    """Environment for running services against the session's infrastructure with a fresh data dir."""
    env = dict(os.environ)
    env.update(
        GOVMAIL_DATA_DIR=str(tmp_path / "data"),
        GOVMAIL_KAFKA_BOOTSTRAP=infra_parts.bootstrap,
        GOVMAIL_REDIS_URL=infra_parts.redis_url,
        GOVMAIL_SMTP_PORT=str(infra.free_port()),
        GOVMAIL_SUBMISSION_PORT=str(infra.free_port()),
        GOVMAIL_ADMIN_PORT=str(infra.free_port()),
        GOVMAIL_ANALYTICS_PORT=str(infra.free_port()),
        GOVMAIL_HEALTH_PORT_BASE=str(infra.free_port()),
        GOVMAIL_WEBMAIL_PORT=str(infra.free_port()),
        GOVMAIL_DELIVERY_PORT=str(infra.free_port()),
        PYTHONUNBUFFERED="1",
    )
    return env


def govmail_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "services.cli", *args]


@pytest.fixture
def local_dns() -> Iterator[LocalDNS]:
    """A real DNS server on loopback; tests add the records they need (MX, TXT for SPF/DKIM/DMARC)."""
    server = LocalDNS()
    yield server
    server.close()
