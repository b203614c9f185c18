"""The webmail in headless Chromium (Debian's, driven by Playwright): the main flows, with a screenshot of each page."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from playwright.sync_api import Browser, Page, expect, sync_playwright

from schemas.events import MailDelivery, MailReceived
from services.common.blobstore import FileBlobStore
from services.common.bus import KafkaPublisher
from services.delivery import copies
from services.delivery.copies import CopyStates
from services.delivery.status import StatusStore
from services.webmail.sentlog import sent_key
from tests.webmail.conftest import PASSWORD, bus_events, deliver, letter, start_service, stop_service
from tests.webmail.test_reading import DECEPTIVE
from tests.webmail.test_sanitize import CORPUS

CHROMIUM = os.environ.get("GOVMAIL_CHROMIUM", "/usr/bin/chromium")
# Screenshots of the main pages: kept in docs/ only when asked (GOVMAIL_SCREENSHOTS=1), so a test run leaves
# the checkout clean; otherwise they go to the test's temporary folder.
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
expect.set_options(timeout=20_000)  # generous: CI machines are loaded; the wait ends as soon as the page is there


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Never skipped: `./govmail test` installs Debian's chromium, and without it this fails loudly here.
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing: run ./govmail test as root, or apt-get install chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, webmail: str, tmp_path: Path) -> Iterator[Page]:
    context = browser.new_context(base_url=webmail, viewport={"width": 1100, "height": 720}, locale="vi-VN")
    # Record browser notifications instead of showing them (headless has no notification centre).
    context.grant_permissions(["notifications"], origin=webmail)
    context.add_init_script("""
        window.__notified = [];
        window.Notification = class { constructor(title, options) { window.__notified.push(title + ': ' + options.body); }
                                      static get permission() { return 'granted'; }
                                      static requestPermission() { return Promise.resolve('granted'); } };
        window.alert = window.confirm = window.prompt = () => { window.__xss = true; };
    """)
    page = context.new_page()
    page.screenshot_dir = tmp_path / "screenshots"  # type: ignore[attr-defined]
    page.dialogs = []  # type: ignore[attr-defined]
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))  # type: ignore[attr-defined]
    yield page
    context.close()


def run_async(coroutine):
    """asyncio.run in its own thread: Playwright's sync API keeps an event loop running in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def shot(page: Page, name: str) -> None:
    folder = DOCS_SCREENSHOTS if os.environ.get("GOVMAIL_SCREENSHOTS") == "1" else page.screenshot_dir  # type: ignore[attr-defined]
    folder.mkdir(parents=True, exist_ok=True)
    assert page.screenshot(path=str(folder / f"{name}.png"))[:8] == b"\x89PNG\r\n\x1a\n"


