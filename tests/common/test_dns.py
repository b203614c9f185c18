"""The loopback DNS server answers what a test set, through the resolver services use."""

from __future__ import annotations

import dns.resolver
import pytest

from services.common.dns import make_resolver


async def test_resolver_reads_records_from_local_dns(local_dns):
    local_dns.add("tiengiang.gov.vn", "MX", "10 mx1.tiengiang.gov.vn.")
    local_dns.add("tiengiang.gov.vn", "TXT", '"v=spf1 ip4:127.0.0.1 -all"')
    resolver = make_resolver(local_dns.resolver_address)
    mx = await resolver.resolve("tiengiang.gov.vn", "MX")
    assert [(r.preference, r.exchange.to_text()) for r in mx] == [(10, "mx1.tiengiang.gov.vn.")]
    txt = await resolver.resolve("tiengiang.gov.vn", "TXT")
    assert [b"".join(r.strings) for r in txt] == [b"v=spf1 ip4:127.0.0.1 -all"]
    tcp = await resolver.resolve("tiengiang.gov.vn", "MX", tcp=True)
    assert len(tcp) == 1


async def test_unknown_name_is_nxdomain_and_missing_type_is_no_answer(local_dns):
    local_dns.add("backan.gov.vn", "A", "127.0.0.1")
    resolver = make_resolver(local_dns.resolver_address)
    with pytest.raises(dns.resolver.NXDOMAIN):
        await resolver.resolve("nowhere.example", "MX")
    with pytest.raises(dns.resolver.NoAnswer):
        await resolver.resolve("backan.gov.vn", "MX")
