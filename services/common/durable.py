"""Group commit: files written without fsync become durable together, with one syncfs for a batch of writers.

An fsync per file per message serialises concurrent SMTP sessions on the file system's journal.
Instead each session writes and renames its files, then waits at `barrier()`: the first waiter
starts a syncfs of the file systems involved, and everyone who arrived before it started is
durable when it returns. Sessions that arrive meanwhile share the next one.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
from pathlib import Path

_libc = ctypes.CDLL(None, use_errno=True)


def syncfs(fd: int) -> None:
    """Write out and wait for all dirty data and metadata of the file system holding `fd`."""
    if _libc.syncfs(fd) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


class GroupSync:
    def __init__(self, *paths: Path):
        devices: dict[int, int] = {}
        for path in paths:
            path.mkdir(parents=True, exist_ok=True)
            devices.setdefault(path.stat().st_dev, os.open(path, os.O_RDONLY))
        self._fds = list(devices.values())
        self._requested = 0
        self._completed = 0
        self._running: asyncio.Future[None] | None = None
        self.syncs = 0

    async def barrier(self) -> None:
        """Return once everything written before this call is on disk (raises OSError if it cannot be)."""
        self._requested += 1
        mine = self._requested
        while self._completed < mine:
            if self._running is None:
                self._running = asyncio.ensure_future(self._sync(self._requested))
            await asyncio.shield(self._running)

    async def _sync(self, upto: int) -> None:
        try:
            for fd in self._fds:
                await asyncio.to_thread(syncfs, fd)
            self.syncs += 1
            self._completed = max(self._completed, upto)
        finally:
            self._running = None

    def close(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds = []
