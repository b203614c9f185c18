"""The admin HTTP API (aiohttp): bearer-token administrators, one route table, OpenAPI at /openapi.json, problem JSON.

No route reads mail: administrators see directory records, applications, grants, the audit log
and statistics, never a message (R27; tests/lifecycle/test_privacy.py walks every route).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis.exceptions
from aiohttp import web
from pydantic import BaseModel, ValidationError

from services.common import logging as log
from services.common.directory import Account
from services.common.http import http_error, json_response, problem
from services.common.metrics import REGISTRY
from services.lifecycle.admins import ANONYMOUS, Admin
from services.lifecycle.api_models import (
    AccountChangeIn,
    AccountIn,
    AdminIn,
    ApplicationIn,
    ClassIn,
    DomainIn,
    GrantIn,
    HandoverIn,
    PasswordChangeIn,
    ReasonIn,
    RenameIn,
    RestrictionsIn,
    TransferIn,
    UnitIn,
)
from services.lifecycle.contract import ADMIN_HEADER
from services.lifecycle.errors import Forbidden, InvalidInput, LifecycleError, MalformedBody, Unauthorized
from services.lifecycle.policy import Policy
from services.lifecycle.services import Services

logger = log.get(__name__)

M = TypeVar("M", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
NO_STORE = {"Cache-Control": "no-store"}  # answers that carry a one-time password or token
ADMIN = web.RequestKey("admin", Admin)  # the authenticated administrator of a request


def public(account: Account) -> dict[str, Any]:
    """An account as administrators see it: never the password hash."""
    return account.model_dump(exclude={"password_hash"})


async def read_body(request: web.Request, model: type[M]) -> M:
    try:
        data = await request.json() if request.can_read_body else {}
    except (ValueError, UnicodeDecodeError):
        raise MalformedBody("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise MalformedBody("the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        raise InvalidInput("; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors) from None


def query(request: web.Request, name: str) -> str:
    value = request.query.get(name, "")
    if not value:
        raise InvalidInput(f"the query parameter {name!r} is required")
    return value


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: str  # name of the AdminApi method
    action: str  # what the audit log and the role check call it
    summary: str
    body: type[BaseModel] | None = None
    public: bool = False  # no administrator token (health, the document itself, a user's own password)
    audit_read: bool = False  # a read the middleware logs (writes log themselves, with their change)


ROUTES: tuple[Route, ...] = (
    Route("GET", "/healthz", "healthz", "health", "Liveness.", public=True),
    Route("GET", "/readyz", "readyz", "health", "Readiness: Redis answers.", public=True),
    Route("GET", "/openapi.json", "openapi", "openapi", "This API, described in OpenAPI 3.1.", public=True),
    Route("GET", "/metrics", "metrics", "health", "Prometheus metrics of this process.", public=True),
    Route("GET", "/whoami", "whoami", "whoami", "The administrator the token belongs to."),
    Route("POST", "/domains", "add_domain", "domain.add", "Add a mail domain with its address scheme.", DomainIn),
    Route("GET", "/domains", "list_domains", "domain.list", "List the domains.", audit_read=True),
    Route("POST", "/units", "add_unit", "unit.add", "Add a unit to the tree.", UnitIn),
    Route("GET", "/units", "list_units", "unit.list", "List a domain's units (?domain=).", audit_read=True),
    Route("POST", "/accounts", "create_account", "account.create", "Issue a mailbox directly (centre).", AccountIn),
    Route("GET", "/accounts", "list_accounts", "account.list", "List accounts (?domain=&unit=&status=).",
          audit_read=True),
    Route("GET", "/accounts/{address}", "show_account", "account.show", "An account's directory record."),
    Route("PATCH", "/accounts/{address}", "change_account", "account.change",
          "Change name, title, contact details or service class.", AccountChangeIn),
    Route("PATCH", "/accounts/{address}/restrictions", "restrict_account", "account.restrict",
          "Allowed networks, hours and client types (R24).", RestrictionsIn),
    Route("POST", "/accounts/{address}/unlock-sending", "unlock_sending", "account.unlock_sending",
          "Let an account send again after the daily cap."),
    Route("POST", "/accounts/{address}/transfer", "transfer", "account.transfer", "Move to another unit.",
          TransferIn),
    Route("POST", "/accounts/{address}/rename", "rename", "account.rename",
          "New name and address; the old address stays an alias.", RenameIn),
    Route("POST", "/accounts/{address}/handover", "handover", "account.handover",
          "Hand a unit mailbox to a new head.", HandoverIn),
    Route("POST", "/accounts/{address}/close", "close", "account.close", "Export the mail, then close.", ReasonIn),
    Route("POST", "/accounts/{address}/revoke", "revoke", "account.revoke", "Emergency revocation (R13).",
          ReasonIn),
    Route("POST", "/accounts/{address}/unlock", "unlock", "account.unlock",
          "Unlock with a new one-time password."),
    Route("POST", "/accounts/{address}/password-reset", "reset_password", "account.password_reset",
          "Reset to a new one-time password."),
    Route("POST", "/accounts/{address}/password", "change_password", "password.change",
          "The owner changes their password (authenticated by the current one).", PasswordChangeIn, public=True),
    Route("GET", "/accounts/{address}/grants", "list_grants", "grant.list", "Delegations on a mailbox.",
          audit_read=True),
    Route("POST", "/accounts/{address}/grants", "add_grant", "grant.add", "Delegate view/send rights.", GrantIn),
    Route("DELETE", "/accounts/{address}/grants/{grantee}", "revoke_grant", "grant.revoke", "Withdraw a grant."),
    Route("POST", "/applications", "submit_application", "application.submit", "Apply for a mailbox.",
          ApplicationIn),
    Route("GET", "/applications", "list_applications", "application.list",
          "Applications (?status=pending&overdue=1).", audit_read=True),
    Route("GET", "/applications/{id}", "show_application", "application.show", "One application.",
          audit_read=True),
    Route("POST", "/applications/{id}/approve", "approve", "application.approve",
          "Approve and issue the mailbox.", ReasonIn),
    Route("POST", "/applications/{id}/refuse", "refuse", "application.refuse", "Refuse, with a reason.", ReasonIn),
    Route("GET", "/classes", "list_classes", "class.list", "Service classes.", audit_read=True),
    Route("PUT", "/classes/{name}", "set_class", "class.set", "Create or change a service class.", ClassIn),
    Route("GET", "/admins", "list_admins", "admin.list", "Administrators.", audit_read=True),
    Route("POST", "/admins", "add_admin", "admin.add", "Appoint an administrator; returns their token.", AdminIn),
    Route("POST", "/admins/{name}/token", "rotate_token", "admin.token", "Revoke an administrator's tokens, issue one."),
    Route("DELETE", "/admins/{name}", "remove_admin", "admin.remove", "Remove an administrator."),
    Route("GET", "/audit", "audit_log", "audit.read", "Recent administrator actions (?limit=&admin=&action=).",
          audit_read=True),
    Route("GET", "/stats", "stats", "stats.read", "Account and application statistics.", audit_read=True),
    Route("POST", "/jobs/{job}", "run_job", "job.run", "Run a timed job now: inactivity, sla or grants."),
    Route("GET", "/directory", "directory", "directory.search", "Search the directory (?domain=&q=).",
          audit_read=True),
    Route("GET", "/directory/export", "directory_export", "directory.export",
          "Export the directory (?domain=&format=csv|json|vcard).", audit_read=True),
)  # fmt: skip


class AdminApi:
    """Handlers of the admin API; `make_app` wires them from ROUTES."""

    def __init__(self, services: Services):
        self.s = services
        self.core = services.core

    async def healthz(self, request: web.Request) -> web.Response:
        return json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        try:
            outbox = await self.core.store.outbox_length()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            return problem(503, "not-ready", "Not ready", f"Redis does not answer: {exc}")
        return json_response({"status": "ready", "outbox": outbox})

    async def openapi(self, request: web.Request) -> web.Response:
        return json_response(openapi_document())

    async def metrics(self, request: web.Request) -> web.Response:
        return await REGISTRY.handler()(request)

    async def whoami(self, request: web.Request) -> web.Response:
        return json_response(admin_of(request).model_dump())

    async def add_domain(self, request: web.Request) -> web.Response:
        body = await read_body(request, DomainIn)
        domain = await self.core.add_domain(admin_of(request), body.name, body.scheme, body.collisions)
        return json_response(domain.model_dump(), 201, {"Location": f"/domains/{domain.name}"})

    async def list_domains(self, request: web.Request) -> web.Response:
        await self.core.check(admin_of(request), "domain.list")
        return json_response([d.model_dump() for d in await self.core.domains()])

    async def add_unit(self, request: web.Request) -> web.Response:
        b = await read_body(request, UnitIn)
        unit = await self.core.add_unit(admin_of(request), b.domain, b.code, b.name, b.parent, b.kind,
                                        b.phone, b.fax, b.postal_address)
        return json_response(unit.model_dump(), 201, {"Location": f"/units?domain={unit.domain}"})

    async def list_units(self, request: web.Request) -> web.Response:
        units = await self.core.units(admin_of(request), query(request, "domain"))
        return json_response([u.model_dump() for u in units])

    async def create_account(self, request: web.Request) -> web.Response:
        b = await read_body(request, AccountIn)
        details = {"title": b.title, "phone": b.phone, "fax": b.fax, "postal_address": b.postal_address,
                   "language": b.language}
        account, password = await self.core.create_account(
            admin_of(request), b.domain, name=b.name, unit=b.unit, birth_year=b.birth_year,
            unit_mailbox=b.unit_mailbox, service_class=b.service_class, details=details,
        )
        data = {"address": account.address, "password": password, "account": public(account)}
        return json_response(data, 201, {"Location": f"/accounts/{account.address}", **NO_STORE})

    async def list_accounts(self, request: web.Request) -> web.Response:
        admin = admin_of(request)
        await self.core.check(admin, "account.list")
        accounts = await self.core.list_accounts(admin, query(request, "domain"), request.query.get("unit", ""),
                                                 request.query.get("status", ""))
        return json_response([public(a) for a in accounts])

    async def show_account(self, request: web.Request) -> web.Response:
        return json_response(public(await self.core.show_account(admin_of(request), address(request))))

    async def change_account(self, request: web.Request) -> web.Response:
        b = await read_body(request, AccountChangeIn)
        details = {k: v for k, v in b.model_dump(exclude={"name", "service_class"}).items() if v is not None}
        account = await self.s.changes.change(admin_of(request), address(request), details, b.service_class, b.name)
        return json_response(public(account))

    async def restrict_account(self, request: web.Request) -> web.Response:
        b = await read_body(request, RestrictionsIn)
        account = await self.core.restrict_account(admin_of(request), address(request), networks=b.allowed_networks,
                                                   hours=b.allowed_hours, clients=b.allowed_clients)
        return json_response(public(account))

    async def unlock_sending(self, request: web.Request) -> web.Response:
        return json_response(public(await self.core.unlock_sending(admin_of(request), address(request))))

    async def transfer(self, request: web.Request) -> web.Response:
        b = await read_body(request, TransferIn)
        return json_response(public(await self.s.changes.transfer(admin_of(request), address(request), b.unit)))

    async def rename(self, request: web.Request) -> web.Response:
        b = await read_body(request, RenameIn)
        account = await self.s.changes.rename(admin_of(request), address(request), b.name)
        return json_response({"address": account.address, "alias": address(request).lower(),
                              "alias_days": self.s.changes.alias_period.days, "account": public(account)})

    async def handover(self, request: web.Request) -> web.Response:
        b = await read_body(request, HandoverIn)
        account, password = await self.s.changes.handover(admin_of(request), address(request), b.holder)
        return json_response({"account": public(account), "password": password}, headers=NO_STORE)

    async def close(self, request: web.Request) -> web.Response:
        b = await read_body(request, ReasonIn)
        account, out, count = await self.s.changes.close(admin_of(request), address(request), b.reason)
        # Where the export lies and how many messages it holds: never its content (R27).
        return json_response({"account": public(account), "export": str(out), "messages": count})

    async def revoke(self, request: web.Request) -> web.Response:
        b = await read_body(request, ReasonIn)
        return json_response(public(await self.s.changes.revoke(admin_of(request), address(request), b.reason)))

    async def unlock(self, request: web.Request) -> web.Response:
        account, password = await self.s.changes.unlock(admin_of(request), address(request))
        return json_response({"account": public(account), "password": password}, headers=NO_STORE)

    async def reset_password(self, request: web.Request) -> web.Response:
        account, password = await self.s.credentials.reset(admin_of(request), address(request))
        return json_response({"account": public(account), "password": password}, headers=NO_STORE)

    async def change_password(self, request: web.Request) -> web.Response:
        b = await read_body(request, PasswordChangeIn)
        account = await self.s.credentials.change(address(request), b.current, b.new)
        return json_response({"address": account.address, "password_changed_at": account.password_changed_at})

    async def list_grants(self, request: web.Request) -> web.Response:
        grants = await self.s.delegations.list(admin_of(request), address(request))
        return json_response([g.model_dump() for g in grants])

    async def add_grant(self, request: web.Request) -> web.Response:
        b = await read_body(request, GrantIn)
        grant = await self.s.delegations.add(admin_of(request), address(request), b.grantee, list(b.rights),
                                             b.expires_at)
        return json_response(grant.model_dump(), 201)

    async def revoke_grant(self, request: web.Request) -> web.Response:
        grant = await self.s.delegations.revoke(admin_of(request), address(request), request.match_info["grantee"])
        return json_response(grant.model_dump())

    async def submit_application(self, request: web.Request) -> web.Response:
        b = await read_body(request, ApplicationIn)
        app = await self.s.desk.submit(admin_of(request), b.domain, b.unit, b.name, b.unit_mailbox, b.birth_year,
                                       b.title, b.phone, b.service_class, b.note)
        return json_response(app.model_dump(), 201, {"Location": f"/applications/{app.id}"})

    async def list_applications(self, request: web.Request) -> web.Response:
        overdue = request.query.get("overdue", "") in ("1", "true", "yes")
        apps = await self.s.desk.list(admin_of(request), request.query.get("status", ""), overdue)
        now = self.core.clock()
        return json_response([{**a.model_dump(), "overdue": a.overdue(now, self.s.desk.sla)} for a in apps])

    async def show_application(self, request: web.Request) -> web.Response:
        app = await self.s.desk.show(admin_of(request), request.match_info["id"])
        return json_response({**app.model_dump(), "overdue": app.overdue(self.core.clock(), self.s.desk.sla)})

    async def approve(self, request: web.Request) -> web.Response:
        b = await read_body(request, ReasonIn)
        app, password = await self.s.desk.approve(admin_of(request), request.match_info["id"], b.reason)
        return json_response({"application": app.model_dump(), "password": password}, headers=NO_STORE)

    async def refuse(self, request: web.Request) -> web.Response:
        b = await read_body(request, ReasonIn)
        return json_response((await self.s.desk.refuse(admin_of(request), request.match_info["id"], b.reason))
                             .model_dump())

    async def list_classes(self, request: web.Request) -> web.Response:
        return json_response([c.model_dump() for c in await self.s.classes.list(admin_of(request))])

    async def set_class(self, request: web.Request) -> web.Response:
        b = await read_body(request, ClassIn)
        found = await self.s.classes.set(admin_of(request), request.match_info["name"], b.quota_bytes,
                                         b.max_message_bytes, b.features)
        return json_response(found.model_dump())

    async def list_admins(self, request: web.Request) -> web.Response:
        return json_response([a.model_dump() for a in await self.s.office.list(admin_of(request))])

    async def add_admin(self, request: web.Request) -> web.Response:
        b = await read_body(request, AdminIn)
        new, token = await self.s.office.add(admin_of(request), b.name, b.role, b.domain, b.unit)
        return json_response({"admin": new.model_dump(), "token": token}, 201, NO_STORE)

    async def rotate_token(self, request: web.Request) -> web.Response:
        token = await self.s.office.rotate(admin_of(request), request.match_info["name"])
        return json_response({"admin": request.match_info["name"], "token": token}, headers=NO_STORE)

    async def remove_admin(self, request: web.Request) -> web.Response:
        await self.s.office.remove(admin_of(request), request.match_info["name"])
        return json_response({"removed": request.match_info["name"]})

    async def audit_log(self, request: web.Request) -> web.Response:
        try:
            limit = max(1, min(int(request.query.get("limit", "100")), 10_000))
        except ValueError:
            raise InvalidInput("limit is a number") from None
        found = await self.s.oversight.audit_log(admin_of(request), limit, request.query.get("admin", ""),
                                                 request.query.get("action", ""))
        return json_response(found)

    async def stats(self, request: web.Request) -> web.Response:
        return json_response(await self.s.oversight.stats(admin_of(request)))

    async def run_job(self, request: web.Request) -> web.Response:
        job = request.match_info["job"]
        return json_response(await self.s.run_job(admin_of(request), job))

    async def directory(self, request: web.Request) -> web.Response:
        admin = admin_of(request)
        await self.core.check(admin, "directory.search")
        return json_response(await self.s.people.search(query(request, "domain"), request.query.get("q", "")))

    async def directory_export(self, request: web.Request) -> web.Response:
        await self.core.check(admin_of(request), "directory.export")
        domain, form = query(request, "domain"), request.query.get("format", "json")
        rows = await self.s.people.entries(domain)
        if form == "json":
            return json_response(rows)
        if form == "csv":
            return web.Response(text=self.s.people.csv(rows), content_type="text/csv", charset="utf-8")
        if form == "vcard":
            return web.Response(text=self.s.people.vcard(rows), content_type="text/vcard", charset="utf-8")
        raise InvalidInput("format is csv, json or vcard")


def admin_of(request: web.Request) -> Admin:
    return request[ADMIN]


def address(request: web.Request) -> str:
    return request.match_info["address"]


def target(request: web.Request) -> str:
    """What an audited request is about: the account, application or administrator named, else the path."""
    info = request.match_info
    return info.get("address") or info.get("id") or info.get("name") or request.path_qs


def _bearer(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def make_app(services: Services) -> web.Application:
    api = AdminApi(services)

    @web.middleware
    async def guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        """Authenticate, run, and log to admin.audit.v1 what the operation itself did not (reads, refusals)."""
        route: Route | None = getattr(request.match_info.route.handler, "route", None)
        actor: Admin | str = ANONYMOUS
        try:
            if route is not None and not route.public:
                admin = await services.admins.authenticate(_bearer(request))
                if admin is None:
                    raise Unauthorized("send 'Authorization: Bearer <token>' with an administrator's token")
                # The name typed at the terminal is recorded beside the token's owner, never instead of it.
                operator = urllib.parse.unquote(request.headers.get(ADMIN_HEADER, "")).strip()[:100]
                request[ADMIN] = actor = admin.model_copy(update={"operator": operator})
                if not Policy.may(admin, route.action):
                    raise Forbidden(f"a {admin.role} administrator may not do {route.action}")
            response = await handler(request)
            if route is not None and route.audit_read:
                await services.core.audit_only(actor, route.action, target(request))
            return response
        except LifecycleError as exc:
            if route is not None and not exc.audited and route.action not in ("health", "openapi"):
                outcome = "error" if exc.status not in (401, 403) else "denied"
                await services.core.audit_only(actor, route.action, target(request), outcome,
                                               status=exc.status, error=exc.detail)
            headers = {"WWW-Authenticate": 'Bearer realm="govmail-admin"'} if exc.status == 401 else None
            response = problem(exc.status, exc.slug, exc.title, exc.detail, **exc.extensions)
            if headers:
                response.headers.update(headers)
            return response
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return http_error(request, exc)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            logger.error("store_unavailable", error=str(exc))
            return problem(503, "store-unavailable", "Account store unavailable", "Redis does not answer; try again")
        except Exception:
            logger.exception("admin_api_error", method=request.method, path=request.path)
            return problem(500, "internal-error", "Internal error", "the request failed; see the lifecycle log")

    app = web.Application(middlewares=[guarded], client_max_size=64 * 1024)
    for route in ROUTES:
        bound = getattr(api, route.handler)

        async def handler(request: web.Request, _bound: Handler = bound) -> web.StreamResponse:
            return await _bound(request)

        handler.route = route  # type: ignore[attr-defined]
        app.router.add_route(route.method, route.path, handler)
    return app


def openapi_document() -> dict[str, Any]:
    """OpenAPI 3.1 from ROUTES and the body models, so the document cannot drift from the code."""
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    for route in ROUTES:
        operation: dict[str, Any] = {
            "operationId": route.handler,
            "summary": route.summary,
            "x-govmail-action": route.action,
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {}}},
                "default": {"description": "A problem (RFC 9457)",
                            "content": {"application/problem+json": {"schema": problem_ref}}},
            },
        }
        if not route.public:
            operation["security"] = [{"bearer": []}]
        params = [part[1:-1] for part in route.path.split("/") if part.startswith("{")]
        if params:
            operation["parameters"] = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                                       for p in params]
        if route.body is not None:
            schema = route.body.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[route.body.__name__] = schema
            operation["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{route.body.__name__}"}}}}
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    schemas["Problem"] = {"type": "object", "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "govmail admin API", "version": "1",
                 "description": "Domains, units, accounts, applications, delegation, service classes, "
                                "administrators, audit log and directory. Administrators authenticate with "
                                "'Authorization: Bearer <token>'."},
        "paths": paths,
        "components": {"schemas": schemas,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
