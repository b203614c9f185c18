"""`govmail admin …`: administer the platform through the running lifecycle service's admin HTTP API.

Authentication: a bearer token from --token, else $GOVMAIL_ADMIN_TOKEN, else the bootstrap
province administrator's token that the lifecycle service wrote to <data dir>/secrets/admin.token.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from services.common.settings import PlatformSettings
from services.lifecycle.contract import (
    ADMIN_HEADER,
    DEFAULT_SCHEME,
    RIGHTS,
    ROLES,
    SCHEMES,
    TOKEN_ENV,
    UNIT_KINDS,
    token_file,
)


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


def default_token() -> str:
    """$GOVMAIL_ADMIN_TOKEN, else the bootstrap token file of this machine's data dir (empty if unreadable)."""
    if os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV].strip()
    try:
        return token_file(PlatformSettings().data).read_text().strip()
    except OSError:
        return ""


class AdminClient:
    def __init__(self, url: str, admin: str, timeout: float = 30.0, token: str = ""):
        self.url = url.rstrip("/")
        self.admin = admin
        self.timeout = timeout
        self.token = token

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, raw: bool = False) -> Any:
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        # HTTP headers are Latin-1: a Vietnamese administrator's name travels percent-encoded.
        request.add_header(ADMIN_HEADER, urllib.parse.quote(self.admin))
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json; charset=utf-8")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                text = response.read().decode("utf-8")
                return text if raw else json.loads(text)
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
        **{k: v for k in ("title", "phone") if (v := getattr(args, k, None))},
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


def _account_path(address: str, suffix: str = "") -> str:
    return f"/accounts/{_quote(address)}{suffix}"


def account_list(client: AdminClient, args: argparse.Namespace) -> Output:
    params = {k: v for k in ("domain", "unit", "status") if (v := getattr(args, k))}
    accounts = client.call("GET", "/accounts?" + urllib.parse.urlencode(params))
    return accounts, [f"{a['address']}\t{a['status']}\t{a['unit'] or '-'}\t{a['name']}" for a in accounts]


def account_change(client: AdminClient, args: argparse.Namespace) -> Output:
    names = ("name", "title", "phone", "fax", "postal_address", "language", "service_class")
    body = {k: v for k in names if (v := getattr(args, k)) is not None}
    if not body:
        raise CommandError("give something to change, e.g. --title or --class")
    account = client.call("PATCH", _account_path(args.address), body)
    return account, [f"changed: {account['address']}"] + [f"{k}: {account[k]}" for k in body]


def account_transfer(client: AdminClient, args: argparse.Namespace) -> Output:
    account = client.call("POST", _account_path(args.address, "/transfer"), {"unit": args.unit})
    return account, [f"transferred: {account['address']} to {account['unit']}"]


def account_rename(client: AdminClient, args: argparse.Namespace) -> Output:
    result = client.call("POST", _account_path(args.address, "/rename"), {"name": args.name})
    return result, [f"address: {result['address']}", f"alias: {result['alias']} ({result['alias_days']} days)"]


def account_handover(client: AdminClient, args: argparse.Namespace) -> Output:
    result = client.call("POST", _account_path(args.address, "/handover"), {"holder": args.holder})
    return result, [f"holder: {result['account']['holder']}", f"password: {result['password']}"]


def account_close(client: AdminClient, args: argparse.Namespace) -> Output:
    result = client.call("POST", _account_path(args.address, "/close"), {"reason": args.reason})
    return result, [f"closed: {result['account']['address']}", f"export: {result['export']} "
                    f"({result['messages']} messages)"]


def account_revoke(client: AdminClient, args: argparse.Namespace) -> Output:
    account = client.call("POST", _account_path(args.address, "/revoke"), {"reason": args.reason})
    return account, [f"revoked: {account['address']}"]


def _with_password(path: str) -> Any:
    def run(client: AdminClient, args: argparse.Namespace) -> Output:
        result = client.call("POST", _account_path(args.address, path), {})
        return result, [f"address: {result['account']['address']}", f"password: {result['password']}"]
    return run


def grant_add(client: AdminClient, args: argparse.Namespace) -> Output:
    body: dict[str, Any] = {"grantee": args.grantee, "rights": _list(args.rights) or []}
    if args.expires:
        body["expires_at"] = args.expires
    grant = client.call("POST", _account_path(args.mailbox, "/grants"), body)
    return grant, [_grant_line(grant)]


