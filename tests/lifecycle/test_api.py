"""The admin HTTP API against the session's Redis: what it stores, what it answers, and its problem JSON."""

from __future__ import annotations

import asyncio
import unicodedata
from typing import Any

import aiohttp

from services.common.directory import DOMAINS, RedisDirectory, account_key
from services.lifecycle.app import LifecycleService
from services.lifecycle.passwords import policy_violations, verify_password

PROBLEM = "application/problem+json"


async def post(http: aiohttp.ClientSession, path: str, body: Any) -> tuple[int, Any]:
    async with http.post(path, json=body) as response:
        return response.status, await response.json(content_type=None)


async def get(http: aiohttp.ClientSession, path: str) -> tuple[int, Any]:
    async with http.get(path) as response:
        return response.status, await response.json(content_type=None)


async def assert_problem(response: aiohttp.ClientResponse, status: int, slug: str) -> dict[str, Any]:
    assert response.status == status
    assert response.content_type == PROBLEM
    body = await response.json(content_type=None)
    assert body["status"] == status
    assert body["type"].endswith(slug)
    assert body["title"] and body["detail"]
    return body


async def setup_domain(http: aiohttp.ClientSession, domain: str) -> None:
    assert (await post(http, "/domains", {"name": domain}))[0] == 201
    unit = {"domain": domain, "code": "stttt", "name": "Sở Thông tin và Truyền thông", "kind": "department"}
    assert (await post(http, "/units", unit))[0] == 201


async def test_health_and_readiness(http: aiohttp.ClientSession) -> None:
    assert await get(http, "/healthz") == (200, {"status": "ok"})
    status, body = await get(http, "/readyz")
    assert status == 200 and body["status"] == "ready"
    async with http.get("/metrics") as response:  # scraped without an administrator token
        assert response.status == 200 and response.content_type == "text/plain"
        assert "# TYPE govmail_messages_out_total counter" in await response.text()


async def test_domain_is_added_listed_and_visible_to_ingress(http, redis_client, domain: str) -> None:
    status, body = await post(http, "/domains", {"name": domain.upper() + ".", "scheme": "backan"})
    assert status == 201 and body["name"] == domain and body["scheme"] == "backan"
    assert redis_client.sismember(DOMAINS, domain)
    status, listed = await get(http, "/domains")
    assert status == 200 and [d["name"] for d in listed] == [domain]
    directory = RedisDirectory.from_url(
        f"redis://127.0.0.1:{redis_client.connection_pool.connection_kwargs['port']}/0"
    )
    try:
        assert await directory.is_local_domain(domain)
    finally:
        await directory.close()


async def test_duplicate_domain_is_a_409_problem(http, domain: str) -> None:
    await post(http, "/domains", {"name": domain})
    async with http.post("/domains", json={"name": domain}) as response:
        body = await assert_problem(response, 409, "conflict")
    assert domain in body["detail"]


async def test_bad_domain_and_scheme_are_422_problems(http) -> None:
    async with http.post("/domains", json={"name": "not a domain"}) as response:
        await assert_problem(response, 422, "invalid-input")
    async with http.post("/domains", json={"name": "hanoi.gov.vn", "scheme": "latin"}) as response:
        body = await assert_problem(response, 422, "invalid-input")
    assert "latin" in body["detail"]


async def test_malformed_and_invalid_bodies(http) -> None:
    async with http.post(
        "/domains", data=b"{not json", headers={"Content-Type": "application/json"}
    ) as response:
        await assert_problem(response, 400, "malformed-body")
    async with http.post("/domains", json=["tiengiang.gov.vn"]) as response:
        await assert_problem(response, 400, "malformed-body")
    async with http.post("/accounts", json={"domain": "x.vn", "birth_year": "nineteen"}) as response:
        body = await assert_problem(response, 422, "invalid-input")
    assert body["errors"][0]["field"] == "birth_year"
    async with http.post("/accounts", json={"domain": "x.vn", "name": "A", "password": "x"}) as response:
        await assert_problem(response, 422, "invalid-input")


async def test_unknown_routes_and_methods_are_problems(http) -> None:
    async with http.get("/mailboxes") as response:
        await assert_problem(response, 404, "not-found")
    async with http.delete("/domains") as response:
        await assert_problem(response, 405, "method-not-allowed")


async def test_units_belong_to_an_existing_domain_and_parent(http, domain: str) -> None:
    async with http.post("/units", json={"domain": domain, "code": "stttt", "name": "Sở TT&TT"}) as response:
        await assert_problem(response, 422, "unknown-reference")
    await setup_domain(http, domain)
    orphan = {"domain": domain, "code": "ttcntttt", "name": "Trung tâm CNTT", "parent": "sxd"}
    async with http.post("/units", json=orphan) as response:
        body = await assert_problem(response, 422, "unknown-reference")
    assert "sxd" in body["detail"]
    child = {**orphan, "parent": "STTTT", "kind": "division"}
    assert (await post(http, "/units", child))[0] == 201
    async with http.post("/units", json=child) as response:
        await assert_problem(response, 409, "conflict")
    status, units = await get(http, f"/units?domain={domain}")
    assert status == 200
    assert [(u["code"], u["parent"], u["name"]) for u in units] == [
        ("stttt", "", "Sở Thông tin và Truyền thông"),
        ("ttcntttt", "stttt", "Trung tâm CNTT"),
    ]
    async with http.get("/units?domain=khong-co.gov.vn") as response:
        await assert_problem(response, 404, "not-found")
    async with http.get("/units") as response:
        await assert_problem(response, 422, "invalid-input")


