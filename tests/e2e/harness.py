"""A real `govmail up` in a subprocess, on free ports and its own data dir, with helpers to drive it."""

from __future__ import annotations

import email
import email.policy
import json
import os
import queue
import signal
import smtplib
import subprocess
import sys
import threading
import time
from pathlib import Path

from services.common.spool import Spool
from services.platform import infra


class Platform:
    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.env = dict(os.environ)
        self.env.update(
            GOVMAIL_DATA_DIR=str(data_dir),
            GOVMAIL_SMTP_PORT=str(infra.free_port()),
            GOVMAIL_SUBMISSION_PORT=str(infra.free_port()),
            GOVMAIL_KAFKA_PORT=str(infra.free_port()),
            GOVMAIL_REDIS_PORT=str(infra.free_port()),
            GOVMAIL_ADMIN_PORT=str(infra.free_port()),
            GOVMAIL_ANALYTICS_PORT=str(infra.free_port()),
            GOVMAIL_HEALTH_PORT_BASE=str(infra.free_port()),
            GOVMAIL_WEBMAIL_PORT=str(infra.free_port()),
            GOVMAIL_DELIVERY_PORT=str(infra.free_port()),
            PYTHONUNBUFFERED="1",
        )
        for inherited in ("GOVMAIL_KAFKA_BOOTSTRAP", "GOVMAIL_REDIS_URL", "GOVMAIL_CLICKHOUSE_DSN", "GOVMAIL_BLOB_URI"):
            self.env.pop(inherited, None)
        self.proc: subprocess.Popen | None = None
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []

    @property
    def smtp_port(self) -> int:
        return int(self.env["GOVMAIL_SMTP_PORT"])

    # --- lifecycle of the whole platform ----------------------------------------------------

    def start(self, timeout: float = 120.0) -> float:
        """Start `govmail up` and wait for its ready line; returns the seconds it took."""
        started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "up", "--data-dir", str(self.data_dir)],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,  # its own process group, like a command started in a terminal
        )
        threading.Thread(target=self._pump, args=(self.proc,), daemon=True).start()
        self.wait_for_line("govmail ready", timeout)
        return time.monotonic() - started

    def _pump(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.output.append(line)
            self.lines.put(line)

    def wait_for_line(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.proc is not None and self.proc.poll() is not None:
                    break
                continue
            if text in line:
                return line
        raise AssertionError(f"no line with {text!r} within {timeout}s; output:\n{''.join(self.output)}\n"
                             f"{self.service_logs()}")

    def service_logs(self, tail: int = 30) -> str:
        out = []
        for log in sorted((self.data_dir / "logs").glob("*.log")):
            lines = log.read_text(errors="replace").splitlines()[-tail:]
            out.append(f"--- {log.name}\n" + "\n".join(lines))
        return "\n".join(out)

    def stop(self, timeout: float = 90.0) -> int:
        """Ctrl-C as a terminal sends it: SIGINT to the whole foreground process group."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGINT)
        code = self.proc.wait(timeout)
        return code

    def pids(self) -> dict[str, int]:
        return json.loads((self.data_dir / "run" / "pids.json").read_text())

    def signal(self, part: str, sig: int) -> None:
        os.kill(self.pids()[part], sig)

    # --- the admin CLI ----------------------------------------------------------------------

    def govmail(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, "-m", "services.cli", *args], env=self.env,
                                capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"govmail {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def create_account(self, domain: str, name: str, **flags: str) -> dict:
        args = ["admin", "account", "create", "--domain", domain, "--name", name, "--json"]
        for flag, value in flags.items():
            args += [f"--{flag.replace('_', '-')}", value]
        return json.loads(self.govmail(*args).stdout)

    def volume(self, by: str = "unit") -> list[dict]:
        """Rows of `govmail stats volume --json`, each with the grouping key under the name `by`."""
        return json.loads(self.govmail("stats", "volume", "--json", "--by", by).stdout)["rows"]

    # --- mail -------------------------------------------------------------------------------

    def send(self, mail_from: str, rcpts: list[str], data: bytes, smtputf8: bool = False) -> None:
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=60) as smtp:
            options = ["SMTPUTF8"] if smtputf8 else []
            smtp.sendmail(mail_from, rcpts, data, mail_options=options)

    def maildir(self, address: str, folder: str = "") -> Path:
        local, _, domain = address.partition("@")
        root = self.data_dir / "mail" / domain / local / "Maildir"
        return root / f".{folder}" if folder else root

    def messages(self, address: str, folder: str = "") -> list[bytes]:
        box = self.maildir(address, folder)
        return [p.read_bytes() for sub in ("new", "cur") if (box / sub).exists() for p in sorted((box / sub).iterdir())]

    def wait_messages(self, address: str, count: int, timeout: float = 60.0, folder: str = "") -> list[bytes]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.messages(address, folder)
            if len(found) >= count:
                return found
            time.sleep(0.2)
        raise AssertionError(f"{address}: {len(self.messages(address, folder))} message(s), expected {count}\n"
                             f"{self.service_logs()}")

    def spool_size(self) -> int:
        spool = self.data_dir / "spool"
        return len(Spool(spool)) if spool.exists() else 0

    def wait_spool_empty(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.spool_size() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert self.spool_size() == 0, f"spool still holds {self.spool_size()} message(s)\n{self.service_logs()}"

    def wait_volume(self, predicate, by: str = "unit", timeout: float = 60.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        rows: list[dict] = []
        while time.monotonic() < deadline:
            rows = self.volume(by)
            if predicate(rows):
                return rows
            time.sleep(0.5)
        raise AssertionError(f"statistics never matched: {rows}")


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def body_of(raw: bytes) -> bytes:
    """The bytes after the header block."""
    return raw.split(b"\r\n\r\n", 1)[1]