def grant_list(client: AdminClient, args: argparse.Namespace) -> Output:
    grants = client.call("GET", _account_path(args.mailbox, "/grants"))
    return grants, [_grant_line(g) for g in grants]


def grant_revoke(client: AdminClient, args: argparse.Namespace) -> Output:
    grant = client.call("DELETE", _account_path(args.mailbox, f"/grants/{_quote(args.grantee)}"))
    return grant, [f"revoked: {grant['grantee']} on {grant['mailbox']}"]


def _grant_line(grant: dict[str, Any]) -> str:
    return f"{grant['grantee']}\t{','.join(grant['rights'])}\t{grant['expires_at'] or 'no expiry'}"


def application_submit(client: AdminClient, args: argparse.Namespace) -> Output:
    body = {"domain": args.domain, "unit": args.unit, "name": args.name or "", "unit_mailbox": args.unit_mailbox,
            "birth_year": args.birth_year, "title": args.title or "", "service_class": args.service_class,
            "note": args.note or ""}
    app = client.call("POST", "/applications", body)
    return app, [f"application: {app['id']} (pending)"]


def application_decide(decision: str) -> Any:
    def run(client: AdminClient, args: argparse.Namespace) -> Output:
        result = client.call("POST", f"/applications/{_quote(args.id)}/{decision}", {"reason": args.reason or ""})
        if decision == "approve":
            app = result["application"]
            late = " (late: past the SLA)" if app["late"] else ""
            return result, [f"approved: {app['id']}{late}", f"address: {app['address']}",
                            f"password: {result['password']}"]
        return result, [f"refused: {result['id']}: {result['reason']}"]
    return run


def application_show(client: AdminClient, args: argparse.Namespace) -> Output:
    app = client.call("GET", f"/applications/{_quote(args.id)}")
    return app, _fields(app)


def applications(client: AdminClient, args: argparse.Namespace) -> Output:
    params = {"status": args.status or "", "overdue": "1" if args.overdue else ""}
    apps = client.call("GET", "/applications?" + urllib.parse.urlencode({k: v for k, v in params.items() if v}))
    return apps, [f"{a['id']}\t{a['status']}{' OVERDUE' if a['overdue'] else ''}\t{a['submitted_at']}\t"
                  f"{a['unit']}@{a['domain']}\t{a['name'] or '(unit mailbox)'}" for a in apps]


