"""`govmail admin …`: administer domains, units and accounts through the running platform's admin HTTP API."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from services.common.directory import SERVICE_CLASSES
from services.common.settings import PlatformSettings
from services.lifecycle.contract import ADMIN_HEADER, DEFAULT_SCHEME, SCHEMES, UNIT_KINDS


class CommandError(Exception):
    """The platform refused the command or could not be reached; the message is for the administrator."""


def default_url() -> str:
    platform = PlatformSettings()
    host = "127.0.0.1" if platform.host in ("0.0.0.0", "") else platform.host
    return f"http://{host}:{platform.admin_port}"


def default_admin() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "admin"


class AdminClient:
    def __init__(self, url: str, admin: str, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self.admin = admin
        self.timeout = timeout

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        # HTTP headers are Latin-1: a Vietnamese administrator's name travels percent-encoded.
        request.add_header(ADMIN_HEADER, urllib.parse.quote(self.admin))
        if data is not None:
            request.add_header("Content-Type", "application/json; charset=utf-8")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            raise CommandError(_problem_text(exc)) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CommandError(
                f"cannot reach the admin API at {self.url} ({reason}); is `govmail up` running?"
            ) from None


def _problem_text(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read().decode("utf-8"))
        return f"{body.get('title', exc.reason)} ({exc.code}): {body.get('detail', '')}".rstrip(": ")
    except ValueError:
        return f"HTTP {exc.code} {exc.reason}"


def _quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="@")


def _fields(data: dict[str, Any]) -> list[str]:
    return [f"{key}: {_text(value)}" for key, value in data.items()]


def _text(value: Any) -> str:
    if value is None:
        return ""
    return ",".join(str(v) for v in value) if isinstance(value, list) else str(value)


# Each command returns what it got (printed with --json) and the lines to print otherwise.
Output = tuple[Any, list[str]]


def domain_add(client: AdminClient, args: argparse.Namespace) -> Output:
    body: dict[str, Any] = {"name": args.domain, "scheme": args.scheme}
    if args.collisions:
        body["collisions"] = args.collisions.split(",")
    domain = client.call("POST", "/domains", body)
    return domain, [f"domain added: {domain['name']} (scheme {domain['scheme']})"]


def domain_list(client: AdminClient, args: argparse.Namespace) -> Output:
    domains = client.call("GET", "/domains")
    return domains, [f"{d['name']}\t{d['scheme']}" for d in domains]


def unit_add(client: AdminClient, args: argparse.Namespace) -> Output:
    body = {
        "domain": args.domain,
        "code": args.code,
        "name": args.name,
        "parent": args.parent,
        "kind": args.kind,
    }
    unit = client.call("POST", "/units", body)
    return unit, [f"unit added: {unit['code']} ({unit['name']}) in {unit['domain']}"]


def unit_list(client: AdminClient, args: argparse.Namespace) -> Output:
    units = client.call("GET", "/units?" + urllib.parse.urlencode({"domain": args.domain}))
    return units, [f"{u['code']}\t{u['kind']}\t{u['parent'] or '-'}\t{u['name']}" for u in units]


def account_create(client: AdminClient, args: argparse.Namespace) -> Output:
    if not args.unit_mailbox and not args.name:
        raise CommandError("--name is required for a personal mailbox")
    if args.unit_mailbox and not args.unit:
        raise CommandError("--unit-mailbox needs --unit CODE")
    body = {
        "domain": args.domain,
        "name": args.name or "",
        "unit": args.unit or "",
        "birth_year": args.birth_year,
        "unit_mailbox": args.unit_mailbox,
        "service_class": args.service_class,
    }
    created = client.call("POST", "/accounts", body)
    return created, [f"address: {created['address']}", f"password: {created['password']}"]


def account_show(client: AdminClient, args: argparse.Namespace) -> Output:
    account = client.call("GET", "/accounts/" + _quote(args.address))
    return account, _fields(account)


def _list(text: str | None) -> list[str] | None:
    return None if text is None else [item.strip() for item in text.split(",") if item.strip()]


def account_restrict(client: AdminClient, args: argparse.Namespace) -> Output:
    body: dict[str, Any] = {}
    if args.networks is not None:
        body["allowed_networks"] = _list(args.networks)
    if args.hours is not None:
        body["allowed_hours"] = args.hours
    if args.clients is not None:
        body["allowed_clients"] = _list(args.clients)
    if not body:
        raise CommandError("give at least one of --networks, --hours, --clients")
    account = client.call("PATCH", f"/accounts/{_quote(args.address)}/restrictions", body)
    return account, _restrictions(account)


def account_unlock_sending(client: AdminClient, args: argparse.Namespace) -> Output:
    account = client.call("POST", f"/accounts/{_quote(args.address)}/unlock-sending", {})
    return account, [f"sending unlocked: {account['address']}"]


def _restrictions(account: dict[str, Any]) -> list[str]:
    return [
        f"address: {account['address']}",
        f"allowed_networks: {','.join(account['allowed_networks']) or 'anywhere'}",
        f"allowed_hours: {account['allowed_hours'] or 'any time'}",
        f"allowed_clients: {','.join(account['allowed_clients']) or 'all'}",
    ]


def parser() -> argparse.ArgumentParser:
    # Options valid before or after the subcommand; SUPPRESS keeps a leaf from overwriting the top-level value.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url", default=argparse.SUPPRESS, help="admin API base URL (default: from GOVMAIL_HOST/ADMIN_PORT)"
    )
    common.add_argument(
        "--admin", default=argparse.SUPPRESS, help="administrator recorded in the audit log (default: $USER)"
    )
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON for machines"
    )

    top = argparse.ArgumentParser(prog="govmail admin", description="Administer domains, units and accounts.")
    top.add_argument("--url", default=None, help=argparse.SUPPRESS)
    top.add_argument("--admin", default=None, help=argparse.SUPPRESS)
    top.add_argument("--json", action="store_true", default=False, help=argparse.SUPPRESS)
    areas = top.add_subparsers(dest="area", required=True, metavar="{domain,unit,account}")

    domain = areas.add_parser("domain", help="mail domains").add_subparsers(dest="action", required=True)
    p = domain.add_parser("add", parents=[common], help="add a local mail domain")
    p.add_argument("domain")
    p.add_argument("--scheme", choices=SCHEMES, default=DEFAULT_SCHEME, help="address rules for this domain")
    p.add_argument(
        "--collisions",
        default="",
        help="collision steps for personal addresses, comma-separated, e.g. full,initials,year,number",
    )
    p.set_defaults(run=domain_add)
    p = domain.add_parser("list", parents=[common], help="list the local domains")
    p.set_defaults(run=domain_list)

    unit = areas.add_parser("unit", help="units (agencies, departments, districts, communes)").add_subparsers(
        dest="action", required=True
    )
    p = unit.add_parser("add", parents=[common], help="add a unit to a domain")
    p.add_argument("--domain", required=True)
    p.add_argument("--code", required=True, help="short code used in addresses, e.g. stttt")
    p.add_argument("--name", required=True, help="full name of the unit")
    p.add_argument("--parent", default="", help="code of the parent unit")
    p.add_argument("--kind", choices=UNIT_KINDS, default="unit")
    p.set_defaults(run=unit_add)
    p = unit.add_parser("list", parents=[common], help="list a domain's units")
    p.add_argument("--domain", required=True)
    p.set_defaults(run=unit_list)

    account = areas.add_parser("account", help="mailboxes").add_subparsers(dest="action", required=True)
    p = account.add_parser("create", parents=[common], help="create a personal or unit mailbox")
    p.add_argument("--domain", required=True)
    p.add_argument(
        "--name", help='full name, e.g. "Lê Minh Hiếu" (a unit mailbox defaults to the unit\'s name)'
    )
    p.add_argument("--unit", help="code of the unit the mailbox belongs to")
    p.add_argument("--birth-year", type=int, help="used by the address rules when the name is taken")
    p.add_argument("--unit-mailbox", action="store_true", help="the unit's own mailbox (address made from the unit tree)")
    p.add_argument("--class", dest="service_class", choices=sorted(SERVICE_CLASSES), default="standard")
    p.set_defaults(run=account_create)
    p = account.add_parser("show", parents=[common], help="show an account (never its password)")
    p.add_argument("address")
    p.set_defaults(run=account_show)
    p = account.add_parser("restrict", parents=[common], help="limit where, when and how an account logs in")
    p.add_argument("address")
    p.add_argument("--networks", help='CIDRs, comma-separated, e.g. 10.0.0.0/8,2001:db8::/32 ("" = anywhere)')
    p.add_argument("--hours", help='HH:MM-HH:MM in the province\'s time zone, e.g. 07:00-19:00 ("" = any time)')
    p.add_argument("--clients", help='client types, comma-separated: smtp,imap,pop3,webmail ("" = all)')
    p.set_defaults(run=account_restrict)
    p = account.add_parser("unlock-sending", parents=[common], help="let an account send again after the daily cap")
    p.add_argument("address")
    p.set_defaults(run=account_unlock_sending)
    return top


def main(argv: list[str] | None = None) -> int:
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(encoding="utf-8")
        sys.stderr.reconfigure(encoding="utf-8")
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    client = AdminClient(args.url or default_url(), args.admin or default_admin())
    try:
        data, lines = args.run(client, args)
    except CommandError as exc:
        print(f"govmail admin: {exc}", file=sys.stderr)
        return 1
    for line in [json.dumps(data, ensure_ascii=False, indent=2)] if args.json else lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
