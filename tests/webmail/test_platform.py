"""The webmail inside a whole `govmail up`: first login, sending through the pipeline, the notification, reading."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import pytest

from tests.e2e.harness import Platform
from tests.webmail.conftest import client, csrf_of, login

DOMAIN = "tiengiang.gov.vn"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    plat = Platform(tmp_path_factory.mktemp("webmail-platform") / "data")
    plat.start()
    plat.govmail("admin", "domain", "add", DOMAIN)
    yield plat
    assert plat.stop() == 0


async def first_login(http, base: str, address: str, initial: str, new: str) -> None:
    assert await login(http, base, address, initial) == 303
    csrf = await csrf_of(http, base, "/password")
    async with http.post(f"{base}/password", data={"csrf": csrf, "current": initial, "new": new},
                         headers={"Accept": "application/json"}) as r:
        assert r.status == 200, await r.text()


async def test_mail_sent_in_the_webmail_reaches_the_other_users_open_page(platform: Platform):
    [ready] = [line for line in platform.output if line.startswith("govmail ready")]
    base = re.search(r"webmail=(http://\S+)", ready).group(1)
    assert base == f"http://127.0.0.1:{platform.env['GOVMAIL_WEBMAIL_PORT']}"
    hieu = platform.create_account(DOMAIN, "Lê Minh Hiếu")
    ung = platform.create_account(DOMAIN, "Đặng Thị Ưng")
    async with client() as sender, client() as reader:
        await first_login(sender, base, hieu["address"], hieu["password"], "Hieu#2026moi")
        await first_login(reader, base, ung["address"], ung["password"], "Ung#2026moi")
        async with reader.get(f"{base}/events") as stream:
            assert (await stream.content.readuntil(b"\n\n")).startswith(b"event: ready")
            csrf = await csrf_of(sender, base, "/compose")
            async with sender.post(f"{base}/compose", headers={"Accept": "application/json"}, data={
                    "csrf": csrf, "to": ung["address"], "subject": "Giấy mời họp — 会议邀请",
                    "body": "Mời chị dự họp lúc 14:00.\n请准时参加。"}) as r:
                assert r.status == 201, await r.text()
            async with asyncio.timeout(60):
                chunk = await stream.content.readuntil(b"\n\n")
                while chunk.startswith(b":"):
                    chunk = await stream.content.readuntil(b"\n\n")
        assert chunk.startswith(b"event: mail") and hieu["address"].encode() in chunk
        async with reader.get(f"{base}/api/mail/{ung['address']}/INBOX") as r:
            [summary] = (await r.json())["messages"]
        assert summary["subject"] == "Giấy mời họp — 会议邀请"
        async with reader.get(f"{base}/api/mail/{ung['address']}/INBOX/{summary['uid']}") as r:
            assert "请准时参加。" in (await r.json())["text"]
        # The sender's page shows delivery's status, read from delivery's API.
        async with sender.get(f"{base}/api/sent") as r:
            [sent] = (await r.json())["sent"]
        assert [(s["recipient"], s["status"]) for s in sent["status"]] in (
            [(ung["address"], "delivered")], [(ung["address"], "read")])  # "read" once delivery saw the opening


async def wait_status(http, base: str, queue_id: str, wanted: dict[str, str]) -> None:
    async with asyncio.timeout(60):
        while True:
            async with http.get(f"{base}/api/sent") as r:
                [sent] = [s for s in (await r.json())["sent"] if s["queue_id"] == queue_id]
            if {s["recipient"]: s["status"] for s in sent["status"] or []} == wanted:
                return
            await asyncio.sleep(0.3)


async def test_recall_takes_back_the_unread_copy_and_reports_the_read_one(platform: Platform):
    base = f"http://127.0.0.1:{platform.env['GOVMAIL_WEBMAIL_PORT']}"
    mai = platform.create_account(DOMAIN, "Trần Thị Mai")
    lan = platform.create_account(DOMAIN, "Lê Thị Lan")
    quang = platform.create_account(DOMAIN, "Phạm Văn Quang")
    async with client() as sender, client() as reader:
        await first_login(sender, base, mai["address"], mai["password"], "Mai#2026moi")
        await first_login(reader, base, lan["address"], lan["password"], "Lan#2026moi")
        csrf = await csrf_of(sender, base, "/compose")
        async with sender.post(f"{base}/compose", headers={"Accept": "application/json"}, data={
                "csrf": csrf, "to": f"{lan['address']}, {quang['address']}", "subject": "Thông báo nhầm — 误发通知",
                "body": "Xin bỏ qua thư này."}) as r:
            assert r.status == 201, await r.text()
            queue_id = (await r.json())["queue_id"]
        await wait_status(sender, base, queue_id, {lan["address"]: "delivered", quang["address"]: "delivered"})
        async with reader.get(f"{base}/api/mail/{lan['address']}/INBOX") as r:
            [summary] = (await r.json())["messages"]
        async with reader.get(f"{base}/api/mail/{lan['address']}/INBOX/{summary['uid']}") as r:
            assert r.status == 200  # opened: the "opened" event reaches delivery over the bus
        await wait_status(sender, base, queue_id, {lan["address"]: "read", quang["address"]: "delivered"})
        async with sender.post(f"{base}/sent/{queue_id}/recall", data={"csrf": csrf},
                               headers={"Accept": "application/json"}) as r:
            assert r.status == 200, await r.text()
            result = {x["recipient"]: x["status"] for x in (await r.json())["recipients"]}
    assert result == {lan["address"]: "read", quang["address"]: "recalled"}
    assert platform.messages(quang["address"]) == []  # the unread copy is gone
    assert len(platform.messages(lan["address"])) == 1  # the read one stays
