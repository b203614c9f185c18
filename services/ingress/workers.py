"""Several ingress processes sharing the listening ports (SO_REUSEPORT), started and stopped by one parent."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from services.common import logging as log
from services.common import ready
from services.common.settings import PlatformSettings
from services.platform.infra import detach_and_die_with_parent

logger = log.get(__name__)


def worker_marker(index: int) -> str:
    return f"ingress-worker-{index}"


def stop_all(procs: list[subprocess.Popen], grace: float) -> list[int | None]:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return [proc.returncode for proc in procs]


def run_workers(platform: PlatformSettings, count: int, grace: float) -> int:
    """Start `count` workers, mark ingress ready once all listen, forward SIGTERM/SIGINT and wait for them.

    A worker that dies on its own stops the others, so the supervisor sees one failed ingress and restarts it.
    """
    log.configure("ingress", platform.log_level)
    run_dir = Path(platform.run_dir)
    stopping: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    # Own process groups: a Ctrl-C in the terminal reaches only this parent, which stops the workers in order.
    procs = [subprocess.Popen([sys.executable, "-m", "services.cli", "ingress", "--worker", str(i)],
                              stdin=subprocess.DEVNULL, preexec_fn=detach_and_die_with_parent)
             for i in range(count)]
    listening = False
    while not stopping:
        if any(proc.poll() is not None for proc in procs):
            logger.error("ingress_worker_exited", exit_codes=[proc.poll() for proc in procs])
            break
        if not listening and all(ready.is_ready(run_dir, worker_marker(i), proc.pid) for i, proc in enumerate(procs)):
            listening = True
            ready.mark_ready(run_dir, "ingress")
            logger.info("ingress_workers_listening", workers=count, pids=[proc.pid for proc in procs])
        time.sleep(0.1)
    ready.clear(run_dir, "ingress")
    codes = stop_all(procs, grace)
    logger.info("ingress_workers_stopped", exit_codes=codes)
    return 0 if stopping and all(code == 0 for code in codes) else 1
