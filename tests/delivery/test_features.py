"""Separate delivery, recall (also racing an opening), burn after reading, read receipts, and replays that never duplicate."""

from __future__ import annotations

import asyncio
import email
import email.policy
from datetime import UTC, datetime

import pytest

from schemas.events import MailboxActivity, MailDelivery
from services.common.directory import service_class_key
from services.delivery.actions import Refused
from services.delivery.reports import build_mdn
from tests.delivery.support import (
    add_account,
    body_text,
    events,
    message,
    record,
    scanned,
    stack,
    system_mail_to,
)

SENDER = "leminhhieu@tiengiang.gov.vn"
AN, BINH, CHI = "nguyenvanan@tiengiang.gov.vn", "tranthibinh@tiengiang.gov.vn", "zhangwei@backan.gov.vn"


def parsed(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def people(redis_client) -> None:
    add_account(redis_client, SENDER, "Lê Minh Hiếu", language="vi")
    add_account(redis_client, AN, "Nguyễn Văn An")
    add_account(redis_client, BINH, "Trần Thị Bình")
    add_account(redis_client, CHI, "张伟", language="zh")


def opened(message_id: str, mailbox: str) -> MailboxActivity:
    return MailboxActivity(producer="webmail", message_id=message_id, mailbox=mailbox, actor=mailbox, action="opened")


@pytest.mark.parametrize("by_header", [True, False])
async def test_separate_delivery_gives_each_recipient_a_copy_naming_only_them(
        infra_parts, redis_client, tmp_path, by_header) -> None:
    people(redis_client)
    async with stack(infra_parts, tmp_path) as s:
        to = [AN, BINH, CHI]
        extra = {"X-Govmail-Separate": "yes", "Cc": "vanthu@tiengiang.gov.vn"} if by_header else None
        raw = message(SENDER, to, "Thư mời dự hội nghị — 会议邀请", "Kính mời", extra=extra)
        await s.deliver(scanned(s.blobs, raw, SENDER, to, separate=not by_header))
        for address in to:
            (copy,) = s.messages(address)
            msg = parsed(copy)
            assert msg["To"] == address
            assert msg["Cc"] is None and msg["X-Govmail-Separate"] is None
            assert msg["Subject"] == "Thư mời dự hội nghị — 会议邀请"


async def test_a_replayed_event_makes_no_second_copy_and_the_same_outcome_events(
        infra_parts, redis_client, tmp_path) -> None:
    people(redis_client)
    async with stack(infra_parts, tmp_path) as s:
        event = scanned(s.blobs, message(SENDER, [AN, CHI], "Công văn", "Nội dung 内容"), SENDER, [AN, CHI])
        for _ in range(3):
            await s.deliver(event)
        assert len(s.messages(AN)) == 1 and len(s.messages(CHI)) == 1
        found = await events(infra_parts.bootstrap, "mail.delivery.v1", MailDelivery,
                             lambda e: e.message_id == event.message_id, count=6)
        assert len(found) == 6 and len({e.event_id for e in found}) == 2  # repeats carry the same id


async def test_recall_needs_a_service_class_that_includes_it(infra_parts, redis_client, tmp_path) -> None:
    people(redis_client)
    clerk = "vanthu.khongthuhoi@tiengiang.gov.vn"
    redis_client.hset(service_class_key("guidi"), mapping={"name": "guidi", "quota_bytes": 10 * 1024**2,
                                                           "max_message_bytes": 3 * 1024**2, "features": "external"})
    add_account(redis_client, clerk, "Văn thư", service_class="guidi")
    async with stack(infra_parts, tmp_path) as s:
        event = scanned(s.blobs, message(clerk, [AN], "Thông báo — 通知", "Nội dung"), clerk, [AN])
        await s.deliver(event)
        with pytest.raises(Refused) as refused:
            await s.runtime.actions.recall(event.message_id, clerk)
        assert (refused.value.status, refused.value.slug) == (403, "feature-not-allowed")
        assert len(s.messages(AN)) == 1  # the copy stays


async def test_recall_removes_unopened_copies_and_reports_per_recipient(infra_parts, redis_client, tmp_path) -> None:
    people(redis_client)
    async with stack(infra_parts, tmp_path) as s:
        to = [AN, BINH, CHI, "wangfang@example.cn"]
        event = scanned(s.blobs, message(SENDER, to, "Lịch họp tuần — 周会安排", "Nội dung"), SENDER, to)
        await s.deliver(event)
        await s.runtime.activity.handle(record(opened(event.message_id, BINH), "mailbox.activity.v1"))
        with pytest.raises(Refused) as refused:
            await s.runtime.actions.recall(event.message_id, AN)
        assert refused.value.status == 403
        lines = await s.runtime.actions.recall(event.message_id, SENDER)
        assert {(line.recipient, line.outcome) for line in lines} == {
            (AN, "recalled"), (BINH, "read"), (CHI, "recalled"), ("wangfang@example.cn", "remote")}
        assert s.messages(AN) == [] and s.messages(CHI) == []
        assert len(s.messages(BINH)) == 1
        status = {r["recipient"]: r["state"] for r in (await s.runtime.actions.sent_message(
            event.mail.header_message_id, SENDER))["recipients"]}  # found by its Message-ID header too
        assert status == {AN: "recalled", BINH: "read", CHI: "recalled", "wangfang@example.cn": "queued"}
        (report,) = await system_mail_to(infra_parts.bootstrap, s.blobs, SENDER, trace_id=event.message_id)
        assert report["Subject"] == "Kết quả thu hồi thư: Lịch họp tuần — 周会安排"
        text = body_text(report)
        assert f"{AN}: đã thu hồi" in text and f"{BINH}: đã đọc, không thu hồi được" in text
        assert "wangfang@example.cn: ngoài hệ thống, không thu hồi được" in text
        recalled = await events(infra_parts.bootstrap, "mailbox.activity.v1", MailboxActivity,
                                lambda e: e.message_id == event.message_id and e.action == "recalled", count=2)
        assert {e.mailbox for e in recalled} == {AN, CHI}
        # An opening after the recall finds nothing to open.
        assert await s.runtime.activity.opened(event.message_id, AN, AN, datetime.now(UTC)) == "recalled"


async def test_a_recall_racing_an_opening_gives_one_consistent_answer(infra_parts, redis_client, tmp_path) -> None:
    people(redis_client)
    async with stack(infra_parts, tmp_path) as s:
        seen = set()
        for i in range(12):
            event = scanned(s.blobs, message(SENDER, [AN], f"Thư {i}", "x"), SENDER, [AN])
            await s.deliver(event)
            opening = s.runtime.activity.opened(event.message_id, AN, AN, datetime.now(UTC))
            recall = s.runtime.actions.recall(event.message_id, SENDER)
            (state, lines) = await asyncio.gather(opening, recall) if i % 2 else \
                reversed(await asyncio.gather(recall, opening))
            (line,) = lines
            present = any(f"Thư {i}" in str(parsed(m)["Subject"]) for m in s.messages(AN))
            status = (await s.runtime.actions.sent_message(event.message_id, SENDER))["recipients"][0]["state"]
            if line.outcome == "recalled":
                assert (state, present, status) == ("recalled", False, "recalled")
            else:
                assert (line.outcome, state, present, status) == ("read", "opened", True, "read")
            seen.add(line.outcome)
        assert seen <= {"recalled", "read"}


async def test_a_recall_before_delivery_keeps_the_copy_from_arriving(infra_parts, redis_client, tmp_path) -> None:
    people(redis_client)
    async with stack(infra_parts, tmp_path) as s:
        event = scanned(s.blobs, message(SENDER, [AN], "Sớm", "x"), SENDER, [AN])
        await s.runtime.delivery.status.message(event.message_id, SENDER, "Sớm", "", 0.0)
        await s.runtime.delivery.status.set(event.message_id, AN, "queued")
        (line,) = await s.runtime.actions.recall(event.message_id, SENDER)
        assert line.outcome == "recalled"
        await s.deliver(event)
        assert s.messages(AN) == []
        status = (await s.runtime.actions.sent_message(event.message_id, SENDER))["recipients"][0]["state"]
        assert status == "recalled"


async def test_burn_after_reading_removes_the_copy_once_opened_and_tells_the_sender(
        infra_parts, redis_client, tmp_path) -> None:
    people(redis_client)
    async with stack(infra_parts, tmp_path) as s:
        raw = message(SENDER, [AN, CHI], "Mật khẩu tạm — 临时密码", "Đọc xong hủy", extra={"X-Govmail-Burn": "yes"})
        event = scanned(s.blobs, raw, SENDER, [AN, CHI])
        await s.deliver(event)
        assert len(s.messages(AN)) == 1
        await s.runtime.activity.handle(record(opened(event.message_id, AN), "mailbox.activity.v1"))
        await s.runtime.activity.handle(record(opened(event.message_id, AN), "mailbox.activity.v1"))  # replay
        assert s.messages(AN) == []
        assert len(s.messages(CHI)) == 1  # unopened: stays until its time is up
        notices = await system_mail_to(infra_parts.bootstrap, s.blobs, SENDER, trace_id=event.message_id)
        assert len(notices) == 1
        assert notices[0]["Subject"] == "Thư đã được đọc: Mật khẩu tạm — 临时密码"
        assert f"đã được {AN} mở lúc" in body_text(notices[0])
        (burned,) = await events(infra_parts.bootstrap, "mailbox.activity.v1", MailboxActivity,
                                 lambda e: e.message_id == event.message_id and e.action == "burned")
        assert burned.mailbox == AN
        status = {r["recipient"]: r["state"] for r in (await s.runtime.actions.sent_message(
            event.message_id, SENDER))["recipients"]}
        assert status == {AN: "read", CHI: "delivered"}
        # Never opened: burnt once its time is up.
        assert await s.runtime.activity.burn_unopened(now=datetime.now(UTC).timestamp() + 8 * 86400) == 1
        assert s.messages(CHI) == []


async def test_control_headers_on_mail_from_the_internet_are_not_obeyed(infra_parts, redis_client, tmp_path) -> None:
    """Anyone can write X-Govmail-Burn or X-Govmail-Separate: on mail that came in on the MX they change nothing."""
    people(redis_client)
    outsider = "wangfang@example.cn"
    async with stack(infra_parts, tmp_path) as s:
        raw = message(outsider, [AN, BINH], "Thông báo — 通知", "Đọc xong hủy",
                      extra={"X-Govmail-Burn": "yes", "X-Govmail-Separate": "yes"})
        event = scanned(s.blobs, raw, outsider, [AN, BINH], direction="inbound", listener="mx")
        await s.deliver(event)
        (copy,) = s.messages(AN)
        assert parsed(copy)["To"] == f"{AN}, {BINH}"  # not split into one copy per recipient
        await s.runtime.activity.handle(record(opened(event.message_id, AN), "mailbox.activity.v1"))
        assert len(s.messages(AN)) == 1  # opened, and not burnt
        assert await s.runtime.activity.burn_unopened(now=datetime.now(UTC).timestamp() + 8 * 86400) == 0
        assert len(s.messages(BINH)) == 1


def test_read_receipt_is_an_rfc8098_mdn_to_the_address_that_asked() -> None:
    raw = message(SENDER, [CHI], "Quyết định số 12 — 第12号决定", "x",
                  extra={"Disposition-Notification-To": f"Lê Minh Hiếu <{SENDER}>"})
    to, mdn = build_mdn(raw, CHI, "webmail.backan.gov.vn")
    assert to == SENDER
    msg = parsed(mdn)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "disposition-notification"
    assert msg["To"] == SENDER and msg["From"] == CHI and msg["Auto-Submitted"] == "auto-replied"
    part = next(p for p in msg.walk() if p.get_content_type() == "message/disposition-notification")
    fields = part.get_payload()[0]
    assert fields["Disposition"] == "manual-action/MDN-sent-manually; displayed"
    assert fields["Final-Recipient"] == f"rfc822; {CHI}"
    assert fields["Original-Message-ID"] == parsed(raw)["Message-ID"]
    assert "Quyết định số 12 — 第12号决定" in msg["Subject"]


def test_no_read_receipt_unless_asked_and_never_for_automatic_mail() -> None:
    assert build_mdn(message(SENDER, [CHI], "x", "y"), CHI, "webmail") is None
    auto = message(SENDER, [CHI], "x", "y", extra={"Disposition-Notification-To": SENDER,
                                                    "Auto-Submitted": "auto-replied"})
    assert build_mdn(auto, CHI, "webmail") is None
