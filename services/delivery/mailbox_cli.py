"""`govmail mailbox export ADDRESS`: the owner's copy of their mailbox as one mbox file (R18)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from services.common.settings import PlatformSettings
from services.delivery.export import export_mbox


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="govmail mailbox", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    export = sub.add_parser("export", help="write every folder of a mailbox to one mbox file")
    export.add_argument("address")
    export.add_argument("--out", type=Path, default=None, help="file to write (default: ADDRESS.mbox here)")
    args = p.parse_args(argv)
    out = args.out or Path(f"{args.address}.mbox")
    try:
        count = export_mbox(PlatformSettings().mail_root, args.address, out)
    except (ValueError, OSError) as exc:
        print(f"govmail mailbox: {exc}", file=sys.stderr)
        return 1
    print(f"exported {count} message(s) of {args.address} to {out}")
    return 0
