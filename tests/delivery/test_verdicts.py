"""Scanner verdicts: quarantine the owner can list and release (no body for anyone else), rejects bounce to local senders."""

from __future__ import annotations

import email
import email.policy
import json

import pytest

from schemas.events import MailboxActivity, MailDelivery, Symbol
from services.common.directory import Grant, grants_key
from services.delivery.actions import Refused
from tests.delivery.support import add_account, body_text, events, message, scanned, stack, system_mail_to

OWNER = "nguyenvanan@tiengiang.gov.vn"
SENDER = "leminhhieu@tiengiang.gov.vn"
BODY = "Nội dung bí mật của thư bị giữ — 被隔离的邮件正文"


async def test_quarantined_mail_is_listed_without_its_body_and_released_into_the_inbox(
        infra_parts, redis_client, tmp_path) -> None:
    add_account(redis_client, OWNER, "Nguyễn Văn An")
    add_account(redis_client, SENDER, "Lê Minh Hiếu")
    delegate = "phamthilan@tiengiang.gov.vn"
    add_account(redis_client, delegate, "Phạm Thị Lan")
    redis_client.hset(grants_key(OWNER), delegate,
                      Grant(mailbox=OWNER, grantee=delegate, rights=["view"]).model_dump_json())
    async with stack(infra_parts, tmp_path) as s:
        symbols = [Symbol(name="CHECK_TIMEOUT_BAYES", score=10.0, group="check", options=["2.0 s"])]
        event = scanned(s.blobs, message(SENDER, [OWNER], "Kế hoạch công tác — 工作计划", BODY), SENDER, [OWNER],
                        action="quarantine", symbols=symbols)
        await s.deliver(event)
        await s.deliver(event)  # a replay holds it once
        assert s.messages(OWNER) == []
        held = await s.runtime.actions.quarantined(OWNER, OWNER)
        assert len(held) == 1
        entry = held[0]
        assert (entry["subject"], entry["message_id"]) == ("Kế hoạch công tác — 工作计划", event.message_id)
        assert [sym["name"] for sym in entry["verdict"]["symbols"]] == ["CHECK_TIMEOUT_BAYES"]
        assert "Nội dung" not in json.dumps(held, ensure_ascii=False), "a listing never carries the body"
        assert await s.runtime.actions.quarantined(OWNER, delegate) == held
        with pytest.raises(Refused) as refused:
            await s.runtime.actions.quarantined(OWNER, "admin@tiengiang.gov.vn")
        assert refused.value.status == 403
        with pytest.raises(Refused) as escaping:
            await s.runtime.actions.quarantined("../quarantine@tiengiang.gov.vn", "../quarantine@tiengiang.gov.vn")
        assert escaping.value.status == 400

        done = await s.runtime.actions.release(OWNER, entry["id"], OWNER)
        assert done["folder"] == "INBOX"
        (copy,) = s.messages(OWNER)
        assert BODY in body_text(email.message_from_bytes(copy, policy=email.policy.default))
        assert await s.runtime.actions.quarantined(OWNER, OWNER) == []
        with pytest.raises(Refused) as again:
            await s.runtime.actions.release(OWNER, entry["id"], OWNER)
        assert again.value.status == 404
        (released,) = await events(infra_parts.bootstrap, "mailbox.activity.v1", MailboxActivity,
                                   lambda e: e.message_id == event.message_id and e.action == "released")
        assert (released.mailbox, released.actor, released.producer) == (OWNER, OWNER, "delivery")
        status = await s.runtime.actions.sent_message(event.message_id, SENDER)
        assert status["recipients"][0]["state"] == "released"


