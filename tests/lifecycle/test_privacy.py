"""No administrator path returns mail (R27): every admin API route and every `govmail admin` command, walked and called.

A mailbox holds a message whose subject and body carry a unique marker; a province
administrator (the strongest role) then calls every route of the router and runs every leaf
of the CLI parser. The marker must never come back — while closing the account does export
the message to disk, which shows the marker was there to be found.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import mailbox
import uuid
from email.message import EmailMessage
from typing import Any

from services.delivery.maildir import mailbox_root
from services.lifecycle import cli
from services.lifecycle.api import ROUTES, make_app
from services.lifecycle.app import LifecycleService
from tests.lifecycle.conftest import Api

UNITS = [
    {"code": "stttt", "name": "Sở Thông tin và Truyền thông", "kind": "department"},
    {"code": "syt", "name": "Sở Y tế", "kind": "department"},
]

# One call per route, in an order that keeps what later calls need; {a} is the mailbox with the
# secret, {b} a colleague, {u} the unit mailbox, {app} an application, {d} the domain.
API_CALLS: list[tuple[str, str, Any]] = [
    ("GET", "/healthz", None),
    ("GET", "/readyz", None),
    ("GET", "/openapi.json", None),
    ("GET", "/metrics", None),
    ("GET", "/whoami", None),
    ("GET", "/domains", None),
    ("POST", "/domains", {"name": "x{d}"}),
    ("GET", "/units?domain={d}", None),
    ("POST", "/units", {"domain": "{d}", "code": "ptckh", "name": "Phòng Tài chính", "parent": "stttt"}),
    ("GET", "/accounts?domain={d}", None),
    ("POST", "/accounts", {"domain": "{d}", "name": "Hồ Văn Khoa", "unit": "syt"}),
    ("GET", "/accounts/{a}", None),
    ("PATCH", "/accounts/{a}", {"title": "Chuyên viên"}),
    ("PATCH", "/accounts/{a}/restrictions", {"allowed_hours": "07:00-19:00"}),
    ("POST", "/accounts/{a}/unlock-sending", {}),
    ("GET", "/accounts/{a}/grants", None),
    ("POST", "/accounts/{a}/grants", {"grantee": "{b}", "rights": ["view"]}),
    ("DELETE", "/accounts/{a}/grants/{b}", None),
    ("POST", "/accounts/{a}/transfer", {"unit": "syt"}),
    ("POST", "/accounts/{u}/handover", {"holder": "{b}"}),
    ("POST", "/accounts/{a}/password-reset", {}),
    ("POST", "/accounts/{a}/password", {"current": "wrong", "new": "MatKhau@789"}),
    ("POST", "/applications", {"domain": "{d}", "unit": "stttt", "name": "Lý Thị Yến"}),
    ("GET", "/applications", None),
    ("GET", "/applications/{app}", None),
    ("POST", "/applications/{app}/refuse", {"reason": "trùng"}),
    ("POST", "/applications/{app}/approve", {}),
    ("GET", "/classes", None),
    ("PUT", "/classes/leaders", {"quota_bytes": 1_000_000_000, "max_message_bytes": 50_000_000}),
    ("GET", "/admins", None),
    ("POST", "/admins", {"name": "kiemtoan", "role": "auditor"}),
    ("POST", "/admins/kiemtoan/token", None),
    ("DELETE", "/admins/kiemtoan", None),
    ("GET", "/audit", None),
    ("GET", "/stats", None),
    ("POST", "/jobs/sla", None),
    ("GET", "/directory?domain={d}&q=tuan", None),
    ("GET", "/directory/export?domain={d}&format=vcard", None),
    ("POST", "/accounts/{b}/revoke", {"reason": "thử"}),
    ("POST", "/accounts/{b}/unlock", {}),
    ("POST", "/accounts/{a}/rename", {"name": "Nguyễn Minh Tuấn Anh"}),
    ("POST", "/accounts/{a2}/close", {"reason": "nghỉ hưu"}),
]


def route_of(path: str) -> str:
    """/accounts/x@y/grants/z → /accounts/{address}/grants/{grantee}, as the route table writes it."""
    path = path.split("?")[0]
    for route in ROUTES:
        parts, wanted = path.strip("/").split("/"), route.path.strip("/").split("/")
        if len(parts) == len(wanted) and all(w.startswith("{") or w == p for p, w in zip(parts, wanted, strict=True)):
            return route.path
    return path


def fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, dict):
        return {k: fill(v, names) for k, v in value.items()}
    return value


async def secret_mailbox(root: Api, service: LifecycleService, domain: str, marker: str) -> dict[str, str]:
    await root.ok("POST", "/domains", {"name": domain}, 201)
    for unit in UNITS:
        await root.ok("POST", "/units", {"domain": domain, **unit}, 201)
    a = (await root.ok("POST", "/accounts", {"domain": domain, "name": "Nguyễn Minh Tuấn", "unit": "stttt"}, 201))
    b = (await root.ok("POST", "/accounts", {"domain": domain, "name": "Trần Thị Lan", "unit": "stttt"}, 201))
    u = (await root.ok("POST", "/accounts", {"domain": domain, "unit": "stttt", "unit_mailbox": True}, 201))
    message = EmailMessage()
    message["From"] = f"giamdoc@{domain}"
    message["To"] = a["address"]
    message["Subject"] = f"Công văn mật {marker}"
    message.set_content(f"Nội dung: {marker} 机密正文", charset="utf-8")
    root_dir = mailbox_root(service.platform.mail_root, a["address"])
    root_dir.mkdir(parents=True)
    box = mailbox.Maildir(root_dir / "Maildir", create=True)
    box.add(message)
    box.close()
    return {"a": a["address"], "b": b["address"], "u": u["address"], "d": domain}


def test_every_route_is_called_here() -> None:
    """A new route must be added to API_CALLS, or this test (and the guarantee) would silently miss it."""
    called = {(method, route_of(path)) for method, path, _ in API_CALLS}
    declared = {(route.method, route.path) for route in ROUTES}
    assert called == declared


async def test_no_api_route_returns_a_message(service: LifecycleService, root: Api, domain: str) -> None:
    marker = f"BÍMẬT-{uuid.uuid4().hex}"
    names = await secret_mailbox(root, service, domain, marker)
    # The router serves exactly the routes of the table (plus HEAD for each GET), nothing else.
    served = {(r.method, r.resource.canonical) for r in make_app(service.services).router.routes()
              if r.method != "HEAD"}
    assert served == {(route.method, route.path) for route in ROUTES}

    answers: list[str] = []
    statuses: dict[str, int] = {}
    for method, path, body in API_CALLS:
        if "{app}" in path and "app" not in names:
            names["app"] = (await root.ok("GET", "/applications"))[-1]["id"]
        if "{a2}" in path:
            names["a2"] = next(a["address"] for a in await root.ok("GET", f"/accounts?domain={domain}")
                               if a["name"] == "Nguyễn Minh Tuấn Anh")
        async with root.session.request(method, fill(path, names), json=fill(body, names)) as response:
            answers.append(await response.text())
            statuses[f"{method} {path}"] = response.status
    assert all(marker not in text and "机密正文" not in text for text in answers)
    # The calls really ran (a refusal would prove nothing), apart from the two meant to be refused.
    refused = {k: v for k, v in statuses.items() if v >= 400}
    assert refused == {"POST /accounts/{a}/password": 401, "POST /applications/{app}/approve": 409}

    closed = await root.ok("GET", f"/accounts/{names['a2']}")
    assert closed["status"] == "deleted"
    exported = [p for p in (service.platform.data / "exports" / domain).iterdir()]
    assert len(exported) == 1 and marker.encode() in exported[0].read_bytes()


def cli_leaves(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += cli_leaves(sub, (*prefix, name))
    return found or [prefix]


CLI_CALLS: dict[tuple[str, ...], list[str]] = {
    ("whoami",): [],
    ("domain", "add"): ["y{d}"],
    ("domain", "list"): [],
    ("unit", "add"): ["--domain", "{d}", "--code", "pkh", "--name", "Phòng Kế hoạch", "--parent", "syt"],
    ("unit", "list"): ["--domain", "{d}"],
    ("account", "create"): ["--domain", "{d}", "--name", "Bùi Đức Dũng", "--unit", "syt"],
    ("account", "list"): ["--domain", "{d}"],
    ("account", "show"): ["{a}"],
    ("account", "change"): ["{a}", "--phone", "0273 3871 234"],
    ("account", "restrict"): ["{a}", "--clients", "smtp,webmail"],
    ("account", "unlock-sending"): ["{a}"],
    ("account", "transfer"): ["{a}", "--unit", "syt"],
    ("account", "handover"): ["{u}", "--holder", "{b}"],
    ("account", "revoke"): ["{b}", "--reason", "thử"],
    ("account", "unlock"): ["{b}"],
    ("account", "reset-password"): ["{a}"],
    ("grant", "add"): ["{a}", "{b}", "--rights", "view,send_on_behalf"],
    ("grant", "list"): ["{a}"],
    ("grant", "revoke"): ["{a}", "{b}"],
    ("application", "submit"): ["--domain", "{d}", "--unit", "syt", "--name", "Đỗ Thanh Nga"],
    ("applications",): ["--status", "pending"],
    ("application", "show"): ["{app}"],
    ("application", "refuse"): ["{app}", "--reason", "thiếu hồ sơ"],
    ("application", "approve"): ["{app}"],
    ("class", "list"): [],
    ("class", "set"): ["leaders", "--quota", "1GB", "--max-message", "50MB", "--features", "external,recall"],
    ("admins", "add"): ["kiemtoan2", "--role", "auditor"],
    ("admins", "list"): [],
    ("admins", "token"): ["kiemtoan2"],
    ("admins", "remove"): ["kiemtoan2"],
    ("audit",): ["--limit", "20"],
    ("stats",): [],
    ("inactivity", "run"): ["--now"],
    ("sla", "run"): ["--now"],
    ("grants", "run"): ["--now"],
    ("directory", "search"): ["--domain", "{d}", "tuan"],
    ("directory", "export"): ["--domain", "{d}", "--format", "csv"],
    ("account", "rename"): ["{a}", "--name", "Nguyễn Minh Tuấn Anh"],
    ("account", "close"): ["{a2}", "--reason", "nghỉ hưu"],
}


async def test_no_cli_command_prints_a_message(service: LifecycleService, root: Api, domain: str) -> None:
    assert set(cli_leaves(cli.parser())) == set(CLI_CALLS), "every `govmail admin` command needs a call here"
    marker = f"BÍMẬT-{uuid.uuid4().hex}"
    names = await secret_mailbox(root, service, domain, marker)
    common = ["--url", service.url, "--token-file", str(service.token_path)]
    outputs: list[str] = []
    for leaf, args in CLI_CALLS.items():
        if "{app}" in args and "app" not in names:
            names["app"] = (await root.ok("GET", "/applications"))[-1]["id"]
        if "{a2}" in args:
            names["a2"] = next(a["address"] for a in await root.ok("GET", f"/accounts?domain={domain}")
                               if a["name"] == "Nguyễn Minh Tuấn Anh")
        out, err = io.StringIO(), io.StringIO()

        def run(argv: list[str], out: io.StringIO = out, err: io.StringIO = err) -> int:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                return cli.main(argv)

        code = await asyncio.to_thread(run, [*leaf, *[fill(a, names) for a in args], *common])
        expected = 1 if leaf == ("application", "approve") else 0  # refused just before: a 409
        assert code == expected, (leaf, err.getvalue())
        outputs.append(out.getvalue() + err.getvalue())
    assert all(marker not in text and "机密正文" not in text for text in outputs)
    assert any(marker.encode() in p.read_bytes() for p in (service.platform.data / "exports" / domain).iterdir())
