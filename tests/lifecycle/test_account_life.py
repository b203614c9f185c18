"""The whole life of an account on the real Redis and broker, with an injected clock (issue 6, "Done when").

Apply → approve within and past the SLA → issue → first-login password change → delegation with
expiry → transfer → rename with alias → hand-over of the unit mailbox → inactivity lock and delete
with their notices → closing with export.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import mailbox
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from schemas.events import AuthEvent
from services.common.bus import KafkaPublisher
from services.common.directory import RedisDirectory, alias_key, granted_key, grants_key
from services.delivery.maildir import mailbox_root
from services.lifecycle import cli
from services.lifecycle.app import LifecycleService
from services.lifecycle.credentials import login_state
from services.lifecycle.passwords import verify_password
from tests.lifecycle.conftest import Api, Clock, read_events

UNITS = [
    {"code": "stttt", "name": "Sở Thông tin và Truyền thông", "kind": "department"},
    {"code": "ttcntttt", "name": "Trung tâm Công nghệ thông tin và Truyền thông", "kind": "division",
     "parent": "stttt"},
    {"code": "syt", "name": "Sở Y tế", "kind": "department"},
]


def put_mail(service: LifecycleService, address: str, subject: str, body: str) -> None:
    """A delivered message, as delivery leaves it in the Maildir."""
    root = mailbox_root(service.platform.mail_root, address)
    root.mkdir(parents=True, exist_ok=True)
    box = mailbox.Maildir(root / "Maildir", create=True)
    message = EmailMessage()
    message["From"] = "vanthu@tiengiang.gov.vn"
    message["To"] = address
    message["Subject"] = subject
    message.set_content(body, charset="utf-8")
    box.add(message)
    box.close()


async def run_cli(service: LifecycleService, *argv: str) -> tuple[int, str]:
    out = io.StringIO()

    def run() -> int:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            return cli.main([*argv, "--url", service.url, "--token-file", str(service.token_path)])

    return await asyncio.to_thread(run), out.getvalue()


async def until(check: Any, timeout: float = 30.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (result := await check()) and loop.time() < deadline:
        await asyncio.sleep(0.1)
    return result


async def test_the_whole_life_of_an_account(
    service: LifecycleService, root: Api, sessions: Any, clock: Clock, infra_parts: Any, redis_client: Any,
    domain: str,
) -> None:
    directory = RedisDirectory(service.redis)
    await root.ok("POST", "/domains", {"name": domain}, 201)
    for unit in UNITS:
        await root.ok("POST", "/units", {"domain": domain, **unit}, 201)
    token = (await root.ok("POST", "/admins", {"name": "quantri.stttt", "role": "unit", "domain": domain,
                                               "unit": "stttt"}, 201))["token"]
    unit_admin = sessions(token)

    # --- apply: the unit administrator asks for two people and the unit's own mailbox -------------
    applied = {}
    for key, body in {
        "hieu": {"name": "Lê Minh Hiếu", "unit": "ttcntttt", "birth_year": 1977, "title": "Giám đốc",
                 "note": "Cán bộ mới tiếp nhận"},
        "anh": {"name": "Nguyễn Văn Anh", "unit": "stttt", "title": "Phó Giám đốc"},
        "box": {"unit": "stttt", "unit_mailbox": True},
    }.items():
        applied[key] = await unit_admin.ok("POST", "/applications", {"domain": domain, **body}, 201)
        assert applied[key]["status"] == "pending" and applied[key]["submitted_by"] == "quantri.stttt"

    # --- approve within the SLA: issued at once --------------------------------------------------
    clock.advance(hours=3)
    issued = await root.ok("POST", f"/applications/{applied['hieu']['id']}/approve", {"reason": "Đủ hồ sơ"})
    hieu, first_password = issued["application"]["address"], issued["password"]
    assert hieu == f"leminhhieu@{domain}" and issued["application"]["late"] is False
    account = await directory.account(hieu)
    assert account is not None and account.title == "Giám đốc" and account.must_change_password

    # --- past the SLA: flagged, listed (API and CLI), then decided late ---------------------------
    clock.advance(hours=20)
    assert await unit_admin.ok("GET", "/applications?overdue=1") == []
    clock.advance(hours=4)
    overdue = await unit_admin.ok("GET", "/applications?overdue=1")
    assert {a["id"] for a in overdue} == {applied["anh"]["id"], applied["box"]["id"]}
    code, printed = await run_cli(service, "applications", "--overdue")
    assert code == 0 and printed.count("OVERDUE") == 2 and applied["anh"]["id"] in printed
    assert set((await root.ok("POST", "/jobs/sla"))["overdue"]) == {applied["anh"]["id"], applied["box"]["id"]}
    flagged = await read_events(infra_parts.bootstrap, "account.events.v1",
                                lambda e: e["domain"] == domain and e["kind"] == "application_overdue", 2)
    assert {e["details"]["application"] for e in flagged} == {applied["anh"]["id"], applied["box"]["id"]}
    late = await root.ok("POST", f"/applications/{applied['anh']['id']}/approve", {})
    anh = late["application"]["address"]
    assert late["application"]["late"] is True and anh == f"nguyenvananh@{domain}"
    box = (await root.ok("POST", f"/applications/{applied['box']['id']}/approve", {}))["application"]["address"]
    assert box == f"stttt@{domain}"
    kept = await root.ok("GET", f"/applications/{applied['hieu']['id']}")
    assert (kept["note"], kept["reason"], kept["decided_by"]) == ("Cán bộ mới tiếp nhận", "Đủ hồ sơ", "province-admin")

    # --- first login: the one-time password must be changed, by the policy, never reused ----------
    policy = service.lifecycle.password_policy
    assert login_state(account, clock(), policy) == "must_change"
    change = f"/accounts/{hieu}/password"
    assert (await root.call("POST", change, {"current": "Sai@mat1khau", "new": "MatKhau@789"}))[0] == 401
    status, problem = await root.call("POST", change, {"current": first_password, "new": "matkhau789"})
    assert status == 422 and problem["missing"] == ["an upper-case letter", "one of !@#%&*"]
    status, problem = await root.call("POST", change, {"current": first_password, "new": first_password})
    assert status == 422 and "differ" in problem["detail"]
    await root.ok("POST", change, {"current": first_password, "new": "Hiếu@Tiền2024"})
    account = await directory.account(hieu)
    assert account is not None and login_state(account, clock(), policy) == "ok"
    assert verify_password("Hiếu@Tiền2024", account.password_hash) and account.password_hash.startswith("$argon2id$")
    await root.ok("POST", change, {"current": "Hiếu@Tiền2024", "new": "Khác#Hẳn2025"})
    status, _ = await root.call("POST", change, {"current": "Khác#Hẳn2025", "new": "Hiếu@Tiền2024"})
    assert status == 422  # one of the last N

    # --- delegation with expiry --------------------------------------------------------------------
    expires = clock() + timedelta(days=2)
    await unit_admin.ok("POST", f"/accounts/{hieu}/grants",
                        {"grantee": anh, "rights": ["view", "send_on_behalf"], "expires_at": expires.isoformat()}, 201)
    grant = await directory.grant(hieu, anh, now=clock())
    assert grant is not None and grant.rights == ["view", "send_on_behalf"] and grant.granted_by == "quantri.stttt"
    assert await directory.grant(hieu, anh, now=clock() + timedelta(days=3)) is None  # readers see it expire
    clock.advance(days=3)
    assert (await root.ok("POST", "/jobs/grants"))["expired"] == [f"{anh}->{hieu}"]
    assert redis_client.hgetall(grants_key(hieu)) == {} and redis_client.smembers(granted_key(anh)) == set()
    await root.ok("POST", f"/accounts/{hieu}/grants", {"grantee": anh, "rights": ["view"]}, 201)

    # --- transfer: another department is beyond the unit administrator, not the centre ------------
    assert (await unit_admin.call("POST", f"/accounts/{hieu}/transfer", {"unit": "syt"}))[0] == 403
    moved = await root.ok("POST", f"/accounts/{hieu}/transfer", {"unit": "syt"})
    assert moved["unit"] == "syt" and moved["address"] == hieu

    # --- rename with alias: new address, the old one keeps working for the alias period -----------
    put_mail(service, hieu, "Báo cáo quý", "Kính gửi anh Hiếu, báo cáo quý III.")
    renamed = await root.ok("POST", f"/accounts/{hieu}/rename", {"name": "Lê Minh Hiếu Trung"})
    new_hieu = renamed["address"]
    assert new_hieu == f"leminhhieutrung@{domain}" and renamed["alias"] == hieu
    assert await directory.canonical(hieu) == new_hieu and await directory.account(hieu) is None
    assert 179 * 86400 < redis_client.ttl(alias_key(hieu)) <= 180 * 86400
    assert await directory.grant(new_hieu, anh) is not None  # the delegation followed the mailbox
    assert (mailbox_root(service.platform.mail_root, new_hieu) / "Maildir").is_dir()
    # A second rename: both old addresses lead to the newest one.
    newest = (await root.ok("POST", f"/accounts/{new_hieu}/rename", {"name": "Lê Trung Hiếu"}))["address"]
    assert newest == f"letrunghieu@{domain}"
    assert [await directory.canonical(a) for a in (hieu, new_hieu)] == [newest, newest]
    new_hieu = (await root.ok("POST", f"/accounts/{newest}/rename", {"name": "Lê Minh Hiếu Trung"}))["address"]
    assert new_hieu == f"lminhhieutrung@{domain}"  # its own former address is still an alias: next step
    for old_address in (hieu, f"leminhhieutrung@{domain}", newest):
        assert await directory.canonical(old_address) == new_hieu
    # Nobody new gets the old address while it is an alias.
    again = await root.ok("POST", "/accounts", {"domain": domain, "name": "Lê Minh Hiếu"}, 201)
    assert again["address"] != hieu

    # --- hand-over of the unit mailbox: the old head loses it at once -----------------------------
    first = await root.ok("POST", f"/accounts/{box}/handover", {"holder": new_hieu})
    second = await unit_admin.ok("POST", f"/accounts/{box}/handover", {"holder": anh})
    assert second["account"]["holder"] == anh
    assert await directory.grant(box, new_hieu) is None
    held = await directory.grant(box, anh)
    assert held is not None and held.rights == ["view", "send_on_behalf", "send_as"]
    unit_box = await directory.account(box)
    assert unit_box is not None and not verify_password(first["password"], unit_box.password_hash)
    assert verify_password(second["password"], unit_box.password_hash) and unit_box.session_epoch == 2

    # --- inactivity: a login keeps an account alive; silence locks, then deletes, each with a notice
    thao = (await root.ok("POST", "/accounts", {"domain": domain, "name": "Phạm Thị Thảo", "unit": "syt",
                                                "language": "vi"}, 201))["address"]
    put_mail(service, thao, "Lịch họp", "Họp giao ban thứ Hai.")
    clock.advance(days=184)
    publisher = KafkaPublisher(infra_parts.bootstrap, client_id="test-logins")
    await publisher.start()
    try:
        await publisher.publish("auth.events.v1", AuthEvent(producer="ingress", username=anh, ip="10.0.0.8",
                                                            service="smtp", outcome="success", occurred_at=clock()))
    finally:
        await publisher.stop()
    assert await until(lambda: _last_login(directory, anh))
    report = await root.ok("POST", "/jobs/inactivity")
    assert thao in report["locked"] and anh not in report["locked"] and len(report["notices"]) == len(report["locked"])
    locked = await directory.account(thao)
    assert locked is not None and (locked.status, locked.locked_reason) == ("locked", "inactivity")
    assert (await root.ok("POST", "/jobs/inactivity"))["notices"] == []  # a rerun sends nothing twice
    clock.advance(days=182)
    report = await root.ok("POST", "/jobs/inactivity")
    assert thao in report["deleted"]
    deleted = await directory.account(thao)
    assert deleted is not None and deleted.status == "deleted" and deleted.password_hash == ""
    notices = await read_events(infra_parts.bootstrap, "mail.received.v1",
                                lambda e: e.get("mail", {}).get("rcpt_to") == [thao], 2)
    assert sorted(n["mail"]["subject"] for n in notices) == [
        "Thông báo khóa hộp thư do không sử dụng", "Thông báo xóa hộp thư do không sử dụng"]
    assert all(n["mail"]["listener"] == "internal" for n in notices)
    exports = list((service.platform.data / "exports" / domain).glob("phamthithao-*.mbox"))
    assert len(exports) == 1 and "Họp giao ban".encode() in exports[0].read_bytes()

    # --- closing with export -----------------------------------------------------------------------
    put_mail(service, anh, "Bàn giao", "Danh sách hồ sơ bàn giao 机密 không.")
    closed = await unit_admin.ok("POST", f"/accounts/{anh}/close", {"reason": "Nghỉ hưu"})
    assert closed["messages"] == 1 and closed["account"]["status"] == "deleted"
    assert "Danh sách hồ sơ bàn giao".encode() in Path(closed["export"]).read_bytes()
    assert await directory.grant(box, anh) is None  # a closed account holds nothing
    assert (await root.call("POST", f"/accounts/{anh}/close", {}))[0] == 409

    wanted = {("account_transferred", hieu), ("account_renamed", new_hieu), ("account_handed_over", box),
              ("account_deleted", thao), ("account_closed", anh)}
    events = await read_events(infra_parts.bootstrap, "account.events.v1",
                               lambda e: (e["kind"], e["address"]) in wanted, 6)
    assert {(e["kind"], e["address"]) for e in events} == wanted
    assert sum(e["kind"] == "account_handed_over" for e in events) == 2


async def _last_login(directory: RedisDirectory, address: str) -> bool:
    account = await directory.account(address)
    return account is not None and bool(account.last_login_at)


async def test_two_reviewers_deciding_at_once_issue_one_mailbox(root: Api, sessions: Any, domain: str) -> None:
    await root.ok("POST", "/domains", {"name": domain}, 201)
    await root.ok("POST", "/units", {"domain": domain, **UNITS[0]}, 201)
    app = await root.ok("POST", "/applications", {"domain": domain, "unit": "stttt", "name": "Đinh Công Tráng"}, 201)
    other = sessions((await root.ok("POST", "/admins", {"name": "trungtam2", "role": "province"}, 201))["token"])
    answers = await asyncio.gather(root.call("POST", f"/applications/{app['id']}/approve", {}),
                                   other.call("POST", f"/applications/{app['id']}/refuse", {"reason": "Trùng"}))
    assert sorted(status for status, _ in answers) == [200, 409]
    accounts = await root.ok("GET", f"/accounts?domain={domain}")
    decided = await root.ok("GET", f"/applications/{app['id']}")
    assert len(accounts) == (1 if decided["status"] == "approved" else 0)
    assert decided["status"] in ("approved", "refused") and decided["decided_by"] in ("province-admin", "trungtam2")


async def test_records_written_before_these_fields_existed_still_read(service: LifecycleService, redis_client) -> None:
    address = "tranvanbay@backan.gov.vn"
    redis_client.hset(f"gm:account:{address}", mapping={
        "address": address, "domain": "backan.gov.vn", "localpart": "tranvanbay", "name": "Trần Văn Bảy",
        "kind": "personal", "status": "active", "must_change_password": "0", "created_at": "2025-01-02T03:04:05+00:00"})
    account = await RedisDirectory(service.redis).account(address)
    assert account is not None and (account.title, account.last_login_at, account.session_epoch) == ("", "", 0)
