"""Submission over real SMTP: STARTTLS before AUTH, sending only as oneself, and the brute-force lock (R21)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import smtplib
import ssl
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from services.common.directory import DOMAINS, FEATURES, Grant, account_key, grants_key, service_class_key
from services.lifecycle.passwords import hash_password, verify_password
from tests.bus import bus_events
from tests.ingress.test_smtp import DOMAIN, add_account, read_received, start_ingress
from tests.lifecycle.test_passwords import scrypt_hash

PASSWORD = "Hieu@2024xyz"
OTHER = "dangthiung@tiengiang.gov.vn"


@pytest.fixture
def sender(redis_client) -> str:
    """A fresh account per test, so auth events on the shared broker can be told apart."""
    address = f"leminhhieu.{uuid.uuid4().hex[:8]}@{DOMAIN}"
    redis_client.sadd(DOMAINS, DOMAIN)
    add_account(redis_client, address, "Lê Minh Hiếu", unit="so-tttt", password_hash=hash_password(PASSWORD))
    add_account(redis_client, OTHER, "Đặng Thị Ưng", password_hash=hash_password("Ung@2024abc"))
    add_account(redis_client, f"bikhoa@{DOMAIN}", "Bị Khoá", status="locked", password_hash=hash_password(PASSWORD))
    return address


@pytest.fixture
def ingress(platform_env, sender) -> Iterator[dict[str, str]]:
    env = dict(platform_env, INGRESS_AUTH_MAX_FAILURES_PER_USER="3", INGRESS_AUTH_MAX_FAILURES_PER_IP="6")
    proc = start_ingress(env)
    yield env
    proc.terminate()
    assert proc.wait(30) == 0


@contextlib.contextmanager
def submission(env: dict[str, str], tls: bool = True) -> Iterator[smtplib.SMTP]:
    with smtplib.SMTP("127.0.0.1", int(env["GOVMAIL_SUBMISSION_PORT"]), timeout=30) as smtp:
        smtp.ehlo("laptop-hieu")
        if tls:
            smtp.starttls(context=ssl._create_unverified_context())
            smtp.ehlo("laptop-hieu")
        yield smtp


def auth_plain(smtp: smtplib.SMTP, user: str, password: str) -> tuple[int, bytes]:
    token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    return smtp.docmd("AUTH", f"PLAIN {token}")


def letter(sender: str, to: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Lê Minh Hiếu <{sender}>"
    msg["To"] = to
    msg["Subject"] = "Báo cáo tháng 11 — 关于年度报告的通知"
    msg.set_content("Kính gửi chị Ưng, em gửi báo cáo tháng 11.\n张伟 已审阅。\n", cte="8bit")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def read_events(bootstrap: str, topic: str, wanted: Callable[[dict[str, Any]], bool], count: int) -> list[dict]:
    return asyncio.run(bus_events(bootstrap, topic, wanted, count, timeout=20))


def test_auth_over_a_clear_channel_is_refused(ingress, sender) -> None:
    with submission(ingress, tls=False) as smtp:
        assert not smtp.has_extn("auth")
        code, text = auth_plain(smtp, sender, PASSWORD)
        assert (code, text[:5]) == (530, b"5.7.0")
        code, text = smtp.docmd("MAIL", f"FROM:<{sender}>")
        assert (code, text[:5]) == (530, b"5.7.0")


def test_self_signed_certificate_is_made_once_and_kept(platform_env, sender) -> None:
    cert = Path(platform_env["GOVMAIL_DATA_DIR"]) / "tls" / "ingress.crt"
    served = []
    for _ in range(2):
        proc = start_ingress(platform_env)
        try:
            with submission(platform_env) as smtp:
                served.append(ssl.DER_cert_to_PEM_cert(smtp.sock.getpeercert(binary_form=True)).strip())
        finally:
            proc.terminate()
            assert proc.wait(30) == 0
    assert served[0] == served[1] == cert.read_text().strip()


def test_mail_before_auth_needs_authentication(ingress, sender) -> None:
    with submission(ingress) as smtp:
        assert "PLAIN" in smtp.esmtp_features["auth"] and "LOGIN" in smtp.esmtp_features["auth"]
        code, text = smtp.docmd("MAIL", f"FROM:<{sender}>")
    assert (code, text[:5]) == (530, b"5.7.0")


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_starttls_then_auth_and_send_to_a_local_colleague(ingress, infra_parts, sender, mechanism) -> None:
    with submission(ingress) as smtp:
        smtp.user, smtp.password = sender.upper(), PASSWORD
        code, text = smtp.auth(mechanism, getattr(smtp, f"auth_{mechanism.lower()}"))
        assert (code, text[:5]) == (235, b"2.7.0")
        smtp.mail(sender)
        assert smtp.rcpt(OTHER)[0] == 250
        code, reply = smtp.data(letter(sender, OTHER))
    assert code == 250
    event = read_received(infra_parts.bootstrap, reply.decode().split()[-1])
    assert event.mail.listener == "submission"
    assert event.mail.authenticated_as == sender
    assert event.mail.sender_unit == "so-tttt"
    assert event.mail.direction == "internal"
    assert event.mail.subject == "Báo cáo tháng 11 — 关于年度报告的通知"
    stored = Path(event.mail.blob.uri.removeprefix("file://")).read_bytes()
    assert b"with ESMTPSA id" in stored.split(b"\r\n\r\n")[0]
    successes = read_events(infra_parts.bootstrap, "auth.events.v1",
                            lambda e: e.get("username") == sender and e.get("outcome") == "success", 1)
    assert successes[0]["mechanism"] == mechanism and successes[0]["service"] == "smtp"


def test_wrong_password_and_locked_account_are_refused(ingress, sender) -> None:
    with submission(ingress) as smtp:
        assert auth_plain(smtp, sender, "Sai@matkhau1")[:1] == (535,)
        code, text = auth_plain(smtp, f"bikhoa@{DOMAIN}", PASSWORD)
        assert (code, text[:5]) == (535, b"5.7.8")
        code, text = auth_plain(smtp, f"khongco@{DOMAIN}", PASSWORD)
        assert (code, text[:5]) == (535, b"5.7.8")


def test_envelope_sender_of_another_account_is_refused(ingress, sender) -> None:
    with submission(ingress) as smtp:
        assert auth_plain(smtp, sender, PASSWORD)[0] == 235
        code, text = smtp.docmd("MAIL", f"FROM:<{OTHER}>")
    assert (code, text[:5]) == (550, b"5.7.1")


def test_from_header_of_another_account_is_refused(ingress, sender) -> None:
    with submission(ingress) as smtp:
        assert auth_plain(smtp, sender, PASSWORD)[0] == 235
        smtp.mail(sender)
        smtp.rcpt(OTHER)
        code, text = smtp.data(letter(OTHER, OTHER))
    assert (code, text[:5]) == (550, b"5.7.1")


def test_foreign_recipients_are_accepted_as_outbound_mail(ingress, infra_parts, sender) -> None:
    with submission(ingress) as smtp:
        assert auth_plain(smtp, sender, PASSWORD)[0] == 235
        smtp.mail(sender)
        assert smtp.rcpt("zhangwei@example.cn")[0] == 250
        code, text = smtp.rcpt(f"daxoa@{DOMAIN}")
        assert (code, text[:5]) == (550, b"5.1.1")  # local recipients still get MX's checks
        assert smtp.rcpt(OTHER)[0] == 250
        code, reply = smtp.data(letter(sender, "zhangwei@example.cn"))
    assert code == 250
    event = read_received(infra_parts.bootstrap, reply.decode().split()[-1])
    assert (event.mail.direction, event.mail.rcpt_to) == ("outbound", ["zhangwei@example.cn", OTHER])


def add_class(redis_client, name: str, without: tuple[str, ...]) -> None:
    """A province's own class: every feature but `without` (R12)."""
    features = ",".join(f for f in FEATURES if f not in without)
    redis_client.hset(service_class_key(name), mapping={"name": name, "quota_bytes": 10 * 1024**2,
                                                        "max_message_bytes": 3 * 1024**2, "features": features})


