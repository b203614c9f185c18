"""Fixtures for lifecycle tests: the service in-process on a free port, an HTTP client, and a bus reader."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from services.common.settings import PlatformSettings
from services.lifecycle.app import LifecycleService
from services.lifecycle.settings import LifecycleSettings
from services.platform import infra
from tests.bus import bus_events as read_events  # noqa: F401 (the lifecycle tests import it from here)


def platform_for(infra_parts: Any, tmp_path: Path, bootstrap: str | None = None) -> PlatformSettings:
    return PlatformSettings(
        data_dir=tmp_path / "data",
        admin_port=infra.free_port(),
        redis_url=infra_parts.redis_url,
        kafka_bootstrap=bootstrap or infra_parts.bootstrap,
    )


@pytest.fixture
def domain() -> str:
    """A domain name no other test uses, so events on the shared broker can be told apart."""
    return f"t{uuid.uuid4().hex[:10]}.gov.vn"


class Clock:
    """The injected clock: starts at the real time, moves only when a test says so."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def service(
    infra_parts: Any, redis_client: Any, tmp_path: Path, clock: Clock
) -> AsyncIterator[LifecycleService]:
    svc = LifecycleService(platform_for(infra_parts, tmp_path), LifecycleSettings(outbox_poll_s=0.5),
                           start_jobs=False, clock=clock)
    await svc.start()
    yield svc
    await svc.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def root_token(service: LifecycleService) -> str:
    """The bootstrap province administrator's token, as the service wrote it to the data dir."""
    return service.token_path.read_text().strip()


@pytest.fixture
async def http(service: LifecycleService, root_token: str) -> AsyncIterator[aiohttp.ClientSession]:
    """A session of the bootstrap province administrator ('province-admin')."""
    async with aiohttp.ClientSession(base_url=service.url, headers=bearer(root_token)) as session:
        yield session


class Api:
    """One administrator's HTTP session: JSON in, (status, JSON) out."""

    def __init__(self, session: aiohttp.ClientSession):
        self.session = session

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(method, path, json=body) as response:
            return response.status, await response.json(content_type=None)

    async def ok(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        got, data = await self.call(method, path, body)
        assert got == status, (method, path, got, data)
        return data


@pytest.fixture
async def sessions(service: LifecycleService) -> AsyncIterator[Callable[[str], Api]]:
    """Sessions for any token: sessions(token) -> Api."""
    opened: list[aiohttp.ClientSession] = []

    def open_(token: str) -> Api:
        session = aiohttp.ClientSession(base_url=service.url, headers=bearer(token))
        opened.append(session)
        return Api(session)

    yield open_
    for session in opened:
        await session.close()


@pytest.fixture
async def root(sessions: Callable[[str], Api], root_token: str) -> Api:
    """The bootstrap province administrator."""
    return sessions(root_token)
