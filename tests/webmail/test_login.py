"""Webmail login over real HTTP: shared brute-force lock, restrictions, first-login password change, CSRF, places, records."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from schemas.events import AccountEvent, AuthEvent, MailReceived
from services.common.directory import account_key
from services.lifecycle.credentials import history_key
from services.lifecycle.outbox import OUTBOX
from services.lifecycle.passwords import verify_password
from services.webmail.login import places_key
from tests.conftest import govmail_command
from tests.ingress.test_submission import add_class
from tests.webmail.conftest import PASSWORD, bus_events, client, csrf_of, login, start_service, stop_service

NEW_PASSWORD = "Nam#2026moi"


async def test_health_and_readiness(webmail):
    async with client() as http:
        async with http.get(f"{webmail}/healthz") as r:
            assert r.status == 200 and (await r.json())["status"] == "ok"
        async with http.get(f"{webmail}/readyz") as r:
            assert r.status == 200 and (await r.json())["status"] == "ready"
        async with http.get(f"{webmail}/metrics") as r:  # scraped without a session
            assert r.status == 200 and "# TYPE govmail_messages_out_total counter" in await r.text()


async def test_login_sets_a_strict_http_only_session_cookie(webmail, people):
    async with client() as http:
        async with http.get(f"{webmail}/login") as page:
            assert 'name="csrf"' in await page.text()
        token = (await csrf_of(http, webmail, "/login"))
        async with http.post(f"{webmail}/login", data={"csrf": token, "username": people.hieu, "password": PASSWORD},
                             allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/"
            cookie = [c for c in r.headers.getall("Set-Cookie") if c.startswith("gm_session=")][0]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        async with http.get(f"{webmail}/api/mail/{people.hieu}/INBOX") as r:
            assert r.status == 200 and (await r.json())["messages"] == []


async def test_login_form_without_its_token_is_refused(webmail, people):
    async with client() as http, http.post(f"{webmail}/login",
                                           data={"username": people.hieu, "password": PASSWORD}) as r:
        assert r.status == 403 and r.content_type == "application/problem+json"


async def test_failures_lock_the_username_in_the_counters_ingress_shares(webmail, people, redis_client):
    async with client() as http:
        for _ in range(3):
            assert await login(http, webmail, people.hieu, "Sai#mat1khau") == 401
        assert redis_client.exists(f"gm:authlock:user:{people.hieu}")
        # Locked: the right password gets the very same answer as a wrong one.
        async with http.get(f"{webmail}/login") as page:
            token = (await page.text()).split('name="csrf" value="')[1].split('"')[0]
        async with http.post(f"{webmail}/login", data={"csrf": token, "username": people.hieu, "password": PASSWORD},
                             allow_redirects=False) as r:
            assert r.status == 401
            assert "Sai địa chỉ hoặc mật khẩu, hoặc tạm thời không được đăng nhập." in await r.text()


async def test_a_lock_set_by_submission_holds_on_the_web(webmail, people, redis_client):
    redis_client.set("gm:authlock:ip:127.0.0.1", "1", px=60_000)  # as ingress's AuthGuard writes it
    async with client() as http:
        assert await login(http, webmail, people.ung) == 401
    redis_client.delete("gm:authlock:ip:127.0.0.1")
    async with client() as http:
        assert await login(http, webmail, people.ung) == 303


async def test_restrictions_refuse_the_webmail_client_and_publish_why(webmail, people, redis_client, infra_parts):
    redis_client.hset(account_key(people.ung), "allowed_clients", "smtp,imap")
    async with client() as http:
        assert await login(http, webmail, people.ung) == 401
    redis_client.hset(account_key(people.ung), "allowed_clients", "")
    redis_client.hset(account_key(people.ung), "allowed_networks", "10.20.0.0/16")
    async with client() as http:
        assert await login(http, webmail, people.ung) == 401
    events = await bus_events(infra_parts.bootstrap, "auth.events.v1",
                         lambda e: e.get("username") == people.ung and e.get("service") == "webmail", 2)
    assert [(e["outcome"], e["reason"]) for e in events] == [("blocked", "client"), ("blocked", "network")]
    AuthEvent.model_validate(events[0])


async def test_a_class_without_webmail_is_told_so_after_the_right_password(webmail, people, redis_client,
                                                                           infra_parts):
    # R12: the class "chimay" is for mail clients only; ung's page is in Chinese.
    add_class(redis_client, "chimay", without=("webmail",))
    redis_client.hset(account_key(people.ung), "service_class", "chimay")
    async with client() as http:
        assert await login(http, webmail, people.ung, "Sai#mat1khau") == 401  # a wrong password learns nothing
        token = await csrf_of(http, webmail, "/login?lang=zh")
        async with http.post(f"{webmail}/login", data={"csrf": token, "username": people.ung, "password": PASSWORD},
                             allow_redirects=False) as r:
            assert r.status == 403 and "您的账户服务类别不包括网页邮箱。请使用邮件客户端，或联系管理员。" in await r.text()
            assert not any(c.startswith("gm_session=") for c in r.headers.getall("Set-Cookie", []))
        token = await csrf_of(http, webmail, "/login")
        async with http.post(f"{webmail}/login", data={"csrf": token, "username": people.ung, "password": PASSWORD},
                             headers={"Accept": "application/json"}, allow_redirects=False) as r:
            assert r.status == 403 and r.content_type == "application/problem+json"
            body = await r.json()
        async with http.get(f"{webmail}/api/mail/{people.ung}/INBOX") as r:
            assert r.status == 401  # no session came of it
    assert body["type"].endswith("feature-not-allowed") and body["feature"] == "webmail"
    assert body["detail"] == ("the service class chimay does not include webmail; use a mail client, "
                              "or ask your administrator")
    events = await bus_events(infra_parts.bootstrap, "auth.events.v1",
                              lambda e: e.get("username") == people.ung and e.get("service") == "webmail", 3)
    assert [(e["outcome"], e["reason"]) for e in events] == [
        ("failure", "bad_password"), ("blocked", "feature_not_allowed"), ("blocked", "feature_not_allowed")]
    # Only the wrong password counted towards the lock.
    assert redis_client.zcard(f"gm:authfail:user:{people.ung}") == 1


async def test_a_session_ends_when_the_class_no_longer_includes_webmail(webmail, people, redis_client):
    # R12: moving an account to a class without the webmail ends its open sessions, not only its next login.
    add_class(redis_client, "chimay", without=("webmail",))
    async with client() as http:
        assert await login(http, webmail, people.ung) == 303
        async with http.get(f"{webmail}/api/mail/{people.ung}/INBOX") as r:
            assert r.status == 200
        redis_client.hset(account_key(people.ung), "service_class", "chimay")
        async with http.get(f"{webmail}/api/mail/{people.ung}/INBOX") as r:
            assert r.status == 401 and (await r.json())["type"].endswith("login-required")


async def test_first_login_forces_the_password_change(webmail, people, redis_client, infra_parts):
    async with client() as http:
        async with http.get(f"{webmail}/login") as page:
            token = (await page.text()).split('name="csrf" value="')[1].split('"')[0]
        async with http.post(f"{webmail}/login", data={"csrf": token, "username": people.newbie,
                                                       "password": PASSWORD}, allow_redirects=False) as r:
            assert r.headers["Location"] == "/password"
        for path in (f"/api/mail/{people.newbie}/INBOX", "/api/activity", "/api/todo"):
            async with http.get(webmail + path) as r:
                assert r.status == 403 and (await r.json())["type"].endswith("password-change-required")
        csrf = await csrf_of(http, webmail, "/password")
        async with http.post(f"{webmail}/password", data={"csrf": csrf, "current": PASSWORD, "new": "ngan"},
                             headers={"Accept": "application/json"}) as r:
            assert r.status == 422
            assert "at least 8 characters" in (await r.json())["detail"]
        async with http.post(f"{webmail}/password", data={"csrf": csrf, "current": PASSWORD, "new": NEW_PASSWORD},
                             headers={"Accept": "application/json"}) as r:
            assert r.status == 200
        async with http.get(f"{webmail}/api/mail/{people.newbie}/INBOX") as r:
            assert r.status == 200
    stored = redis_client.hgetall(account_key(people.newbie))
    assert stored["must_change_password"] == "0" and verify_password(NEW_PASSWORD, stored["password_hash"])
    assert stored["password_changed_at"]  # lifecycle's rules made the change: the password's age counts from now
    assert verify_password(PASSWORD, redis_client.lindex(history_key(people.newbie), 0))  # may not come back
    # The event leaves through lifecycle's outbox, published by the lifecycle service's drainer.
    queued = [json.loads(raw) for raw in redis_client.lrange(OUTBOX, 0, -1)]
    events = [AccountEvent.model_validate_json(e["value"]) for e in queued if e["topic"] == "account.events.v1"]
    assert [e.kind for e in events if e.address == people.newbie] == ["password_changed"]


async def test_changing_the_password_ends_the_other_sessions_and_keeps_this_one(webmail, people, redis_client):
    async with client() as office, client() as phone:
        for http in (office, phone):
            assert await login(http, webmail, people.hieu) == 303
        csrf = await csrf_of(office, webmail, "/password")
        async with office.post(f"{webmail}/password", data={"csrf": csrf, "current": PASSWORD, "new": NEW_PASSWORD},
                               headers={"Accept": "application/json"}) as r:
            assert r.status == 200
        async with office.get(f"{webmail}/api/todo") as r:
            assert r.status == 200
        async with phone.get(f"{webmail}/api/todo") as r:
            assert r.status == 401 and (await r.json())["type"].endswith("login-required")
        # Ended for good: the old cookie does not come back to life.
        async with phone.get(f"{webmail}/api/todo") as r:
            assert r.status == 401
        assert await login(phone, webmail, people.hieu, NEW_PASSWORD) == 303
        async with phone.get(f"{webmail}/api/todo") as r:
            assert r.status == 200
    assert redis_client.hget(account_key(people.hieu), "session_epoch") == "1"


async def test_a_raised_session_epoch_ends_every_session_at_once(webmail, people, redis_client):
    # What lifecycle does on an administrator's password reset, a revocation or a unit mailbox's hand-over.
    async with client() as http:
        assert await login(http, webmail, people.hieu) == 303
        async with http.get(f"{webmail}/api/todo") as r:
            assert r.status == 200
        redis_client.hincrby(account_key(people.hieu), "session_epoch", 1)
        async with http.get(f"{webmail}/api/todo") as r:
            assert r.status == 401


async def test_state_changes_without_the_csrf_token_are_refused(webmail, people):
    async with client() as http:
        assert await login(http, webmail, people.hieu) == 303
        async with http.post(f"{webmail}/todo/done", data={"ref": "x"}) as r:
            assert r.status == 403 and r.content_type == "application/problem+json"
        async with http.post(f"{webmail}/todo/done", data={"ref": "x", "csrf": "wrong"}) as r:
            assert r.status == 403
        csrf = await csrf_of(http, webmail)
        async with http.post(f"{webmail}/todo/done", data={"ref": "x"}, headers={"X-CSRF-Token": csrf},
                             allow_redirects=False) as r:
            assert r.status == 303


async def test_login_from_a_new_place_alerts_the_user(webmail_env, people, redis_client, infra_parts):
    library = Path(webmail_env["GOVMAIL_DATA_DIR"]) / "webmail" / "iplib.txt"
    library.parent.mkdir(parents=True, exist_ok=True)
    library.write_text("127.0.0.0/8 Sở TT&TT Tiền Giang\n", encoding="utf-8")
    redis_client.hset(places_key(people.hieu), "UBND huyện Chợ Gạo", f"{time.time() - 3600:.0f}")
    proc = start_service("webmail", webmail_env)
    try:
        base = f"http://127.0.0.1:{webmail_env['GOVMAIL_WEBMAIL_PORT']}"
        async with client() as http:
            assert await login(http, base, people.hieu) == 303
            async with http.get(f"{base}/api/activity") as r:
                records = await r.json()
        assert records["logins"][0]["place"] == "Sở TT&TT Tiền Giang"
        assert records["operations"][0]["action"] == "login"
        async with client() as http:  # the same place again: no second alert
            assert await login(http, base, people.hieu) == 303
    finally:
        stop_service(proc, webmail_env, "webmail")
    events = await bus_events(infra_parts.bootstrap, "auth.events.v1",
                         lambda e: e.get("username") == people.hieu and e.get("outcome") == "success", 2)
    assert [(e["reason"], e["place"]) for e in events] == [("new_place", "Sở TT&TT Tiền Giang"),
                                                           ("", "Sở TT&TT Tiền Giang")]
    [alert] = await bus_events(infra_parts.bootstrap, "mail.received.v1",
                          lambda e: e.get("mail", {}).get("rcpt_to") == [people.hieu], 1)
    assert MailReceived.model_validate(alert).mail.subject == "Cảnh báo: đăng nhập từ nơi mới"


@pytest.mark.parametrize("command", [("admin", "iplib"), ("webmail", "iplib")])
def test_iplib_command_adds_lists_and_removes(webmail_env, command):
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(govmail_command(*command, *args), env=webmail_env, capture_output=True,
                              text=True, timeout=60)

    assert run("add", "10.20.30.0/24", "UBND", "huyện", "Chợ", "Gạo").returncode == 0
    assert run("add", "2001:db8::/32", "Trung tâm CNTT").returncode == 0
    assert run("list").stdout.splitlines() == ["10.20.30.0/24 UBND huyện Chợ Gạo", "2001:db8::/32 Trung tâm CNTT"]
    assert run("remove", "10.20.30.0/24").returncode == 0
    assert run("remove", "10.20.30.0/24").returncode == 1
    bad = run("add", "not-a-network", "X")
    assert bad.returncode == 2 and "not-a-network" in bad.stderr
    assert json.dumps(run("list").stdout) == json.dumps("2001:db8::/32 Trung tâm CNTT\n")


async def test_the_client_ip_comes_from_x_forwarded_for_only_behind_a_trusted_proxy(webmail_env, people,
                                                                                    redis_client):
    redis_client.hset(account_key(people.ung), "allowed_networks", "10.20.0.0/16")
    untrusted = start_service("webmail", webmail_env)
    base = f"http://127.0.0.1:{webmail_env['GOVMAIL_WEBMAIL_PORT']}"
    try:
        async with client() as http:  # a header from anyone else is ignored: the peer 127.0.0.1 is refused
            http.headers["X-Forwarded-For"] = "10.20.1.2"
            assert await login(http, base, people.ung) == 401
    finally:
        stop_service(untrusted, webmail_env, "webmail")
    behind_ingress = start_service("webmail", dict(webmail_env, WEBMAIL_TRUSTED_PROXIES='["127.0.0.0/8"]'))
    try:
        async with client() as http:
            http.headers["X-Forwarded-For"] = "203.0.113.9, 10.20.1.2"
            assert await login(http, base, people.ung) == 303
            async with http.get(f"{base}/api/activity") as r:
                assert (await r.json())["logins"][0]["ip"] == "10.20.1.2"
    finally:
        stop_service(behind_ingress, webmail_env, "webmail")
