"""Entry point: `python -m services.ingress` / `govmail ingress`."""

from __future__ import annotations

import asyncio
import sys

from services.common.settings import PlatformSettings
from services.ingress.app import serve
from services.ingress.settings import IngressSettings


def main(argv: list[str] | None = None) -> int:
    asyncio.run(serve(PlatformSettings(), IngressSettings()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
