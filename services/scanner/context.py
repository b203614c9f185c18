"""What the scanner's network checks reach: the DNS resolver, the province's domains in Redis and the phishing list."""

from __future__ import annotations

import ipaddress
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import dns.asyncresolver
import dns.resolver
from redis.exceptions import RedisError

from services.common import logging as log
from services.common.directory import DOMAINS, RedisDirectory
from services.common.dns import make_resolver
from services.common.settings import PlatformSettings
from services.scanner.phishing.hashlist import ListFile
from services.scanner.settings import ScannerSettings

logger = log.get(__name__)

DNS_CACHE_ENTRIES = 50_000
TRUSTED_CACHE_ENTRIES = 10_000


def list_path(platform: PlatformSettings, settings: ScannerSettings) -> Path:
    return settings.phishing_list or platform.data / "scanner" / "phishing.list"


@dataclass
class ScanContext:
    resolver: dns.asyncresolver.Resolver
    # None when the scanner runs without Redis (tests of content alone, benchmarks, training): the
    # checks that compare with the province's own domains then have nothing to compare with.
    directory: RedisDirectory | None
    phishing: ListFile
    dns_timeout: float = 1.5
    trusted_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    government_suffixes: tuple[str, ...] = ("gov.vn", "gov.cn")
    cache_seconds: float = 30.0
    _domains: frozenset[str] = field(default=frozenset(), repr=False)
    _domains_at: float = field(default=-math.inf, repr=False)
    _trusted: dict[str, bool] = field(default_factory=dict, repr=False)

    @classmethod
    def from_settings(cls, platform: PlatformSettings, settings: ScannerSettings,
                      with_directory: bool = True) -> ScanContext:
        try:
            resolver = make_resolver(platform.dns_resolver, timeout=settings.dns_timeout)
        except dns.resolver.NoResolverConfiguration:
            # No resolv.conf (a bare container): every look-up then gives TEMPERROR, and the
            # checks that need no DNS still run.
            logger.error("dns_resolver_unconfigured", hint="set GOVMAIL_DNS_RESOLVER")
            resolver = dns.asyncresolver.Resolver(configure=False)
        # Senders' SPF, DKIM and DMARC records come back with every message of theirs: keep them
        # for their TTL instead of asking again.
        resolver.cache = dns.resolver.LRUCache(DNS_CACHE_ENTRIES)
        return cls(
            resolver=resolver,
            directory=RedisDirectory.from_url(platform.redis) if with_directory else None,
            phishing=ListFile(list_path(platform, settings)),
            dns_timeout=settings.dns_timeout,
            trusted_networks=tuple(ipaddress.ip_network(n.strip(), strict=False)
                                   for n in settings.trusted_networks.split(",") if n.strip()),
            government_suffixes=tuple(s.strip().lower().strip(".") for s in settings.government_suffixes.split(",")
                                      if s.strip()),
            cache_seconds=settings.directory_cache_seconds,
        )

    def trusted(self, client_ip: str) -> bool:
        # Remembered per address: relays and big senders come back message after message.
        known = self._trusted.get(client_ip)
        if known is None:
            try:
                ip = ipaddress.ip_address(client_ip)
                known = any(ip in network for network in self.trusted_networks)
            except ValueError:
                known = False
            if len(self._trusted) < TRUSTED_CACHE_ENTRIES:
                self._trusted[client_ip] = known
        return known

    async def local_domains(self) -> frozenset[str]:
        """The province's mail domains, read again from Redis at most every `cache_seconds`."""
        if self.directory is None:
            return frozenset()
        if time.monotonic() - self._domains_at >= self.cache_seconds:
            try:
                members = await self.directory.redis.smembers(DOMAINS)
            except RedisError as exc:
                if self._domains_at == -math.inf:
                    raise  # never read: the checks that need it fail (CHECK_ERROR), never pass the mail
                # Domains change seldom: the last list read is better than failing every message.
                logger.warning("local_domains_stale", error=str(exc), age=round(time.monotonic() - self._domains_at))
                return self._domains
            self._domains = frozenset(m.lower() for m in members)
            self._domains_at = time.monotonic()
        return self._domains

    def governmental(self, domain: str) -> bool:
        """Under a registry only government bodies can register in (gov.vn, gov.cn), so not an outsider's lookalike."""
        domain = domain.lower().rstrip(".")
        return any(domain == s or domain.endswith("." + s) for s in self.government_suffixes)


def is_local(domain: str, local: frozenset[str]) -> bool:
    """The domain is one of the province's or a subdomain of one."""
    domain = domain.lower().rstrip(".")
    return any(domain == d or domain.endswith("." + d) for d in local)


_current: ScanContext | None = None


def use(context: ScanContext | None) -> None:
    """Put a context in place (the service at start, tests); None: build the default on next use."""
    global _current
    _current = context


def current() -> ScanContext:
    """The context in place, else one from the environment's settings without Redis."""
    global _current
    if _current is None:
        _current = ScanContext.from_settings(PlatformSettings(), ScannerSettings(), with_directory=False)
    return _current
