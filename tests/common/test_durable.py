"""Group commit: concurrent writers share a syncfs, and nobody returns before a sync that began after its call."""

from __future__ import annotations

import asyncio
from pathlib import Path

from services.common.durable import GroupSync


async def test_concurrent_barriers_share_syncs_and_later_ones_get_their_own(tmp_path: Path) -> None:
    group = GroupSync(tmp_path / "blobs", tmp_path / "spool")
    try:
        await asyncio.gather(*(group.barrier() for _ in range(50)))
        shared = group.syncs
        assert 1 <= shared < 50
        await group.barrier()
        assert group.syncs == shared + 1  # a barrier after the others finished starts a new sync
    finally:
        group.close()


async def test_a_caller_arriving_during_a_sync_waits_for_the_next_one(tmp_path: Path) -> None:
    group = GroupSync(tmp_path)
    try:
        first = asyncio.ensure_future(group.barrier())
        await asyncio.sleep(0)  # the first sync is now running
        second = asyncio.ensure_future(group.barrier())
        await asyncio.gather(first, second)
        assert group.syncs == 2
    finally:
        group.close()
