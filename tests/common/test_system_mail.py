"""Mail the platform writes itself is stored, published as MailReceived and readable back, in UTF-8."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy

from aiokafka import AIOKafkaConsumer

from schemas.events import MailReceived
from schemas.registry import RECEIVED
from services.common.blobstore import FileBlobStore
from services.common.bus import KafkaPublisher
from services.common.directory import DOMAINS, RedisDirectory
from services.common.system_mail import SystemMailer, compose, queue_id


async def received_with_id(bootstrap: str, message_id: str) -> list[MailReceived]:
    consumer = AIOKafkaConsumer(RECEIVED, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    found: list[MailReceived] = []
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(8):
                while True:
                    for records in (await consumer.getmany(timeout_ms=500)).values():
                        for r in records:
                            with contextlib.suppress(ValueError):  # other tests publish garbage here
                                event = MailReceived.model_validate_json(r.value)
                                if event.message_id == message_id:
                                    found.append(event)
                    if found:
                        await asyncio.sleep(1)  # let a duplicate, if any, arrive too
                        break
    finally:
        await consumer.stop()
    return found


async def test_system_mail_is_published_once_per_key_and_readable(infra_parts, redis_client, tmp_path):
    redis_client.sadd(DOMAINS, "tiengiang.gov.vn")
    publisher = KafkaPublisher(infra_parts.bootstrap, "test-system-mail")
    await publisher.start()
    directory = RedisDirectory.from_url(infra_parts.redis_url)
    blobs = FileBlobStore(tmp_path / "blobs")
    mailer = SystemMailer(publisher, blobs, directory, producer="delivery")
    try:
        message = compose("postmaster@tiengiang.gov.vn", ["lmhieu@tiengiang.gov.vn"],
                          "Hộp thư sắp đầy 90% — 邮箱容量提醒", "Kính gửi ông Lê Minh Hiếu,\nhộp thư đã dùng 90%.",
                          attachments=[("báo cáo.pdf", "application/pdf", b"%PDF-1.4 test")])
        key = "quota-warning|lmhieu@tiengiang.gov.vn|90"
        first = await mailer.send(message, "postmaster@tiengiang.gov.vn", ["lmhieu@tiengiang.gov.vn"], key=key)
        again = await mailer.send(message, "postmaster@tiengiang.gov.vn", ["lmhieu@tiengiang.gov.vn"], key=key)
        assert first == again == queue_id(key)
        events = await received_with_id(infra_parts.bootstrap, first)
        assert len({e.event_id for e in events}) == 1  # the repeat carries the same event id: readers drop it
        mail = events[0].mail
        assert (mail.listener, mail.direction, mail.subject) == ("internal", "internal", "Hộp thư sắp đầy 90% — 邮箱容量提醒")
        stored = email.message_from_bytes(blobs.get(mail.blob), policy=email.policy.default)
        assert "hộp thư đã dùng 90%" in stored.get_body(("plain",)).get_content()
        assert [a.get_filename() for a in stored.iter_attachments()] == ["báo cáo.pdf"]
        assert stored["Auto-Submitted"] == "auto-generated"

        outward = await mailer.send(compose("postmaster@tiengiang.gov.vn", ["ban@example.com"], "DSN", "x"),
                                    "", ["ban@example.com"])
        (event,) = await received_with_id(infra_parts.bootstrap, outward)
        assert (event.mail.direction, event.mail.mail_from) == ("outbound", "")
    finally:
        await publisher.stop()
        await directory.close()
