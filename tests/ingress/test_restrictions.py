"""Per-account restrictions at AUTH (R24) and the daily outbound cap (R22), over real SMTP with TLS."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.common.directory import DOMAINS, Account, account_key
from services.ingress.restrictions import parse_hours, refusal
from services.lifecycle.passwords import hash_password
from tests.ingress.test_smtp import DOMAIN, add_account, start_ingress
from tests.ingress.test_submission import PASSWORD, auth_plain, letter, read_events, submission
from tests.lifecycle.test_cli import admin, lifecycle  # noqa: F401  (lifecycle is a fixture used below)

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
COLLEAGUE = f"dangthiung@{DOMAIN}"


def window(start_offset: float, length: float) -> str:
    """'HH:MM-HH:MM' starting `start_offset` hours from now (province time), `length` hours long."""
    now = datetime.now(ZONE)
    start, end = now + timedelta(hours=start_offset), now + timedelta(hours=start_offset + length)
    return f"{start:%H:%M}-{end:%H:%M}"


def account(**fields: object) -> Account:
    return Account(address=f"anh@{DOMAIN}", domain=DOMAIN, localpart="anh", name="Nguyễn Văn Anh", **fields)


@pytest.mark.parametrize(("hours", "at", "inside"), [
    ("07:00-19:00", time(7, 0), True),
    ("07:00-19:00", time(19, 0), False),
    ("07:00-19:00", time(6, 59), False),
    ("22:00-06:00", time(23, 30), True),
    ("22:00-06:00", time(5, 59), True),
    ("22:00-06:00", time(12, 0), False),
])
def test_hours_may_cross_midnight(hours: str, at: time, inside: bool) -> None:
    now = datetime.combine(datetime(2026, 11, 21), at, ZONE)
    assert (refusal(account(allowed_hours=hours), "127.0.0.1", "smtp", now) is None) is inside


def test_networks_match_ipv4_ipv6_and_mapped_ipv4() -> None:
    now = datetime.now(ZONE)
    restricted = account(allowed_networks=["10.0.0.0/8", "2001:db8::/32"])
    assert refusal(restricted, "10.20.30.40", "smtp", now) is None
    assert refusal(restricted, "::ffff:10.20.30.40", "smtp", now) is None
    assert refusal(restricted, "2001:db8::25", "smtp", now) is None
    assert refusal(restricted, "192.168.1.5", "smtp", now) == "network"
    assert refusal(restricted, "2001:db9::1", "smtp", now) == "network"
    assert refusal(account(allowed_clients=["webmail"]), "10.0.0.1", "smtp", now) == "client"


@pytest.mark.parametrize("bad", ["7:00-19:00", "07:00-24:00", "07:60-19:00", "07:00-07:00", "sáng"])
def test_bad_hours_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_hours(bad)


@pytest.fixture
def person(redis_client) -> Callable[..., str]:
    """Makes a fresh account with the given restrictions; fresh, so its auth events can be told apart."""
    redis_client.sadd(DOMAINS, DOMAIN)
    add_account(redis_client, COLLEAGUE, "Đặng Thị Ưng")

    def make(**restrictions: object) -> str:
        address = f"nguyenvananh.{uuid.uuid4().hex[:8]}@{DOMAIN}"
        fields = {k: ",".join(v) if isinstance(v, list) else str(v) for k, v in restrictions.items()}
        add_account(redis_client, address, "Nguyễn Văn Anh", password_hash=hash_password(PASSWORD))
        if fields:
            redis_client.hset(account_key(address), mapping=fields)
        return address

    return make


@pytest.fixture
def ingress(platform_env) -> Iterator[dict[str, str]]:
    env = dict(platform_env, INGRESS_AUTH_MAX_FAILURES_PER_USER="3", INGRESS_MAX_MESSAGES_PER_ACCOUNT_PER_DAY="3")
    proc = start_ingress(env)
    yield env
    proc.terminate()
    assert proc.wait(30) == 0


def login(env: dict[str, str], address: str, password: str = PASSWORD) -> tuple[int, bytes]:
    with submission(env) as smtp:
        return auth_plain(smtp, address, password)


def blocked_reasons(bootstrap: str, address: str, count: int) -> list[str]:
    events = read_events(bootstrap, "auth.events.v1",
                         lambda e: e.get("username") == address and e.get("outcome") == "blocked", count)
    return [e["reason"] for e in events]


def test_login_outside_the_allowed_networks_is_refused_like_a_wrong_password(ingress, infra_parts, person) -> None:
    elsewhere = person(allowed_networks=["10.0.0.0/8"])
    code, text = login(ingress, elsewhere)
    assert (code, text[:5]) == (535, b"5.7.8")
    assert text == login(ingress, elsewhere, "Sai@matkhau1")[1]
    assert blocked_reasons(infra_parts.bootstrap, elsewhere, 1) == ["network"]
    here = person(allowed_networks=["127.0.0.0/8", "2001:db8::/32"])
    assert login(ingress, here)[0] == 235


def test_login_outside_the_allowed_hours_is_refused_and_does_not_lock_the_user(
        ingress, infra_parts, person, redis_client) -> None:
    # Windows start hours away from now, so a test run crossing a minute or midnight cannot flip them.
    night_shift = person(allowed_hours=window(6, 2))
    day_shift = person(allowed_hours=window(-6, 12))
    for _ in range(4):  # more than INGRESS_AUTH_MAX_FAILURES_PER_USER
        assert login(ingress, night_shift)[:1] == (535,)
    assert login(ingress, day_shift)[0] == 235
    assert blocked_reasons(infra_parts.bootstrap, night_shift, 4) == ["hours"] * 4
    # The owner was refused four times with the right password: not failures, so no brute-force lock.
    redis_client.hset(account_key(night_shift), "allowed_hours", "")
    assert login(ingress, night_shift)[0] == 235


def test_login_with_a_client_type_not_allowed_is_refused(ingress, infra_parts, person) -> None:
    webmail_only = person(allowed_clients=["webmail", "imap"])
    code, text = login(ingress, webmail_only)
    assert (code, text[:5]) == (535, b"5.7.8")
    assert blocked_reasons(infra_parts.bootstrap, webmail_only, 1) == ["client"]
    assert login(ingress, person(allowed_clients=["smtp", "webmail"]))[0] == 235


def send(smtp, sender: str) -> tuple[int, bytes]:
    code, text = smtp.docmd("MAIL", f"FROM:<{sender}>")
    if code != 250:
        return code, text
    assert smtp.rcpt(COLLEAGUE)[0] == 250
    return smtp.data(letter(sender, COLLEAGUE))


def test_outbound_cap_locks_sending_until_an_admin_unlocks_it(
        ingress, infra_parts, person, redis_client, lifecycle) -> None:  # noqa: F811
    sender = person()
    with submission(ingress) as smtp:
        assert auth_plain(smtp, sender, PASSWORD)[0] == 235
        for _ in range(3):
            assert send(smtp, sender)[0] == 250
        code, text = send(smtp, sender)
        assert (code, text) == (550, b"5.7.1 Sending disabled for this account; contact your administrator")
    assert redis_client.hget(account_key(sender), "sending_locked") == "1"
    assert blocked_reasons(infra_parts.bootstrap, sender, 1) == ["outbound_cap"]
    # Locked for sending, not for logging in.
    with submission(ingress) as smtp:
        assert auth_plain(smtp, sender, PASSWORD)[0] == 235
        assert send(smtp, sender)[0] == 550

    unlocked = admin(ingress, "account", "unlock-sending", sender)
    assert unlocked.returncode == 0, unlocked.stderr
    assert redis_client.hget(account_key(sender), "sending_locked") == "0"
    with submission(ingress) as smtp:
        assert auth_plain(smtp, sender, PASSWORD)[0] == 235
        assert send(smtp, sender)[0] == 250
