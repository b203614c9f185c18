"""SPF (RFC 7208): may this client IP send mail for the domain of MAIL FROM (or HELO)?"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Literal

from services.scanner.auth.lookups import Lookups, TempError

Result = Literal["pass", "fail", "softfail", "neutral", "none", "temperror", "permerror"]
QUALIFIERS: dict[str, Result] = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
# RFC 7208 §4.6.4: at most 10 terms that cost a DNS query, at most 2 of them "void" (no answer).
MAX_LOOKUPS = 10
MAX_VOID = 2
# §4.6.4: an `mx` or `ptr` mechanism looks at no more than 10 names.
MAX_NAMES = 10

MECHANISM = re.compile(r"^([+\-~?]?)(all|include|a|mx|ptr|ip4|ip6|exists)(?::(.*?))?(?:/(\d+))?(?://(\d+))?$",
                       re.IGNORECASE)
MODIFIER = re.compile(r"^([a-z][a-z0-9_.\-]*)=(.*)$", re.IGNORECASE)
MACRO = re.compile(r"%\{([slodiphcrtv])(\d*)(r?)([.\-+,/_=]*)\}|%%|%_|%-|%(.)?", re.IGNORECASE)


class PermError(Exception):
    """The SPF record cannot be evaluated as written (syntax, too many look-ups): RFC 7208 permerror."""


@dataclass
class SpfResult:
    result: Result
    domain: str
    reason: str


@dataclass
class Session:
    """What one evaluation knows and counts across includes and redirects."""

    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    sender: str
    helo: str
    dns: Lookups
    lookups: int = 0
    void: int = 0
    trail: list[str] = field(default_factory=list)

    def charge(self) -> None:
        self.lookups += 1
        if self.lookups > MAX_LOOKUPS:
            raise PermError(f"more than {MAX_LOOKUPS} DNS look-ups")

    def answered(self, records: list) -> list:
        if not records:
            self.void += 1
            if self.void > MAX_VOID:
                raise PermError(f"more than {MAX_VOID} void look-ups")
        return records


def valid_domain(domain: str) -> bool:
    labels = domain.rstrip(".").split(".")
    return len(labels) >= 2 and all(0 < len(label) <= 63 for label in labels) and len(domain) <= 253


def expand(spec: str, session: Session, domain: str) -> str:
    """Macro expansion of a domain-spec (§7)."""
    local, _, sender_domain = session.sender.rpartition("@")

    def one(match: re.Match) -> str:
        text = match.group(0)
        if text == "%%":
            return "%"
        if text == "%_":
            return " "
        if text == "%-":
            return "%20"
        letter = match.group(1)
        if letter is None:
            raise PermError(f"bad macro {text!r}")
        value = {
            "s": session.sender, "l": local or "postmaster", "o": sender_domain, "d": domain,
            "i": ip_macro(session.ip), "p": "unknown", "v": "in-addr" if session.ip.version == 4 else "ip6",
            "h": session.helo,
        }.get(letter.lower())
        if value is None:  # c, r, t are only allowed in exp= text, which this scanner never renders
            raise PermError(f"macro {text!r} outside exp")
        parts = re.split("[" + re.escape(match.group(4) or ".") + "]", value)
        if match.group(3):
            parts.reverse()
        if match.group(2):
            keep = int(match.group(2))
            if keep == 0:
                raise PermError(f"macro {text!r} keeps zero labels")
            parts = parts[-keep:]
        out = ".".join(parts)
        return urllib.parse.quote(out, safe="") if letter.isupper() else out

    return MACRO.sub(one, spec)


def ip_macro(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if ip.version == 4:
        return str(ip)
    return ".".join(ip.exploded.replace(":", ""))  # §7.3: dotted nibbles


def cidr_match(ip, addresses: list[str], v4_len: int | None, v6_len: int | None) -> bool:
    prefix = (v4_len if ip.version == 4 else v6_len)
    for text in addresses:
        length = prefix if prefix is not None else ip.max_prefixlen
        if ip in ipaddress.ip_network(f"{text}/{length}", strict=False):
            return True
    return False


async def spf_record(session: Session, domain: str) -> str | None:
    records = [t for t in await session.dns.txt(domain) if re.match(r"^v=spf1(\s|$)", t, re.IGNORECASE)]
    if len(records) > 1:
        raise PermError(f"{domain} publishes {len(records)} SPF records")
    return records[0] if records else None


async def check_host(session: Session, domain: str) -> tuple[Result, str]:
    """The result for `domain` and why (§4); includes and redirects recurse here."""
    if not valid_domain(domain):
        return "none", f"{domain!r} is not a domain"
    session.trail.append(domain)
    record = await spf_record(session, domain)
    if record is None:
        return "none", f"{domain} publishes no SPF record"
    terms = record.split()[1:]
    redirect = None
    for term in terms:
        modifier = MODIFIER.match(term)
        if modifier and not MECHANISM.match(term):
            name = modifier.group(1).lower()
            if name == "redirect":
                if redirect is not None:
                    raise PermError("two redirect modifiers")
                redirect = modifier.group(2)
            elif name == "exp":
                continue
            continue  # unknown modifiers are ignored (§6)
        mechanism = MECHANISM.match(term)
        if not mechanism:
            raise PermError(f"unknown term {term!r} in {domain}")
        qualifier, name, arg, v4_len, v6_len = mechanism.groups()
        name = name.lower()
        if await matches(session, domain, name, arg, int(v4_len) if v4_len else None, int(v6_len) if v6_len else None):
            return QUALIFIERS[qualifier or "+"], f"{domain}: {term}"
    if redirect is not None:
        session.charge()
        target = expand(redirect, session, domain)
        result, reason = await check_host(session, target)
        if result == "none":
            raise PermError(f"redirect to {target}, which has no SPF record")
        return result, reason
    return "neutral", f"{domain}: no mechanism matched"


async def matches(session: Session, domain: str, name: str, arg: str | None, v4_len: int | None,
                  v6_len: int | None) -> bool:
    ip = session.ip
    if name == "all":
        return True
    if name in ("ip4", "ip6"):
        # The single-slash length belongs to the mechanism's own family: ip6:2001:db8::/32.
        if not arg or v6_len is not None:
            raise PermError(f"{name} without a network, or with a dual CIDR length")
        try:
            network = ipaddress.ip_network(arg if v4_len is None else f"{arg}/{v4_len}", strict=False)
        except ValueError as exc:
            raise PermError(f"bad {name} network {arg!r}") from exc
        if network.version != (4 if name == "ip4" else 6):
            raise PermError(f"{name} with a network of the other family: {arg!r}")
        return ip.version == network.version and ip in network
    if v4_len is not None and v4_len > 32 or v6_len is not None and v6_len > 128:
        raise PermError(f"bad CIDR length on {name}")
    target = expand(arg, session, domain) if arg else domain
    if name == "include":
        if not arg:
            raise PermError("include without a domain")
        session.charge()
        result, _ = await check_host(session, target)
        if result == "pass":
            return True
        if result in ("fail", "softfail", "neutral"):
            return False
        if result == "temperror":
            raise TempError(f"include:{target}")
        raise PermError(f"include:{target} gave {result}")
    session.charge()
    if name == "a":
        return cidr_match(ip, session.answered(await session.dns.addresses(target, ip.version == 6)), v4_len, v6_len)
    if name == "mx":
        exchanges = session.answered(await session.dns.mx(target))
        if len(exchanges) > MAX_NAMES:
            raise PermError(f"{target} has more than {MAX_NAMES} MX records")
        for exchange in exchanges:
            if cidr_match(ip, await session.dns.addresses(exchange, ip.version == 6), v4_len, v6_len):
                return True
        return False
    if name == "exists":
        if not arg:
            raise PermError("exists without a domain")
        return bool(session.answered(await session.dns.addresses(target, False)))
    # ptr (§5.5, "do not use"): a validated reverse name under the target domain.
    names = session.answered(await session.dns.ptr(ip.reverse_pointer))[:MAX_NAMES]
    for host in names:
        if (host.lower() == target.lower() or host.lower().endswith("." + target.lower())) and \
                str(ip) in await session.dns.addresses(host, ip.version == 6):
            return True
    return False


async def evaluate(dns: Lookups, client_ip: str, mail_from: str, helo: str) -> SpfResult:
    """SPF for the MAIL FROM identity, or for HELO when MAIL FROM is empty (bounces), §2.3–2.4."""
    sender = mail_from if "@" in mail_from else f"postmaster@{helo}"
    domain = sender.rpartition("@")[2].lower().rstrip(".")
    try:
        ip = ipaddress.ip_address(client_ip)
    except ValueError:
        return SpfResult("none", domain, f"client IP {client_ip!r} is not an address")
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    session = Session(ip=ip, sender=sender, helo=helo, dns=dns)
    try:
        result, reason = await check_host(session, domain)
    except TempError as exc:
        return SpfResult("temperror", domain, str(exc))
    except PermError as exc:
        return SpfResult("permerror", domain, str(exc))
    return SpfResult(result, domain, f"{reason} (ip {ip})")
