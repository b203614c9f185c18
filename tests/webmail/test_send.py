"""Sending from the webmail through the real submission listener (token AUTH), with options, delegation and limits."""

from __future__ import annotations

import asyncio
import email
import email.policy

import aiohttp
import pytest

from schemas.events import MailDelivery, MailReceived
from services.common.blobstore import FileBlobStore
from services.common.bus import KafkaPublisher
from services.common.directory import Grant, account_key, granted_key, grants_key
from tests.ingress.test_submission import add_class
from tests.webmail.conftest import (
    bus_events,
    client,
    csrf_of,
    deliver,
    letter,
    login,
    start_service,
    stop_service,
)


@pytest.fixture
def ingress_and_webmail(webmail_env, people):
    procs = {"ingress": start_service("ingress", webmail_env), "webmail": start_service("webmail", webmail_env)}
    yield f"http://127.0.0.1:{webmail_env['GOVMAIL_WEBMAIL_PORT']}"
    for name, proc in procs.items():
        stop_service(proc, webmail_env, name)


def form(csrf: str, **fields: str) -> aiohttp.FormData:
    data = aiohttp.FormData(quote_fields=False)  # as browsers send them: UTF-8 file names as they are
    data.add_field("csrf", csrf)
    for name, value in fields.items():
        data.add_field(name, value)
    return data


async def test_send_with_separate_delivery_burn_receipt_and_a_chinese_attachment(ingress_and_webmail, people,
                                                                                 infra_parts, webmail_env):
    base = ingress_and_webmail
    async with client() as http:
        assert await login(http, base, people.hieu) == 303
        csrf = await csrf_of(http, base, "/compose")
        data = form(csrf, to=f"{people.ung}, {people.admin}", subject="Kế hoạch năm 2027 — 年度计划",
                    body="Kính gửi các anh chị,\n请查收附件。\n", separate="yes", burn="yes", receipt="yes")
        data.add_field("attachment", "Số liệu 数据".encode(), filename="kế-hoạch 计划.txt", content_type="text/plain")
        async with http.post(f"{base}/compose", data=data, headers={"Accept": "application/json"}) as r:
            assert r.status == 201, await r.text()
            queue_id = (await r.json())["queue_id"]
        async with http.get(f"{base}/api/sent") as r:
            [sent] = (await r.json())["sent"]
            assert sent["queue_id"] == queue_id and sent["status"] is None  # delivery API not wired: "not available"
        async with http.get(f"{base}/sent") as r:
            assert "Chưa có thông tin" in await r.text()
        async with http.post(f"{base}/sent/{queue_id}/recall", headers={"X-CSRF-Token": csrf,
                                                                       "Accept": "application/json"}) as r:
            assert r.status == 503 and (await r.json())["type"].endswith("delivery-api-unavailable")
        async with http.get(f"{base}/api/mail/{people.hieu}/Sent") as r:
            [copy] = (await r.json())["messages"]
        assert copy["subject"] == "Kế hoạch năm 2027 — 年度计划"
        async with http.get(f"{base}/api/mail/{people.hieu}/Sent/{copy['uid']}") as r:
            shown = await r.json()
        assert shown["to"] == f"{people.ung}, {people.admin}"  # the sender's copy names them all
        assert [a["filename"] for a in shown["attachments"]] == ["kế-hoạch 计划.txt"]
    [event] = await bus_events(infra_parts.bootstrap, "mail.received.v1", lambda e: e.get("message_id") == queue_id, 1)
    received = MailReceived.model_validate(event).mail
    assert received.listener == "submission" and received.authenticated_as == people.hieu
    assert sorted(received.rcpt_to) == sorted([people.ung, people.admin])
    raw = FileBlobStore.from_uri(f"file://{webmail_env['GOVMAIL_DATA_DIR']}/blobs").get(received.blob)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert (message["X-Govmail-Separate"], message["X-Govmail-Burn"]) == ("yes", "yes")
    assert message["To"] == "undisclosed-recipients:;" and message["Cc"] is None  # nobody sees the others
    assert message["Disposition-Notification-To"] == people.hieu
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "kế-hoạch 计划.txt" and attachment.get_payload(decode=True) == "Số liệu 数据".encode()