def log_in_with_the_keyboard(page: Page, username: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.wait_for_selector("#username:focus")  # the address field takes the focus on arrival (autofocus)
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def test_log_in_read_a_deceptive_link_and_get_the_warning(page: Page, webmail_env, people):
    deliver(webmail_env, people.hieu, letter(people.hieu, "Lịch họp giao ban tuần 47 — 周例会"))
    uid = deliver(webmail_env, people.hieu, letter(people.hieu, "Xác nhận tài khoản ngân hàng", html=DECEPTIVE,
                                                   sender="Ngân hàng <thongbao@vietcombank.example-login.ru>"))
    page.goto("/login")
    shot(page, "login")
    log_in_with_the_keyboard(page, people.hieu)
    expect(page.get_by_role("link", name="Lịch họp giao ban tuần 47 — 周例会")).to_be_visible()
    shot(page, "inbox")
    # Keyboard alone: Tab to the message and open it with Enter.
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Xác nhận tài khoản ngân hàng":
            break
    with page.expect_navigation():
        page.keyboard.press("Enter")
    frame = page.frame_locator("iframe.body")
    expect(frame.get_by_text("www.vietcombank.com.vn")).to_be_visible()
    shot(page, "message")
    with page.context.expect_page() as opened:
        frame.get_by_role("link", name="www.vietcombank.com.vn").click()
    warning = opened.value
    warning.wait_for_load_state()
    warning.screenshot_dir = page.screenshot_dir  # type: ignore[attr-defined]
    expect(warning.locator("#destination")).to_have_text("http://vietcombank.example-login.ru/xac-nhan")
    expect(warning.get_by_role("heading")).to_contain_text("Cảnh báo liên kết")
    shot(warning, "link-warning")
    assert uid in page.url


def test_hostile_mail_runs_nothing_in_the_browser(page: Page, webmail_env, people):
    hostile = "".join(CORPUS.values()) + '<img src=x onerror="window.__xss=true">'
    uid = deliver(webmail_env, people.hieu, letter(people.hieu, "Thư độc hại", html=hostile))
    log_in_with_the_keyboard(page, people.hieu)
    page.goto(f"/mail/{people.hieu}/INBOX/{uid}")
    frame = page.frame_locator("iframe.body")
    expect(frame.get_by_text("phủ kín màn hình")).to_be_visible()
    body_frame = page.frames[1]
    body_frame.wait_for_load_state("load")  # inline scripts and load/error handlers would have run by now
    assert page.dialogs == []  # type: ignore[attr-defined]
    assert page.evaluate("window.__xss") is None
    assert body_frame.evaluate("typeof window.__xss") == "undefined"


def test_first_login_password_change(page: Page, people, redis_client):
    log_in_with_the_keyboard(page, people.newbie)
    expect(page.get_by_text("Lần đăng nhập đầu tiên: hãy đặt mật khẩu mới.")).to_be_visible()
    shot(page, "password-change")
    page.goto(f"/mail/{people.newbie}/INBOX")  # every other page waits for the change
    expect(page.get_by_text("Lần đăng nhập đầu tiên: hãy đặt mật khẩu mới.")).to_be_visible()
    page.fill("#current", PASSWORD)
    page.fill("#new", "Nam#2026moi")
    page.get_by_role("button", name="Đổi mật khẩu").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(people.newbie)
    assert redis_client.hget(f"gm:account:{people.newbie}", "must_change_password") == "0"


def test_send_with_separate_delivery(page: Page, webmail_env, people, infra_parts):
    ingress = start_service("ingress", webmail_env)
    try:
        log_in_with_the_keyboard(page, people.hieu)
        page.get_by_role("link", name="Soạn thư").click()
        page.fill("#to", f"{people.ung}, {people.admin}")
        page.fill("#subject", "Thông báo nghỉ lễ — 放假通知")
        page.fill("#body", "Kính gửi các đồng chí,\n节日快乐。")
        page.check("#separate")
        shot(page, "compose")
        page.get_by_role("button", name="Gửi", exact=True).click()
        expect(page.get_by_role("status").filter(has_text="Đã gửi.")).to_be_visible()
        shot(page, "sent")
        queue_id = page.locator("p.info code").inner_text()
    finally:
        stop_service(ingress, webmail_env, "ingress")
    [event] = run_async(bus_events(infra_parts.bootstrap, "mail.received.v1",
                                     lambda e: e.get("message_id") == queue_id, 1))
    received = MailReceived.model_validate(event).mail
    raw = FileBlobStore.from_uri(f"file://{webmail_env['GOVMAIL_DATA_DIR']}/blobs").get(received.blob)
    assert email.message_from_bytes(raw, policy=email.policy.default)["X-Govmail-Separate"] == "yes"
    assert sorted(received.rcpt_to) == sorted([people.ung, people.admin])


def test_new_mail_notification_arrives_over_sse(page: Page, people, infra_parts):
    log_in_with_the_keyboard(page, people.hieu)
    expect(page.locator("#notify-allow")).to_be_hidden()  # notifications already allowed: nothing to ask
    # (A locator, not wait_for_function: the page's CSP forbids the eval that would need.)
    page.wait_for_selector("body[data-stream='open']", state="attached")

    async def publish() -> None:
        publisher = KafkaPublisher(infra_parts.bootstrap, "test-webmail-browser")
        await publisher.start()
        await publisher.publish("mail.delivery.v1", MailDelivery(
            producer="delivery", message_id="q-browser", recipient=people.hieu, recipient_domain="tiengiang.gov.vn",
            mail_from="vanthu@tiengiang.gov.vn", direction="internal", status="delivered", final=True,
            detail="INBOX"))
        await publisher.stop()

    run_async(publish())
    expect(page.locator("#new-mail")).to_have_text("Có thư mới: vanthu@tiengiang.gov.vn", timeout=30_000)
    assert page.evaluate("window.__notified") == ["Có thư mới: vanthu@tiengiang.gov.vn"]
    shot(page, "notification")


@pytest.fixture
def delivery_service(webmail_env) -> Iterator[None]:
    """The real delivery service: its status and recall API is what the sent page shows and the button calls."""
    proc = start_service("delivery", webmail_env)
    yield
    stop_service(proc, webmail_env, "delivery")


def seed_sent_message(redis_url: str, queue_id: str, sender: str, subject: str, opened: list[str],
                      unread: list[str]) -> None:
    """Delivery's records of a message it delivered to these recipients, some of whom opened it."""

    async def seed() -> None:
        client = aioredis.from_url(redis_url, decode_responses=True)
        status, copy_states = StatusStore(client, 3600), CopyStates(client, 3600)
        await status.message(queue_id, sender, subject, "", time.time())
        for recipient in opened + unread:
            await status.set(queue_id, recipient, "delivered", "INBOX")
            await copy_states.delivered(queue_id, recipient, recipient, f"k-{recipient}", sender, subject, False)
        for recipient in opened:
            await copy_states.move(queue_id, recipient, copies.OPENED, copies.DELIVERED)
            await status.set(queue_id, recipient, "read", "opened")
        await client.aclose()

    run_async(seed())


def test_delivery_status_and_recall_per_recipient(delivery_service, webmail_env, page: Page, people, redis_client):
    entry = {"queue_id": "0190abcdef12", "subject": "Công văn khẩn — 紧急公文", "at": time.time(),
             "to": ["dangthiung@tiengiang.gov.vn", "quantri@tiengiang.gov.vn"]}
    redis_client.lpush(sent_key(people.hieu), json.dumps(entry))
    seed_sent_message(webmail_env["GOVMAIL_REDIS_URL"], entry["queue_id"], people.hieu, entry["subject"],
                      opened=["quantri@tiengiang.gov.vn"], unread=["dangthiung@tiengiang.gov.vn"])
    log_in_with_the_keyboard(page, people.hieu)
    page.goto("/sent")
    expect(page.get_by_text("dangthiung@tiengiang.gov.vn: đã phát")).to_be_visible()
    expect(page.get_by_text("quantri@tiengiang.gov.vn: đã đọc")).to_be_visible()
    page.get_by_role("button", name="Thu hồi").click()
    result = page.locator("section")  # the recall's per-recipient answer, above the table
    expect(result.get_by_text("dangthiung@tiengiang.gov.vn: đã thu hồi")).to_be_visible()
    expect(result.get_by_text("quantri@tiengiang.gov.vn: đã đọc")).to_be_visible()
    expect(page.get_by_role("table").get_by_text("dangthiung@tiengiang.gov.vn: đã thu hồi")).to_be_visible()
    assert run_async(StatusStore(aioredis.from_url(webmail_env["GOVMAIL_REDIS_URL"], decode_responses=True),
                                 3600).get("0190abcdef12"))["recipients"][0]["state"] == "recalled"
    shot(page, "recall")
