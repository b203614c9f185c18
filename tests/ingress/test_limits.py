"""Anti-DoS limits on MX over real sockets (R22): per-IP counters in Redis, SIZE, and a graceful shutdown."""

from __future__ import annotations

import smtplib
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from services.platform import infra
from tests.ingress.test_smtp import add_account, directory, letter, start_ingress  # noqa: F401 (fixture)

# Every test needs the directory's accounts; usefixtures keeps the imported fixture out of the signatures.
pytestmark = pytest.mark.usefixtures("directory")

LIMITS = {
    "INGRESS_MAX_CONNECTIONS_PER_IP": "2",
    "INGRESS_MAX_CONNECTIONS_PER_MINUTE": "6",
    "INGRESS_MAX_MESSAGES_PER_MINUTE": "3",
    "INGRESS_MAX_RECIPIENTS_PER_MESSAGE": "3",
    "INGRESS_MAX_MESSAGE_BYTES": "100000",
}
HIEU = "leminhhieu@tiengiang.gov.vn"
CONNECTIONS = "gm:limit:conn:127.0.0.1"


def limited_env(platform_env: dict[str, str], data: Path | None = None) -> dict[str, str]:
    env = dict(platform_env, **LIMITS)
    if data is not None:
        env.update(GOVMAIL_DATA_DIR=str(data), GOVMAIL_SMTP_PORT=str(infra.free_port()),
                   GOVMAIL_SUBMISSION_PORT=str(infra.free_port()), GOVMAIL_HEALTH_PORT_BASE=str(infra.free_port()))
    return env


@pytest.fixture
def ingress(platform_env) -> Iterator[dict[str, str]]:
    env = limited_env(platform_env)
    proc = start_ingress(env)
    yield env
    proc.terminate()
    assert proc.wait(30) == 0


def connect(env: dict[str, str]) -> smtplib.SMTP:
    smtp = smtplib.SMTP("127.0.0.1", int(env["GOVMAIL_SMTP_PORT"]), timeout=30)
    smtp.ehlo("mail.example.vn")
    return smtp


def refused_connection(env: dict[str, str]) -> tuple[int, bytes]:
    with pytest.raises(smtplib.SMTPConnectError) as refused:
        connect(env)
    return refused.value.smtp_code, refused.value.smtp_error


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_third_concurrent_connection_gets_421_and_a_freed_slot_is_reusable(ingress, redis_client) -> None:
    first, second = connect(ingress), connect(ingress)
    code, text = refused_connection(ingress)
    assert (code, text) == (421, b"4.7.0 Too many connections from your address, try again later")
    assert redis_client.zcard(CONNECTIONS) == 2
    first.quit()
    wait_until(lambda: redis_client.zcard(CONNECTIONS) == 1)
    third = connect(ingress)
    assert third.noop()[0] == 250
    second.quit()
    third.quit()


def test_connections_per_minute_are_limited(ingress) -> None:
    for _ in range(6):
        connect(ingress).quit()
    code, text = refused_connection(ingress)
    assert (code, text[:5]) == (421, b"4.7.0")


def test_message_over_the_per_minute_limit_gets_451_at_mail(ingress) -> None:
    with connect(ingress) as smtp:
        for _ in range(3):
            smtp.sendmail("hanhchinh@example.vn", [HIEU], letter())
        assert smtp.mail("hanhchinh@example.vn") == (
            451, b"4.7.1 Too many messages from your address, try again later")


def test_recipients_over_the_limit_get_452(ingress, redis_client) -> None:
    for local, name in (("nguyenvananh", "Nguyễn Văn Anh"), ("dangthiung", "Đặng Thị Ưng"),
                        ("zhangwei", "张伟")):
        add_account(redis_client, f"{local}@tiengiang.gov.vn", name)
    with connect(ingress) as smtp:
        smtp.mail("hanhchinh@example.vn")
        for local in ("leminhhieu", "nguyenvananh", "dangthiung"):
            assert smtp.rcpt(f"{local}@tiengiang.gov.vn")[0] == 250
        assert smtp.rcpt("zhangwei@tiengiang.gov.vn") == (452, b"4.5.3 Too many recipients")
        code, reply = smtp.data(letter())
    assert code == 250 and reply.startswith(b"2.0.0")


def test_size_is_advertised_and_an_oversize_declaration_is_refused_at_mail(ingress) -> None:
    with connect(ingress) as smtp:
        assert smtp.esmtp_features["size"] == "100000"
        assert smtp.mail("hanhchinh@example.vn", ["SIZE=100001"]) == (
            552, b"5.3.4 Message size exceeds fixed limit of 100000 bytes")
        assert smtp.mail("hanhchinh@example.vn", [f"SIZE={len(letter())}"])[0] == 250


def test_two_replicas_share_the_concurrent_connection_limit(platform_env, tmp_path, redis_client) -> None:
    one, two = limited_env(platform_env), limited_env(platform_env, tmp_path / "replica-2")
    procs = [start_ingress(one), start_ingress(two)]
    try:
        first, second = connect(one), connect(two)
        assert refused_connection(one)[0] == 421
        assert refused_connection(two)[0] == 421
        assert redis_client.zcard(CONNECTIONS) == 2
        first.quit()
        second.quit()
    finally:
        for proc in procs:
            proc.terminate()
        assert [proc.wait(30) for proc in procs] == [0, 0]


def test_limits_fail_open_when_redis_is_down(platform_env) -> None:
    """Mail keeps flowing to MAIL without the limiter; RCPT then needs the directory, which is down too."""
    env = dict(limited_env(platform_env), GOVMAIL_REDIS_URL=f"redis://127.0.0.1:{infra.free_port()}/0")
    proc = start_ingress(env)
    try:
        with connect(env) as smtp:
            assert smtp.mail("hanhchinh@example.vn")[0] == 250
            assert smtp.rcpt(HIEU)[:1] == (451,)
    finally:
        proc.terminate()
        assert proc.wait(30) == 0


def read_reply(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n") or data.rsplit(b"\r\n", 2)[-2][3:4] == b"-":
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_shutdown_refuses_new_connections_and_lets_an_open_transaction_finish(platform_env) -> None:
    proc = start_ingress(platform_env)
    marker = Path(platform_env["GOVMAIL_DATA_DIR"]) / "run" / "ready" / "ingress"
    try:
        busy = connect(platform_env)
        busy.mail("hanhchinh@example.vn")
        assert busy.rcpt(HIEU)[0] == 250
        idle = socket.create_connection(("127.0.0.1", int(platform_env["GOVMAIL_SMTP_PORT"])), timeout=30)
        assert read_reply(idle).startswith(b"220 ")
        idle.sendall(b"EHLO idle.example.vn\r\n")
        assert read_reply(idle).startswith(b"250")

        proc.terminate()
        wait_until(lambda: not marker.exists())
        with pytest.raises((ConnectionRefusedError, smtplib.SMTPConnectError)) as refused:
            connect(platform_env)
        if isinstance(refused.value, smtplib.SMTPConnectError):
            assert refused.value.smtp_code == 421
        code, reply = busy.data(letter())
        assert code == 250 and reply.startswith(b"2.0.0 Ok: queued as ")
        # Sessions without a transaction are told before the service goes.
        assert read_reply(idle) == b"421 4.3.2 Service shutting down, try again later\r\n"
        busy.close()
        idle.close()
        assert proc.wait(30) == 0
    finally:
        proc.kill()
        proc.wait()