async def test_account_is_created_with_a_one_time_password(
    http, redis_client, service: LifecycleService, domain
) -> None:
    await setup_domain(http, domain)
    body = {
        "domain": domain,
        "name": "Lê Minh Hiếu",
        "unit": "stttt",
        "birth_year": 1977,
        "service_class": "basic",
    }
    async with http.post("/accounts", json=body) as response:
        assert response.status == 201
        assert response.headers["Cache-Control"] == "no-store"
        created = await response.json()
    address = f"leminhhieu@{domain}"
    assert created["address"] == address and created["account"]["address"] == address
    assert policy_violations(created["password"]) == []
    assert "password_hash" not in created["account"]

    # What ingress and delivery will read back through the shared directory client.
    account = await service.lifecycle.store.account(address)
    assert account is not None
    assert (account.name, account.unit, account.kind, account.status) == (
        "Lê Minh Hiếu",
        "stttt",
        "personal",
        "active",
    )
    assert account.birth_year == 1977 and account.must_change_password
    assert account.limits.quota_bytes == 10 * 1024**2
    assert verify_password(created["password"], account.password_hash)
    assert created["password"] not in str(redis_client.hgetall(account_key(address)))

    status, shown = await get(http, f"/accounts/{address.upper()}")
    assert status == 200 and shown["name"] == "Lê Minh Hiếu" and "password_hash" not in shown


async def test_account_errors_are_problems(http, domain: str) -> None:
    async with http.post("/accounts", json={"domain": domain, "name": "Nguyễn Văn Anh"}) as response:
        await assert_problem(response, 422, "unknown-reference")
    await setup_domain(http, domain)
    cases = [
        ({"name": "Иван Петров"}, 422, "invalid-input"),
        ({"name": ""}, 422, "invalid-input"),
        ({"name": "Nguyễn Văn Anh", "unit": "khongco"}, 422, "unknown-reference"),
        ({"name": "Nguyễn Văn Anh", "service_class": "gold"}, 422, "invalid-input"),
        ({"name": "Nguyễn Văn Anh", "birth_year": 1850}, 422, "invalid-input"),
        ({"unit_mailbox": True}, 422, "invalid-input"),
    ]
    for extra, status, slug in cases:
        async with http.post("/accounts", json={"domain": domain, **extra}) as response:
            await assert_problem(response, status, slug)
    async with http.get(f"/accounts/khongco@{domain}") as response:
        await assert_problem(response, 404, "not-found")


async def test_unit_mailbox_is_the_unit_code_and_only_once(
    http, service: LifecycleService, domain: str
) -> None:
    await setup_domain(http, domain)
    status, created = await post(http, "/accounts", {"domain": domain, "unit": "stttt", "unit_mailbox": True})
    assert status == 201 and created["address"] == f"stttt@{domain}"
    account = await service.lifecycle.store.account(f"stttt@{domain}")
    assert account is not None and account.kind == "unit" and account.name == "Sở Thông tin và Truyền thông"
    async with http.post(
        "/accounts", json={"domain": domain, "unit": "stttt", "unit_mailbox": True}
    ) as response:
        await assert_problem(response, 409, "conflict")


async def test_namesakes_get_addresses_in_the_tien_giang_order(http, domain: str) -> None:
    await setup_domain(http, domain)
    years = [1980, 1981, 1982, 1977, 1978, 1977, None]
    addresses = []
    for year in years:
        status, created = await post(
            http, "/accounts", {"domain": domain, "name": "Lê Minh Hiếu", "birth_year": year}
        )
        assert status == 201
        addresses.append(created["address"].split("@")[0])
    assert addresses == [
        "leminhhieu",
        "lminhhieu",
        "lmhieu",
        "leminhhieu77",
        "leminhhieu78",
        "leminhhieu1",
        "leminhhieu2",
    ]


async def test_chinese_names_become_pinyin(http, domain: str) -> None:
    await setup_domain(http, domain)
    first = await post(http, "/accounts", {"domain": domain, "name": "张伟", "unit": "stttt"})
    second = await post(http, "/accounts", {"domain": domain, "name": "张伟", "unit": "stttt"})
    assert [first[1]["address"], second[1]["address"]] == [f"zhangwei@{domain}", f"zwei@{domain}"]
    assert first[1]["account"]["name"] == "张伟"


async def test_concurrent_creates_of_one_name_get_distinct_addresses(
    http, service: LifecycleService, domain
) -> None:
    await setup_domain(http, domain)
    results = await asyncio.gather(
        *(
            post(http, "/accounts", {"domain": domain, "name": "Nguyễn Văn Anh", "unit": "stttt"})
            for _ in range(16)
        )
    )
    assert all(status == 201 for status, _ in results)
    addresses = [body["address"] for _, body in results]
    assert len(set(addresses)) == 16
    expected = ["nguyenvananh", "nvananh", "nvanh"] + [f"nguyenvananh{n}" for n in range(1, 10)]
    expected += [f"nguyenvananh{n}" for n in range(100, 104)]
    assert sorted(addresses) == sorted(f"{local}@{domain}" for local in expected)
    # Each caller got the password of the account it was told about.
    for _, body in results:
        account = await service.lifecycle.store.account(body["address"])
        assert account is not None and verify_password(body["password"], account.password_hash)


async def test_names_are_stored_composed_with_single_spaces(http, service: LifecycleService, domain: str) -> None:
    await setup_domain(http, domain)
    typed = unicodedata.normalize("NFD", "  Trần   Quốc Hùng ")
    status, created = await post(http, "/accounts", {"domain": domain, "name": typed})
    assert status == 201 and created["address"] == f"tranquochung@{domain}"
    assert created["account"]["name"] == "Trần Quốc Hùng"