def test_a_class_without_external_mail_keeps_the_sender_inside_the_province(ingress, redis_client) -> None:
    # R12: the province's own class "nội bộ" allows everything but mail to other domains.
    add_class(redis_client, "noibo", without=("external",))
    clerk = f"vanthu.{uuid.uuid4().hex[:8]}@{DOMAIN}"
    add_account(redis_client, clerk, "Văn thư Nội bộ", service_class="noibo", password_hash=hash_password(PASSWORD))
    with submission(ingress) as smtp:
        assert auth_plain(smtp, clerk, PASSWORD)[0] == 235
        smtp.mail(clerk)
        code, text = smtp.rcpt("zhangwei@example.cn")
        assert (code, text) == (550, b"5.7.1 Your service class noibo does not allow mail outside the province "
                                     b"(example.cn)")
        assert smtp.rcpt(OTHER)[0] == 250  # inside the province it writes as before


def test_burn_and_separate_headers_need_their_features_in_the_senders_class(ingress, infra_parts,
                                                                              redis_client) -> None:
    # R12/R15: the class "thuong" may mail the province but neither burn after reading nor mass-mail separately.
    add_class(redis_client, "thuong", without=("burn", "separate"))
    clerk = f"vanthu.{uuid.uuid4().hex[:8]}@{DOMAIN}"
    add_account(redis_client, clerk, "Văn thư Trương Thị Mai", service_class="thuong",
                password_hash=hash_password(PASSWORD))

    def with_header(name: str, value: str) -> bytes:
        head, _, body = letter(clerk, OTHER).partition(b"\r\n\r\n")
        return head + f"\r\n{name}: {value}\r\n\r\n".encode() + body

    with submission(ingress) as smtp:
        assert auth_plain(smtp, clerk, PASSWORD)[0] == 235
        refusals = []
        for name in ("X-Govmail-Burn", "X-Govmail-Separate"):
            smtp.mail(clerk)
            smtp.rcpt(OTHER)
            refusals.append(smtp.data(with_header(name, "yes")))
        smtp.mail(clerk)
        smtp.rcpt(OTHER)
        code, reply = smtp.data(with_header("X-Govmail-Burn", "no"))  # asks for nothing: sent as usual
    assert refusals == [
        (550, b"5.7.1 Your service class thuong does not allow burn-after-reading; send the message without "
              b"the X-Govmail-Burn header"),
        (550, b"5.7.1 Your service class thuong does not allow separate delivery; send the message without "
              b"the X-Govmail-Separate header"),
    ]
    assert code == 250
    event = read_received(infra_parts.bootstrap, reply.decode().split()[-1])
    assert event.mail.authenticated_as == clerk and event.mail.subject == "Báo cáo tháng 11 — 关于年度报告的通知"


