"""Service classes apply at once (R12); logins on auth.events.v1 become last access (R9); old hashes are upgraded."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from typing import Any

from schemas.events import AuthEvent
from services.common.bus import KafkaPublisher
from services.common.directory import FEATURES, RedisDirectory, account_key, grants_key
from services.lifecycle.activity import LoginRecorder
from services.lifecycle.app import LifecycleService
from services.lifecycle.credentials import login_state, rehash_after_login
from services.lifecycle.passwords import PasswordPolicy, verify_password
from tests.lifecycle.conftest import Api, Clock, read_events


async def test_a_class_change_is_seen_by_every_reader_at_once(root: Api, service: LifecycleService, domain) -> None:
    directory = RedisDirectory(service.redis)
    await root.ok("POST", "/domains", {"name": domain}, 201)
    # The two classes the seeds name, then one the province adds for its leaders.
    assert {c["name"]: c["quota_bytes"] for c in await root.ok("GET", "/classes")} == {
        "basic": 10 * 1024**2, "standard": 500 * 1024**2}
    leaders = {"quota_bytes": 2 * 1024**3, "max_message_bytes": 50 * 1024**2, "features": ["external", "recall"]}
    await root.ok("PUT", "/classes/leaders", leaders)
    found = await directory.service_class("leaders")
    assert (found.quota_bytes, found.max_message_bytes, found.features) == (2 * 1024**3, 50 * 1024**2,
                                                                            ["external", "recall"])
    created = await root.ok("POST", "/accounts", {"domain": domain, "name": "Hoàng Quốc Hùng",
                                                   "service_class": "leaders"}, 201)
    # Lowering a built-in class takes effect for its readers at once: they go to Redis every time.
    await root.ok("PUT", "/classes/basic", {"quota_bytes": 20 * 1024**2, "max_message_bytes": 5 * 1024**2})
    assert (await directory.service_class("basic")).quota_bytes == 20 * 1024**2
    moved = await root.ok("PATCH", f"/accounts/{created['address']}", {"service_class": "basic"})
    assert moved["service_class"] == "basic"
    for bad in ({"quota_bytes": 10, "max_message_bytes": 20}, {"quota_bytes": 10, "max_message_bytes": 5,
                                                              "features": ["teleport"]}):
        status, problem = await root.call("PUT", "/classes/leaders", bad)
        assert status == 422 and problem["type"].endswith("invalid-input")
    assert (await root.call("PATCH", f"/accounts/{created['address']}", {"service_class": "gold"}))[0] == 422


async def test_delegation_needs_the_feature_in_the_mailbox_owners_class(root: Api, infra_parts, domain,
                                                                        redis_client) -> None:
    await root.ok("POST", "/domains", {"name": domain}, 201)
    # R12: the province's class "riengtu" allows everything but handing one's mailbox to others (R16).
    private = await root.ok("PUT", "/classes/riengtu", {"quota_bytes": 500 * 1024**2, "max_message_bytes": 50 * 1024**2,
                                                        "features": [f for f in FEATURES if f != "delegation"]})
    assert "delegation" not in private["features"] and "smtp" in private["features"]
    hong = (await root.ok("POST", "/accounts", {"domain": domain, "name": "Vương Thị Hồng",
                                                "service_class": "riengtu"}, 201))["address"]
    phuc = (await root.ok("POST", "/accounts", {"domain": domain, "name": "Lý Văn Phúc 李文福"}, 201))["address"]
    status, problem = await root.call("POST", f"/accounts/{hong}/grants", {"grantee": phuc, "rights": ["send_as"]})
    assert (status, problem["type"].rpartition(":")[2], problem["feature"]) == (403, "feature-not-allowed",
                                                                               "delegation")
    assert problem["detail"] == f"the service class riengtu of {hong} does not include delegation"
    assert redis_client.hgetall(grants_key(hong)) == {}
    # The delegate's own class does not matter: Phúc (standard) may let Hồng send for him.
    await root.ok("POST", f"/accounts/{phuc}/grants", {"grantee": hong, "rights": ["view", "send_on_behalf"]}, 201)
    [denied] = await read_events(infra_parts.bootstrap, "admin.audit.v1",
                                 lambda e: e["action"] == "grant.add" and e["target"] == f"{phuc}->{hong}", 1)
    assert denied["outcome"] == "denied" and denied["details"]["status"] == 403
    # A change that leaves the features out keeps them; a new class without a list gets every feature.
    changed = await root.ok("PUT", "/classes/riengtu", {"quota_bytes": 1024**3, "max_message_bytes": 50 * 1024**2})
    assert (changed["quota_bytes"], changed["features"]) == (1024**3, private["features"])
    fresh = await root.ok("PUT", "/classes/lanhdao", {"quota_bytes": 1024**3, "max_message_bytes": 50 * 1024**2})
    assert fresh["features"] == sorted(FEATURES)


def first_release_hash(password: str) -> str:
    salt = b"muoi-sau-byte!!!"
    derived = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, maxmem=64 * 1024**2, dklen=32)
    return f"scrypt$16384$8$1${base64.b64encode(salt).decode()}${base64.b64encode(derived).decode()}"


async def test_a_first_release_hash_is_replaced_after_a_successful_login(service: LifecycleService, redis_client) -> None:
    address = "nguyenvananh@tiengiang.gov.vn"
    old = first_release_hash("MatKhau@789")
    redis_client.hset(account_key(address), mapping={"address": address, "domain": "tiengiang.gov.vn",
                                                      "localpart": "nguyenvananh", "name": "Nguyễn Văn Anh",
                                                      "password_hash": old})
    assert await rehash_after_login(service.redis, address, "MatKhau@789", old)
    upgraded = redis_client.hget(account_key(address), "password_hash")
    assert upgraded.startswith("$argon2id$") and verify_password("MatKhau@789", upgraded)
    assert not await rehash_after_login(service.redis, address, "MatKhau@789", upgraded)
    # A hash changed meanwhile (the user set a new password) is never overwritten with the old one.
    assert not await rehash_after_login(service.redis, address, "MatKhau@789", old)
    assert redis_client.hget(account_key(address), "password_hash") == upgraded


async def test_periodic_change_is_enforced_by_configuration(root: Api, service: LifecycleService, clock: Clock,
                                                            domain: str) -> None:
    await root.ok("POST", "/domains", {"name": domain}, 201)
    created = await root.ok("POST", "/accounts", {"domain": domain, "name": "Võ Thị Yến"}, 201)
    await root.ok("POST", f"/accounts/{created['address']}/password",
                  {"current": created["password"], "new": "Yến@Mới2026"})
    account = await RedisDirectory(service.redis).account(created["address"])
    assert account is not None
    assert account.session_epoch == 1  # the owner's change ended the other sessions
    every_90_days = PasswordPolicy(max_age_days=90)
    assert login_state(account, clock(), every_90_days) == "ok"
    assert login_state(account, clock.advance(days=91), every_90_days) == "expired"
    assert login_state(account, clock(), PasswordPolicy()) == "ok"
    # Only an administrator resets: a new one-time password, and every session of the user ends.
    reset = await root.ok("POST", f"/accounts/{created['address']}/password-reset")
    assert reset["account"]["must_change_password"] and reset["account"]["session_epoch"] == 2
    assert (await root.call("POST", f"/accounts/{created['address']}/password",
                            {"current": "Yến@Mới2026", "new": "Yến@Khác2027"}))[0] == 401


async def test_logins_from_the_bus_move_last_access_forward_only(service: LifecycleService, redis_client) -> None:
    recorder = LoginRecorder(service.redis, "unused:0")
    address = "tranthilan@tiengiang.gov.vn"
    redis_client.hset(account_key(address), mapping={"address": address, "domain": "tiengiang.gov.vn",
                                                      "localpart": "tranthilan", "name": "Trần Thị Lan"})

    def event(outcome: str, at: str, username: str = address) -> bytes:
        return AuthEvent(producer="webmail", username=username, ip="10.1.2.3", service="webmail",
                         outcome=outcome, occurred_at=at).model_dump_json().encode()

    assert await recorder.record(event("success", "2026-03-01T08:00:00+00:00"))
    assert not await recorder.record(event("success", "2026-02-01T08:00:00+00:00"))  # older: ignored
    assert not await recorder.record(event("failure", "2026-04-01T08:00:00+00:00"))
    assert not await recorder.record(b"\xff not json")
    assert not await recorder.record(json.dumps({"username": address}).encode())
    assert not await recorder.record(event("success", "2026-05-01T08:00:00+00:00", "khongco@tiengiang.gov.vn"))
    assert redis_client.hget(account_key(address), "last_login_at") == "2026-03-01T08:00:00+00:00"
    assert not redis_client.exists(account_key("khongco@tiengiang.gov.vn"))


async def test_the_service_reads_logins_published_by_ingress(
    service: LifecycleService, root: Api, infra_parts: Any, domain: str
) -> None:
    await root.ok("POST", "/domains", {"name": domain}, 201)
    address = (await root.ok("POST", "/accounts", {"domain": domain, "name": "张伟"}, 201))["address"]
    publisher = KafkaPublisher(infra_parts.bootstrap, client_id="test-ingress")
    await publisher.start()
    try:
        await publisher.publish("auth.events.v1", AuthEvent(producer="ingress", username=address, ip="10.0.0.1",
                                                            service="smtp", outcome="success"))
    finally:
        await publisher.stop()
    directory = RedisDirectory(service.redis)
    for _ in range(300):
        account = await directory.account(address)
        if account is not None and account.last_login_at:
            break
        await asyncio.sleep(0.1)
    assert account is not None and account.last_login_at


async def test_guessing_the_current_password_is_capped(root: Api, redis_client, domain: str) -> None:
    await root.ok("POST", "/domains", {"name": domain}, 201)
    created = await root.ok("POST", "/accounts", {"domain": domain, "name": "Lý Văn Quý"}, 201)
    change = f"/accounts/{created['address']}/password"
    for _ in range(5):
        assert (await root.call("POST", change, {"current": "Doan@Bua123", "new": "Quý@Mới2026"}))[0] == 401
    # Even the right password is refused now, without saying whether it was right.
    status, problem = await root.call("POST", change, {"current": created["password"], "new": "Quý@Mới2026"})
    assert status == 429 and problem["type"].endswith("too-many-attempts")
    failures = f"gm:pwchange-failures:{created['address']}"
    assert 0 < redis_client.ttl(failures) <= 900  # the cap lifts by itself after the window
    redis_client.delete(failures)  # … as if the window had passed
    await root.ok("POST", change, {"current": created["password"], "new": "Quý@Mới2026"})
