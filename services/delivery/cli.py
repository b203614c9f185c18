"""`govmail mail …`: a user's delivery status, recall and quarantine, through the delivery HTTP API."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from services.common import internal_auth
from services.common.settings import PlatformSettings
from services.delivery.api import USER_HEADER


class CommandError(Exception):
    """The platform refused the request or could not be reached; the message is for the user."""


def default_url() -> str:
    platform = PlatformSettings()
    host = "127.0.0.1" if platform.host in ("0.0.0.0", "") else platform.host
    return f"http://{host}:{platform.delivery_port}"


def call(url: str, actor: str, method: str, path: str) -> Any:
    request = urllib.request.Request(url.rstrip("/") + path, method=method, data=b"" if method == "POST" else None)
    request.add_header("Accept", "application/json")
    request.add_header(USER_HEADER, urllib.parse.quote(actor))  # HTTP headers are Latin-1
    for name, value in internal_auth.credentials(internal_auth.internal_token(PlatformSettings())).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read().decode("utf-8"))
            raise CommandError(f"{body.get('title', exc.reason)} ({exc.code}): {body.get('detail', '')}") from None
        except ValueError:
            raise CommandError(f"HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise CommandError(f"cannot reach the delivery API at {url} ({getattr(exc, 'reason', exc)}); "
                           "is `govmail up` running?") from None


def quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="@")


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in [header, *rows])


def show_status(found: dict[str, Any]) -> str:
    head = f"{found['message_id']}  {found.get('subject', '')}  (from {found.get('mail_from', '')})"
    rows = [[r["recipient"], r["state"], "remote" if r.get("remote") else "local", r.get("detail", "")]
            for r in found["recipients"]]
    return head + "\n" + table(rows, ["RECIPIENT", "STATE", "WHERE", "DETAIL"])


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="govmail mail", description=__doc__)
    p.add_argument("--url", default=None, help="delivery API (default: this machine's GOVMAIL_DELIVERY_PORT)")
    sub = p.add_subparsers(dest="command", required=True)
    status = sub.add_parser("status", help="per-recipient delivery status of a message you sent")
    status.add_argument("message_id", help="queue id or Message-ID header")
    status.add_argument("--as", dest="actor", required=True, help="your address (the sender)")
    status.add_argument("--json", action="store_true")
    recall = sub.add_parser("recall", help="recall a message you sent from every recipient who has not opened it")
    recall.add_argument("message_id", help="queue id or Message-ID header")
    recall.add_argument("--as", dest="actor", required=True, help="your address (the sender)")
    recall.add_argument("--json", action="store_true")
    held = sub.add_parser("quarantine", help="list (or release) mail held for a mailbox")
    held.add_argument("mailbox")
    held.add_argument("--as", dest="actor", help="who asks (default: the mailbox owner)")
    held.add_argument("--release", metavar="ID", help="release this held message into the INBOX")
    held.add_argument("--json", action="store_true")
    return p


def run(args: argparse.Namespace) -> str:
    url = args.url or default_url()
    if args.command == "status":
        found = call(url, args.actor, "GET", f"/messages/{quote(args.message_id)}/status")
        return json.dumps(found, ensure_ascii=False, indent=2) if args.json else show_status(found)
    if args.command == "recall":
        done = call(url, args.actor, "POST", f"/messages/{quote(args.message_id)}/recall")
        if args.json:
            return json.dumps(done, ensure_ascii=False, indent=2)
        return table([[r["recipient"], r["outcome"]] for r in done["recipients"]], ["RECIPIENT", "OUTCOME"])
    actor = args.actor or args.mailbox
    if args.release:
        done = call(url, actor, "POST", f"/quarantine/{quote(args.mailbox)}/{quote(args.release)}/release")
        return json.dumps(done, ensure_ascii=False, indent=2) if args.json else f"released {args.release} to INBOX"
    held = call(url, actor, "GET", f"/quarantine/{quote(args.mailbox)}")["held"]
    if args.json:
        return json.dumps(held, ensure_ascii=False, indent=2)
    rows = [[h["id"][:16], h.get("from", ""), h.get("subject", ""), h["verdict"]["action"],
             ",".join(s["name"] for s in h["verdict"]["symbols"])] for h in held]
    return table(rows, ["ID", "FROM", "SUBJECT", "ACTION", "SYMBOLS"])


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        print(run(args))
    except CommandError as exc:
        print(f"govmail mail: {exc}", file=sys.stderr)
        return 1
    return 0
