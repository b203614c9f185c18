"""Readiness markers: a service writes `run/ready/<service>` with its pid once it can do its work."""

from __future__ import annotations

import os
from pathlib import Path


def marker(run_dir: Path, service: str) -> Path:
    return Path(run_dir) / "ready" / service


def mark_ready(run_dir: Path, service: str) -> None:
    path = marker(run_dir, service)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(str(os.getpid()))
    os.replace(tmp, path)


def clear(run_dir: Path, service: str) -> None:
    marker(run_dir, service).unlink(missing_ok=True)


def is_ready(run_dir: Path, service: str, pid: int) -> bool:
    try:
        return marker(run_dir, service).read_text().strip() == str(pid)
    except FileNotFoundError:
        return False
