"""Speed of sender authentication and the phishing list: list load, URL look-ups, and SPF+DKIM+DMARC per message.

Usage: .venv/bin/python -m bench.scanner_auth [--entries 100000] [--urls 20000] [--messages 300]

The sender-authentication figure runs the sender_auth check on the real event loop against a DNS
server on loopback (tests/dnsserver.py), each message signed with DKIM and its domain publishing
SPF and DMARC: it measures the scanner's own cost plus local round trips, not the internet's.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import tempfile
import time
from pathlib import Path

from dns.resolver import LRUCache

from services.common.dns import make_resolver
from services.scanner import context
from services.scanner.check import Findings
from services.scanner.checks import sender_auth
from services.scanner.message import parse
from services.scanner.phishing.hashlist import ListFile, write_lines
from tests.dnsserver import LocalDNS
from tests.scanner.sender_auth_setup import SigningKey, envelope, simple_mail


def bench_list(entries: int, urls: int) -> None:
    folder = Path(tempfile.mkdtemp())
    write_lines(folder / "phishing.list", [f"lua-dao-{i}.example/dang-nhap/" for i in range(entries)])
    listed = ListFile(folder / "phishing.list")
    started = time.perf_counter()
    hashes = listed.current()
    loaded = time.perf_counter() - started
    size = hashes.prefixes.itemsize * len(hashes.prefixes) + len(hashes.full)
    print(f"phishing list: {len(hashes)} entries loaded in {loaded:.2f} s, {size / 1e6:.1f} MB of hashes")
    candidates = [f"http://www.trang-{i}.example/a/b/c.html?id={i}" for i in range(urls)]
    started = time.perf_counter()
    hits = sum(hashes.match(url) is not None for url in candidates)
    elapsed = time.perf_counter() - started
    print(f"phishing list: {urls / elapsed:,.0f} URL look-ups/s (up to 30 expressions each), {hits} hits")


async def bench_auth(messages: int) -> None:
    dns = LocalDNS()
    key = SigningKey()
    mails = []
    for i in range(messages):
        domain = f"doitac{i}.example.vn"
        dns.add(domain, "TXT", f'"v=spf1 ip4:198.51.100.0/24 include:_spf.{domain} -all"')
        dns.add(f"_spf.{domain}", "TXT", '"v=spf1 ip4:192.0.2.0/24 -all"')
        dns.add(f"_dmarc.{domain}", "TXT", '"v=DMARC1; p=reject"')
        key.publish(dns, "s1", domain)
        raw = simple_mail(f"Trần Quốc Bảo <baotq@{domain}>", "Kính gửi chị Lan, gửi chị kế hoạch phối hợp. 此致敬礼")
        mails.append(parse(key.sign(raw, "s1", domain), envelope("192.0.2.9", f"mx.{domain}", f"baotq@{domain}")))
    resolver = make_resolver(dns.resolver_address)
    resolver.cache = LRUCache(context.DNS_CACHE_ENTRIES)  # as ScanContext.from_settings sets it up
    context.use(context.ScanContext(resolver=resolver, directory=None,
                                    phishing=ListFile(Path(tempfile.mkdtemp()) / "none"),
                                    trusted_networks=(ipaddress.ip_network("127.0.0.0/8"),)))
    try:
        for label in ("first sight of each domain", "again, records in the DNS cache"):
            started = time.perf_counter()
            passed = 0
            for mail in mails:
                found = Findings(deadline=time.monotonic() + 5)
                await sender_auth.run(mail, found)
                passed += "AUTH_DMARC_PASS" in dict(found.close())
            elapsed = time.perf_counter() - started
            print(f"sender auth, {label}: {messages / elapsed:,.0f} msg/s one after another "
                  f"(SPF with include, DKIM RSA-2048, DMARC), {passed}/{messages} DMARC pass")
    finally:
        context.use(None)
        dns.close()

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--urls", type=int, default=20_000)
    parser.add_argument("--messages", type=int, default=300)
    args = parser.parse_args()
    bench_list(args.entries, args.urls)
    asyncio.run(bench_auth(args.messages))


if __name__ == "__main__":
    main()
