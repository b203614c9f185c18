"""Entry point: `python -m services.delivery` / `govmail delivery`."""

from __future__ import annotations

import sys

from services.common.settings import PlatformSettings
from services.common.worker import run_worker
from services.delivery.app import build
from services.delivery.settings import DeliverySettings


def main(argv: list[str] | None = None) -> int:
    platform = PlatformSettings()
    return run_worker(build(platform, DeliverySettings()), "delivery", platform)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
