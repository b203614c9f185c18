"""Quotas: a standard maildirsize file, warnings at 80/90/100 % once per crossing, and a full mailbox defers, then bounces."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.events import MailDelivery, MailRetry
from services.common.directory import service_class_key, usage_key
from services.delivery import maildir, quota
from services.delivery.local import delivery_headers, delivery_key
from services.delivery.mailboxes import Mailboxes
from tests.delivery.support import add_account, body_text, events, message, scanned, stack, system_mail_to

SENDER = "leminhhieu@tiengiang.gov.vn"


def test_maildirsize_is_the_maildirplusplus_format_and_follows_removals(tmp_path) -> None:
    boxes = Mailboxes(tmp_path)
    address = "lan@backan.gov.vn"
    first, _ = boxes.deliver(address, "k1", b"x" * 100, "INBOX", 1000)
    boxes.deliver(address, "k2", b"y" * 50, "Sent", 1000)
    md = maildir.mailbox_root(tmp_path, address) / "Maildir"
    lines = (md / "maildirsize").read_text().splitlines()
    assert lines[0] == "1000S"
    assert sum(int(line.split()[0]) for line in lines[1:]) == 150
    assert boxes.remove(address, "k1") and not boxes.remove(address, "k1")
    assert (md / "maildirsize").read_text().splitlines()[-1] == "-100 -1"
    assert quota.read(md, 1000) == quota.Usage(1000, 50, 1)
    # Missing file: rebuilt from the files themselves, as Dovecot would.
    (md / "maildirsize").unlink()
    assert quota.read(md, 1000) == quota.Usage(1000, 50, 1)
    # A changed quota rewrites the definition line.
    assert quota.read(md, 2000).quota == 2000 and (md / "maildirsize").read_text().startswith("2000S\n")


def test_a_full_mailbox_refuses_what_does_not_fit(tmp_path) -> None:
    boxes = Mailboxes(tmp_path)
    boxes.deliver("a@x.vn", "k1", b"x" * 900, "INBOX", 1000)
    result, usage = boxes.deliver("a@x.vn", "k2", b"y" * 200, "INBOX", 1000)
    assert result is None and usage.used == 900
    replay, _ = boxes.deliver("a@x.vn", "k1", b"x" * 900, "INBOX", 1000)
    assert replay is not None and replay.duplicate  # a replay of what is already there is no new space


async def test_owner_is_warned_once_per_threshold_crossing(infra_parts, redis_client, tmp_path) -> None:
    owner = "tranthimai@tiengiang.gov.vn"
    add_account(redis_client, owner, "Trần Thị Mai")
    add_account(redis_client, SENDER, "Lê Minh Hiếu")
    redis_client.hset(service_class_key("tiny"), mapping={"name": "tiny", "quota_bytes": "10000",
                                                          "max_message_bytes": "5000", "features": ""})
    redis_client.hset(f"gm:account:{owner}", "service_class", "tiny")
    async with stack(infra_parts, tmp_path) as s:
        body = "Báo cáo tháng — 月报 " * 90
        first = scanned(s.blobs, message(SENDER, [owner], "Báo cáo 1", body), SENDER, [owner])
        size = len(delivery_headers(first, owner) + s.blobs.get(first.mail.blob))
        # Two such messages fill 85 % of the class's quota: the first alone (42 %) warns nobody.
        redis_client.hset(service_class_key("tiny"), "quota_bytes", str(int(size * 2 / 0.85)))
        await s.deliver(first)
        assert redis_client.get(f"gm:quota:warned:{owner}") is None
        second = scanned(s.blobs, message(SENDER, [owner], "Báo cáo 2", body), SENDER, [owner])
        await s.deliver(second)
        await s.deliver(second)  # a replay: no second copy, no second notice
        assert len(s.messages(owner)) == 2
        assert redis_client.get(f"gm:quota:warned:{owner}") == "80"
        assert int(redis_client.get(usage_key(owner))) == 2 * size  # what ingress reads to refuse at RCPT
        notices = await system_mail_to(infra_parts.bootstrap, s.blobs, owner)
        assert len(notices) == 1
        assert notices[0]["Subject"] == f"Hộp thư {owner} đã dùng 80% dung lượng"
        assert "Kính gửi Trần Thị Mai" in body_text(notices[0])

        # Usage falls below 80 % (the next delivery notices it), then crosses again: a second warning.
        assert s.runtime.actions.mailboxes.remove(owner, delivery_key(first.message_id or "", owner))
        small = scanned(s.blobs, message(SENDER, [owner], "Nhắc việc", "Ngắn"), SENDER, [owner])
        await s.deliver(small)
        assert redis_client.get(f"gm:quota:warned:{owner}") == "0"
        third = scanned(s.blobs, message(SENDER, [owner], "Báo cáo 3", body), SENDER, [owner])
        await s.deliver(third)
        assert len(await system_mail_to(infra_parts.bootstrap, s.blobs, owner, count=2)) == 2


async def test_full_mailbox_defers_to_the_retry_topic_then_bounces_in_the_senders_language(
        infra_parts, redis_client, tmp_path) -> None:
    owner = "zhangwei@backan.gov.vn"
    sender = "wangfang@backan.gov.vn"
    add_account(redis_client, owner, "张伟", language="zh", service_class="tiny")
    add_account(redis_client, sender, "王芳", language="zh")
    redis_client.hset(service_class_key("tiny"), mapping={"name": "tiny", "quota_bytes": "2000",
                                                          "max_message_bytes": "5000", "features": ""})
    async with stack(infra_parts, tmp_path, quota_defer=3600.0, quota_retry=600.0) as s:
        big = message(sender, [owner], "关于年度报告的通知", "请查收年度报告。" * 300)
        fresh = scanned(s.blobs, big, sender, [owner])
        await s.deliver(fresh)
        assert s.messages(owner) == []
        (retry,) = await events(infra_parts.bootstrap, "mail.retry.v1", MailRetry,
                                lambda e: e.message_id == fresh.message_id)
        assert retry.recipients == [owner] and retry.attempt == 2 and "4.2.2" in retry.last_error
        (deferred,) = await events(infra_parts.bootstrap, "mail.delivery.v1", MailDelivery,
                                   lambda e: e.message_id == fresh.message_id)
        assert (deferred.status, deferred.final) == ("deferred", False)
        status = await s.runtime.actions.sent_message(fresh.message_id, sender)
        assert status["recipients"][0]["state"] == "deferred"
        # The owner hears the mailbox is full (100 %), even though it is.
        (full,) = await system_mail_to(infra_parts.bootstrap, s.blobs, owner)
        assert "100%" in full["Subject"]

        # Past the waiting time, the next attempt bounces with a DSN in the sender's language.
        old = scanned(s.blobs, big, sender, [owner], received_at=datetime.now(UTC) - timedelta(hours=2))
        await s.runtime.delivery.run_attempt(MailRetry(
            producer="delivery", message_id=old.message_id, trace_id=old.trace_id, mail=old.mail,
            verdict=old.verdict, recipients=[owner], attempt=2, not_before=datetime.now(UTC),
            deliver_until=datetime.now(UTC)))
        (dsn,) = await system_mail_to(infra_parts.bootstrap, s.blobs, sender, mail_from="",
                                      trace_id=old.trace_id)
        assert dsn.get_content_type() == "multipart/report"
        assert dsn["Subject"] == "退信：关于年度报告的通知"
        assert "收件人邮箱已满" in body_text(dsn)
        status_part = next(p for p in dsn.walk() if p.get_content_type() == "message/delivery-status")
        per_recipient = status_part.get_payload()[1]
        assert (per_recipient["Status"], per_recipient["Action"]) == ("5.2.2", "failed")
        assert per_recipient["Final-Recipient"] == f"rfc822; {owner}"
