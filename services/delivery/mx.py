"""Where a domain's mail goes: its MX hosts in preference order and their addresses (RFC 5321 §5.1)."""

from __future__ import annotations

import dns.asyncresolver
import dns.exception
import dns.resolver


class RouteError(Exception):
    """No way to the domain: `status` is RFC 3463 (4.x.x may pass, 5.x.x will not)."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status

    @property
    def permanent(self) -> bool:
        return self.status.startswith("5")


async def mx_hosts(resolver: dns.asyncresolver.Resolver, domain: str) -> list[str]:
    try:
        answer = await resolver.resolve(domain, "MX")
    except dns.resolver.NXDOMAIN as exc:
        raise RouteError("5.1.2", f"domain {domain} does not exist") from exc
    except dns.resolver.NoAnswer:
        return [domain]  # no MX: the domain itself is the implicit MX
    except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
        raise RouteError("4.4.3", f"DNS lookup of {domain} failed: {exc}") from exc
    records = sorted(answer, key=lambda r: r.preference)
    if len(records) == 1 and records[0].exchange.to_text() == ".":
        raise RouteError("5.1.10", f"domain {domain} accepts no mail (null MX)")
    return [r.exchange.to_text(omit_final_dot=True) for r in records if r.exchange.to_text() != "."]


async def addresses(resolver: dns.asyncresolver.Resolver, host: str) -> list[str]:
    """IPv4 then IPv6 addresses of an MX host; none when it does not resolve (the next host is tried)."""
    found: list[str] = []
    for rdtype in ("A", "AAAA"):
        try:
            found += [r.to_text() for r in await resolver.resolve(host, rdtype)]
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers, dns.exception.Timeout):
            continue
    return found
