"""Fixtures for the analytics tests: a migrated chDB client, and the analytics service as a real subprocess on the session's broker."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.analytics import migrations
from services.analytics.warehouse import connect
from services.common import ready
from tests.conftest import govmail_command

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def client(tmp_path: Path):
    """chDB in a folder of the test's own, with the analytics tables (a module may override it)."""
    ch = connect(f"chdb:///{tmp_path / 'clickhouse'}")
    migrations.apply(ch)
    yield ch
    ch.close()


@dataclass
class Analytics:
    proc: subprocess.Popen
    env: dict[str, str]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['GOVMAIL_ANALYTICS_PORT']}"

    @property
    def group(self) -> str:
        return self.env.get("ANALYTICS_GROUP_ID", "govmail-analytics")

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, as the supervisor and Kubernetes stop services; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout)
        return self.proc.returncode


@pytest.fixture
def start_analytics(platform_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Analytics]]:
    """Start the analytics service with extra env; returns once its readiness marker is written.

    The consumer group is fixed and the broker is shared, so a test runs one service at a time.
    """
    started: list[Analytics] = []

    def start(**extra: str) -> Analytics:
        assert all(s.proc.poll() is not None for s in started), "stop the running analytics service first"
        env = {**platform_env, **extra}
        log = tmp_path / f"analytics-{len(started)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(govmail_command("analytics"), env=env, cwd=ROOT, stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        service = Analytics(proc, env, log)
        started.append(service)
        run_dir = Path(env["GOVMAIL_DATA_DIR"]).resolve() / "run"
        deadline = time.monotonic() + 90
        while not ready.is_ready(run_dir, "analytics", proc.pid):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"analytics did not become ready (exit {proc.poll()}):\n{service.output()[-4000:]}")
            time.sleep(0.1)
        return service

    yield start
    for service in started:
        if service.proc.poll() is None:
            service.proc.kill()
            service.proc.wait()