async def test_send_as_only_with_a_grant(ingress_and_webmail, people, redis_client, infra_parts):
    base = ingress_and_webmail
    async with client() as http:
        assert await login(http, base, people.ung) == 303
        csrf = await csrf_of(http, base, "/compose")
        async with http.post(f"{base}/compose", data=form(csrf, **{"from": people.hieu, "to": people.admin}),
                             headers={"Accept": "application/json"}) as r:
            assert r.status == 403
        grant = Grant(mailbox=people.hieu, grantee=people.ung, rights=["send_on_behalf"])
        redis_client.hset(grants_key(people.hieu), people.ung, grant.model_dump_json())
        redis_client.sadd(granted_key(people.ung), people.hieu)
        async with http.post(f"{base}/compose", data=form(csrf, **{"from": people.hieu, "to": people.admin,
                                                                   "subject": "Thay mặt anh Hiếu"}),
                             headers={"Accept": "application/json"}) as r:
            assert r.status == 201, await r.text()
            queue_id = (await r.json())["queue_id"]
    [event] = await bus_events(infra_parts.bootstrap, "mail.received.v1", lambda e: e.get("message_id") == queue_id, 1)
    received = MailReceived.model_validate(event).mail
    assert (received.delegation, received.delegated_mailbox, received.authenticated_as) == (
        "send_on_behalf", people.hieu, people.ung)


async def test_limits_and_policies_of_submission_apply(ingress_and_webmail, people, redis_client):
    base = ingress_and_webmail
    redis_client.hset(account_key(people.hieu), "service_class", "basic")  # 3 MiB per message
    async with client() as http:
        assert await login(http, base, people.hieu) == 303
        csrf = await csrf_of(http, base, "/compose")
        data = form(csrf, to=people.ung, subject="Tệp lớn")
        data.add_field("attachment", b"x" * (3 * 1024 * 1024), filename="lon.bin",
                       content_type="application/octet-stream")
        async with http.post(f"{base}/compose", data=data, headers={"Accept": "application/json"}) as r:
            assert r.status == 413 and (await r.json())["limit"] == 3 * 1024 * 1024
        redis_client.hset(account_key(people.hieu), "sending_locked", "1")  # submission's own refusal
        async with http.post(f"{base}/compose", data=form(csrf, to=people.ung, subject="Bị khoá"),
                             headers={"Accept": "application/json"}) as r:
            assert r.status == 422 and (await r.json())["smtp_code"] == 550


async def test_new_mail_arrives_over_sse(webmail, people, infra_parts):
    publisher = KafkaPublisher(infra_parts.bootstrap, "test-webmail")
    await publisher.start()
    async with client() as http:
        assert await login(http, webmail, people.hieu) == 303
        async with http.get(f"{webmail}/events") as stream:
            assert (await stream.content.readuntil(b"\n\n")).startswith(b"event: ready")
            for recipient, status, detail in ((people.ung, "delivered", "INBOX"), (people.hieu, "delivered", "Junk"),
                                              (people.unit, "delivered", "INBOX")):
                await publisher.publish("mail.delivery.v1", MailDelivery(
                    producer="delivery", message_id=f"q-{recipient}", recipient=recipient,
                    recipient_domain="tiengiang.gov.vn", mail_from="vanthu@tiengiang.gov.vn", direction="internal",
                    status=status, final=True, detail=detail))
            async with asyncio.timeout(30):
                chunk = await stream.content.readuntil(b"\n\n")
                while chunk.startswith(b":"):
                    chunk = await stream.content.readuntil(b"\n\n")
    await publisher.stop()
    # Only the unit mailbox hieu holds: not ung's mail, not hieu's junk.
    assert chunk.startswith(b"event: mail") and f'"mailbox": "{people.unit}"'.encode() in chunk


async def test_reply_and_forward_keep_the_thread_and_are_events(ingress_and_webmail, people, infra_parts,
                                                                webmail_env):
    base = ingress_and_webmail
    original = letter(people.hieu, "Đề nghị góp ý dự thảo", sender=f"Đặng Thị Ưng <{people.ung}>")
    uid = deliver(webmail_env, people.hieu, original)
    message_id = email.message_from_bytes(original, policy=email.policy.default)["Message-ID"]
    async with client() as http:
        assert await login(http, base, people.hieu) == 303
        async with http.get(f"{base}/compose", params={"reply": f"{people.hieu}/INBOX/{uid}"}) as r:
            page = await r.text()
            assert "Re: Đề nghị góp ý dự thảo" in page and people.ung in page
        csrf = await csrf_of(http, base, "/compose")
        queued = []
        for mode in ("reply", "forward"):
            async with http.post(f"{base}/compose", headers={"Accept": "application/json"}, data=form(
                    csrf, to=people.ung, subject=f"{mode}: Đề nghị góp ý", body="Đồng ý.",
                    ref=f"{people.hieu}/INBOX/{uid}", mode=mode)) as r:
                assert r.status == 201, await r.text()
                queued.append((await r.json())["queue_id"])
    events = await bus_events(infra_parts.bootstrap, "mailbox.activity.v1",
                              lambda e: e.get("mailbox") == people.hieu and e["action"] in ("replied", "forwarded"), 2)
    assert sorted(e["action"] for e in events) == ["forwarded", "replied"]
    blobs = FileBlobStore.from_uri(f"file://{webmail_env['GOVMAIL_DATA_DIR']}/blobs")
    sent = []
    for queue_id in queued:
        [event] = await bus_events(infra_parts.bootstrap, "mail.received.v1",
                                   lambda e, q=queue_id: e.get("message_id") == q, 1)
        sent.append(email.message_from_bytes(blobs.get(MailReceived.model_validate(event).mail.blob),
                                             policy=email.policy.default))
    assert sent[0]["In-Reply-To"] == message_id
    [forwarded] = list(sent[1].iter_attachments())
    assert forwarded.get_filename() == "Đề nghị góp ý dự thảo.eml"