_UNITS = {"": 1, "b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}


def size(text: str) -> int:
    """'500MB', '3 mb', '1048576' → bytes."""
    cleaned = text.strip().lower().replace(" ", "")
    digits = cleaned.rstrip("kmgb")
    try:
        return int(float(digits) * _UNITS[cleaned[len(digits):]])
    except (ValueError, KeyError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 500MB") from None


def class_list(client: AdminClient, args: argparse.Namespace) -> Output:
    classes = client.call("GET", "/classes")
    return classes, [f"{c['name']}\t{c['quota_bytes']}\t{c['max_message_bytes']}\t{','.join(c['features'])}"
                     for c in classes]


def class_set(client: AdminClient, args: argparse.Namespace) -> Output:
    body: dict[str, Any] = {"quota_bytes": args.quota, "max_message_bytes": args.max_message}
    if args.features is not None:  # omitted: the class keeps its features (a new class gets every one)
        body["features"] = _list(args.features) or []
    found = client.call("PUT", f"/classes/{_quote(args.name)}", body)
    return found, [f"class {found['name']}: quota {found['quota_bytes']}, message {found['max_message_bytes']}"]


def admins_list(client: AdminClient, args: argparse.Namespace) -> Output:
    found = client.call("GET", "/admins")
    return found, [f"{a['name']}\t{a['role']}\t{a['unit'] + '@' + a['domain'] if a['unit'] else '-'}" for a in found]


def admins_add(client: AdminClient, args: argparse.Namespace) -> Output:
    body = {"name": args.name, "role": args.role, "domain": args.domain or "", "unit": args.unit or ""}
    result = client.call("POST", "/admins", body)
    return result, [f"administrator: {result['admin']['name']} ({result['admin']['role']})",
                    f"token: {result['token']}"]


def admins_token(client: AdminClient, args: argparse.Namespace) -> Output:
    result = client.call("POST", f"/admins/{_quote(args.name)}/token")
    return result, [f"token: {result['token']}"]


def admins_remove(client: AdminClient, args: argparse.Namespace) -> Output:
    return client.call("DELETE", f"/admins/{_quote(args.name)}"), [f"removed: {args.name}"]


def whoami(client: AdminClient, args: argparse.Namespace) -> Output:
    me = client.call("GET", "/whoami")
    return me, _fields(me)


def audit(client: AdminClient, args: argparse.Namespace) -> Output:
    params = {"limit": args.limit, "admin": args.by or "", "action": args.action or ""}
    events = client.call("GET", "/audit?" + urllib.parse.urlencode({k: v for k, v in params.items() if v}))
    return events, [f"{e['occurred_at']}\t{e['admin']}\t{e['action']}\t{e['target']}\t{e['outcome']}" for e in events]


def stats(client: AdminClient, args: argparse.Namespace) -> Output:
    found = client.call("GET", "/stats")
    lines = [f"{domain}\t{name}\t{count}" for domain, counts in found["domains"].items() for name, count in counts.items()]
    lines += [f"applications\t{k}\t{v}" for k, v in found["applications"].items()]
    return found, lines


def run_job(client: AdminClient, args: argparse.Namespace) -> Output:
    if not args.now:
        raise CommandError("the lifecycle service runs this daily by itself; add --now to run it at once")
    result = client.call("POST", f"/jobs/{args.job}")
    return result, [f"{key}: {', '.join(value) or '-'}" for key, value in result.items()]


def directory_search(client: AdminClient, args: argparse.Namespace) -> Output:
    rows = client.call("GET", "/directory?" + urllib.parse.urlencode({"domain": args.domain, "q": args.query}))
    return rows, [f"{r['name']}\t{r['title'] or r['kind']}\t{r['unit_name'] or r['unit']}\t{r['email']}\t{r['phone']}"
                  for r in rows]


def directory_export(client: AdminClient, args: argparse.Namespace) -> Output:
    path = "/directory/export?" + urllib.parse.urlencode({"domain": args.domain, "format": args.format})
    text = client.call("GET", path, raw=True)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8", newline="")
        return text, [f"written: {args.out}"]
    return text, [text.rstrip("\r\n")]


def parser() -> argparse.ArgumentParser:
    # Options valid before or after the subcommand; SUPPRESS keeps a leaf from overwriting the top-level value.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url", default=argparse.SUPPRESS, help="admin API base URL (default: from GOVMAIL_HOST/ADMIN_PORT)"
    )
    common.add_argument("--token", default=argparse.SUPPRESS,
                        help=f"administrator's bearer token (default: ${TOKEN_ENV}, else <data dir>/secrets/admin.token)")
    common.add_argument("--token-file", default=argparse.SUPPRESS, help="read the token from this file")
    common.add_argument(
        "--admin", default=argparse.SUPPRESS, help="who is at the terminal (a note; the token decides who acts)"
    )
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON for machines"
    )

    top = argparse.ArgumentParser(prog="govmail admin", description="Administer the platform (needs an administrator's token).")
    for flag in ("--url", "--token", "--token-file", "--admin"):
        top.add_argument(flag, default=None, help=argparse.SUPPRESS)
    top.add_argument("--json", action="store_true", default=False, help=argparse.SUPPRESS)
    areas = top.add_subparsers(dest="area", required=True, metavar="AREA")

    def leaf(group: Any, name: str, run: Any, help_: str) -> argparse.ArgumentParser:
        p = group.add_parser(name, parents=[common], help=help_)
        p.set_defaults(run=run)
        return p

    def area(name: str, help_: str) -> Any:
        return areas.add_parser(name, help=help_).add_subparsers(dest="action", required=True)

    leaf(areas, "whoami", whoami, "the administrator your token belongs to")

    domain = area("domain", "mail domains")
    p = leaf(domain, "add", domain_add, "add a local mail domain")
    p.add_argument("domain")
    p.add_argument("--scheme", choices=SCHEMES, default=DEFAULT_SCHEME, help="address rules for this domain")
    p.add_argument("--collisions", default="",
                   help="collision steps for personal addresses, comma-separated, e.g. full,initials,year,number")
    leaf(domain, "list", domain_list, "list the local domains")

    unit = area("unit", "units (agencies, departments, districts, communes)")
    p = leaf(unit, "add", unit_add, "add a unit to a domain")
    p.add_argument("--domain", required=True)
    p.add_argument("--code", required=True, help="short code used in addresses, e.g. stttt")
    p.add_argument("--name", required=True, help="full name of the unit")
    p.add_argument("--parent", default="", help="code of the parent unit")
    p.add_argument("--kind", choices=UNIT_KINDS, default="unit")
    p = leaf(unit, "list", unit_list, "list a domain's units")
    p.add_argument("--domain", required=True)

    account = area("account", "mailboxes")
    p = leaf(account, "create", account_create, "issue a personal or unit mailbox directly (centre)")
    p.add_argument("--domain", required=True)
    p.add_argument("--name", help='full name, e.g. "Lê Minh Hiếu" (a unit mailbox defaults to the unit’s name)')
    p.add_argument("--unit", help="code of the unit the mailbox belongs to")
    p.add_argument("--birth-year", type=int, help="used by the address rules when the name is taken")
    p.add_argument("--unit-mailbox", action="store_true", help="the unit's own mailbox (address made from the unit tree)")
    p.add_argument("--class", dest="service_class", default="standard", help="service class (see `class list`)")
    p.add_argument("--title", help="job title, for the directory")
    p.add_argument("--phone", help="office telephone, for the directory")
    p = leaf(account, "list", account_list, "list a domain's accounts")
    p.add_argument("--domain", required=True)
    p.add_argument("--unit")
    p.add_argument("--status", choices=("active", "locked", "deleted"))
    p = leaf(account, "show", account_show, "show an account (never its password)")
    p.add_argument("address")
    p = leaf(account, "change", account_change, "change name, title, contact details or class")
    p.add_argument("address")
    p.add_argument("--name", help="display name (the address stays; see rename)")
    p.add_argument("--title")
    p.add_argument("--phone")
    p.add_argument("--fax")
    p.add_argument("--postal-address")
    p.add_argument("--language", choices=("vi", "zh", "en"))
    p.add_argument("--class", dest="service_class")
    p = leaf(account, "restrict", account_restrict, "limit where, when and how an account logs in")
    p.add_argument("address")
    p.add_argument("--networks", help='CIDRs, comma-separated, e.g. 10.0.0.0/8,2001:db8::/32 ("" = anywhere)')
    p.add_argument("--hours", help='HH:MM-HH:MM in the province’s time zone, e.g. 07:00-19:00 ("" = any time)')
    p.add_argument("--clients", help='client types, comma-separated: smtp,imap,pop3,webmail ("" = all)')
    p = leaf(account, "unlock-sending", account_unlock_sending, "let an account send again after the daily cap")
    p.add_argument("address")
    p = leaf(account, "transfer", account_transfer, "move an account to another unit")
    p.add_argument("address")
    p.add_argument("--unit", required=True)
    p = leaf(account, "rename", account_rename, "new name and address; the old address stays an alias")
    p.add_argument("address")
    p.add_argument("--name", required=True)
    p = leaf(account, "handover", account_handover, "hand a unit mailbox to a new head")
    p.add_argument("address")
    p.add_argument("--holder", required=True, help="address of the new head")
    p = leaf(account, "close", account_close, "export the mail, then close the account")
    p.add_argument("address")
    p.add_argument("--reason", default="")
    p = leaf(account, "revoke", account_revoke, "emergency revocation (R13)")
    p.add_argument("address")
    p.add_argument("--reason", required=True)
    p = leaf(account, "unlock", _with_password("/unlock"), "unlock with a new one-time password")
    p.add_argument("address")
    p = leaf(account, "reset-password", _with_password("/password-reset"), "new one-time password")
    p.add_argument("address")

    grant = area("grant", "delegation: view, send on behalf, send as (R16)")
    p = leaf(grant, "add", grant_add, "let GRANTEE use MAILBOX")
    p.add_argument("mailbox")
    p.add_argument("grantee")
    p.add_argument("--rights", required=True, help=f"comma-separated: {','.join(RIGHTS)}")
    p.add_argument("--expires", help="ISO-8601 with time zone, e.g. 2026-12-31T17:00:00+07:00")
    p = leaf(grant, "list", grant_list, "grants on MAILBOX")
    p.add_argument("mailbox")
    p = leaf(grant, "revoke", grant_revoke, "withdraw GRANTEE's grant on MAILBOX")
    p.add_argument("mailbox")
    p.add_argument("grantee")

    application = area("application", "apply for a mailbox, approve or refuse (R5)")
    p = leaf(application, "submit", application_submit, "apply for a mailbox for a unit or a person in it")
    p.add_argument("--domain", required=True)
    p.add_argument("--unit", required=True)
    p.add_argument("--name")
    p.add_argument("--unit-mailbox", action="store_true")
    p.add_argument("--birth-year", type=int)
    p.add_argument("--title")
    p.add_argument("--class", dest="service_class", default="standard")
    p.add_argument("--note", help="why the mailbox is needed")
    for decision in ("approve", "refuse"):
        p = leaf(application, decision, application_decide(decision), f"{decision} an application")
        p.add_argument("id")
        p.add_argument("--reason", required=decision == "refuse")
    p = leaf(application, "show", application_show, "one application")
    p.add_argument("id")
    p = leaf(areas, "applications", applications, "list applications (--overdue: pending past the SLA)")
    p.add_argument("--overdue", action="store_true")
    p.add_argument("--status", choices=("pending", "approved", "refused"))

    classes = area("class", "service classes (R12)")
    leaf(classes, "list", class_list, "list the service classes")
    p = leaf(classes, "set", class_set, "create or change a class; applies at once")
    p.add_argument("name")
    p.add_argument("--quota", type=size, required=True, help="mailbox quota, e.g. 500MB")
    p.add_argument("--max-message", type=size, required=True, help="largest message, e.g. 50MB")
    p.add_argument("--features", help='comma-separated, e.g. external,recall,burn ("" = none; omitted = unchanged, '
                                      'every feature for a new class)')

    admins = area("admins", "administrators (province, unit, auditor)")
    leaf(admins, "list", admins_list, "list administrators")
    p = leaf(admins, "add", admins_add, "appoint an administrator; prints their token once")
    p.add_argument("name")
    p.add_argument("--role", choices=ROLES, required=True)
    p.add_argument("--domain")
    p.add_argument("--unit")
    p = leaf(admins, "token", admins_token, "revoke an administrator's tokens and issue a new one")
    p.add_argument("name")
    p = leaf(admins, "remove", admins_remove, "remove an administrator")
    p.add_argument("name")

    p = leaf(areas, "audit", audit, "recent administrator actions")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--by", help="only this administrator")
    p.add_argument("--action", help="only actions starting with this, e.g. account.")
    leaf(areas, "stats", stats, "account and application statistics")

    for job, help_ in (("inactivity", "lock and delete inactive accounts (R9)"),
                       ("sla", "flag applications past the SLA"), ("grants", "remove expired grants")):
        p = leaf(area(job, help_), "run", run_job, f"{help_}, now")
        p.add_argument("--now", action="store_true", required=True)
        p.set_defaults(job=job)

    directory = area("directory", "the published directory of units and people (R2)")
    p = leaf(directory, "search", directory_search, "search by name, title or unit, with or without marks")
    p.add_argument("--domain", required=True)
    p.add_argument("query")
    p = leaf(directory, "export", directory_export, "export for the portal")
    p.add_argument("--domain", required=True)
    p.add_argument("--format", choices=("csv", "json", "vcard"), default="csv")
    p.add_argument("--out", help="write to this file instead of printing")
    return top


def main(argv: list[str] | None = None) -> int:
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(encoding="utf-8")
        sys.stderr.reconfigure(encoding="utf-8")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["iplib"]:  # the province's IP library (R23) is a file the webmail reads, not an API call
        from services.webmail import iplib

        return iplib.main(argv[1:], prog="govmail admin iplib")
    args = parser().parse_args(argv)
    token = args.token or (Path(args.token_file).read_text().strip() if args.token_file else default_token())
    client = AdminClient(args.url or default_url(), args.admin or default_admin(), token=token)
    try:
        data, lines = args.run(client, args)
    except CommandError as exc:
        print(f"govmail admin: {exc}", file=sys.stderr)
        return 1
    for line in [json.dumps(data, ensure_ascii=False, indent=2)] if args.json and not isinstance(data, str) else lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
