"""Entry point: `python -m services.ingress` / `govmail ingress`."""

from __future__ import annotations

import argparse
import asyncio
import sys

from services.common.settings import PlatformSettings
from services.ingress.app import serve
from services.ingress.settings import IngressSettings
from services.ingress.workers import run_workers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="govmail ingress", description="Run the SMTP ingress service.")
    parser.add_argument("--workers", type=int, default=None,
                        help="processes sharing the listening ports (default: INGRESS_WORKERS, 1)")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)  # set by the parent
    args = parser.parse_args(argv)
    platform, settings = PlatformSettings(), IngressSettings()
    workers = args.workers if args.workers is not None else settings.workers
    if args.worker is None and workers > 1:
        return run_workers(platform, workers, grace=settings.shutdown_grace + 10)
    asyncio.run(serve(platform, settings, worker=args.worker))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
