"""Run a faust app as a worker process: logs to stderr, clean stop on SIGTERM/SIGINT, readiness cleared on exit."""

from __future__ import annotations

import atexit

import faust

from services.common import ready
from services.common.settings import PlatformSettings


def run_worker(app: faust.App, service: str, platform: PlatformSettings) -> int:
    ready.clear(platform.run_dir, service)
    atexit.register(ready.clear, platform.run_dir, service)
    worker = faust.Worker(app, loglevel=platform.log_level.upper(), quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
    return 0
