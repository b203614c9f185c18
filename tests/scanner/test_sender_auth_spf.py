"""SPF (RFC 7208) mechanism by mechanism, against a real DNS server on loopback."""

from __future__ import annotations

import ipaddress
import math
import socket
import time
from collections.abc import Iterator

import pytest

from services.common.dns import make_resolver
from services.scanner.auth import spf
from services.scanner.auth.lookups import Lookups, TempError
from tests.dnsserver import LocalDNS


@pytest.fixture(scope="module")
def local_dns() -> Iterator[LocalDNS]:
    server = LocalDNS()
    yield server
    server.close()


@pytest.fixture
def silent_dns() -> Iterator[str]:
    """A UDP port that takes queries and never answers: every look-up there times out."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield f"127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


def lookups(address: str, timeout: float = 1.0, deadline: float = math.inf) -> Lookups:
    return Lookups(make_resolver(address, timeout=timeout), deadline, timeout)


async def check(dns: LocalDNS, ip: str, mail_from: str, helo: str = "mail.example.vn") -> spf.SpfResult:
    return await spf.evaluate(lookups(dns.resolver_address), ip, mail_from, helo)


def publish(dns: LocalDNS, records: dict[str, str | list[tuple[str, str]]]) -> None:
    """name -> SPF text (a TXT record), or name -> [(type, value), ...]."""
    for name, value in records.items():
        dns.remove(name)
        for rdtype, text in [("TXT", f'"{value}"')] if isinstance(value, str) else value:
            dns.add(name, rdtype, text)


@pytest.mark.parametrize(("record", "ip", "expected"), [
    ("v=spf1 ip4:192.0.2.0/24 -all", "192.0.2.77", "pass"),
    ("v=spf1 ip4:192.0.2.0/24 -all", "198.51.100.1", "fail"),
    ("v=spf1 ip4:192.0.2.5 ~all", "192.0.2.6", "softfail"),
    ("v=spf1 ip4:192.0.2.5 ?all", "192.0.2.6", "neutral"),
    ("v=spf1 -ip4:192.0.2.5 +all", "192.0.2.5", "fail"),
    ("v=spf1 ip4:192.0.2.5", "192.0.2.6", "neutral"),  # nothing matched, no all: neutral (§4.7)
    ("v=spf1 ip6:2001:db8:1::/48 -all", "2001:db8:1:ff::25", "pass"),
    ("v=spf1 ip6:2001:db8:1::/48 -all", "2001:db8:2::25", "fail"),
    ("v=spf1 ip4:192.0.2.0/24 -all", "::ffff:192.0.2.9", "pass"),  # IPv4-mapped IPv6 is the IPv4 client
    ("V=SPF1 IP4:192.0.2.0/24 -ALL", "192.0.2.1", "pass"),  # names are case-insensitive
])
async def test_ip_mechanisms_and_qualifiers(local_dns: LocalDNS, record: str, ip: str, expected: str) -> None:
    publish(local_dns, {"ip.example.vn": record})
    assert (await check(local_dns, ip, "anh@ip.example.vn")).result == expected


async def test_a_and_mx_with_cidr_lengths(local_dns: LocalDNS) -> None:
    publish(local_dns, {
        "am.example.vn": [("TXT", '"v=spf1 a/28 mx:mail.am.example.vn a:v6.am.example.vn//64 -all"'),
                          ("A", "192.0.2.16")],
        "mail.am.example.vn": [("MX", "10 mx1.am.example.vn."), ("MX", "20 mx2.am.example.vn.")],
        "mx2.am.example.vn": [("A", "198.51.100.50")],
        "v6.am.example.vn": [("AAAA", "2001:db8:a::1")],
    })
    assert (await check(local_dns, "192.0.2.31", "x@am.example.vn")).result == "pass"  # a/28: .16-.31
    assert (await check(local_dns, "192.0.2.32", "x@am.example.vn")).result == "fail"
    assert (await check(local_dns, "198.51.100.50", "x@am.example.vn")).result == "pass"  # second MX host
    assert (await check(local_dns, "2001:db8:a::ffff", "x@am.example.vn")).result == "pass"  # a://64 on AAAA


async def test_include_matches_only_on_pass(local_dns: LocalDNS) -> None:
    publish(local_dns, {
        "inc.example.vn": "v=spf1 include:_a.inc.example.vn include:_b.inc.example.vn -all",
        "_a.inc.example.vn": "v=spf1 ip4:192.0.2.1 -all",  # a fail inside an include is "no match" here
        "_b.inc.example.vn": "v=spf1 ip4:192.0.2.2 -all",
    })
    assert (await check(local_dns, "192.0.2.2", "x@inc.example.vn")).result == "pass"
    result = await check(local_dns, "192.0.2.3", "x@inc.example.vn")
    assert (result.result, result.domain) == ("fail", "inc.example.vn")


async def test_include_of_a_domain_without_spf_is_permerror(local_dns: LocalDNS) -> None:
    publish(local_dns, {"incnone.example.vn": "v=spf1 include:nothing.example.vn -all"})
    result = await check(local_dns, "192.0.2.3", "x@incnone.example.vn")
    assert result.result == "permerror"
    assert "include:nothing.example.vn" in result.reason


async def test_redirect_applies_only_when_nothing_matched(local_dns: LocalDNS) -> None:
    publish(local_dns, {
        "red.example.vn": "v=spf1 ip4:192.0.2.1 redirect=_spf.red.example.vn",
        "_spf.red.example.vn": "v=spf1 ip4:198.51.100.0/24 -all",
        "redall.example.vn": "v=spf1 ?all redirect=_spf.red.example.vn",
        "rednone.example.vn": "v=spf1 redirect=nothing.example.vn",
    })
    assert (await check(local_dns, "198.51.100.9", "x@red.example.vn")).result == "pass"
    assert (await check(local_dns, "203.0.113.9", "x@red.example.vn")).result == "fail"
    assert (await check(local_dns, "203.0.113.9", "x@redall.example.vn")).result == "neutral"  # all wins
    assert (await check(local_dns, "203.0.113.9", "x@rednone.example.vn")).result == "permerror"


async def test_exists_with_macros(local_dns: LocalDNS) -> None:
    publish(local_dns, {
        "ex.example.vn": "v=spf1 exists:%{ir}.%{l1r+}._spf.%{d} -all",
        "9.2.0.192.first._spf.ex.example.vn": [("A", "127.0.0.2")],
    })
    # %{l1r+}: the local part cut at '+', reversed, the last label kept: "first" of "first+tag".
    assert (await check(local_dns, "192.0.2.9", "first+tag@ex.example.vn")).result == "pass"
    assert (await check(local_dns, "192.0.2.10", "first+tag@ex.example.vn")).result == "fail"
    assert (await check(local_dns, "192.0.2.9", "other+tag@ex.example.vn")).result == "fail"


def test_macro_expansion_matches_the_rfc_examples() -> None:
    """RFC 7208 §7.4, sender strong-bad@email.example.com from 192.0.2.3 (and 2001:db8::cb01)."""
    session = spf.Session(ip=ipaddress.ip_address("192.0.2.3"), sender="strong-bad@email.example.com",
                          helo="mx.example.org", dns=None)  # type: ignore[arg-type]
    cases = {
        "%{s}": "strong-bad@email.example.com", "%{o}": "email.example.com", "%{d}": "email.example.com",
        "%{d4}": "email.example.com", "%{d3}": "email.example.com", "%{d2}": "example.com", "%{d1}": "com",
        "%{dr}": "com.example.email", "%{d2r}": "example.email", "%{l}": "strong-bad", "%{l-}": "strong.bad",
        "%{lr}": "strong-bad", "%{lr-}": "bad.strong", "%{l1r-}": "strong",
        "%{ir}.%{v}._spf.%{d2}": "3.2.0.192.in-addr._spf.example.com",
        "%{lr-}.lp._spf.%{d2}": "bad.strong.lp._spf.example.com",
        "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}": "bad.strong.lp.3.2.0.192.in-addr._spf.example.com",
        "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}": "3.2.0.192.in-addr.strong.lp._spf.example.com",
        "%{d2}.trusted-domains.example.net": "example.com.trusted-domains.example.net",
    }
    for spec, expected in cases.items():
        assert spf.expand(spec, session, "email.example.com") == expected, spec
    session.ip = ipaddress.ip_address("2001:db8::cb01")
    assert spf.expand("%{ir}.%{v}._spf.%{d2}", session, "email.example.com") == (
        "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com")


async def test_more_than_ten_lookups_is_permerror(local_dns: LocalDNS) -> None:
    chain = {f"l{i}.limit.example.vn": f"v=spf1 include:l{i + 1}.limit.example.vn -all" for i in range(11)}
    chain["l11.limit.example.vn"] = "v=spf1 +all"
    publish(local_dns, chain)
    result = await check(local_dns, "192.0.2.1", "x@l0.limit.example.vn")
    assert (result.result, result.reason) == ("permerror", "more than 10 DNS look-ups")
    # Ten are allowed: starting one step later stays within the limit.
    assert (await check(local_dns, "192.0.2.1", "x@l1.limit.example.vn")).result == "pass"


async def test_more_than_two_void_lookups_is_permerror(local_dns: LocalDNS) -> None:
    publish(local_dns, {
        "void.example.vn": "v=spf1 a:n1.void.example.vn a:n2.void.example.vn a:n3.void.example.vn +all",
        "void2.example.vn": "v=spf1 a:n1.void.example.vn a:n2.void.example.vn +all",
    })
    result = await check(local_dns, "192.0.2.1", "x@void.example.vn")
    assert (result.result, result.reason) == ("permerror", "more than 2 void look-ups")
    assert (await check(local_dns, "192.0.2.1", "x@void2.example.vn")).result == "pass"


@pytest.mark.parametrize(("records", "expected"), [
    (["v=spf1 -all", "v=spf1 +all"], "permerror"),  # two SPF records
    (["v=spf1 ip4:192.0.2.1 frobnicate -all"], "permerror"),  # unknown mechanism
    (["v=spf1 ip4:192.0.2.300 -all"], "permerror"),  # not an address
    (["v=spf1 ip4:2001:db8::/32 -all"], "permerror"),  # the other family
    (["v=spf1 ip4:192.0.2.1 unknown-modifier=x -all"], "fail"),  # unknown modifiers are ignored
    (["v=spf10 +all", "something else"], "none"),  # not an SPF record at all
    ([], "none"),
])
async def test_records_that_are_not_usable(local_dns: LocalDNS, records: list[str], expected: str) -> None:
    publish(local_dns, {"bad.example.vn": [("TXT", f'"{r}"') for r in records] or [("A", "192.0.2.99")]})
    assert (await check(local_dns, "192.0.2.2", "x@bad.example.vn")).result == expected


async def test_empty_mail_from_checks_the_helo_name(local_dns: LocalDNS) -> None:
    publish(local_dns, {"mx.helo.example.vn": "v=spf1 ip4:192.0.2.44 -all"})
    result = await check(local_dns, "192.0.2.44", "", helo="mx.helo.example.vn")
    assert (result.result, result.domain) == ("pass", "mx.helo.example.vn")


async def test_a_server_that_never_answers_gives_temperror(silent_dns: str) -> None:
    result = await spf.evaluate(lookups(silent_dns, timeout=0.3), "192.0.2.1", "x@slow.example.vn", "mx.example.vn")
    assert result.result == "temperror"
    assert "timeout" in result.reason


async def test_lookups_stop_before_the_check_deadline(silent_dns: str) -> None:
    """A DNS timeout longer than the check's budget still ends in TEMPERROR within the budget."""
    started = time.monotonic()
    dns = lookups(silent_dns, timeout=30.0, deadline=started + 0.5)
    result = await spf.evaluate(dns, "192.0.2.1", "x@slow.example.vn", "mx.example.vn")
    assert result.result == "temperror"
    with pytest.raises(TempError, match="time budget spent"):
        await dns.txt("slow.example.vn")


async def test_ptr_needs_a_validated_name_under_the_domain(local_dns: LocalDNS) -> None:
    publish(local_dns, {
        "ptr.example.vn": "v=spf1 ptr -all",
        "9.2.0.192.in-addr.arpa": [("PTR", "mail.ptr.example.vn.")],
        "mail.ptr.example.vn": [("A", "192.0.2.9")],
        "10.2.0.192.in-addr.arpa": [("PTR", "mail.ptr.example.vn.")],  # forward look-up does not confirm it
    })
    assert (await check(local_dns, "192.0.2.9", "x@ptr.example.vn")).result == "pass"
    assert (await check(local_dns, "192.0.2.10", "x@ptr.example.vn")).result == "fail"
