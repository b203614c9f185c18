"""Client of delivery's HTTP API for per-recipient status and recall; None means "not available"."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import aiohttp

from services.common import logging as log

logger = log.get(__name__)


class DeliveryApi:
    """GET {base}/messages/{queue_id}/status and POST {base}/messages/{queue_id}/recall, both answering JSON
    `{"recipients": [{"recipient": ..., "status": ..., "detail": ...}]}`. The lead wires the URL
    (WEBMAIL_DELIVERY_API) once delivery serves it; until then every call answers None."""

    def __init__(self, base_url: str, timeout: float):
        self.base = base_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> list[dict] | None:
        if not self.base:
            return None
        try:
            async with aiohttp.ClientSession(timeout=self.timeout) as http, \
                    http.request(method, self.base + path, json=body) as response:
                if response.status >= 400:
                    logger.warning("delivery_api_refused", path=path, status=response.status)
                    return None
                data = await response.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            logger.warning("delivery_api_unavailable", path=path, error=str(exc))
            return None
        recipients = data.get("recipients") if isinstance(data, dict) else None
        return recipients if isinstance(recipients, list) else None

    async def status(self, queue_id: str) -> list[dict] | None:
        return await self._call("GET", f"/messages/{quote(queue_id, safe='')}/status")

    async def recall(self, queue_id: str, actor: str) -> list[dict] | None:
        return await self._call("POST", f"/messages/{quote(queue_id, safe='')}/recall", {"actor": actor})
