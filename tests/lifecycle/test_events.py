"""Every change reaches account.events.v1 and every administrator action admin.audit.v1, even across a broker outage."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from schemas.events import AccountEvent, AdminAudit
from services.common.bus import ensure_topics
from services.lifecycle.app import LifecycleService
from services.lifecycle.outbox import OUTBOX
from services.lifecycle.settings import LifecycleSettings
from services.platform import infra
from tests.lifecycle.conftest import bearer, platform_for, read_events


async def create_everything(http: aiohttp.ClientSession, domain: str) -> str:
    async with http.post("/domains", json={"name": domain}) as response:
        assert response.status == 201
    unit = {"domain": domain, "code": "stttt", "name": "Sở Thông tin và Truyền thông"}
    async with http.post("/units", json=unit) as response:
        assert response.status == 201
    async with http.post(
        "/accounts", json={"domain": domain, "name": "Đặng Thị Ưng", "unit": "stttt"}
    ) as response:
        assert response.status == 201
        return (await response.json())["address"]


async def test_changes_are_published_to_account_events(http, infra_parts: Any, domain: str) -> None:
    address = await create_everything(http, domain)
    found = await read_events(infra_parts.bootstrap, "account.events.v1", lambda e: e["domain"] == domain, 3)
    # Domain and unit changes are keyed by domain, account changes by address: partitions differ, so sort by time.
    events = sorted((AccountEvent.model_validate(e) for e in found), key=lambda e: e.occurred_at)
    assert [(e.kind, e.address, e.unit) for e in events] == [
        ("domain_added", None, None),
        ("unit_added", None, "stttt"),
        ("account_created", address, "stttt"),
    ]
    assert all(e.producer == "lifecycle" and e.actor == "province-admin" for e in events)
    assert events[2].details == {"kind": "personal", "service_class": "standard"}
    assert "password" not in str(found)


async def test_every_admin_action_is_audited_with_its_outcome(http, infra_parts: Any, domain: str) -> None:
    address = await create_everything(http, domain)
    async with http.post("/domains", json={"name": domain}) as response:
        assert response.status == 409
    async with http.get(
        f"/accounts/{address}", headers={"X-Govmail-Admin": "Tr%E1%BA%A7n%20Qu%E1%BB%91c%20H%C3%B9ng"}
    ):
        pass
    found = await read_events(infra_parts.bootstrap, "admin.audit.v1", lambda e: domain in e["target"], 5)
    audits = [AdminAudit.model_validate(e) for e in found]  # one partition: in order
    assert [(a.admin, a.action, a.target, a.outcome) for a in audits] == [
        ("province-admin", "domain.add", domain, "ok"),
        ("province-admin", "unit.add", f"stttt@{domain}", "ok"),
        ("province-admin", "account.create", address, "ok"),
        ("province-admin", "domain.add", domain, "error"),
        ("province-admin", "account.show", address, "ok"),
    ]
    assert audits[3].details["status"] == 409
    # The token decides who acts; the name given at the terminal is only noted beside it.
    assert audits[4].details["operator"] == "Trần Quốc Hùng" and audits[4].details["role"] == "province"


async def outbox_drained(redis_client: Any, timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while redis_client.llen(OUTBOX) and loop.time() < deadline:
        await asyncio.sleep(0.2)
    assert redis_client.llen(OUTBOX) == 0, "the outbox was not drained"


async def test_no_event_is_lost_while_the_broker_is_down(
    infra_parts: Any, redis_client, tmp_path: Path, domain
) -> None:
    # A broker of this test's own, not started yet: lifecycle must work without it.
    port = infra.free_port()
    bootstrap = f"127.0.0.1:{port}"
    settings = LifecycleSettings(outbox_poll_s=0.5, outbox_max_backoff_s=1.0, publish_timeout_s=2.0)
    service = LifecycleService(platform_for(infra_parts, tmp_path, bootstrap), settings, start_jobs=False)
    await service.start()
    broker = None
    try:
        token = service.token_path.read_text().strip()
        async with aiohttp.ClientSession(base_url=service.url, headers=bearer(token)) as http:
            address = await create_everything(http, domain)
            # The change stands in Redis, its events wait in the outbox.
            assert await service.lifecycle.store.account(address) is not None
            assert redis_client.llen(OUTBOX) == 6

            broker = infra.start_broker(port, tmp_path / "tansu.log")
            await ensure_topics(bootstrap)
            await outbox_drained(redis_client)
            found = await read_events(bootstrap, "account.events.v1", lambda e: e["domain"] == domain, 3)
            assert sorted(e["kind"] for e in found) == ["account_created", "domain_added", "unit_added"]
            audits = await read_events(bootstrap, "admin.audit.v1", lambda e: domain in e["target"], 3)
            assert [a["action"] for a in audits] == ["domain.add", "unit.add", "account.create"]

            # The embedded broker comes back empty after a crash: lifecycle recreates its topics itself.
            broker.kill()
            broker.wait()
            broker = infra.start_broker(port, tmp_path / "tansu.log")
            async with http.post("/accounts", json={"domain": domain, "name": "Đặng Thị Ưng"}) as response:
                second = (await response.json())["address"]
            await outbox_drained(redis_client)
            found = await read_events(bootstrap, "account.events.v1", lambda e: e["domain"] == domain, 1)
            assert [(e["kind"], e["address"]) for e in found] == [("account_created", second)]
    finally:
        await service.stop()
        if broker is not None:
            infra.stop(broker)
