"""The analytics HTTP API: health, readiness and statistics as JSON, errors as problem JSON (RFC 9457)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from services.analytics import catalog, readonly_sql, stats
from services.analytics.ingest import Ingestor
from services.analytics.period import BadParameter
from services.analytics.reports import NoRecipients
from services.analytics.warehouse import Warehouse, WarehouseUnavailable
from services.common import logging as log
from services.common.http import http_error, json_response, problem
from services.common.metrics import REGISTRY

logger = log.get(__name__)

INGESTOR: web.AppKey[Ingestor] = web.AppKey("ingestor", Ingestor)
WAREHOUSE: web.AppKey[Warehouse] = web.AppKey("warehouse", Warehouse)


@dataclass
class Schema:
    """Whether the migrations have been applied; statistics wait for it."""

    migrated: bool = False


SCHEMA: web.AppKey[Schema] = web.AppKey("schema", Schema)
REPORTER: web.AppKey[Any] = web.AppKey("reporter", object)


@web.middleware
async def problems(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return http_error(request, exc)
    except BadParameter as exc:
        return problem(400, "invalid-parameter", "Invalid parameter", str(exc), parameter=exc.parameter)
    except (WarehouseUnavailable, OperationalError) as exc:
        return problem(503, "clickhouse-unavailable", "ClickHouse unavailable", str(exc))
    except Exception as exc:
        logger.exception("api_error", path=request.path)
        return problem(500, "internal-error", "Internal error", f"{type(exc).__name__}: {exc}")


async def healthz(request: web.Request) -> web.Response:
    ingestor = request.app[INGESTOR]
    return json_response({
        "status": "ok",
        "service": "analytics",
        "records": ingestor.records,
        "rows_inserted": ingestor.rows_inserted,
        "batches": ingestor.batches,
        "dead_lettered": ingestor.runner.dead_lettered,
        "insert_failures": ingestor.insert_failures,
        "duplicates_dropped": ingestor.duplicates,
        "consumed": ingestor.consumed,
    })


def is_ready(app: web.Application) -> bool:
    return app[SCHEMA].migrated and app[INGESTOR].assigned.is_set()


async def readyz(request: web.Request) -> web.Response:
    if not is_ready(request.app):
        return problem(503, "not-ready", "Not ready", "migrations not applied or no partitions assigned yet")
    return json_response({"status": "ready", "service": "analytics"})


def _require_migrated(request: web.Request) -> Warehouse:
    if not request.app[SCHEMA].migrated:
        raise WarehouseUnavailable("the analytics schema is not migrated yet")
    return request.app[WAREHOUSE]


async def volume(request: web.Request) -> web.Response:
    by = request.query.get("by", "unit")
    if by not in stats.VOLUME_BY:
        return problem(400, "invalid-parameter", "Invalid parameter",
                       f"by must be one of {', '.join(stats.VOLUME_BY)}, not {by!r}", parameter="by")
    rows = await _require_migrated(request).call(stats.volume, by)
    return json_response({"by": by, "counting": "recipients", "rows": rows})


async def dead_letters(request: web.Request) -> web.Response:
    source_topic = request.query.get("source_topic") or None
    raw_limit = request.query.get("limit", "100")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 10000:
        return problem(400, "invalid-parameter", "Invalid parameter",
                       f"limit must be a whole number from 1 to 10000, not {raw_limit!r}", parameter="limit")
    rows = await _require_migrated(request).call(stats.dead_letters, source_topic, int(raw_limit))
    return json_response({"rows": rows})


async def statistic(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in catalog.STATISTICS:
        raise web.HTTPNotFound(text=f"no statistic {name!r}; known: {', '.join(catalog.STATISTICS)}")
    document = await _require_migrated(request).call(catalog.run, name, dict(request.query))
    return json_response(document)


async def statistics_index(request: web.Request) -> web.Response:
    return json_response({"statistics": [{"name": name, "help": s.help, "by": list(s.by)}
                                         for name, s in catalog.STATISTICS.items()]})


MAX_SQL_BYTES = 64 * 1024


async def sql(request: web.Request) -> web.Response:
    """POST a query as text/plain (or ?q=…): one SELECT/WITH statement, run read-only."""
    text = request.query.get("q") if request.method == "GET" else await request.text()
    if not text or len(text.encode("utf-8")) > MAX_SQL_BYTES:
        return problem(400, "invalid-parameter", "Invalid parameter",
                       f"send one SELECT query of at most {MAX_SQL_BYTES} bytes", parameter="q")
    try:
        readonly_sql.check(text)
    except readonly_sql.RefusedQuery as exc:
        return problem(403, "query-refused", "Query refused", str(exc))
    try:
        result = await _require_migrated(request).call(readonly_sql.run, text)
    except DatabaseError as exc:
        return problem(400, "query-failed", "Query failed", str(exc)[:4000])
    return json_response(result)


def _recipients(request: web.Request) -> list[str] | None:
    return [r for r in request.query.get("to", "").split(",") if r.strip()] or None


def _reporter(request: web.Request) -> Any:
    _require_migrated(request)
    reporter = request.app.get(REPORTER)
    if reporter is None:
        raise WarehouseUnavailable("the report mailer is not started yet")
    return reporter


async def health_report(request: web.Request) -> web.Response:
    """POST: build the health self-check report now and mail it (`to` adds recipients)."""
    try:
        sent = await _reporter(request).send_health(recipients=_recipients(request))
    except NoRecipients as exc:
        return problem(409, "no-recipients", "No recipients", str(exc))
    return json_response(sent, status=202)


async def periodic_report(request: web.Request) -> web.Response:
    """POST ?domain=&unit=&kind=h1|h2|year&year=: build the unit's periodic report (PDF) and mail it."""
    query = request.query
    for name in ("domain", "unit", "year"):
        if not query.get(name):
            return problem(400, "invalid-parameter", "Invalid parameter", f"{name} is required", parameter=name)
    if not query["year"].isdigit():
        return problem(400, "invalid-parameter", "Invalid parameter", "year must be a year, e.g. 2026", parameter="year")
    try:
        sent = await _reporter(request).send_periodic(query["domain"], query["unit"], query.get("kind", "year"),
                                                      int(query["year"]), _recipients(request))
    except NoRecipients as exc:
        return problem(409, "no-recipients", "No recipients", str(exc))
    return json_response(sent, status=202)


def build_api(ingestor: Ingestor, warehouse: Warehouse, schema: Schema) -> web.Application:
    app = web.Application(middlewares=[problems])
    app[INGESTOR] = ingestor
    app[WAREHOUSE] = warehouse
    app[SCHEMA] = schema
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", REGISTRY.handler())
    app.router.add_get("/stats/volume", volume)
    app.router.add_get("/dead-letters", dead_letters)
    app.router.add_get("/stats", statistics_index)
    app.router.add_get("/stats/{name}", statistic)
    app.router.add_get("/sql", sql)
    app.router.add_post("/sql", sql)
    app.router.add_post("/reports/health", health_report)
    app.router.add_post("/reports/periodic", periodic_report)
    return app
