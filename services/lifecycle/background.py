"""Stopping a background task for sure: some libraries (aiokafka connects, redis-py reads) can swallow one cancel."""

from __future__ import annotations

import asyncio
import contextlib


async def stop_task(task: asyncio.Task[None] | None, timeout: float = 10.0) -> None:
    """Cancel until the task is done, for at most `timeout` seconds; never hangs a shutdown."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while task is not None and not task.done() and loop.time() < deadline:
        task.cancel()
        await asyncio.wait({task}, timeout=0.1)
    if task is not None and task.done() and not task.cancelled():
        with contextlib.suppress(Exception):
            task.result()
