"""`govmail lifecycle` / `python -m services.lifecycle`: run the lifecycle service until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from services.common import logging as log
from services.common.settings import PlatformSettings
from services.lifecycle.app import SERVICE, LifecycleService
from services.lifecycle.settings import LifecycleSettings


async def run(platform: PlatformSettings, settings: LifecycleSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    service = LifecycleService(platform, settings)
    try:
        starting = asyncio.create_task(service.start())
        stopping = asyncio.create_task(stop.wait())
        # A stop that comes while Redis is still awaited must not wait for Redis.
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if starting.done():
            starting.result()
            await stopping
        else:
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
    finally:
        await service.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="govmail lifecycle",
        description="Run the lifecycle service: domains, units and accounts in Redis, and the admin HTTP API. "
        "Configured by GOVMAIL_* (platform) and LIFECYCLE_* environment variables.",
    )
    parser.parse_args(sys.argv[1:] if argv is None else argv)
    platform = PlatformSettings()
    log.configure(SERVICE, platform.log_level)
    asyncio.run(run(platform, LifecycleSettings()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
