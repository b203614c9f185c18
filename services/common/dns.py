"""The DNS resolver every service uses: the system's, or the one GOVMAIL_DNS_RESOLVER names (tests, air-gapped sites)."""

from __future__ import annotations

import dns.asyncresolver


def make_resolver(address: str = "", timeout: float = 5.0) -> dns.asyncresolver.Resolver:
    """A resolver for `address` ('host' or 'host:port'); empty means the system configuration."""
    if not address:
        resolver = dns.asyncresolver.Resolver()
    else:
        resolver = dns.asyncresolver.Resolver(configure=False)
        host, _, port = address.rpartition(":") if address.count(":") == 1 else (address, "", "")
        resolver.nameservers = [host]
        if port:
            resolver.port = int(port)
    resolver.lifetime = timeout
    resolver.timeout = timeout
    return resolver
