"""DNS look-ups for sender authentication that give up before the check's time budget ends."""

from __future__ import annotations

import time

import dns.asyncresolver
import dns.exception
import dns.name
import dns.resolver

# Time kept back from the check's budget so that a look-up that runs out still leaves room to
# report TEMPERROR instead of the whole check timing out.
MARGIN = 0.15


class TempError(Exception):
    """The answer could not be had now (timeout, SERVFAIL, budget spent): RFC 7208 temperror."""


class Lookups:
    """Async TXT/A/AAAA/MX/PTR queries, each bounded by `timeout` and by the check's `deadline`."""

    def __init__(self, resolver: dns.asyncresolver.Resolver, deadline: float, timeout: float = 2.0):
        self.resolver = resolver
        self.deadline = deadline
        self.timeout = timeout

    def _lifetime(self) -> float:
        left = self.deadline - MARGIN - time.monotonic()
        if left <= 0:
            raise TempError("time budget spent")
        return min(self.timeout, left)

    async def query(self, name: str, rdtype: str) -> list:
        """The records of `name`; [] when the name or the type does not exist (a void look-up)."""
        try:
            answer = await self.resolver.resolve(name, rdtype, lifetime=self._lifetime(), search=False,
                                                 raise_on_no_answer=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.exception.Timeout as exc:
            raise TempError(f"{rdtype} {name}: timeout") from exc
        except dns.resolver.NoNameservers as exc:
            raise TempError(f"{rdtype} {name}: no server answered (SERVFAIL)") from exc
        except (dns.name.NameTooLong, dns.name.LabelTooLong, dns.name.EmptyLabel):
            return []  # a name no DNS can hold exists nowhere
        except dns.exception.DNSException as exc:
            raise TempError(f"{rdtype} {name}: {type(exc).__name__}") from exc
        return list(answer.rrset or [])

    async def txt(self, name: str) -> list[str]:
        """Each TXT record with its strings joined, as SPF, DKIM and DMARC read them."""
        return [b"".join(r.strings).decode("utf-8", "replace") for r in await self.query(name, "TXT")]

    async def addresses(self, name: str, v6: bool) -> list[str]:
        return [r.address for r in await self.query(name, "AAAA" if v6 else "A")]

    async def mx(self, name: str) -> list[str]:
        return [r.exchange.to_text(omit_final_dot=True) for r in await self.query(name, "MX")]

    async def ptr(self, reverse_name: str) -> list[str]:
        return [r.target.to_text(omit_final_dot=True) for r in await self.query(reverse_name, "PTR")]
