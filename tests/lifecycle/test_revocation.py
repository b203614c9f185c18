"""Emergency revocation (R13) cuts every access at once; the head of a unit mailbox authorises its delegates (R8)."""

from __future__ import annotations

from typing import Any

import pytest

from services.common.directory import RedisDirectory, granted_key
from services.lifecycle.app import LifecycleService
from services.lifecycle.errors import Forbidden
from tests.lifecycle.conftest import Api, read_events


async def setup(root: Api, domain: str) -> dict[str, str]:
    await root.ok("POST", "/domains", {"name": domain}, 201)
    await root.ok("POST", "/units", {"domain": domain, "code": "stttt", "name": "Sở Thông tin và Truyền thông"}, 201)
    names = {"hung": "Trần Quốc Hùng", "lan": "Trần Thị Lan", "son": "Ngô Văn Sơn"}
    found = {key: (await root.ok("POST", "/accounts", {"domain": domain, "name": name, "unit": "stttt"}, 201))
             ["address"] for key, name in names.items()}
    found["box"] = (await root.ok("POST", "/accounts", {"domain": domain, "unit": "stttt", "unit_mailbox": True},
                                  201))["address"]
    return found


async def test_revocation_locks_and_cuts_every_grant_at_once(
    root: Api, sessions: Any, service: LifecycleService, redis_client, infra_parts, domain: str
) -> None:
    a = await setup(root, domain)
    directory = RedisDirectory(service.redis)
    await root.ok("POST", f"/accounts/{a['hung']}/grants", {"grantee": a["lan"], "rights": ["view"]}, 201)
    await root.ok("POST", f"/accounts/{a['son']}/grants", {"grantee": a["hung"], "rights": ["send_as"]}, 201)
    unit_admin = sessions((await root.ok("POST", "/admins", {"name": "qt", "role": "unit", "domain": domain,
                                                             "unit": "stttt"}, 201))["token"])
    assert (await unit_admin.call("POST", f"/accounts/{a['hung']}/revoke", {"reason": "mã độc"}))[0] == 403
    assert (await root.call("POST", f"/accounts/{a['hung']}/revoke", {"reason": " "}))[0] == 422

    revoked = await root.ok("POST", f"/accounts/{a['hung']}/revoke", {"reason": "Phát tán mã độc"})
    assert (revoked["status"], revoked["locked_reason"], revoked["sending_locked"], revoked["session_epoch"]) == (
        "locked", "revoked", True, 1)
    assert await directory.grant(a["hung"], a["lan"]) is None and await directory.grant(a["son"], a["hung"]) is None
    assert redis_client.smembers(granted_key(a["hung"])) == set()
    assert (await root.call("POST", f"/accounts/{a['hung']}/grants", {"grantee": a["lan"], "rights": ["view"]}))[0] \
        == 409
    audit = await read_events(infra_parts.bootstrap, "admin.audit.v1",
                              lambda e: e["action"] == "account.revoke" and e["target"] == a["hung"], 3)
    assert [x["outcome"] for x in audit] == ["denied", "error", "ok"]
    assert audit[2]["details"]["reason"] == "Phát tán mã độc"

    # Lifting a revocation is the centre's decision too (an inactivity lock the unit may lift itself).
    assert (await unit_admin.call("POST", f"/accounts/{a['hung']}/unlock"))[0] == 403
    unlocked = await root.ok("POST", f"/accounts/{a['hung']}/unlock")
    assert unlocked["account"]["status"] == "active" and unlocked["account"]["must_change_password"]


async def test_the_holder_of_a_unit_mailbox_authorises_delegates(root: Api, service: LifecycleService, domain) -> None:
    a = await setup(root, domain)
    await root.ok("POST", f"/accounts/{a['box']}/handover", {"holder": a["hung"]})
    delegations = service.services.delegations
    grant = await delegations.add_by_holder(a["hung"], a["box"], a["lan"], ["view", "send_on_behalf"])
    assert grant.granted_by == a["hung"]
    with pytest.raises(Forbidden):
        await delegations.add_by_holder(a["son"], a["box"], a["son"], ["send_as"])
    listed = await root.ok("GET", f"/accounts/{a['box']}/grants")
    assert {(g["grantee"], tuple(g["rights"])) for g in listed} == {
        (a["hung"], ("view", "send_on_behalf", "send_as")), (a["lan"], ("view", "send_on_behalf"))}
    await root.ok("DELETE", f"/accounts/{a['box']}/grants/{a['lan']}")
    assert [g["grantee"] for g in await root.ok("GET", f"/accounts/{a['box']}/grants")] == [a["hung"]]