async def test_mail_with_a_secrecy_marking_bounces_saying_it_was_not_sent(infra_parts, redis_client, tmp_path) -> None:
    add_account(redis_client, SENDER, "Lê Minh Hiếu", language="vi")
    add_account(redis_client, OWNER, "Nguyễn Văn An")
    async with stack(infra_parts, tmp_path) as s:
        symbols = [Symbol(name="CLASSIFIED_MARKING", score=100.0, group="classified", options=["TUYỆT MẬT"])]
        to = [OWNER, "wangfang@example.cn"]
        event = scanned(s.blobs, message(SENDER, to, "Báo cáo TUYỆT MẬT", "TUYỆT MẬT\nNội dung"), SENDER, to,
                        action="reject", symbols=symbols)
        await s.deliver(event)
        await s.deliver(event)  # a replay: still one bounce
        assert s.messages(OWNER) == []
        dsns = await system_mail_to(infra_parts.bootstrap, s.blobs, SENDER, mail_from="", trace_id=event.trace_id)
        assert len(dsns) == 1
        text = body_text(dsns[0])
        assert "mang dấu chỉ độ mật (TUYỆT MẬT) nên đã không được gửi đi" in text
        fields = next(p for p in dsns[0].walk() if p.get_content_type() == "message/delivery-status").get_payload()
        assert sorted(f["Final-Recipient"] for f in fields[1:]) == [f"rfc822; {r}" for r in sorted(to)]
        assert {f["Status"] for f in fields[1:]} == {"5.7.1"}
        rejected = await events(infra_parts.bootstrap, "mail.delivery.v1", MailDelivery,
                                lambda e: e.message_id == event.message_id, count=2)
        assert {(e.recipient, e.status) for e in rejected} == {(OWNER, "rejected"), ("wangfang@example.cn", "rejected")}


async def test_a_rejected_message_quotes_the_scanner_descriptions_to_a_local_sender(
        infra_parts, redis_client, tmp_path) -> None:
    add_account(redis_client, SENDER, "Lê Minh Hiếu", language="en")
    add_account(redis_client, OWNER, "Nguyễn Văn An")
    async with stack(infra_parts, tmp_path) as s:
        symbols = [Symbol(name="SPAM_GTUBE", score=20.0, group="spam")]
        event = scanned(s.blobs, message(SENDER, [OWNER], "test", "gtube"), SENDER, [OWNER], action="reject",
                        symbols=symbols)
        await s.deliver(event)
        (dsn,) = await system_mail_to(infra_parts.bootstrap, s.blobs, SENDER, mail_from="", trace_id=event.trace_id)
        assert "SPAM_GTUBE: GTUBE, the generic test for unsolicited bulk e-mail, is in a text part." in body_text(dsn)
        assert dsn["Subject"] == "Undelivered mail: test"


async def test_rejected_mail_from_outside_bounces_to_nobody(infra_parts, redis_client, tmp_path) -> None:
    add_account(redis_client, OWNER, "Nguyễn Văn An")
    async with stack(infra_parts, tmp_path) as s:
        symbols = [Symbol(name="VIRUS_EICAR", score=20.0, group="virus")]
        event = scanned(s.blobs, message("spoofed@example.com", [OWNER], "hi", "x"), "spoofed@example.com", [OWNER],
                        action="reject", symbols=symbols, direction="inbound", listener="mx")
        await s.deliver(event)
        (rejected,) = await events(infra_parts.bootstrap, "mail.delivery.v1", MailDelivery,
                                   lambda e: e.message_id == event.message_id)
        assert rejected.status == "rejected" and rejected.symbols == ["VIRUS_EICAR"]
        assert await system_mail_to(infra_parts.bootstrap, s.blobs, "spoofed@example.com", timeout=3,
                                    trace_id=event.trace_id) == []


async def test_the_copy_names_its_queue_id_and_phishing_links_before_any_forged_header(
        infra_parts, redis_client, tmp_path) -> None:
    owner = "tranthimai@tiengiang.gov.vn"
    add_account(redis_client, owner, "Trần Thị Mai")
    forged = {"X-Govmail-Symbols": "[]", "X-Govmail-Queue-Id": "forged"}  # an outsider's attempt to hide the warning
    phishing = Symbol(name="PHISHING_LINK_MISMATCH", score=3.0, group="phishing",
                      options=["http://tiengiang-gov.example/login shows as https://tiengiang.gov.vn"])
    async with stack(infra_parts, tmp_path) as s:
        event = scanned(s.blobs, message("hotro@example.com", [owner], "Xác thực tài khoản", "Nhấn vào liên kết",
                                         extra=forged),
                        "hotro@example.com", [owner], symbols=[phishing], direction="inbound", listener="mx")
        await s.deliver(event)
        (copy,) = s.messages(owner)
    parsed = email.message_from_bytes(copy, policy=email.policy.default)
    assert parsed["X-Govmail-Queue-Id"] == event.message_id  # the first occurrence is delivery's
    assert json.loads(parsed["X-Govmail-Symbols"]) == [{"name": phishing.name, "options": phishing.options}]
