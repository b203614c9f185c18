"""Large messages stream to the blob store while other sessions go on; several workers share one port."""

from __future__ import annotations

import hashlib
import json
import signal
import smtplib
import socket
import subprocess
import time
from pathlib import Path

from services.common.spool import Spool
from tests.conftest import govmail_command
from tests.ingress import test_smtp
from tests.ingress.test_smtp import letter, read_received, start_ingress

# The MX fixtures: an ingress subprocess, and the directory with its accounts (among them one of class basic).
directory = test_smtp.directory
ingress = test_smtp.ingress

RCPT = "leminhhieu@tiengiang.gov.vn"
MB = 1024 * 1024


def blob_root(env: dict[str, str]) -> Path:
    return Path(env["GOVMAIL_DATA_DIR"]) / "blobs"


def temp_files(env: dict[str, str]) -> list[Path]:
    return list(blob_root(env).glob(".tmp-*"))


def stored_blobs(env: dict[str, str]) -> list[Path]:
    return [p for p in blob_root(env).rglob("*") if p.is_file() and not p.name.startswith(".tmp-")]


def big_message(size: int) -> bytes:
    """A letter of about `size` bytes whose body has lines starting with a dot, to be stuffed on the wire."""
    head = ("From: Đặng Thị Ưng <dangthiung@example.vn>\r\nTo: " + RCPT + "\r\n"
            "Subject: Báo cáo tháng 11 — 关于年度报告的通知\r\n\r\n").encode()
    block = ("Nguyễn Văn Anh gửi số liệu quý IV, 张伟 đã kiểm tra.\r\n"
             ".dòng bắt đầu bằng dấu chấm\r\n..hai dấu chấm\r\n").encode() * 200
    return head + block * (size // len(block) + 1)


def stuffed(raw: bytes) -> bytes:
    body = raw.replace(b"\r\n.", b"\r\n..")
    return (b"." + body if body.startswith(b".") else body) + b".\r\n"


class Session:
    """A raw SMTP client, so a test can pause in the middle of DATA."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.file = self.sock.makefile("rb")
        self.reply()

    def reply(self) -> bytes:
        line = self.file.readline()
        while line[3:4] == b"-":
            line = self.file.readline()
        return line

    def cmd(self, line: bytes) -> bytes:
        self.sock.sendall(line + b"\r\n")
        return self.reply()

    def begin(self, rcpt: str = RCPT) -> None:
        for line, code in ((b"EHLO may-tinh-cua-ung", b"250"), (b"MAIL FROM:<dangthiung@example.vn>", b"250"),
                           (f"RCPT TO:<{rcpt}>".encode(), b"250"), (b"DATA", b"354")):
            assert self.cmd(line).startswith(code)

    def drop(self) -> None:
        self.file.close()
        self.sock.close()

    def close(self) -> None:
        self.cmd(b"QUIT")
        self.drop()


def wait_for(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_50_mb_message_streams_to_disk_while_small_ones_are_accepted(ingress, infra_parts) -> None:
    raw = big_message(50 * 1000 * 1000)
    wire = stuffed(raw)
    big = Session(int(ingress["GOVMAIL_SMTP_PORT"]))
    big.begin()
    half = len(wire) // 2
    big.sock.sendall(wire[:half])
    # The temporary blob grows while DATA is still open: the message goes to disk, not into memory.
    wait_for(lambda: sum(p.stat().st_size for p in temp_files(ingress)) > 10 * MB, "no growing temp file")
    with smtplib.SMTP("127.0.0.1", int(ingress["GOVMAIL_SMTP_PORT"]), timeout=60) as smtp:
        smtp.ehlo("may-khac")
        smtp.mail("lethilan@example.vn")
        smtp.rcpt(RCPT)
        code, small_reply = smtp.data(letter())
    assert code == 250, small_reply
    big.sock.sendall(wire[half:])
    reply = big.reply()
    big.close()
    assert reply.startswith(b"250 2.0.0"), reply
    event = read_received(infra_parts.bootstrap, reply.decode().split()[-1])
    assert event.mail.size == len(raw)
    assert event.mail.subject == "Báo cáo tháng 11 — 关于年度报告的通知"
    stored = Path(event.mail.blob.uri.removeprefix("file://")).read_bytes()
    assert stored.startswith(b"Received: from may-tinh-cua-ung ([127.0.0.1])")
    assert hashlib.sha256(stored[-len(raw):]).hexdigest() == hashlib.sha256(raw).hexdigest()
    assert hashlib.sha256(stored).hexdigest() == event.mail.blob.sha256
    assert temp_files(ingress) == []


def test_oversize_message_gets_552_after_draining_and_leaves_no_temp_file(platform_env, directory) -> None:
    env = dict(platform_env, INGRESS_MAX_MESSAGE_BYTES=str(2 * MB))
    proc = start_ingress(env)
    try:
        with smtplib.SMTP("127.0.0.1", int(env["GOVMAIL_SMTP_PORT"]), timeout=60) as smtp:
            smtp.ehlo("client")
            smtp.mail("a@example.vn")
            smtp.rcpt(RCPT)
            code, text = smtp.data(big_message(3 * MB))
            assert code == 552 and text.startswith(b"5.3.4") and str(2 * MB).encode() in text
            assert temp_files(env) == [] and stored_blobs(env) == []
            # The session goes on: the rest of the big message was drained, not read as commands.
            smtp.mail("a@example.vn")
            smtp.rcpt(RCPT)
            assert smtp.data(letter())[0] == 250
    finally:
        proc.terminate()
        assert proc.wait(30) == 0


def test_message_refused_for_the_recipients_class_leaves_no_blob(ingress) -> None:
    with smtplib.SMTP("127.0.0.1", int(ingress["GOVMAIL_SMTP_PORT"]), timeout=60) as smtp:
        smtp.ehlo("client")
        smtp.mail("a@example.vn")
        smtp.rcpt("nho@tiengiang.gov.vn")
        code, text = smtp.data(big_message(4 * MB))
    assert code == 552 and text.startswith(b"5.3.4")
    assert temp_files(ingress) == [] and stored_blobs(ingress) == []


def test_connection_lost_during_data_leaves_no_temp_file(ingress) -> None:
    session = Session(int(ingress["GOVMAIL_SMTP_PORT"]))
    session.begin()
    session.sock.sendall(stuffed(big_message(3 * MB))[: 2 * MB])
    wait_for(lambda: temp_files(ingress) != [], "no temp file")
    session.drop()
    wait_for(lambda: temp_files(ingress) == [], "temp file left behind")
    assert stored_blobs(ingress) == []


def test_two_workers_serve_one_port_and_stop_on_sigterm(platform_env, directory, tmp_path) -> None:
    env = dict(platform_env, INGRESS_WORKERS="2")
    log_path = tmp_path / "ingress.log"
    # Append mode: both workers write to this file, and O_APPEND keeps their lines whole.
    with log_path.open("ab") as out:
        proc = subprocess.Popen(govmail_command("ingress"), env=env, stdout=out, stderr=subprocess.STDOUT)
    ready_dir = Path(env["GOVMAIL_DATA_DIR"]) / "run" / "ready"
    try:
        wait_for(lambda: (ready_dir / "ingress").exists() and (ready_dir / "ingress").read_text() == str(proc.pid),
                 "ingress workers not ready")
        workers = {int((ready_dir / f"ingress-worker-{i}").read_text()) for i in range(2)}
        queued = []
        for _ in range(40):
            with smtplib.SMTP("127.0.0.1", int(env["GOVMAIL_SMTP_PORT"]), timeout=60) as smtp:
                queued.append(smtp.sendmail("a@example.vn", [RCPT], letter()))
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    assert code == 0 and queued == [{}] * 40
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    answered = {line["pid"] for line in lines if line.get("event") == "mail_accepted"}
    assert answered == workers and proc.pid not in workers
    assert not (ready_dir / "ingress").exists()
    assert len(Spool(Path(env["GOVMAIL_DATA_DIR"]) / "spool").unfinished()) == 40
