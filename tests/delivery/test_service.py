"""`govmail delivery` as a process on the real broker: scanned mail lands in the Maildir, openings arrive as
events, and users ask for status and recall through the HTTP API and `govmail mail`; `govmail mailbox export` works."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
import mailbox
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from schemas.events import MailboxActivity
from schemas.registry import ACTIVITY, SCANNED
from services.common import ready
from services.common.blobstore import FileBlobStore
from services.common.bus import KafkaPublisher
from services.common.internal_auth import token_path
from services.platform import infra
from tests.conftest import govmail_command
from tests.delivery.support import add_account, message, scanned

SENDER = "leminhhieu@tiengiang.gov.vn"
AN, CHI = "nguyenvanan@tiengiang.gov.vn", "zhangwei@backan.gov.vn"
# The shared broker holds other tests' events whose blobs live in their own data dirs: dead-lettering
# them must not stop this service.
TOLERANT = {"DELIVERY_BREAKER_MIN_COUNT": "100000"}


def govmail(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(govmail_command(*args), env=env, capture_output=True, text=True, timeout=60)


def get(url: str, actor: str = "", token: str | None = None) -> tuple[int, str, dict]:
    headers = {"X-Govmail-User": actor} if actor else {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], json.loads(exc.read())


@contextlib.asynccontextmanager
async def running_delivery(env: dict[str, str], logs: Path):
    data_dir = Path(env["GOVMAIL_DATA_DIR"])
    with (logs / "delivery.out").open("wb") as out, (logs / "delivery.err").open("wb") as err:
        proc = subprocess.Popen(govmail_command("delivery"), env=env, stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL)
    try:
        async with asyncio.timeout(90):
            while not ready.is_ready(data_dir / "run", "delivery", proc.pid):
                assert proc.poll() is None, (logs / "delivery.err").read_text(encoding="utf-8")
                await asyncio.sleep(0.1)
        yield proc
    finally:
        await asyncio.to_thread(infra.stop, proc, 30)


async def wait_until(check, timeout: float = 30.0):
    async with asyncio.timeout(timeout):
        while not (found := await asyncio.to_thread(check)):
            await asyncio.sleep(0.2)
    return found


async def test_the_service_delivers_reports_status_recalls_and_exports(
        infra_parts, redis_client, platform_env, tmp_path) -> None:
    add_account(redis_client, SENDER, "Lê Minh Hiếu", language="vi")
    add_account(redis_client, AN, "Nguyễn Văn An")
    add_account(redis_client, CHI, "张伟", language="zh")
    env = {**platform_env, **TOLERANT}
    data = Path(env["GOVMAIL_DATA_DIR"])
    api = f"http://127.0.0.1:{env['GOVMAIL_DELIVERY_PORT']}"
    blobs = FileBlobStore(data / "blobs")
    publisher = KafkaPublisher(infra_parts.bootstrap, "test-delivery-service")
    await publisher.start()
    try:
        async with running_delivery(env, tmp_path):
            to = [AN, CHI]
            first = scanned(blobs, message(SENDER, to, "Giấy mời họp — 会议邀请", "Kính mời"), SENDER, to)
            second = scanned(blobs, message(SENDER, to, "Thư gửi nhầm", "Xin thu hồi"), SENDER, to)
            for event in (first, second):
                await publisher.publish(SCANNED, event)
            box = data / "mail" / "backan.gov.vn" / "zhangwei" / "Maildir" / "new"
            await wait_until(lambda: box.is_dir() and len(list(box.iterdir())) == 2)

            # The webmail's "opened" arrives as an event; the status then says read.
            await publisher.publish(ACTIVITY, MailboxActivity(producer="webmail", message_id=first.message_id,
                                                              mailbox=CHI, actor=CHI, action="opened"))

            def read_by_chi():
                shown = govmail(env, "mail", "status", first.message_id, "--as", SENDER, "--json")
                assert shown.returncode == 0, shown.stderr
                states = {r["recipient"]: r["state"] for r in json.loads(shown.stdout)["recipients"]}
                return states if states[CHI] == "read" else None

            assert await wait_until(read_by_chi) == {AN: "delivered", CHI: "read"}
            table = govmail(env, "mail", "status", first.message_id, "--as", SENDER)
            assert "Giấy mời họp — 会议邀请" in table.stdout
            assert re.search(rf"^{re.escape(CHI)} +read +local +opened by", table.stdout, re.MULTILINE)

            recalled = govmail(env, "mail", "recall", second.message_id, "--as", SENDER, "--json")
            assert recalled.returncode == 0, recalled.stderr
            assert {r["recipient"]: r["outcome"] for r in json.loads(recalled.stdout)["recipients"]} == {
                AN: "recalled", CHI: "recalled"}
            assert len(list(box.iterdir())) == 1

            # Only the platform's own parts may ask: the token `govmail mail` and the webmail use is the
            # one the service made in the data dir (GOVMAIL_INTERNAL_TOKEN in a cluster).
            token = token_path(data).read_text().strip()
            assert token and oct(token_path(data).stat().st_mode & 0o777) == "0o600"
            for wrong in (None, "doan-bua"):
                status, _, body = await asyncio.to_thread(get, f"{api}/messages/{first.message_id}/status", SENDER,
                                                          wrong)
                assert (status, body["type"]) == (401, "urn:govmail:problem:internal-only")
            # Errors are problem+json with a precise answer.
            status, kind, body = await asyncio.to_thread(get, f"{api}/messages/{first.message_id}/status", AN, token)
            assert (status, kind.split(";")[0], body["type"]) == (403, "application/problem+json",
                                                                 "urn:govmail:problem:not-the-sender")
            status, kind, body = await asyncio.to_thread(get, f"{api}/messages/nosuchid/status", SENDER, token)
            assert (status, body["type"]) == (404, "urn:govmail:problem:unknown-message")
            status, kind, body = await asyncio.to_thread(get, f"{api}/messages/{first.message_id}/status", "", token)
            assert (status, body["type"]) == (401, "urn:govmail:problem:no-actor")
            refused = govmail(env, "mail", "recall", first.message_id, "--as", AN)
            assert refused.returncode == 1 and "Not the sender (403)" in refused.stderr
            status, _, listing = await asyncio.to_thread(get, f"{api}/messages", SENDER, token)
            assert status == 200 and {m["message_id"] for m in listing["messages"]} >= {first.message_id}

        out = tmp_path / "zhangwei.mbox"
        exported = subprocess.run([sys.executable, "-m", "services.cli", "mailbox", "export", CHI, "--out", str(out)],
                                  env=env, capture_output=True, text=True, timeout=60)
        assert exported.returncode == 0, exported.stderr
        assert exported.stdout.startswith("exported 1 message(s)")
        (kept,) = mailbox.mbox(out, factory=lambda f: email.message_from_binary_file(f, policy=email.policy.default))
        assert kept["Subject"] == "Giấy mời họp — 会议邀请"
    finally:
        await publisher.stop()
