"""The webmail's small parts on real Redis and real HTTP: the 14-day records, the IP library, the delivery API client."""

from __future__ import annotations

import json
import time

import redis.asyncio as aioredis
from aiohttp import web

from services.platform import infra
from services.webmail.delivery_api import DeliveryApi
from services.webmail.iplib import IpLibrary
from services.webmail.records import Records, logins_key


async def test_records_keep_only_the_last_14_days(infra_parts, redis_client):
    client = aioredis.from_url(infra_parts.redis_url, decode_responses=True)
    records = Records(client, days=14)
    old = {"at": time.time() - 15 * 86400, "ip": "10.0.0.1", "outcome": "success", "place": "cũ", "reason": ""}
    redis_client.rpush(logins_key("hieu@tiengiang.gov.vn"), json.dumps(old))
    await records.login("hieu@tiengiang.gov.vn", "10.0.0.2", "failure", "Chợ Gạo", "bad_password")
    assert [e["place"] for e in await records.logins("hieu@tiengiang.gov.vn")] == ["Chợ Gạo"]
    assert redis_client.llen(logins_key("hieu@tiengiang.gov.vn")) == 1  # trimmed, not only hidden
    assert 0 < redis_client.ttl(logins_key("hieu@tiengiang.gov.vn")) <= 14 * 86400
    await client.aclose()


def test_iplib_longest_prefix_wins_and_ipv4_mapped_addresses_match(tmp_path):
    library = IpLibrary(tmp_path / "iplib.txt")
    library.add("10.0.0.0/8", "Tỉnh Tiền Giang")
    library.add("10.20.0.0/16", "UBND huyện Chợ Gạo")
    assert library.place("10.20.3.4") == "UBND huyện Chợ Gạo"
    assert library.place("::ffff:10.9.9.9") == "Tỉnh Tiền Giang"
    assert library.place("192.0.2.1") == ""
    library.remove("10.20.0.0/16")
    assert library.place("10.20.3.4") == "Tỉnh Tiền Giang"  # the file is re-read after a change


async def test_delivery_api_client_reads_status_and_recall_and_says_when_it_is_not_there():
    calls = []

    async def status(request: web.Request) -> web.Response:
        calls.append(("status", request.match_info["queue_id"], request.headers["X-Govmail-User"],
                      request.headers["Authorization"]))
        return web.json_response({"recipients": [{"recipient": "ung@tiengiang.gov.vn", "state": "delivered",
                                                  "detail": "", "remote": False}]})

    async def recall(request: web.Request) -> web.Response:
        calls.append(("recall", request.match_info["queue_id"], request.headers["X-Govmail-User"],
                      request.headers["Authorization"]))
        return web.json_response({"recipients": [{"recipient": "ung@tiengiang.gov.vn", "outcome": "read"}]})

    app = web.Application()
    app.add_routes([web.get("/messages/{queue_id}/status", status), web.post("/messages/{queue_id}/recall", recall)])
    runner = web.AppRunner(app)
    await runner.setup()
    port = infra.free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        api = DeliveryApi(f"http://127.0.0.1:{port}", timeout=3, token="bi-mat-noi-bo")
        assert await api.status("q1", "hieu@tiengiang.gov.vn") == [
            {"recipient": "ung@tiengiang.gov.vn", "status": "delivered", "detail": ""}]
        assert (await api.recall("q1", "hieu@tiengiang.gov.vn"))[0]["status"] == "read"
        assert calls == [("status", "q1", "hieu@tiengiang.gov.vn", "Bearer bi-mat-noi-bo"),
                         ("recall", "q1", "hieu@tiengiang.gov.vn", "Bearer bi-mat-noi-bo")]
        assert await api.status("missing/../x", "hieu@tiengiang.gov.vn") is not None  # quoted into one segment
    finally:
        await runner.cleanup()
    assert await DeliveryApi(f"http://127.0.0.1:{port}", timeout=1, token="t").status("q1", "x@y") is None  # nobody answers
    assert await DeliveryApi("", timeout=1, token="t").recall("q1", "x") is None  # not configured
