"""Client of delivery's HTTP API for per-recipient status and recall; None means "not available"."""

from __future__ import annotations

from urllib.parse import quote

import aiohttp

from services.common import internal_auth
from services.common import logging as log
from services.delivery.api import USER_HEADER

logger = log.get(__name__)


class DeliveryApi:
    """GET {base}/messages/{queue_id}/status and POST {base}/messages/{queue_id}/recall of delivery's API
    (services/delivery/api.py), acting for the signed-in user named in X-Govmail-User. Both answer
    `{"recipients": [...]}`; each entry is given here as {"recipient", "status", "detail"}."""

    def __init__(self, base_url: str, timeout: float, token: str):
        self.base = base_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.token = token

    async def _call(self, method: str, path: str, actor: str) -> list[dict] | None:
        if not self.base:
            return None
        headers = {USER_HEADER: quote(actor, safe="@"), **internal_auth.credentials(self.token)}
        try:
            async with aiohttp.ClientSession(timeout=self.timeout) as http, \
                    http.request(method, self.base + path, headers=headers) as response:
                if response.status >= 400:
                    logger.warning("delivery_api_refused", path=path, status=response.status)
                    return None
                data = await response.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            logger.warning("delivery_api_unavailable", path=path, error=str(exc))
            return None
        recipients = data.get("recipients") if isinstance(data, dict) else None
        if not isinstance(recipients, list):
            return None
        # Status entries name their state "state", recall lines their "outcome".
        return [{"recipient": r.get("recipient", ""), "status": r.get("state") or r.get("outcome") or "",
                 "detail": r.get("detail", "")} for r in recipients if isinstance(r, dict)]

    async def status(self, queue_id: str, actor: str) -> list[dict] | None:
        return await self._call("GET", f"/messages/{quote(queue_id, safe='')}/status", actor)

    async def recall(self, queue_id: str, actor: str) -> list[dict] | None:
        return await self._call("POST", f"/messages/{quote(queue_id, safe='')}/recall", actor)
