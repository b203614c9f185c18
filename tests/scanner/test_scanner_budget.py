"""A scanner process holds a bounded number of bytes of mail, however many messages it has in flight."""

from __future__ import annotations

import asyncio

from services.scanner.budget import ByteBudget


async def test_messages_wait_until_their_bytes_fit_beside_those_in_flight() -> None:
    budget = ByteBudget(100)
    order: list[str] = []
    first_in = asyncio.Event()
    release_first = asyncio.Event()

    async def scan(name: str, size: int, started: asyncio.Event | None = None,
                   until: asyncio.Event | None = None) -> None:
        async with budget.hold(size):
            order.append(f"{name} vào")
            if started is not None:
                started.set()
            if until is not None:
                await until.wait()
            order.append(f"{name} ra")

    first = asyncio.create_task(scan("thư 60", 60, first_in, release_first))
    await first_in.wait()
    second = asyncio.create_task(scan("thư 50", 50))
    small = asyncio.create_task(scan("thư 30", 30))
    await asyncio.sleep(0.05)
    # 60 + 30 fits, 60 + 50 does not: the 50-byte one waits for the first to finish.
    assert order == ["thư 60 vào", "thư 30 vào", "thư 30 ra"] and budget.held == 60
    release_first.set()
    await asyncio.gather(first, second, small)
    assert order[3:] == ["thư 60 ra", "thư 50 vào", "thư 50 ra"] and budget.held == 0


async def test_a_message_bigger_than_the_budget_is_scanned_alone() -> None:
    budget = ByteBudget(100)
    seen: list[int] = []

    async def scan(size: int) -> None:
        async with budget.hold(size):
            seen.append(budget.held)
            await asyncio.sleep(0.01)

    await asyncio.gather(scan(500), scan(10), scan(500))
    assert sorted(seen) == [10, 500, 500] and budget.held == 0
