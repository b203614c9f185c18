"""The sender_auth check in the pipeline: DNS trouble, trusted relays, province domains, and DMARC's domain rules."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.scanner import config
from services.scanner.auth import dkim, dmarc, spf
from services.scanner.pipeline import Pipeline
from tests.dnsserver import LocalDNS
from tests.scanner.scanner_mail import official_mail
from tests.scanner.sender_auth_setup import envelope, scan_context

PROVINCE = ["tiengiang.gov.vn"]


@pytest.fixture(scope="module")
def local_dns() -> Iterator[LocalDNS]:
    server = LocalDNS()
    yield server
    server.close()


def mail_from(address: str, name: str = "Lê Thị Lan") -> bytes:
    m = official_mail("Lịch họp giao ban tuần — 周例会安排")
    del m["From"]
    m["From"] = f"{name} <{address}>"
    return m.as_bytes()


def auth_symbols(verdict) -> dict[str, list[str]]:
    return {s.name: s.options for s in verdict.symbols if s.name.startswith("AUTH_") or s.name.startswith("CHECK_")}


async def test_dns_that_never_answers_gives_temperror_within_the_budget(infra_parts, redis_client, tmp_path: Path) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    silent = f"127.0.0.1:{sock.getsockname()[1]}"  # takes queries, never answers
    try:
        # Each query may take 30 s, far more than the 1 s the check has: the check must still
        # finish in time with TEMPERROR, not be cut off as CHECK_TIMEOUT.
        async with scan_context(silent, infra_parts.redis_url, tmp_path / "list", PROVINCE, dns_timeout=30.0):
            verdict = await Pipeline(config.load(), budget=1.0).scan(
                mail_from("lanlt@tiengiang.gov.vn"), envelope("203.0.113.7", "mx.example.net", "lanlt@tiengiang.gov.vn"))
    finally:
        sock.close()
    found = auth_symbols(verdict)
    assert set(found) == {"AUTH_SPF_TEMPERROR", "AUTH_DKIM_NONE", "AUTH_DMARC_TEMPERROR", "AUTH_LOCAL_DOMAIN_UNVERIFIED"}
    assert found["AUTH_LOCAL_DOMAIN_UNVERIFIED"][0] == "tiengiang.gov.vn"
    assert verdict.action == "quarantine"


async def test_trusted_relays_are_not_checked(local_dns: LocalDNS, infra_parts, redis_client, tmp_path: Path) -> None:
    async with scan_context(local_dns.resolver_address, infra_parts.redis_url, tmp_path / "list", PROVINCE):
        verdict = await Pipeline(config.load()).scan(
            mail_from("lanlt@tiengiang.gov.vn"), envelope("127.0.0.1", "localhost", "lanlt@tiengiang.gov.vn"))
    assert auth_symbols(verdict) == {}


async def test_province_domain_proven_by_spf_is_not_forged(local_dns: LocalDNS, infra_parts, redis_client,
                                                           tmp_path: Path) -> None:
    local_dns.remove("tiengiang.gov.vn")
    local_dns.add("tiengiang.gov.vn", "TXT", '"v=spf1 ip4:192.0.2.0/24 -all"')
    async with scan_context(local_dns.resolver_address, infra_parts.redis_url, tmp_path / "list", PROVINCE):
        pipeline = Pipeline(config.load())
        # e.g. a relay of the province outside SCANNER_TRUSTED_NETWORKS, listed in its SPF record
        proven = await pipeline.scan(mail_from("vanthu@tiengiang.gov.vn"),
                                     envelope("192.0.2.8", "relay.tiengiang.gov.vn", "vanthu@tiengiang.gov.vn"))
        # the same claim in the From header only, behind an outsider's own MAIL FROM
        forged = await pipeline.scan(mail_from("vanthu@tiengiang.gov.vn"),
                                     envelope("198.51.100.3", "mx.example.net", "bounce@example.net"))
    assert set(auth_symbols(proven)) == {"AUTH_SPF_PASS", "AUTH_DKIM_NONE", "AUTH_DMARC_NONE"}
    assert proven.action == "accept"
    assert auth_symbols(forged)["AUTH_LOCAL_DOMAIN_FORGED"] == [
        "tiengiang.gov.vn", "from 198.51.100.3 through the MX, SPF none, DKIM none"]
    assert forged.action == "reject"


async def test_mail_scanned_without_envelope_is_not_authenticated(infra_parts, redis_client, local_dns,
                                                                  tmp_path: Path) -> None:
    async with scan_context(local_dns.resolver_address, infra_parts.redis_url, tmp_path / "list", PROVINCE):
        verdict = await Pipeline(config.load()).scan(mail_from("lanlt@tiengiang.gov.vn"))
    assert auth_symbols(verdict) == {}


@pytest.mark.parametrize(("domain", "organisational"), [
    ("tiengiang.gov.vn", "tiengiang.gov.vn"),
    ("so-tttt.tiengiang.gov.vn", "tiengiang.gov.vn"),
    ("mail.gz.gov.cn", "gz.gov.cn"),
    ("a.b.example.com.cn", "example.com.cn"),
    ("news.example.co.uk", "example.co.uk"),
    ("gov.vn", "gov.vn"),  # a public suffix is its own
])
def test_organisational_domain_comes_from_the_bundled_public_suffix_list(domain: str, organisational: str) -> None:
    assert dmarc.organizational_domain(domain) == organisational


def test_alignment_relaxed_and_strict() -> None:
    assert dmarc.aligned("mail.tiengiang.gov.vn", "tiengiang.gov.vn", strict=False)
    assert not dmarc.aligned("mail.tiengiang.gov.vn", "tiengiang.gov.vn", strict=True)
    assert dmarc.aligned("TIENGIANG.gov.vn.", "tiengiang.gov.vn", strict=True)
    assert not dmarc.aligned("tiengiang.gov.vn", "backan.gov.vn", strict=False)


def test_policy_records() -> None:
    policy = dmarc.parse("v=DMARC1; p=quarantine; sp=reject; adkim=s; aspf=r", "example.vn")
    assert (policy.p, policy.sp, policy.adkim_strict, policy.aspf_strict) == ("quarantine", "reject", True, False)
    assert dmarc.parse("v=DMARC1; p=reject", "example.vn").sp == "reject"  # sp defaults to p
    assert dmarc.parse("v=DMARC1; p=bogus; rua=mailto:d@example.vn", "example.vn").p == "none"  # §6.6.3
    assert dmarc.parse("v=DMARC1; p=bogus", "example.vn") is None
    assert dmarc.parse("v=spf1 -all", "example.vn") is None
    assert dmarc.parse("v=DMARC1; p=reject", "example.vn").pct == 100
    assert dmarc.parse("v=DMARC1; p=reject; pct=25", "example.vn").pct == 25
    for bad in ("250", "-5", "mười", ""):
        assert dmarc.parse(f"v=DMARC1; p=reject; pct={bad}", "example.vn").pct == 100


class OneRecord:
    """Lookups that hold one DMARC record (the evaluation asks for nothing else)."""

    def __init__(self, domain: str, record: str):
        self.domain, self.record = domain, record

    async def txt(self, name: str) -> list[str]:
        return [self.record] if name == f"_dmarc.{self.domain}" else []


async def test_pct_applies_the_policy_to_its_share_of_failing_mail_and_one_step_milder_to_the_rest() -> None:
    spf_fail = spf.SpfResult("fail", "example.cn", "not permitted")
    ids = [f"<{i}.congvan@example.cn>" for i in range(2000)]
    for record, strict, milder in (("v=DMARC1; p=reject; pct=20", "reject", "quarantine"),
                                   ("v=DMARC1; p=quarantine; pct=50", "quarantine", "softfail")):
        lookups = OneRecord("example.cn", record)
        results = [(await dmarc.evaluate(lookups, "example.cn", spf_fail, [], key)).result for key in ids]
        share = results.count(strict) / len(ids)
        expected = dmarc.parse(record, "example.cn").pct / 100
        assert abs(share - expected) < 0.04, (record, share)
        assert set(results) == {strict, milder}
        # The same message is always judged the same way.
        again = [(await dmarc.evaluate(lookups, "example.cn", spf_fail, [], key)).result for key in ids[:50]]
        assert again == results[:50]
    lookups = OneRecord("example.cn", "v=DMARC1; p=reject; pct=0")
    outside = await dmarc.evaluate(lookups, "example.cn", spf_fail, [], ids[0])
    assert outside.result == "quarantine" and "pct=0 and this message is outside the sample" in outside.reason
    passing = spf.SpfResult("pass", "example.cn", "permitted")
    assert (await dmarc.evaluate(lookups, "example.cn", passing, [], ids[0])).result == "pass"


async def test_dkim_on_headers_dkimpy_cannot_split() -> None:
    broken = b"From: a@example.vn\n\x00not a header\nSubject: x\n\nN\xe1\xbb\x99i dung\n"
    assert await dkim.verify(broken, None) == [dkim.DkimResult("none", "", "no DKIM-Signature header")]  # type: ignore[arg-type]
    signed = b"DKIM-Signature: v=1; a=rsa-sha256; d=example.vn; s=s1; h=from; bh=AA==; b=AA==\n" + broken
    (result,) = await dkim.verify(signed, None)  # type: ignore[arg-type]
    assert result.result == "permerror"
    assert result.reason.startswith("message unreadable for DKIM")