UNIT_BOX = f"stttt@{DOMAIN}"


def grant(redis_client, grantee: str, rights: list[str], expires: datetime | None = None) -> None:
    add_account(redis_client, UNIT_BOX, "Sở Thông tin và Truyền thông", kind="unit")
    record = Grant(mailbox=UNIT_BOX, grantee=grantee, rights=rights,  # type: ignore[arg-type]
                   expires_at=expires.isoformat() if expires else "")
    redis_client.hset(grants_key(UNIT_BOX), grantee.lower(), record.model_dump_json())


def unit_letter(sender_header: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Sở Thông tin và Truyền thông <{UNIT_BOX}>"
    if sender_header:
        msg["Sender"] = sender_header
    msg["To"] = OTHER
    msg["Subject"] = "Công văn số 123/STTTT — 关于会议的通知"
    msg.set_content("Kính gửi các phòng ban,\nSở TTTT thông báo lịch họp.\n", cte="8bit")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def send_unit_letter(env: dict[str, str], sender: str, mail_from: str, data: bytes) -> tuple[int, bytes]:
    with submission(env) as smtp:
        assert auth_plain(smtp, sender, PASSWORD)[0] == 235
        smtp.mail(mail_from)
        smtp.rcpt(OTHER)
        return smtp.data(data)


def stored_headers(event) -> bytes:
    return Path(event.mail.blob.uri.removeprefix("file://")).read_bytes().split(b"\r\n\r\n")[0]


def test_send_on_behalf_of_a_unit_mailbox_adds_a_sender_header(ingress, infra_parts, redis_client, sender) -> None:
    grant(redis_client, sender, ["view", "send_on_behalf"])
    code, reply = send_unit_letter(ingress, sender, sender, unit_letter())
    assert code == 250, reply
    event = read_received(infra_parts.bootstrap, reply.decode().split()[-1])
    assert (event.mail.delegation, event.mail.delegated_mailbox) == ("send_on_behalf", UNIT_BOX)
    headers = stored_headers(event)
    assert headers.count(b"\r\nSender: ") == 1 and f"Sender: {sender}\r\n".encode() in headers
    # The envelope may name the unit mailbox too (bounces then go to it).
    code, reply = send_unit_letter(ingress, sender, UNIT_BOX, unit_letter(sender_header=sender))
    assert code == 250, reply
    event = read_received(infra_parts.bootstrap, reply.decode().split()[-1])
    assert stored_headers(event).count(b"Sender: ") == 1  # the client's own, not a second one


def test_send_as_a_unit_mailbox_adds_no_sender_header(ingress, infra_parts, redis_client, sender) -> None:
    grant(redis_client, sender, ["send_as"])
    code, reply = send_unit_letter(ingress, sender, UNIT_BOX, unit_letter())
    assert code == 250, reply
    event = read_received(infra_parts.bootstrap, reply.decode().split()[-1])
    assert (event.mail.delegation, event.mail.delegated_mailbox) == ("send_as", UNIT_BOX)
    assert b"Sender:" not in stored_headers(event)


def test_send_for_a_mailbox_without_a_live_grant_is_refused(ingress, redis_client, sender) -> None:
    code, text = send_unit_letter(ingress, sender, sender, unit_letter())
    assert (code, text[:5]) == (550, b"5.7.1") and UNIT_BOX.encode() in text
    grant(redis_client, sender, ["view"])  # reading it is not sending for it
    code, text = send_unit_letter(ingress, sender, sender, unit_letter())
    assert (code, text[:5]) == (550, b"5.7.1")
    grant(redis_client, sender, ["send_on_behalf"], expires=datetime.now(UTC) - timedelta(minutes=1))
    code, text = send_unit_letter(ingress, sender, sender, unit_letter())
    assert (code, text[:5]) == (550, b"5.7.1")
    with submission(ingress) as smtp:
        assert auth_plain(smtp, sender, PASSWORD)[0] == 235
        code, text = smtp.docmd("MAIL", f"FROM:<{UNIT_BOX}>")
    assert (code, text[:5]) == (550, b"5.7.1")


def test_a_sender_header_naming_someone_else_is_refused(ingress, sender) -> None:
    with submission(ingress) as smtp:
        assert auth_plain(smtp, sender, PASSWORD)[0] == 235
        smtp.mail(sender)
        smtp.rcpt(OTHER)
        data = letter(sender, OTHER).replace(b"Subject:", f"Sender: {OTHER}\r\nSubject:".encode(), 1)
        code, text = smtp.data(data)
    assert (code, text[:5]) == (550, b"5.7.1") and b"Sender:" in text


def test_declared_size_over_the_senders_class_is_refused_at_mail(ingress, redis_client, sender) -> None:
    redis_client.hset(account_key(sender), "service_class", "basic")
    with submission(ingress) as smtp:
        assert auth_plain(smtp, sender, PASSWORD)[0] == 235
        code, text = smtp.docmd("MAIL", f"FROM:<{sender}> SIZE={4 * 1024**2}")
        assert (code, text[:5]) == (552, b"5.3.4") and str(3 * 1024**2).encode() in text
        code, _ = smtp.docmd("MAIL", f"FROM:<{sender}> SIZE={2 * 1024**2}")
    assert code == 250


def test_one_time_password_must_be_changed_in_webmail_first(ingress, infra_parts, redis_client, sender) -> None:
    redis_client.hset(account_key(sender), "must_change_password", "1")
    with submission(ingress) as smtp:
        code, text = auth_plain(smtp, sender, PASSWORD)
    assert (code, text[:5]) == (535, b"5.7.8") and b"changed in webmail" in text
    events = read_events(infra_parts.bootstrap, "auth.events.v1",
                         lambda e: e.get("username") == sender and e.get("outcome") == "blocked", 1)
    assert events[0]["reason"] == "password_must_change"


def test_an_old_scrypt_hash_is_replaced_by_argon2_at_login(ingress, redis_client, sender) -> None:
    redis_client.hset(account_key(sender), "password_hash", scrypt_hash(PASSWORD))
    with submission(ingress) as smtp:
        assert auth_plain(smtp, sender, PASSWORD)[0] == 235
    stored = redis_client.hget(account_key(sender), "password_hash")
    assert stored.startswith("$argon2id$") and verify_password(PASSWORD, stored)


def test_an_expired_password_is_refused_when_the_policy_sets_an_age(platform_env, redis_client, sender) -> None:
    redis_client.hset(account_key(sender), "password_changed_at", "2020-01-01T00:00:00+00:00")
    proc = start_ingress(dict(platform_env, LIFECYCLE_PASSWORD_MAX_AGE_DAYS="90"))
    try:
        with submission(platform_env) as smtp:
            code, text = auth_plain(smtp, sender, PASSWORD)
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
    assert (code, text[:5]) == (535, b"5.7.8") and b"changed in webmail" in text


def test_brute_force_locks_the_username_even_for_the_right_password(ingress, infra_parts, sender) -> None:
    with submission(ingress) as smtp:
        for guess in ("Hieu@2023xyz", "Hieu@2022xyz", "Hieu@2021xyz"):
            assert auth_plain(smtp, sender, guess)[0] == 535
        code, text = auth_plain(smtp, sender, PASSWORD)
    assert (code, text[:5]) == (535, b"5.7.8")
    events = read_events(infra_parts.bootstrap, "auth.events.v1",
                         lambda e: e.get("username") == sender and e.get("outcome") in ("lockout", "blocked"), 2)
    assert {e["outcome"] for e in events} == {"lockout", "blocked"}
    assert all(e["ip"] == "127.0.0.1" for e in events)


def test_one_ip_trying_many_usernames_is_locked(ingress, infra_parts, sender) -> None:
    with submission(ingress) as smtp:
        for n in range(6):
            assert auth_plain(smtp, f"nguyenvananh{n}@{DOMAIN}", "Anh@2024xyz")[0] == 535
        code, text = auth_plain(smtp, sender, PASSWORD)
    assert (code, text[:5]) == (535, b"5.7.8")
    blocked = read_events(infra_parts.bootstrap, "auth.events.v1",
                          lambda e: e.get("username") == sender and e.get("outcome") == "blocked", 1)
    assert blocked[0]["reason"] == "locked"


def test_an_operators_certificate_is_served_and_none_is_generated(platform_env, sender, tmp_path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    from services.ingress.tls import self_signed

    cert, key = tmp_path / "operator.crt", tmp_path / "operator.key"
    self_signed("mail.tiengiang.gov.vn", cert, key)  # stands in for the province's own certificate
    env = dict(platform_env, INGRESS_TLS_CERT=str(cert), INGRESS_TLS_KEY=str(key))
    proc = start_ingress(env)
    try:
        with submission(env) as smtp:
            served = x509.load_der_x509_certificate(smtp.sock.getpeercert(binary_form=True))
            assert auth_plain(smtp, sender, PASSWORD)[0] == 235
    finally:
        proc.terminate()
        proc.wait(30)
    [common_name] = served.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert common_name.value == "mail.tiengiang.gov.vn"
    assert served.public_bytes(Encoding.PEM) == cert.read_bytes()
    assert not (Path(env["GOVMAIL_DATA_DIR"]) / "tls" / "ingress.crt").exists()


def test_the_senders_class_limits_what_it_may_send(ingress, redis_client) -> None:
    small = f"vanthu.{uuid.uuid4().hex[:6]}@{DOMAIN}"
    add_account(redis_client, small, "Văn thư xã", service_class="basic", password_hash=hash_password(PASSWORD))
    msg = EmailMessage()
    msg["From"] = small
    msg["To"] = OTHER
    msg["Subject"] = "Hồ sơ đính kèm — 附件"
    msg.set_content("Gửi kèm hồ sơ.")
    msg.add_attachment(b"\0" * (3 * 1024 * 1024), maintype="application", subtype="pdf", filename="hoso.pdf")
    with submission(ingress) as smtp:
        assert auth_plain(smtp, small, PASSWORD)[0] == 235
        smtp.mail(small)
        assert smtp.rcpt(OTHER)[0] == 250  # the recipient's class (50 MB) would take it
        code, text = smtp.data(msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")))
    assert code == 552 and text.startswith(b"5.3.4") and str(3 * 1024 * 1024).encode() in text
    assert small.encode() in text
