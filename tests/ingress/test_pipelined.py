"""The pipelined Redis connection of ingress: replies reach the right callers, errors are redis-py's, it reconnects."""

from __future__ import annotations

import asyncio

import pytest
import redis
import redis.exceptions

from services.ingress.pipelined import PipelinedRedis, _Incomplete, parse
from services.ingress.ratelimit import _HIT, Script
from services.platform import infra

NAMES = ["Nguyễn Văn Anh", "Đặng Thị Ưng", "张伟", "李娜", "Lê Minh Hiếu"]


async def test_concurrent_callers_each_get_their_own_reply(infra_parts, redis_client: redis.Redis) -> None:
    for i in range(200):
        redis_client.set(f"gm:test:name:{i}", f"{NAMES[i % len(NAMES)]} {i}")
    redis_client.hset("gm:test:account", mapping={"name": "Trần Bình", "unit": "Sở Nội vụ — 内务厅"})
    client = PipelinedRedis.from_url(infra_parts.redis_url)
    try:
        replies = await asyncio.gather(*(client.call("GET", f"gm:test:name:{i}") for i in range(200)))
        assert replies == [f"{NAMES[i % len(NAMES)]} {i}" for i in range(200)]
        found, missing, count, members = await client.calls([
            ("HGETALL", "gm:test:account"), ("GET", "gm:test:none"), ("INCR", "gm:test:count"),
            ("SMEMBERS", "gm:test:empty")])
        assert dict(zip(found[::2], found[1::2], strict=True)) == {"name": "Trần Bình", "unit": "Sở Nội vụ — 内务厅"}
        assert (missing, count, members) == (None, 1, [])
        wrong, after = await client.calls([("INCR", "gm:test:account"), ("GET", "gm:test:name:7")])
        assert isinstance(wrong, redis.exceptions.ResponseError) and "WRONGTYPE" in str(wrong)
        assert after == f"{NAMES[2]} 7"
        with pytest.raises(redis.exceptions.ResponseError):
            await client.call("INCR", "gm:test:account")
    finally:
        await client.close()


async def test_a_lost_connection_fails_its_callers_as_connection_errors_and_is_opened_again(
        infra_parts, redis_client: redis.Redis) -> None:
    client = PipelinedRedis.from_url(infra_parts.redis_url)
    try:
        own_id = await client.call("CLIENT", "ID")
        assert redis_client.client_kill_filter(_id=own_id) == 1
        outcomes = []
        for _ in range(3):
            try:
                outcomes.append(await client.call("PING"))
            except redis.exceptions.ConnectionError:
                outcomes.append("lost")
        # At most the first call after the kill can find the connection gone; then a new one is used.
        assert outcomes in (["lost", "PONG", "PONG"], ["PONG", "PONG", "PONG"])
        assert await client.call("CLIENT", "ID") != own_id
    finally:
        await client.close()


async def test_redis_down_is_a_connection_error() -> None:
    client = PipelinedRedis.from_url(f"redis://127.0.0.1:{infra.free_port()}/0")
    with pytest.raises(redis.exceptions.ConnectionError):
        await client.call("PING")


async def test_scripts_are_loaded_again_after_redis_forgot_them(infra_parts, redis_client: redis.Redis) -> None:
    client = PipelinedRedis.from_url(infra_parts.redis_url)
    hit = Script(client, _HIT)
    try:
        args: list[float | str] = [1000.0, "ticket-1", 2, 60.0]
        assert await hit(keys=["gm:test:window"], args=args) == 0
        redis_client.script_flush()
        assert await hit(keys=["gm:test:window"], args=[1001.0, "ticket-2", 2, 60.0]) == 0
        assert await hit(keys=["gm:test:window"], args=[1002.0, "ticket-3", 2, 60.0]) == 1  # the window is full
        assert redis_client.zcard("gm:test:window") == 2
    finally:
        await client.close()


def test_a_reply_cut_anywhere_waits_for_the_rest() -> None:
    name, chinese = "Nguyễn Văn".encode(), "张伟".encode()
    whole = (b"*5\r\n$%d\r\n%s\r\n$-1\r\n:42\r\n*2\r\n$%d\r\n%s\r\n+OK\r\n-ERR nope\r\n"
             % (len(name), name, len(chinese), chinese))
    reply, end = parse(whole, 0)
    assert end == len(whole)
    assert reply[:4] == ["Nguyễn Văn", None, 42, ["张伟", "OK"]]
    assert isinstance(reply[4], redis.exceptions.ResponseError) and str(reply[4]) == "ERR nope"
    assert parse(whole + b"$0\r\n\r\n", end) == ("", end + 6)
    for cut in range(len(whole)):
        with pytest.raises(_Incomplete):
            parse(whole[:cut], 0)
