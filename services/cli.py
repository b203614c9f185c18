"""The `govmail` command: `up` starts the platform; other subcommands run one service or talk to a running platform."""

from __future__ import annotations

import importlib
import sys

# Each subcommand lives in the package that owns it; its main(argv) parses its own arguments.
COMMANDS: dict[str, tuple[str, str]] = {
    "up": ("services.platform.supervisor", "start the whole platform on this machine"),
    "ingress": ("services.ingress.__main__", "run the SMTP ingress service"),
    "scanner": ("services.scanner.cli", "run the scanner service (or: scanner train …)"),
    "delivery": ("services.delivery.__main__", "run the delivery service"),
    "lifecycle": ("services.lifecycle.__main__", "run the lifecycle service (accounts, admin API)"),
    "analytics": ("services.analytics.__main__", "run the analytics service (bus → ClickHouse)"),
    "admin": ("services.lifecycle.cli", "administer domains, units and accounts of a running platform"),
    "stats": ("services.analytics.cli", "print statistics from ClickHouse"),
    "spool": ("services.platform.spool_cli", "list or republish messages still waiting for delivery"),
    "topics": ("services.platform.topics_cli", "create the registered topics on a broker"),
    "report": ("services.analytics.report_cli", "mail the health self-check or a periodic unit report now"),
    "webmail": ("services.webmail.__main__", "run the webmail (or: webmail iplib add|remove|list)"),
    "mail": ("services.delivery.cli", "delivery status, recall and quarantine of a user's mail"),
    "mailbox": ("services.delivery.mailbox_cli", "export a mailbox as mbox (the owner's copy, R18)"),
}


def usage() -> str:
    lines = ["usage: govmail COMMAND [ARGS…]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"govmail: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