async def test_a_read_receipt_goes_once_through_submission_as_the_reader(ingress_and_webmail, people, infra_parts,
                                                                        webmail_env):
    base = ingress_and_webmail
    asked = letter(people.hieu, "Công văn khẩn — 紧急公文", sender=f"Đặng Thị Ưng <{people.ung}>",
                   headers={"Disposition-Notification-To": people.ung})
    uid = deliver(webmail_env, people.hieu, asked)
    plain = deliver(webmail_env, people.hieu, letter(people.hieu, "Không cần xác nhận"))
    async with client() as http:
        assert await login(http, base, people.hieu) == 303
        async with http.get(f"{base}/mail/{people.hieu}/INBOX/{uid}") as r:
            assert "/receipt" in await r.text()
        csrf = await csrf_of(http, base)
        json_ = {"Accept": "application/json"}
        async with http.post(f"{base}/mail/{people.hieu}/INBOX/{plain}/receipt", data={"csrf": csrf}, headers=json_) as r:
            assert r.status == 409
        async with http.post(f"{base}/mail/{people.hieu}/INBOX/{uid}/receipt", data={"csrf": csrf}, headers=json_) as r:
            assert r.status == 200 and (await r.json())["receipt_to"] == people.ung
        async with http.post(f"{base}/mail/{people.hieu}/INBOX/{uid}/receipt", data={"csrf": csrf}, headers=json_) as r:
            assert r.status == 409  # once only
    [event] = await bus_events(infra_parts.bootstrap, "mail.received.v1",
                               lambda e: e.get("mail", {}).get("rcpt_to") == [people.ung]
                               and e["mail"].get("authenticated_as") == people.hieu, 1)
    blobs = FileBlobStore.from_uri(f"file://{webmail_env['GOVMAIL_DATA_DIR']}/blobs")
    mdn = email.message_from_bytes(blobs.get(MailReceived.model_validate(event).mail.blob), policy=email.policy.default)
    assert mdn.get_content_type() == "multipart/report" and mdn.get_param("report-type") == "disposition-notification"
    assert "Công văn khẩn" in str(mdn["Subject"])


async def test_burn_and_separate_need_their_features_in_the_authors_class(ingress_and_webmail, people, redis_client):
    # R12/R15: the class "thuong" sends inside and outside the province, but neither burns nor mass-mails.
    add_class(redis_client, "thuong", without=("burn", "separate"))
    redis_client.hset(account_key(people.hieu), "service_class", "thuong")
    base = ingress_and_webmail
    async with client() as http:
        assert await login(http, base, people.hieu) == 303
        async with http.get(f"{base}/compose") as r:
            page = await r.text()
        assert 'name="receipt"' in page and 'name="burn"' not in page and 'name="separate"' not in page
        csrf = await csrf_of(http, base, "/compose")
        refusals = []
        for option in ("burn", "separate"):
            async with http.post(f"{base}/compose", data=form(csrf, to=people.ung, subject="Mật — 机密",
                                                              **{option: "yes"}),
                                 headers={"Accept": "application/json"}) as r:
                refusals.append((r.status, await r.json()))
        async with http.post(f"{base}/compose", data=form(csrf, to=people.ung, subject="Thường — 普通", receipt="yes"),
                             headers={"Accept": "application/json"}) as r:
            assert r.status == 201, await r.text()
        async with http.get(f"{base}/api/sent") as r:
            assert [s["subject"] for s in (await r.json())["sent"]] == ["Thường — 普通"]  # nothing refused was sent
    assert [(status, body["type"].rpartition(":")[2], body["feature"], body["title"]) for status, body in refusals] == [
        (403, "feature-not-allowed", "burn", "Burn-after-reading not allowed"),
        (403, "feature-not-allowed", "separate", "Separate delivery not allowed")]
    assert refusals[0][1]["detail"] == ("the service class thuong does not include burn-after-reading; "
                                        "send the message without it")
