"""The admin HTTP API (aiohttp): domains, units and accounts as JSON, every error as problem JSON (RFC 9457)."""

from __future__ import annotations

import urllib.parse
from typing import Any, TypeVar

import redis.exceptions
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.common import logging as log
from services.common.directory import DEFAULT_CLASS, Account
from services.common.http import http_error, json_response, problem
from services.lifecycle.contract import ADMIN_HEADER, DEFAULT_SCHEME
from services.lifecycle.errors import InvalidInput, LifecycleError, MalformedBody
from services.lifecycle.operations import Lifecycle

logger = log.get(__name__)


M = TypeVar("M", bound=BaseModel)


class DomainIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Domain name, e.g. 'tiengiang.gov.vn'.")
    scheme: str = Field(DEFAULT_SCHEME, description="Address scheme: tiengiang, backan or pinyin.")
    collisions: list[str] | None = Field(
        None,
        description="Collision steps for personal addresses, in order, from full, family_initial, initials, "
        "given_initials, year, number; omitted = the scheme's default.",
    )


class UnitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    domain: str
    code: str = Field(
        description="Short code, e.g. 'stttt'; the unit's address part, except where the scheme uses the folded "
        "name (districts and communes in tiengiang/pinyin, communes in backan)."
    )
    name: str = Field(description="Full name of the unit.")
    parent: str = Field("", description="Code of the parent unit, if any.")
    kind: str = Field("unit", description="unit, agency, department, division, district or commune.")


class AccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    domain: str
    name: str = Field("", description="Full name of the person (or of the unit, for a unit mailbox).")
    unit: str = Field("", description="Code of the unit the mailbox belongs to.")
    birth_year: int | None = Field(None, description="Used by the address rules on a name collision.")
    unit_mailbox: bool = Field(
        False, description="The unit's own mailbox (address made from the unit tree) instead of a person's."
    )
    service_class: str = Field(DEFAULT_CLASS, description="basic or standard.")


class RestrictionsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allowed_networks: list[str] | None = Field(
        None, description="CIDRs (IPv4/IPv6) the account may log in from; [] = anywhere."
    )
    allowed_hours: str | None = Field(
        None, description="'HH:MM-HH:MM' in the province's time zone, may cross midnight; '' = any time."
    )
    allowed_clients: list[str] | None = Field(
        None, description="Client types allowed: smtp, imap, pop3, webmail; [] = all."
    )


def public(account: Account) -> dict[str, Any]:
    """An account as administrators see it: never the password hash."""
    return account.model_dump(exclude={"password_hash"})


@web.middleware
async def problems(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except LifecycleError as exc:
        return problem(exc.status, exc.slug, exc.title, exc.detail, **exc.extensions)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return http_error(request, exc)
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        logger.error("store_unavailable", error=str(exc))
        return problem(
            503, "store-unavailable", "Account store unavailable", "Redis does not answer; try again"
        )
    except Exception:
        logger.exception("admin_api_error", method=request.method, path=request.path)
        return problem(500, "internal-error", "Internal error", "the request failed; see the lifecycle log")


async def read_body(request: web.Request, model: type[M]) -> M:
    try:
        data = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise MalformedBody("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise MalformedBody("the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        raise InvalidInput(
            "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors
        ) from None


def _admin(request: web.Request) -> str:
    """The acting administrator as the CLI names them (percent-encoded UTF-8), "unknown" when unnamed."""
    return urllib.parse.unquote(request.headers.get(ADMIN_HEADER, "")).strip() or "unknown"


class AdminApi:
    """Routes of the admin API; `make_app` wires them."""

    def __init__(self, lifecycle: Lifecycle):
        self.lifecycle = lifecycle

    async def healthz(self, request: web.Request) -> web.Response:
        return json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        try:
            outbox = await self.lifecycle.store.outbox_length()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            return problem(503, "not-ready", "Not ready", f"Redis does not answer: {exc}")
        return json_response({"status": "ready", "outbox": outbox})

    async def add_domain(self, request: web.Request) -> web.Response:
        body = await read_body(request, DomainIn)
        domain = await self.lifecycle.add_domain(_admin(request), body.name, body.scheme, body.collisions)
        return json_response(domain.model_dump(), 201, {"Location": f"/domains/{domain.name}"})

    async def list_domains(self, request: web.Request) -> web.Response:
        return json_response([d.model_dump() for d in await self.lifecycle.domains()])

    async def add_unit(self, request: web.Request) -> web.Response:
        body = await read_body(request, UnitIn)
        unit = await self.lifecycle.add_unit(
            _admin(request), body.domain, body.code, body.name, body.parent, body.kind
        )
        return json_response(unit.model_dump(), 201, {"Location": f"/units?domain={unit.domain}"})

    async def list_units(self, request: web.Request) -> web.Response:
        domain = request.query.get("domain", "")
        if not domain:
            raise InvalidInput("the query parameter 'domain' is required")
        return json_response([u.model_dump() for u in await self.lifecycle.units(domain)])

    async def create_account(self, request: web.Request) -> web.Response:
        body = await read_body(request, AccountIn)
        account, password = await self.lifecycle.create_account(
            _admin(request),
            body.domain,
            name=body.name,
            unit=body.unit,
            birth_year=body.birth_year,
            unit_mailbox=body.unit_mailbox,
            service_class=body.service_class,
        )
        data = {"address": account.address, "password": password, "account": public(account)}
        return json_response(data, 201, {"Location": f"/accounts/{account.address}", "Cache-Control": "no-store"})

    async def show_account(self, request: web.Request) -> web.Response:
        account = await self.lifecycle.show_account(_admin(request), request.match_info["address"])
        return json_response(public(account))

    async def restrict_account(self, request: web.Request) -> web.Response:
        body = await read_body(request, RestrictionsIn)
        account = await self.lifecycle.restrict_account(
            _admin(request),
            request.match_info["address"],
            networks=body.allowed_networks,
            hours=body.allowed_hours,
            clients=body.allowed_clients,
        )
        return json_response(public(account))

    async def unlock_sending(self, request: web.Request) -> web.Response:
        account = await self.lifecycle.unlock_sending(_admin(request), request.match_info["address"])
        return json_response(public(account))


def make_app(lifecycle: Lifecycle) -> web.Application:
    api = AdminApi(lifecycle)
    app = web.Application(middlewares=[problems], client_max_size=64 * 1024)
    app.router.add_get("/healthz", api.healthz)
    app.router.add_get("/readyz", api.readyz)
    app.router.add_post("/domains", api.add_domain)
    app.router.add_get("/domains", api.list_domains)
    app.router.add_post("/units", api.add_unit)
    app.router.add_get("/units", api.list_units)
    app.router.add_post("/accounts", api.create_account)
    app.router.add_get("/accounts/{address}", api.show_account)
    app.router.add_patch("/accounts/{address}/restrictions", api.restrict_account)
    app.router.add_post("/accounts/{address}/unlock-sending", api.unlock_sending)
    return app
