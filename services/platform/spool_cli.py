"""`govmail spool list|republish`: see or resend the messages still waiting for some recipient's outcome."""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from services.common.bus import KafkaPublisher
from services.common.settings import PlatformSettings
from services.common.spool import Spool
from services.ingress.reconcile import republish_unfinished


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="govmail spool", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="messages still in the spool")
    listing.add_argument("--json", action="store_true")
    again = sub.add_parser("republish", help="publish unfinished messages again (safe: delivery is idempotent)")
    again.add_argument("--older-than", type=float, default=0.0, help="only those untouched this many seconds")
    args = parser.parse_args(argv)
    platform = PlatformSettings()
    spool = Spool(platform.spool_dir)
    if args.command == "list":
        rows = [
            {"message_id": e.event.message_id, "pending": e.pending, "from": e.event.mail.mail_from,
             "rcpt": e.event.mail.rcpt_to, "age_s": round(time.time() - e.touched_at, 1)}
            for e in spool.entries()
        ]
        if args.json:
            print(json.dumps(rows, ensure_ascii=False, indent=2))
        else:
            for r in rows:
                print(f"{r['message_id']}  pending={r['pending']}  age={r['age_s']}s  from=<{r['from']}>")
            print(f"{len(rows)} message(s) in the spool")
        return 0

    async def republish() -> int:
        publisher = KafkaPublisher(platform.bootstrap, "govmail-spool-cli")
        await publisher.start(wait=10)
        try:
            return await republish_unfinished(spool, publisher, args.older_than)
        finally:
            await publisher.stop()

    print(f"republished {asyncio.run(republish())} message(s)")
    return 0
