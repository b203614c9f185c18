"""Corpus-driven: each sample of samples_auth/, with its SMTP envelope and DNS records, raises exactly its AUTH_/PHISHING_ symbols and action."""

from __future__ import annotations

import tomllib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from services.scanner import config
from services.scanner.checks import CHECKS
from services.scanner.pipeline import Pipeline
from tests.dnsserver import LocalDNS
from tests.scanner.sender_auth_setup import SigningKey, envelope, scan_context

SAMPLES = Path(__file__).with_name("samples_auth")
EXPECTED = tomllib.loads((SAMPLES / "expected.toml").read_text(encoding="utf-8"))
PROVINCE = EXPECTED["province"]
CASES = EXPECTED["samples"]
# The symbols of the checks under test; others (spam heuristics) may come and go with their checks.
PREFIXES = ("AUTH_", "PHISHING_")


@pytest.fixture(scope="module")
def signing_key() -> SigningKey:
    return SigningKey()


@pytest.fixture(scope="module")
def local_dns() -> Iterator[LocalDNS]:
    """One DNS server for the module (each start and stop costs a second); each case replaces its own names."""
    server = LocalDNS()
    yield server
    server.close()


@pytest.fixture
async def pipeline(local_dns, infra_parts, redis_client, tmp_path: Path) -> AsyncIterator[Pipeline]:
    list_path = tmp_path / "phishing.list"
    async with scan_context(local_dns.resolver_address, infra_parts.redis_url, list_path, PROVINCE["domains"]) as ctx:
        ctx.phishing.add(PROVINCE["phishing_list"])
        yield Pipeline(config.load())


def prepare(name: str, local_dns, key: SigningKey) -> bytes:
    """The sample as the MX received it: DNS records served, DKIM-signed at run time when the case asks."""
    case = CASES[name]
    for record_name, _, _ in case["dns"]:
        local_dns.remove(record_name)
    for record_name, rdtype, value in case["dns"]:
        local_dns.add(record_name, rdtype, value)
    raw = (SAMPLES / name).read_bytes()
    if "dkim" in case:
        selector, domain = case["dkim"]["selector"], case["dkim"]["domain"]
        local_dns.remove(f"{selector}._domainkey.{domain}")
        key.publish(local_dns, selector, domain)
        raw = key.sign(raw, selector, domain)
        if case["dkim"].get("tamper"):
            raw = raw.replace(b"\n\n", b"\n\nP.S. S\xe1\xbb\x91 t\xc3\xa0i kho\xe1\xba\xa3n m\xe1\xbb\x9bi: 0123456789\n", 1)
    return raw


def test_every_sample_has_an_expectation() -> None:
    assert sorted(p.name for p in SAMPLES.glob("*.eml")) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
async def test_sample_raises_its_symbols(pipeline: Pipeline, local_dns, signing_key: SigningKey, name: str) -> None:
    case = CASES[name]
    raw = prepare(name, local_dns, signing_key)
    verdict = await pipeline.scan(raw, envelope(**case["envelope"], size=len(raw)))
    assert sorted(s.name for s in verdict.symbols if s.name.startswith(PREFIXES)) == sorted(case["symbols"]), \
        [(s.name, s.options) for s in verdict.symbols]
    assert verdict.action == case["action"], [(s.name, s.score) for s in verdict.symbols]
    assert not [s for s in verdict.symbols if s.name.startswith("CHECK_")]
    assert set(verdict.check_ms) == {c.name for c in CHECKS}


def options(verdict, name: str) -> list[str]:
    return next(s.options for s in verdict.symbols if s.name == name)


async def scan(pipeline: Pipeline, local_dns, key: SigningKey, name: str):
    raw = prepare(name, local_dns, key)
    return await pipeline.scan(raw, envelope(**CASES[name]["envelope"], size=len(raw)))


async def test_listed_url_is_named_for_the_webmail(pipeline: Pipeline, local_dns, signing_key: SigningKey) -> None:
    verdict = await scan(pipeline, local_dns, signing_key, "phishing-listed.eml")
    assert options(verdict, "PHISHING_URL_LISTED") == [
        "http://dangnhap-thue.example.com/xac-thuc/../xac-thuc/index.php?id=7731 listed as dangnhap-thue.example.com/xac-thuc/",
        "http://DangNhap-Thue.example.com/xac-thuc/index.php?id=7731 listed as dangnhap-thue.example.com/xac-thuc/",
    ]


async def test_mismatched_link_is_named_with_what_it_shows(pipeline: Pipeline, local_dns, signing_key) -> None:
    verdict = await scan(pipeline, local_dns, signing_key, "link-mismatch.eml")
    assert options(verdict, "PHISHING_LINK_MISMATCH") == [
        "http://dichvucong-gov.example.net/dang-nhap shown as dichvucong.gov.vn"]


async def test_homograph_names_the_domain_it_imitates(pipeline: Pipeline, local_dns, signing_key) -> None:
    verdict = await scan(pipeline, local_dns, signing_key, "homograph.eml")
    assert options(verdict, "PHISHING_HOMOGRAPH") == [
        "hanhchinh@xn--tengiang-thh.gov.vn imitates tiengiang.gov.vn (homograph)",
        "http://xn--tienging-sx0d.gov.vn/danh-ba imitates tiengiang.gov.vn (homograph)",
    ]


async def test_forged_local_domain_says_why(pipeline: Pipeline, local_dns, signing_key) -> None:
    verdict = await scan(pipeline, local_dns, signing_key, "forged-local.eml")
    assert options(verdict, "AUTH_LOCAL_DOMAIN_FORGED") == [
        "tiengiang.gov.vn", "from 203.0.113.66 through the MX, SPF fail, DKIM none"]
    assert options(verdict, "AUTH_DMARC_QUARANTINE")[0] == "tiengiang.gov.vn"


async def test_dkim_pass_names_the_signing_domain(pipeline: Pipeline, local_dns, signing_key) -> None:
    verdict = await scan(pipeline, local_dns, signing_key, "dkim-pass.eml")
    assert options(verdict, "AUTH_DKIM_PASS") == ["hezuo.example.cn", "s=s2026: signature verified"]
    assert options(verdict, "AUTH_DMARC_PASS") == ["hezuo.example.cn", "DKIM pass for d=hezuo.example.cn, aligned"]


async def test_dmarc_subdomain_policy_applies_to_a_subdomain(pipeline: Pipeline, local_dns, signing_key) -> None:
    verdict = await scan(pipeline, local_dns, signing_key, "dmarc-reject.eml")
    assert options(verdict, "AUTH_DMARC_REJECT") == [
        "nganhang.example.vn", "no aligned SPF or DKIM pass; policy of example.vn: sp=reject"]
