"""Setting an account's login restrictions (R24) and unlocking its sending (R22) through the admin API and CLI."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from services.common.directory import account_key
from services.lifecycle import cli
from services.lifecycle.app import LifecycleService
from tests.lifecycle.conftest import read_events
from tests.lifecycle.test_api import assert_problem, get, post, setup_domain


async def patch(http: aiohttp.ClientSession, path: str, body: Any) -> tuple[int, Any]:
    async with http.patch(path, json=body) as response:
        return response.status, await response.json(content_type=None)


@pytest.fixture
async def address(http: aiohttp.ClientSession, domain: str) -> str:
    await setup_domain(http, domain)
    status, body = await post(http, "/accounts", {"domain": domain, "name": "Lê Minh Hiếu", "unit": "stttt"})
    assert status == 201
    return body["address"]


async def test_restrictions_are_stored_shown_and_lifted(http, redis_client, address: str) -> None:
    body = {"allowed_networks": ["10.1.2.3/8", " 2001:db8::/32", "192.168.5.7"], "allowed_hours": "22:00-06:00",
            "allowed_clients": ["SMTP", "webmail"]}
    status, account = await patch(http, f"/accounts/{address}/restrictions", body)
    assert status == 200
    assert account["allowed_networks"] == ["10.0.0.0/8", "2001:db8::/32", "192.168.5.7/32"]
    assert account["allowed_hours"] == "22:00-06:00"
    assert account["allowed_clients"] == ["smtp", "webmail"]
    stored = redis_client.hgetall(account_key(address))
    assert stored["allowed_networks"] == "10.0.0.0/8,2001:db8::/32,192.168.5.7/32"
    assert stored["allowed_clients"] == "smtp,webmail"
    assert stored["name"] == "Lê Minh Hiếu" and stored["password_hash"]
    assert (await get(http, f"/accounts/{address}"))[1]["allowed_hours"] == "22:00-06:00"

    # A field left out stays; an empty one lifts its restriction.
    status, account = await patch(http, f"/accounts/{address}/restrictions", {"allowed_networks": []})
    assert status == 200
    assert account["allowed_networks"] == [] and account["allowed_hours"] == "22:00-06:00"
    assert redis_client.hget(account_key(address), "allowed_networks") == ""


@pytest.mark.parametrize("body", [
    {"allowed_networks": ["10.0.0.0/33"]},
    {"allowed_networks": ["mạng nội bộ"]},
    {"allowed_hours": "25:00-06:00"},
    {"allowed_hours": "07:00-07:00"},
    {"allowed_clients": ["outlook"]},
    {},
    {"allowed_hours": "07:00-19:00", "sending_locked": False},
])
async def test_bad_restrictions_are_422_problems(http, redis_client, address: str, body: dict) -> None:
    async with http.patch(f"/accounts/{address}/restrictions", json=body) as response:
        await assert_problem(response, 422, "invalid-input")
    assert redis_client.hget(account_key(address), "allowed_hours") == ""


async def test_unknown_account_is_404(http, domain: str) -> None:
    async with http.patch(f"/accounts/khongco@{domain}/restrictions", json={"allowed_hours": ""}) as response:
        await assert_problem(response, 404, "not-found")
    async with http.post(f"/accounts/khongco@{domain}/unlock-sending") as response:
        await assert_problem(response, 404, "not-found")


async def test_unlock_sending_clears_the_flag_with_event_and_audit(
        http, redis_client, infra_parts, address: str) -> None:
    redis_client.hset(account_key(address), "sending_locked", "1")
    assert (await get(http, f"/accounts/{address}"))[1]["sending_locked"] is True
    status, account = await post(http, f"/accounts/{address}/unlock-sending", {})
    assert status == 200 and account["sending_locked"] is False
    assert redis_client.hget(account_key(address), "sending_locked") == "0"
    assert (await patch(http, f"/accounts/{address}/restrictions", {"allowed_hours": "07:00-19:00"}))[0] == 200

    changes = await read_events(infra_parts.bootstrap, "account.events.v1",
                                lambda e: e.get("address") == address and e["kind"] == "account_updated", 2)
    assert sorted((c["details"] for c in changes), key=str) == [{"allowed_hours": "07:00-19:00"},
                                                                {"sending_locked": False}]
    audits = await read_events(infra_parts.bootstrap, "admin.audit.v1",
                               lambda e: e.get("target") == address and e["action"] != "account.create", 3)
    assert {(a["action"], a["admin"], a["outcome"]) for a in audits} >= {
        ("account.unlock_sending", "province-admin", "ok"), ("account.restrict", "province-admin", "ok")}


async def test_cli_restricts_and_unlocks(service: LifecycleService, http, address: str) -> None:
    async def admin(*args: str) -> int:
        return await asyncio.to_thread(
            cli.main, ["--url", service.url, "--token-file", str(service.token_path), "--admin", "Nguyễn Văn Anh", *args]
        )

    assert await admin("account", "restrict", address, "--networks", "10.0.0.0/8,2001:db8::/32",
                       "--hours", "07:00-19:00", "--clients", "smtp,webmail") == 0
    account = (await get(http, f"/accounts/{address}"))[1]
    assert account["allowed_networks"] == ["10.0.0.0/8", "2001:db8::/32"]
    assert account["allowed_clients"] == ["smtp", "webmail"]
    assert await admin("account", "restrict", address, "--hours", "7h-19h") == 1
    assert await admin("account", "restrict", address) == 1
    assert await admin("account", "unlock-sending", address) == 0
