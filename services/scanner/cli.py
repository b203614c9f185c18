"""`govmail scanner`: run the scanner service, or (later) train its classifier."""

from __future__ import annotations

import argparse
import sys

from services.common import logging as log
from services.common.settings import PlatformSettings
from services.common.worker import run_worker
from services.scanner.app import build
from services.scanner.config import ConfigError
from services.scanner.settings import ScannerSettings

# Same code as argparse uses for a usage error: the command cannot do what was asked.
EXIT_USAGE = 2


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="govmail scanner", description="The scanner service: spam and virus checks.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("run", help="consume mail.received.v1 and publish verdicts (the default)")
    sub.add_parser("train", help="train the spam classifier (not available yet)")
    return p


def run() -> int:
    platform = PlatformSettings()
    logger = log.configure("scanner", platform.log_level)
    try:
        app = build(platform, ScannerSettings())
    except ConfigError as exc:
        logger.error("config_invalid", error=str(exc))
        return EXIT_USAGE
    try:
        code = run_worker(app, "scanner", platform)
    except SystemExit as exc:  # the faust worker always leaves through SystemExit
        code = exc.code if isinstance(exc.code, int) else 1
    logger.info("scanner_stopped", exit_code=code)
    return code


def main(argv: list[str] | None = None) -> int:
    p = parser()
    # `train` will take its own options (corpus, output); until it exists, any are accepted.
    args, extra = p.parse_known_args(sys.argv[1:] if argv is None else argv)
    if args.command == "train":
        print("govmail scanner train: not available yet (the classifier comes with issue 4)", file=sys.stderr)
        return EXIT_USAGE
    if extra:
        p.error(f"unrecognized arguments: {' '.join(extra)}")
    return run()
