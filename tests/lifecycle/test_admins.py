"""Administrators (R27): bearer tokens, the three roles and their reach, and every action — denied ones too — audited."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path
from typing import Any

import aiohttp

from services.lifecycle.admins import AdminRegistry
from services.lifecycle.app import LifecycleService
from services.lifecycle.settings import LifecycleSettings
from tests.lifecycle.conftest import Api, platform_for, read_events

TG_UNITS = [
    {"code": "stttt", "name": "Sở Thông tin và Truyền thông", "kind": "department"},
    {"code": "ttcntttt", "name": "Trung tâm Công nghệ thông tin và Truyền thông", "kind": "division",
     "parent": "stttt"},
    {"code": "syt", "name": "Sở Y tế", "kind": "department"},
]


async def province(root: Api, domain: str) -> None:
    await root.ok("POST", "/domains", {"name": domain}, 201)
    for unit in TG_UNITS:
        await root.ok("POST", "/units", {"domain": domain, **unit}, 201)


async def appoint(root: Api, sessions: Any, name: str, role: str, **scope: str) -> Api:
    created = await root.ok("POST", "/admins", {"name": name, "role": role, **scope}, 201)
    assert created["admin"]["role"] == role and created["token"].startswith("gma_")
    return sessions(created["token"])


async def test_the_api_wants_a_token_and_says_so(service: LifecycleService, infra_parts, domain: str) -> None:
    async with aiohttp.ClientSession(base_url=service.url) as anonymous:
        async with anonymous.get("/domains") as response:
            assert response.status == 401
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert (await response.json(content_type=None))["type"].endswith("unauthorized")
        async with anonymous.post("/domains", json={"name": domain},
                                  headers={"Authorization": "Bearer gma_forged"}) as response:
            assert response.status == 401
        # Health and the API's own description stay open, for probes and for documentation.
        async with anonymous.get("/healthz") as response:
            assert response.status == 200
    denied = await read_events(infra_parts.bootstrap, "admin.audit.v1",
                               lambda e: e["admin"] == "anonymous" and e["action"] == "domain.add", 1)
    assert denied[0]["outcome"] == "denied" and denied[0]["details"]["status"] == 401


async def test_unit_administrators_reach_only_their_subtree(root: Api, sessions, infra_parts, domain: str) -> None:
    await province(root, domain)
    unit_admin = await appoint(root, sessions, "quantri.stttt", "unit", domain=domain, unit="stttt")
    assert (await unit_admin.ok("GET", "/whoami"))["unit"] == "stttt"

    # Their unit and the division below it: yes. Another department: no.
    for unit in ("stttt", "ttcntttt"):
        await unit_admin.ok("POST", "/applications", {"domain": domain, "unit": unit, "name": "Lê Minh Hiếu"}, 201)
    status, problem = await unit_admin.call("POST", "/applications",
                                            {"domain": domain, "unit": "syt", "name": "Phạm Thị Lan"})
    assert status == 403 and problem["type"].endswith("forbidden")
    # The centre decides and issues; a unit administrator cannot, nor add domains or issue directly.
    app_id = (await unit_admin.ok("GET", "/applications"))[0]["id"]
    assert (await unit_admin.call("POST", f"/applications/{app_id}/approve", {}))[0] == 403
    assert (await unit_admin.call("POST", "/domains", {"name": "x" + domain}))[0] == 403
    assert (await unit_admin.call("POST", "/accounts", {"domain": domain, "name": "Ngô Văn Sơn"}))[0] == 403

    inside = await root.ok("POST", "/accounts", {"domain": domain, "name": "Trần Thu Hương", "unit": "ttcntttt"}, 201)
    outside = await root.ok("POST", "/accounts", {"domain": domain, "name": "Võ Văn Tâm", "unit": "syt"}, 201)
    await unit_admin.ok("PATCH", f"/accounts/{inside['address']}", {"title": "Chuyên viên"})
    assert (await unit_admin.call("GET", f"/accounts/{outside['address']}"))[0] == 403
    assert (await unit_admin.call("POST", f"/accounts/{inside['address']}/transfer", {"unit": "syt"}))[0] == 403
    listed = await unit_admin.ok("GET", f"/accounts?domain={domain}")
    assert [a["address"] for a in listed] == [inside["address"]]
    assert {u["code"] for u in await unit_admin.ok("GET", f"/units?domain={domain}")} == {"stttt", "ttcntttt"}

    audits = await read_events(infra_parts.bootstrap, "admin.audit.v1",
                               lambda e: e["admin"] == "quantri.stttt" and e["outcome"] == "denied", 6)
    assert {a["action"] for a in audits} >= {"application.submit", "application.approve", "domain.add",
                                             "account.create", "account.show", "account.transfer"}
    assert all(a["details"]["role"] == "unit" and a["details"]["status"] == 403 for a in audits)


async def test_auditors_read_logs_and_statistics_only(root: Api, sessions, redis_client, domain: str) -> None:
    await province(root, domain)
    created = await root.ok("POST", "/accounts", {"domain": domain, "name": "Đặng Thị Ưng", "unit": "syt"}, 201)
    auditor = await appoint(root, sessions, "kiemtoan", "auditor")
    stats = await auditor.ok("GET", "/stats")
    assert stats["domains"][domain]["status:active"] == 1
    for method, path in (("GET", f"/accounts/{created['address']}"), ("GET", f"/accounts?domain={domain}"),
                         ("POST", "/units", ), ("GET", "/admins"), ("POST", "/jobs/inactivity")):
        assert (await auditor.call(method, path, {} if method == "POST" else None))[0] == 403, path

    # The audit log as the drainer keeps it for auditors: every action, with who, what, target and result.
    async def logged() -> list[dict[str, Any]]:
        return await auditor.ok("GET", "/audit?limit=500")

    for _ in range(100):
        entries = await logged()
        if any(e["action"] == "account.show" and e["admin"] == "kiemtoan" for e in entries):
            break
        await asyncio.sleep(0.1)
    by_action = {(e["admin"], e["action"], e["outcome"]) for e in entries}
    assert ("province-admin", "account.create", "ok") in by_action
    assert ("province-admin", "admin.add", "ok") in by_action
    assert ("kiemtoan", "account.show", "denied") in by_action
    assert ("kiemtoan", "stats.read", "ok") in by_action
    assert all({"admin", "action", "target", "outcome"} <= e.keys() for e in entries)


async def test_a_rotated_token_stops_working_and_a_removed_admin_is_gone(root: Api, sessions) -> None:
    auditor = await appoint(root, sessions, "kiemtoan", "auditor")
    fresh = (await root.ok("POST", "/admins/kiemtoan/token"))["token"]
    assert (await auditor.call("GET", "/whoami"))[0] == 401
    assert (await sessions(fresh).ok("GET", "/whoami"))["name"] == "kiemtoan"
    await root.ok("DELETE", "/admins/kiemtoan")
    assert (await sessions(fresh).call("GET", "/whoami"))[0] == 401
    assert (await root.call("DELETE", "/admins/province-admin"))[0] == 422  # nobody removes themself


async def test_the_bootstrap_token_is_private_and_survives_a_restart(
    infra_parts, redis_client, tmp_path: Path
) -> None:
    platform = platform_for(infra_parts, tmp_path)
    first = LifecycleService(platform, LifecycleSettings(), start_jobs=False)
    await first.start()
    await first.stop()
    path = first.token_path
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    token = path.read_text().strip()
    # Redis lost everything (a new cluster); the operator's file still opens the door.
    redis_client.flushall()
    second = LifecycleService(platform, LifecycleSettings(), start_jobs=False)
    await second.start()
    try:
        admin = await second.services.admins.authenticate(token)
        assert admin is not None and admin.role == "province" and path.read_text().strip() == token
    finally:
        await second.stop()


async def test_a_token_from_the_settings_is_used_as_given(infra_parts, redis_client, tmp_path: Path) -> None:
    settings = LifecycleSettings(bootstrap_admin="trungtam", bootstrap_token="gma_from-a-kubernetes-secret")
    service = LifecycleService(platform_for(infra_parts, tmp_path), settings, start_jobs=False)
    await service.start()
    try:
        admin = await AdminRegistry(service.redis).authenticate("gma_from-a-kubernetes-secret")
        assert admin is not None and admin.name == "trungtam" and not service.token_path.exists()
        # Only a hash of the token is stored.
        assert not any("from-a-kubernetes-secret" in key for key in redis_client.keys("*"))
    finally:
        await service.stop()
