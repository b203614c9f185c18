"""The analytics HTTP API: health, readiness and statistics as JSON, errors as problem JSON (RFC 9457)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from clickhouse_connect.driver.exceptions import OperationalError

from services.analytics import stats
from services.analytics.ingest import Ingestor
from services.analytics.warehouse import Warehouse, WarehouseUnavailable
from services.common import logging as log
from services.common.http import http_error, json_response, problem

logger = log.get(__name__)

INGESTOR: web.AppKey[Ingestor] = web.AppKey("ingestor", Ingestor)
WAREHOUSE: web.AppKey[Warehouse] = web.AppKey("warehouse", Warehouse)


@dataclass
class Schema:
    """Whether the migrations have been applied; statistics wait for it."""

    migrated: bool = False


SCHEMA: web.AppKey[Schema] = web.AppKey("schema", Schema)


@web.middleware
async def problems(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return http_error(request, exc)
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


def build_api(ingestor: Ingestor, warehouse: Warehouse, schema: Schema) -> web.Application:
    app = web.Application(middlewares=[problems])
    app[INGESTOR] = ingestor
    app[WAREHOUSE] = warehouse
    app[SCHEMA] = schema
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/stats/volume", volume)
    app.router.add_get("/dead-letters", dead_letters)
    return app
