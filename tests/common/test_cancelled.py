"""A cancellation that a library swallowed still stops a loop that checks for it."""

from __future__ import annotations

import asyncio

import pytest

from services.common.cancelled import raise_if_cancelled


async def swallowing_library() -> None:
    # What asyncio.wait_for does on Python 3.11 when the cancel races the awaited result.
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        return


async def test_a_loop_whose_cancel_was_swallowed_stops_at_its_check():
    rounds = 0

    async def loop() -> None:
        nonlocal rounds
        while True:
            raise_if_cancelled()
            rounds += 1
            await swallowing_library()

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert rounds == 1  # the round whose wait swallowed the cancel ended; the next never began


async def test_a_loop_that_was_not_cancelled_and_an_expired_timeout_pass_the_check():
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await asyncio.sleep(1)
    raise_if_cancelled()  # the timeout's own cancel was taken back
    assert asyncio.current_task().cancelling() == 0
