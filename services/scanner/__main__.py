"""Entry point: `python -m services.scanner` / `govmail scanner`."""

from __future__ import annotations

import sys

from services.scanner.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
