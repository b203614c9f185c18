"""The phishing checks in the pipeline, with the province's domains in Redis and its list file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.common.directory import RedisDirectory
from services.platform import infra
from services.scanner import config, context
from services.scanner.pipeline import Pipeline
from tests.scanner.sender_auth_setup import scan_context, simple_mail

PROVINCE = ["tiengiang.gov.vn", "tiengiang.vn"]


@pytest.fixture
async def ctx(infra_parts, redis_client, tmp_path: Path) -> AsyncIterator[context.ScanContext]:
    # No DNS is asked: these messages have no envelope, as when scanned on their own.
    async with scan_context("127.0.0.1:9", infra_parts.redis_url, tmp_path / "phishing.list", PROVINCE) as ctx:
        yield ctx


@pytest.fixture
def pipeline(ctx: context.ScanContext) -> Pipeline:
    return Pipeline(config.load())


def phishing(verdict) -> dict[str, list[str]]:
    return {s.name: s.options for s in verdict.symbols if s.name.startswith(("PHISHING_", "CHECK_"))}


async def test_display_name_showing_an_official_address(pipeline: Pipeline) -> None:
    verdict = await pipeline.scan(simple_mail('"vanthu@tiengiang.gov.vn" <vanthu.tiengiang@mail.example>', "Kính gửi anh chị."))
    assert phishing(verdict) == {"PHISHING_GOV_IMPERSONATION": [
        "vanthu.tiengiang@mail.example shows as 'vanthu@tiengiang.gov.vn' (an official address)"]}


async def test_government_name_from_government_domain_is_fine(pipeline: Pipeline) -> None:
    verdict = await pipeline.scan(simple_mail("=?utf-8?b?VUJORCB04buJbmggQuG6r2MgS+G6oW4=?= <vanthu@backan.gov.vn>",
                                       "Xem https://backan.gov.vn/ và https://hanam.gov.vn/"))
    assert phishing(verdict) == {}


async def test_typo_of_a_province_domain_in_a_link(pipeline: Pipeline) -> None:
    verdict = await pipeline.scan(simple_mail("Hỗ trợ <hotro@mail.example>", "Đăng nhập: https://tiengiamg.vn/login"))
    assert phishing(verdict) == {"PHISHING_LOOKALIKE_DOMAIN": ["https://tiengiamg.vn/login imitates tiengiang.vn (typo)"]}
    assert verdict.action == "accept"  # marked for the webmail's warning, not held


async def test_list_change_applies_without_restart(pipeline: Pipeline, ctx: context.ScanContext) -> None:
    raw = simple_mail("a@mail.example", "Xác nhận tại http://xac-thuc.example/tai-khoan?id=1")
    assert phishing(await pipeline.scan(raw)) == {}
    ctx.phishing.add(["xac-thuc.example/tai-khoan"])  # as `govmail scanner phishing add` does
    verdict = await pipeline.scan(raw)
    assert phishing(verdict) == {"PHISHING_URL_LISTED": [
        "http://xac-thuc.example/tai-khoan?id=1 listed as xac-thuc.example/tai-khoan"]}
    assert verdict.action == "quarantine"


async def test_redis_down_before_any_read_quarantines(infra_parts, tmp_path: Path) -> None:
    dead = f"redis://127.0.0.1:{infra.free_port()}/0"
    async with scan_context("127.0.0.1:9", dead, tmp_path / "phishing.list", []):
        verdict = await Pipeline(config.load()).scan(simple_mail("UBND tỉnh <a@mail.example>", "Kính gửi."))
    assert {"CHECK_ERROR_HOMOGRAPH", "CHECK_ERROR_IMPERSONATION"} <= set(phishing(verdict))
    assert verdict.action == "quarantine"


async def test_redis_down_later_keeps_the_last_domains_read(ctx: context.ScanContext, infra_parts) -> None:
    ctx.cache_seconds = 0
    assert await ctx.local_domains() == frozenset(PROVINCE)
    alive = ctx.directory
    ctx.directory = RedisDirectory.from_url(f"redis://127.0.0.1:{infra.free_port()}/0")
    try:
        assert await ctx.local_domains() == frozenset(PROVINCE)
    finally:
        await ctx.directory.close()
        ctx.directory = alive
