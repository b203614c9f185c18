"""DMARC (RFC 7489): does SPF or DKIM pass for a domain aligned with From, and what does its owner ask otherwise?"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from typing import Literal

from publicsuffixlist import PublicSuffixList

from services.scanner.auth.dkim import DkimResult
from services.scanner.auth.lookups import Lookups, TempError
from services.scanner.auth.spf import SpfResult

Result = Literal["pass", "reject", "quarantine", "softfail", "none", "temperror", "permerror"]


@functools.cache
def suffixes() -> PublicSuffixList:
    """The Public Suffix List shipped inside the package: no download at run time."""
    return PublicSuffixList()


def organizational_domain(domain: str) -> str:
    """RFC 7489 §3.2: the public suffix plus one label; the domain itself when it is a suffix or unknown."""
    domain = domain.lower().rstrip(".")
    return suffixes().privatesuffix(domain) or domain


def aligned(a: str, b: str, strict: bool) -> bool:
    a, b = a.lower().rstrip("."), b.lower().rstrip(".")
    return a == b if strict else organizational_domain(a) == organizational_domain(b)


@dataclass
class Policy:
    domain: str  # where the record was found
    p: str
    sp: str
    adkim_strict: bool
    aspf_strict: bool
    pct: int = 100  # §6.3: the percentage of failing messages the policy is applied to


@dataclass
class DmarcResult:
    result: Result
    domain: str
    reason: str


def parse(text: str, domain: str) -> Policy | None:
    """A policy record, or None when it is not one a receiver can apply (§6.6.3)."""
    tags = {}
    for item in text.split(";"):
        key, sep, value = item.partition("=")
        if sep:
            tags[key.strip().lower()] = value.strip()
    if tags.get("v") != "DMARC1":
        return None
    p = tags.get("p", "").lower()
    if p not in ("none", "quarantine", "reject"):
        if "rua" not in tags:
            return None
        p = "none"  # §6.6.3 step 6: an invalid p= with a valid rua= counts as p=none
    sp = tags.get("sp", "").lower()
    pct = tags.get("pct", "100")
    return Policy(domain=domain, p=p, sp=sp if sp in ("none", "quarantine", "reject") else p,
                  adkim_strict=tags.get("adkim", "r").lower() == "s", aspf_strict=tags.get("aspf", "r").lower() == "s",
                  pct=int(pct) if pct.isdigit() and int(pct) <= 100 else 100)  # a bad pct= is ignored


async def lookup(dns: Lookups, from_domain: str) -> Policy | None:
    """§6.6.3: the From domain's record, else its organisational domain's."""
    org = organizational_domain(from_domain)
    for domain in dict.fromkeys((from_domain, org)):
        records = [t for t in await dns.txt(f"_dmarc.{domain}") if re.match(r"^v\s*=\s*DMARC1\s*(;|$)", t)]
        if len(records) == 1:
            policy = parse(records[0], domain)
            if policy is not None:
                return policy
    return None


def sampled(key: str, pct: int) -> bool:
    """Whether a message falls within the pct% its owner's policy is applied to; the same message always does or does not."""
    return pct >= 100 or int.from_bytes(hashlib.sha256(key.encode("utf-8", "replace")).digest()[:4], "big") % 100 < pct


# §6.6.4: a failing message left out of the pct= sample gets the next milder policy.
MILDER = {"reject": "quarantine", "quarantine": "none"}


async def evaluate(dns: Lookups, from_domain: str, spf: SpfResult, dkims: list[DkimResult],
                   sample_key: str = "") -> DmarcResult:
    """The DMARC result of a message; `sample_key` (its Message-ID) decides whether it is in a pct= sample."""
    if not from_domain:
        return DmarcResult("permerror", "", "no single From address to align with")
    try:
        policy = await lookup(dns, from_domain)
    except TempError as exc:
        return DmarcResult("temperror", from_domain, str(exc))
    if policy is None:
        return DmarcResult("none", from_domain, "no DMARC record")
    if spf.result == "pass" and aligned(spf.domain, from_domain, policy.aspf_strict):
        return DmarcResult("pass", from_domain, f"SPF pass for {spf.domain}, aligned")
    for d in dkims:
        if d.result == "pass" and aligned(d.domain, from_domain, policy.adkim_strict):
            return DmarcResult("pass", from_domain, f"DKIM pass for d={d.domain}, aligned")
    # A transient failure may hide a pass: the owner's reject/quarantine is not applied on a guess.
    if spf.result == "temperror" or any(d.result == "temperror" for d in dkims):
        return DmarcResult("temperror", from_domain, "SPF or DKIM could not be checked now")
    requested = policy.p if from_domain == policy.domain else policy.sp
    why = f"no aligned SPF or DKIM pass; policy of {policy.domain}: {'p' if from_domain == policy.domain else 'sp'}={requested}"
    if requested in MILDER and not sampled(sample_key, policy.pct):
        requested = MILDER[requested]
        why += f", pct={policy.pct} and this message is outside the sample: {requested}"
    return DmarcResult("softfail" if requested == "none" else requested, from_domain, why)  # type: ignore[arg-type]
