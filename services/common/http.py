"""HTTP answers every govmail API shares: UTF-8 JSON, and every error as problem JSON (RFC 9457)."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from aiohttp import web

PROBLEM_TYPE = "urn:govmail:problem:"
PROBLEM_JSON = "application/problem+json"


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=dumps(data), content_type="application/json", charset="utf-8",
                        headers=headers)


def problem(status: int, slug: str, title: str, detail: str, **extensions: Any) -> web.Response:
    body = {"type": PROBLEM_TYPE + slug, "title": title, "status": status, "detail": detail, **extensions}
    return web.Response(status=status, text=dumps(body), content_type=PROBLEM_JSON, charset="utf-8")


def http_error(request: web.Request, exc: web.HTTPException) -> web.Response:
    """aiohttp's own refusals (404 route, 405 method, …) in the same problem form as ours."""
    phrase = HTTPStatus(exc.status).phrase
    return problem(exc.status, phrase.lower().replace(" ", "-"), phrase, f"{request.method} {request.path}: {phrase}")
