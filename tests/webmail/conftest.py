"""Fixtures for the webmail: accounts in the real Redis, the webmail (and ingress) as real processes, mail in Maildirs."""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import aiohttp
import pytest

from services.common.directory import DOMAINS, Account, account_key, accounts_key
from services.delivery import maildir
from services.delivery.headers import symbols_header
from services.lifecycle.passwords import hash_password
from tests.bus import bus_events  # noqa: F401 (the webmail tests import it from here)
from tests.conftest import govmail_command

DOMAIN = "tiengiang.gov.vn"
PASSWORD = "Hieu@2024xyz"


@dataclass
class People:
    hieu: str  # a civil servant, password already changed
    ung: str  # another civil servant
    admin: str  # an administrator's own account: no special rights in the webmail
    unit: str  # a unit mailbox held by hieu
    newbie: str  # must change the initial password


def add_account(redis_client, address: str, name: str, **fields) -> None:
    fields.setdefault("must_change_password", False)
    account = Account(address=address, domain=DOMAIN, localpart=address.split("@")[0], name=name,
                      password_hash=hash_password(PASSWORD), **fields)
    redis_client.hset(account_key(address), mapping=account.to_redis())
    redis_client.sadd(accounts_key(DOMAIN), address)


@pytest.fixture
def people(redis_client) -> People:
    tag = uuid.uuid4().hex[:6]
    found = People(hieu=f"leminhhieu{tag}@{DOMAIN}", ung=f"dangthiung{tag}@{DOMAIN}",
                   admin=f"quantri{tag}@{DOMAIN}", unit=f"stttt{tag}@{DOMAIN}", newbie=f"tranvannam{tag}@{DOMAIN}")
    redis_client.sadd(DOMAINS, DOMAIN)
    add_account(redis_client, found.hieu, "Lê Minh Hiếu", unit="stttt")
    add_account(redis_client, found.ung, "Đặng Thị Ưng", language="zh")
    add_account(redis_client, found.admin, "Quản Trị Viên")
    add_account(redis_client, found.unit, "Sở Thông tin và Truyền thông", kind="unit", unit="stttt",
                holder=found.hieu)
    add_account(redis_client, found.newbie, "Trần Văn Nam", must_change_password=True)
    return found


def start_service(name: str, env: dict[str, str]) -> subprocess.Popen:
    data = Path(env["GOVMAIL_DATA_DIR"])
    data.mkdir(parents=True, exist_ok=True)
    log = data / f"{name}.log"
    with log.open("ab") as out:  # a file, never a pipe nobody reads
        proc = subprocess.Popen(govmail_command(name), env=env, stdout=out, stderr=subprocess.STDOUT)
    marker = data / "run" / "ready" / name
    deadline = time.monotonic() + 90
    while not (marker.exists() and marker.read_text() == str(proc.pid)):
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")
        time.sleep(0.1)
    return proc


def stop_service(proc: subprocess.Popen, env: dict[str, str], name: str) -> None:
    """SIGTERM and a clean exit (0), else fail with the end of the service's log."""
    proc.terminate()
    code = proc.wait(30)
    log = Path(env["GOVMAIL_DATA_DIR"]) / f"{name}.log"
    assert code == 0, f"{name} exited {code}:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:])


@pytest.fixture
def webmail_env(platform_env) -> dict[str, str]:
    return dict(platform_env, WEBMAIL_COOKIE_SECURE="false", WEBMAIL_AUTH_MAX_FAILURES_PER_USER="3",
                WEBMAIL_AUTH_MAX_FAILURES_PER_IP="50")


@pytest.fixture
def webmail(webmail_env, people) -> Iterator[str]:
    proc = start_service("webmail", webmail_env)
    yield f"http://127.0.0.1:{webmail_env['GOVMAIL_WEBMAIL_PORT']}"
    stop_service(proc, webmail_env, "webmail")


def mail_root(env: dict[str, str]) -> Path:
    return Path(env["GOVMAIL_DATA_DIR"]).resolve() / "mail"


def letter(to: str, subject: str, html: str | None = None, text: str = "Kính gửi anh Hiếu.\n张伟 已审阅。\n",
           sender: str = "Phòng Hành chính <hanhchinh@example.vn>", headers: dict[str, str] | None = None,
           attachment: tuple[str, str, bytes] | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = "Sat, 21 Nov 2026 08:00:00 +0700"
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@example.vn>"
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    if attachment:
        name, ctype, data = attachment
        main, _, sub = ctype.partition("/")
        msg.add_attachment(data, maintype=main, subtype=sub, filename=name)
    return msg.as_bytes()


def deliver(env: dict[str, str], address: str, raw: bytes, prefix: bytes = b"") -> str:
    """Put a message in the mailbox as delivery does; returns its uid (the Maildir name)."""
    root = maildir.mailbox_root(mail_root(env), address)
    done = maildir.deliver(root, uuid.uuid4().hex, prefix + raw)
    return done.path.name.split(":")[0]


CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def login(http: aiohttp.ClientSession, base: str, username: str, password: str = PASSWORD) -> int:
    async with http.get(f"{base}/login") as page:
        token = CSRF.search(await page.text()).group(1)
    async with http.post(f"{base}/login", data={"csrf": token, "username": username, "password": password},
                         allow_redirects=False) as response:
        return response.status


async def csrf_of(http: aiohttp.ClientSession, base: str, path: str = "/todo") -> str:
    async with http.get(base + path) as page:
        return CSRF.search(await page.text()).group(1)


def client() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


def symbols_line(symbols) -> str:
    """Delivery's X-Govmail-Symbols header as one raw header line."""
    return symbols_header(symbols) + "\r\n"
