"""Reading over real HTTP: folders and search, opened-once events, the sandboxed body, downloads, and no one else's mail."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from schemas.events import MailboxActivity, MailFeedback
from services.common.blobstore import FileBlobStore
from services.common.directory import Grant, granted_key, grants_key
from tests.webmail.conftest import bus_events, client, csrf_of, deliver, letter, login, symbols_line

DECEPTIVE = ('<p>Kính gửi anh, vui lòng xác nhận tại '
             '<a href="http://vietcombank.example-login.ru/xac-nhan">www.vietcombank.com.vn</a> '
             'hoặc <a href="https://bit.example/abc">đây</a>.</p>')


async def test_folders_list_and_search_by_sender_subject_and_date(webmail, webmail_env, people):
    deliver(webmail_env, people.hieu, letter(people.hieu, "Lịch họp giao ban tuần 47"))
    deliver(webmail_env, people.hieu, letter(people.hieu, "关于年度报告的通知", sender="张伟 <zhangwei@example.cn>",
                                             headers={}).replace(b"21 Nov 2026", b"02 Oct 2026"))
    async with client() as http:
        assert await login(http, webmail, people.hieu) == 303
        base = f"{webmail}/api/mail/{people.hieu}/INBOX"
        async with http.get(base) as r:
            assert {m["subject"] for m in (await r.json())["messages"]} == {"Lịch họp giao ban tuần 47",
                                                                            "关于年度报告的通知"}
        async with http.get(base, params={"sender": "张伟"}) as r:
            assert [m["subject"] for m in (await r.json())["messages"]] == ["关于年度报告的通知"]
        async with http.get(base, params={"subject": "giao ban"}) as r:
            assert [m["subject"] for m in (await r.json())["messages"]] == ["Lịch họp giao ban tuần 47"]
        async with http.get(base, params={"since": "2026-11-01", "until": "2026-11-30"}) as r:
            assert [m["subject"] for m in (await r.json())["messages"]] == ["Lịch họp giao ban tuần 47"]
        async with http.get(base, params={"since": "hôm qua"}) as r:
            assert r.status == 400 and r.content_type == "application/problem+json"
        async with http.get(f"{webmail}/mail/{people.hieu}/INBOX") as r:
            assert "Lịch họp giao ban tuần 47" in await r.text()


async def test_opening_emits_opened_once_with_the_delivery_time(webmail, webmail_env, people, infra_parts):
    uid = deliver(webmail_env, people.hieu, letter(people.hieu, "Công văn số 123/STTTT"))
    async with client() as http:
        assert await login(http, webmail, people.hieu) == 303
        for _ in range(2):
            async with http.get(f"{webmail}/api/mail/{people.hieu}/INBOX/{uid}") as r:
                assert r.status == 200 and (await r.json())["subject"] == "Công văn số 123/STTTT"
        csrf = await csrf_of(http, webmail)
        async with http.post(f"{webmail}/mail/{people.hieu}/INBOX/{uid}/todo", data={"csrf": csrf, "due": "2026-12-01"},
                             headers={"Accept": "application/json"}) as r:
            assert r.status == 200
        async with http.get(f"{webmail}/api/todo") as r:
            [item] = (await r.json())["todo"]
            assert (item["subject"], item["due"]) == ("Công văn số 123/STTTT", "2026-12-01")
        async with http.post(f"{webmail}/mail/{people.hieu}/INBOX/{uid}/delete", data={"csrf": csrf},
                             headers={"Accept": "application/json"}) as r:
            assert r.status == 200
        async with http.get(f"{webmail}/api/mail/{people.hieu}/Trash") as r:
            assert [m["uid"] for m in (await r.json())["messages"]] == [uid]
    events = await bus_events(infra_parts.bootstrap, "mailbox.activity.v1",
                              lambda e: e.get("mailbox") == people.hieu, 3)
    assert [e["action"] for e in events] == ["opened", "todo", "deleted"]
    opened = MailboxActivity.model_validate(events[0])
    assert opened.actor == people.hieu and opened.delivered_at is not None and opened.unit == "stttt"


async def test_the_body_is_sanitised_sandboxed_and_deceptive_links_warn(webmail, webmail_env, people):
    symbols = symbols_line([("PHISHING_SUSPICIOUS_URL", ["https://bit.example/abc"])]).encode()
    uid = deliver(webmail_env, people.hieu, letter(people.hieu, "Xác nhận tài khoản", html=DECEPTIVE +
                  '<img src="https://tracker.example/p.png"><script>alert(1)</script>'), prefix=symbols)
    async with client() as http:
        assert await login(http, webmail, people.hieu) == 303
        async with http.get(f"{webmail}/mail/{people.hieu}/INBOX/{uid}") as r:
            page = await r.text()
            assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in page
            # The page itself runs only our own script and cannot be framed by anyone.
            assert "script-src 'self'" in r.headers["Content-Security-Policy"]
            assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
            assert "Ảnh từ bên ngoài đã bị chặn." in page
        async with http.get(f"{webmail}/mail/{people.hieu}/INBOX/{uid}/body") as r:
            body = await r.text()
            csp = r.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "img-src 'none'" in csp and "sandbox" in csp
        assert "<script" not in body and "tracker.example" not in body
        links = [parse_qs(urlsplit(href.replace("&amp;", "&")).query) for href in
                 (part.split('"')[0] for part in body.split('href="')[1:])]
        assert links == [{"u": ["http://vietcombank.example-login.ru/xac-nhan"], "t": ["www.vietcombank.com.vn"],
                          "f": ["0"]},
                         {"u": ["https://bit.example/abc"], "t": ["đây"], "f": ["1"]}]
        async with http.get(f"{webmail}/mail/{people.hieu}/INBOX/{uid}/body?images=1") as r:
            assert "tracker.example/p.png" in await r.text()
            assert "img-src http: https:" in r.headers["Content-Security-Policy"]
    async with client() as anonymous:  # the warning page shows the real destination to anyone, reveals nothing
        async with anonymous.get(f"{webmail}/link", params={"u": "http://vietcombank.example-login.ru/xac-nhan",
                                                             "t": "www.vietcombank.com.vn", "f": "0"}) as r:
            text = await r.text()
            assert "http://vietcombank.example-login.ru/xac-nhan" in text and "Cảnh báo liên kết" in text
        async with anonymous.get(f"{webmail}/link", params={"u": "javascript:alert(1)"}) as r:
            assert 'href="javascript' not in await r.text()


async def test_attachments_are_only_downloaded(webmail, webmail_env, people):
    uid = deliver(webmail_env, people.hieu, letter(people.hieu, "Tài liệu", attachment=(
        "báo cáo 报告.html", "text/html", b"<script>alert(1)</script>")))
    async with client() as http:
        assert await login(http, webmail, people.hieu) == 303
        async with http.get(f"{webmail}/api/mail/{people.hieu}/INBOX/{uid}") as r:
            [part] = (await r.json())["attachments"]
        async with http.get(f"{webmail}/mail/{people.hieu}/INBOX/{uid}/part/{part['index']}") as r:
            assert await r.read() == b"<script>alert(1)</script>"
            assert r.headers["Content-Type"] == "application/octet-stream"
            assert r.headers["Content-Disposition"].startswith("attachment;")
            assert "UTF-8''b%C3%A1o%20c%C3%A1o%20%E6%8A%A5%E5%91%8A.html" in r.headers["Content-Disposition"]
            assert r.headers["X-Content-Type-Options"] == "nosniff"
        async with http.get(f"{webmail}/mail/{people.hieu}/INBOX/{uid}/part/0") as r:
            assert r.status == 404  # the text body is no attachment


async def test_no_route_gives_another_users_or_an_administrators_session_someone_elses_mail(
        webmail, webmail_env, people):
    uid = deliver(webmail_env, people.hieu, letter(people.hieu, "Mật: kế hoạch nhân sự", html="<p>bí mật</p>",
                                                   attachment=("danh-sach.csv", "text/csv", b"bi,mat")))
    unit_uid = deliver(webmail_env, people.unit, letter(people.unit, "Thư gửi Sở"))
    routes = [f"/mail/{people.hieu}/INBOX", f"/api/mail/{people.hieu}/INBOX", f"/mail/{people.hieu}/INBOX/{uid}",
              f"/api/mail/{people.hieu}/INBOX/{uid}", f"/mail/{people.hieu}/INBOX/{uid}/body",
              f"/mail/{people.hieu}/INBOX/{uid}/part/1", f"/compose?reply={people.hieu}/INBOX/{uid}",
              f"/compose?forward={people.hieu}/INBOX/{uid}", f"/mail/{people.unit}/INBOX",
              f"/api/mail/{people.unit}/INBOX/{unit_uid}", f"/mail/{people.hieu.upper()}/INBOX/{uid}/body",
              "/mail/..%2F..%2Fetc/INBOX", f"/mail/{people.hieu}/..%2F..%2F/{uid}"]
    for intruder in (people.ung, people.admin):
        async with client() as http:
            assert await login(http, webmail, intruder) == 303
            for route in routes:
                async with http.get(webmail + route) as r:
                    text = await r.text()
                    assert r.status == 404, (intruder, route, r.status)
                    assert "bí mật" not in text and "kế hoạch" not in text and "bi,mat" not in text
            csrf = await csrf_of(http, webmail)
            for action in ("delete", "todo"):
                async with http.post(f"{webmail}/mail/{people.hieu}/INBOX/{uid}/{action}", data={"csrf": csrf}) as r:
                    assert r.status == 404
            async with http.get(f"{webmail}/todo") as r:
                assert "kế hoạch" not in await r.text()
    async with client() as http:  # the owner still has it, untouched; the holder reads the unit mailbox
        assert await login(http, webmail, people.hieu) == 303
        async with http.get(f"{webmail}/api/mail/{people.hieu}/INBOX/{uid}") as r:
            assert (await r.json())["subject"] == "Mật: kế hoạch nhân sự"
        async with http.get(f"{webmail}/api/mail/{people.unit}/INBOX/{unit_uid}") as r:
            assert (await r.json())["subject"] == "Thư gửi Sở"


async def test_delegated_mailboxes_open_only_with_the_view_right(webmail, webmail_env, people, redis_client):
    uid = deliver(webmail_env, people.hieu, letter(people.hieu, "Giấy mời họp"))
    grant = Grant(mailbox=people.hieu, grantee=people.ung, rights=["send_on_behalf"])
    redis_client.hset(grants_key(people.hieu), people.ung, grant.model_dump_json())
    redis_client.sadd(granted_key(people.ung), people.hieu)
    async with client() as http:
        assert await login(http, webmail, people.ung) == 303
        async with http.get(f"{webmail}/api/mail/{people.hieu}/INBOX/{uid}") as r:
            assert r.status == 404
        grant.rights = ["view"]
        redis_client.hset(grants_key(people.hieu), people.ung, grant.model_dump_json())
        async with http.get(f"{webmail}/api/mail/{people.hieu}/INBOX/{uid}") as r:
            assert (await r.json())["subject"] == "Giấy mời họp"
        grant.expires_at = "2020-01-01T00:00:00+00:00"
        redis_client.hset(grants_key(people.hieu), people.ung, grant.model_dump_json())
        async with http.get(f"{webmail}/api/mail/{people.hieu}/INBOX/{uid}") as r:
            assert r.status == 404


async def test_burn_after_reading_destroys_the_message_once_its_body_is_served(webmail, webmail_env, people,
                                                                               infra_parts):
    uid = deliver(webmail_env, people.hieu, letter(people.hieu, "Mật khẩu tạm thời", text="Mã: 4711",
                                                   headers={"X-Govmail-Burn": "yes"}))
    async with client() as http:
        assert await login(http, webmail, people.hieu) == 303
        async with http.get(f"{webmail}/mail/{people.hieu}/INBOX/{uid}") as r:
            assert "tự huỷ" in await r.text()
        async with http.get(f"{webmail}/mail/{people.hieu}/INBOX/{uid}/body") as r:
            assert "Mã: 4711" in await r.text()
        async with http.get(f"{webmail}/mail/{people.hieu}/INBOX/{uid}/body") as r:
            assert r.status == 404
        async with http.get(f"{webmail}/api/mail/{people.hieu}/INBOX") as r:
            assert (await r.json())["messages"] == []
    events = await bus_events(infra_parts.bootstrap, "mailbox.activity.v1",
                              lambda e: e.get("mailbox") == people.hieu, 2)
    assert [e["action"] for e in events] == ["opened", "burned"]


async def test_pages_speak_vietnamese_chinese_and_english(webmail, people):
    async with client() as http:
        async with http.get(f"{webmail}/login") as r:
            assert "Đăng nhập" in await r.text()
        async with http.get(f"{webmail}/login?lang=zh") as r:
            assert "登录" in await r.text()
        async with http.get(f"{webmail}/login") as r:  # the choice is kept in a cookie
            assert "登录" in await r.text()
        async with http.get(f"{webmail}/login?lang=en") as r:
            assert "Log in" in await r.text()


async def test_logout_ends_the_session_and_its_submission_token(webmail, people, redis_client):
    async with client() as http:
        assert await login(http, webmail, people.hieu) == 303
        assert len(redis_client.keys("gm:submit-token:*")) == 1
        csrf = await csrf_of(http, webmail)
        async with http.post(f"{webmail}/logout", data={"csrf": csrf}, allow_redirects=False) as r:
            assert r.status == 303
        assert redis_client.keys("gm:submit-token:*") == []
        async with http.get(f"{webmail}/api/todo") as r:
            assert r.status == 401 and r.content_type == "application/problem+json"
        async with http.get(f"{webmail}/todo", allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/login"


async def test_locking_the_account_ends_its_open_sessions(webmail, people, redis_client):
    async with client() as http:
        assert await login(http, webmail, people.hieu) == 303
        async with http.get(f"{webmail}/api/todo") as r:
            assert r.status == 200
        redis_client.hset(f"gm:account:{people.hieu}", "status", "locked")
        async with http.get(f"{webmail}/api/todo") as r:
            assert r.status == 401
        assert redis_client.keys("gm:submit-token:*") == []  # nor can the webmail send for it any more
        redis_client.hset(f"gm:account:{people.hieu}", "status", "active")
        async with http.get(f"{webmail}/api/todo") as r:
            assert r.status == 401  # unlocking does not revive the old session


async def test_reporting_spam_sends_the_message_to_the_scanners_training(webmail, webmail_env, people, infra_parts):
    raw = letter(people.hieu, "Khuyến mãi đặc biệt — 特价促销", text="Mua ngay hôm nay, giảm 90%!\n")
    uid = deliver(webmail_env, people.hieu, raw, prefix=b"X-Govmail-Queue-Id: 0190feedbac01\r\n")
    async with client() as http:
        assert await login(http, webmail, people.hieu) == 303
        csrf = await csrf_of(http, webmail)
        url = f"{webmail}/mail/{people.hieu}/INBOX/{uid}/report"
        async with http.post(url, data={"csrf": csrf, "label": "maybe"}, headers={"Accept": "application/json"}) as r:
            assert r.status == 400 and r.content_type == "application/problem+json"
        async with http.post(url, data={"csrf": csrf, "label": "spam"}, headers={"Accept": "application/json"}) as r:
            assert r.status == 200 and (await r.json())["reported"] == "spam"
    [event] = await bus_events(infra_parts.bootstrap, "mail.feedback.v1",
                               lambda e: e.get("reporter") == people.hieu, 1)
    feedback = MailFeedback.model_validate(event)
    assert (feedback.label, feedback.mailbox, feedback.message_id) == ("spam", people.hieu, "0190feedbac01")
    stored = FileBlobStore.from_uri(Path(webmail_env["GOVMAIL_DATA_DIR"], "blobs").resolve().as_uri()).get(feedback.blob)
    assert stored.endswith(raw)
