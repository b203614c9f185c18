"""The delivery HTTP API the webmail and `govmail mail` use: delivery status, recall, quarantine list and release.

Only the platform's own parts may call it (the webmail, `govmail mail` on the platform's machine): they
prove it with the internal token (services/common/internal_auth.py) and name the acting account in the
`X-Govmail-User` header (percent-encoded UTF-8) or the `as` query parameter; every error is problem+json.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from typing import Any

import redis.exceptions
from aiohttp import web

from services.common import internal_auth
from services.common import logging as log
from services.common.http import http_error, json_response, problem
from services.delivery.actions import Actions, Refused

USER_HEADER = "X-Govmail-User"
logger = log.get(__name__)


@web.middleware
async def problems(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except Refused as exc:
        return problem(exc.status, exc.slug, exc.title, str(exc))
    except web.HTTPException as exc:
        return http_error(request, exc)
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        return problem(503, "store-unavailable", "Try again later", f"the status store did not answer: {exc}")
    except Exception as exc:  # a bug: still a precise answer, and the log has the trace
        logger.exception("api_error", path=request.path)
        return problem(500, "internal-error", "Internal error", f"{type(exc).__name__} while serving {request.path}")


async def actor_of(request: web.Request) -> str:
    actor = urllib.parse.unquote(request.headers.get(USER_HEADER, "")) or request.query.get("as", "")
    if not actor and request.can_read_body:
        try:
            actor = str((await request.json()).get("as", ""))
        except (ValueError, AttributeError):
            raise Refused(400, "bad-body", "Bad body", "the body must be a JSON object") from None
    if "@" not in actor:
        raise Refused(401, "no-actor", "Who is asking?",
                      f"name the acting account in the {USER_HEADER} header or the 'as' parameter")
    return actor


def internal_only(token: str) -> Any:
    @web.middleware
    async def check(request: web.Request, handler: Any) -> web.StreamResponse:
        # Whoever reaches the port could otherwise act as any user by naming them in X-Govmail-User.
        if request.path != "/healthz" and not internal_auth.is_internal(request.headers, token):
            return problem(401, "internal-only", "Not a part of the platform",
                           "the delivery API answers the webmail and `govmail mail` only (internal token missing "
                           "or wrong)")
        return await handler(request)

    return check


def make_api(actions: Actions, token: str) -> web.Application:
    app = web.Application(middlewares=[internal_only(token), problems])

    async def healthz(request: web.Request) -> web.Response:
        return json_response({"status": "ok", "service": "delivery"})

    async def sent(request: web.Request) -> web.Response:
        return json_response({"messages": await actions.sent_by(await actor_of(request))})

    async def status(request: web.Request) -> web.Response:
        return json_response(await actions.sent_message(request.match_info["message_id"], await actor_of(request)))

    async def recall(request: web.Request) -> web.Response:
        lines = await actions.recall(request.match_info["message_id"], await actor_of(request))
        return json_response({"message_id": request.match_info["message_id"],
                              "recipients": [dataclasses.asdict(line) for line in lines]})

    async def quarantined(request: web.Request) -> web.Response:
        return json_response({"held": await actions.quarantined(request.match_info["mailbox"],
                                                                await actor_of(request))})

    async def release(request: web.Request) -> web.Response:
        done = await actions.release(request.match_info["mailbox"], request.match_info["key"],
                                     await actor_of(request))
        return json_response(done)

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/messages", sent)
    app.router.add_get("/messages/{message_id}/status", status)
    app.router.add_post("/messages/{message_id}/recall", recall)
    app.router.add_get("/quarantine/{mailbox}", quarantined)
    app.router.add_post("/quarantine/{mailbox}/{key}/release", release)
    return app

