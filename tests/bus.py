"""Reading a topic from its beginning in tests: the events a test is waiting for, on the shared broker."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer


async def bus_events(bootstrap: str, topic: str, wanted: Callable[[dict[str, Any]], bool], count: int,
                     timeout: float = 30.0) -> list[dict[str, Any]]:
    """The events of `topic` that `wanted` accepts, once `count` arrived or `timeout` passed (then fewer).

    Records that are not JSON objects are skipped: the session broker is shared, and some tests put
    unreadable records on topics on purpose.
    """
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    found: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while len(found) < count and loop.time() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    try:
                        event = json.loads(record.value)
                    except (ValueError, TypeError):
                        continue
                    if isinstance(event, dict) and wanted(event):
                        found.append(event)
    finally:
        await consumer.stop()
    return found
