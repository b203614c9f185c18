"""Entry point: `govmail webmail` runs the webmail; `govmail webmail iplib …` edits the province's IP library."""

from __future__ import annotations

import argparse
import asyncio
import sys

from services.common import logging as log
from services.common.settings import PlatformSettings
from services.webmail import iplib
from services.webmail.app import run
from services.webmail.settings import WebmailSettings


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["iplib"]:
        return iplib.main(args[1:])
    argparse.ArgumentParser(
        prog="govmail webmail",
        description="Serve the webmail (loopback HTTP; TLS at the Ingress in a cluster). Configured by GOVMAIL_* "
        "and WEBMAIL_* environment variables. `govmail webmail iplib add|remove|list` edits the IP library.",
    ).parse_args(args)
    platform = PlatformSettings()
    log.configure("webmail", platform.log_level)
    asyncio.run(run(platform, WebmailSettings()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
