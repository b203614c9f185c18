"""AUTH_*: SPF, DKIM and DMARC of mail from outside, and mail that claims a province domain without proving it."""

from __future__ import annotations

import asyncio

from services.scanner import context
from services.scanner.addresses import addresses, domain
from services.scanner.auth import dkim, dmarc, spf
from services.scanner.auth.lookups import Lookups
from services.scanner.check import Check, Findings
from services.scanner.message import ParsedMail

SPF_SYMBOLS = {r: f"AUTH_SPF_{r.upper()}" for r in ("pass", "fail", "softfail", "neutral", "none", "temperror", "permerror")}
DKIM_SYMBOLS = {r: f"AUTH_DKIM_{r.upper()}" for r in ("pass", "fail", "none", "temperror", "permerror")}
DMARC_SYMBOLS = {r: f"AUTH_DMARC_{r.upper()}"
                 for r in ("pass", "reject", "quarantine", "softfail", "none", "temperror", "permerror")}
FORGED = "AUTH_LOCAL_DOMAIN_FORGED"
UNVERIFIED = "AUTH_LOCAL_DOMAIN_UNVERIFIED"


def from_domain(mail: ParsedMail) -> str:
    """The domain of the single RFC5322.From address; '' when there is none or more than one (RFC 7489 §6.6.1)."""
    senders = addresses(mail, "From")
    return domain(senders[0][1]) if len(senders) == 1 else ""


def proven(claimed: str, spf_result: spf.SpfResult, dkims: list[dkim.DkimResult]) -> bool:
    """SPF or DKIM passes for this domain or another of its organisation (relaxed alignment)."""
    return (spf_result.result == "pass" and dmarc.aligned(spf_result.domain, claimed, strict=False)) or any(
        d.result == "pass" and dmarc.aligned(d.domain, claimed, strict=False) for d in dkims
    )


async def run(mail: ParsedMail, found: Findings) -> None:
    envelope = mail.envelope
    # Submission and internal mail were authenticated by ingress (SMTP AUTH, the platform itself);
    # SPF and friends only mean something for what a stranger's server handed to the MX.
    if envelope is None or envelope.listener != "mx":
        return
    ctx = context.current()
    if ctx.trusted(envelope.client_ip):
        return
    lookups = Lookups(ctx.resolver, found.deadline, ctx.dns_timeout)
    header_domain = from_domain(mail)
    # SPF and DKIM do not depend on each other: they share the budget side by side.
    spf_result, dkims = await asyncio.gather(
        spf.evaluate(lookups, envelope.client_ip, envelope.mail_from, envelope.client_helo),
        dkim.verify(mail.raw, lookups),
    )
    found.add(SPF_SYMBOLS[spf_result.result], spf_result.domain or "(no domain)", spf_result.reason)
    for d in dkims:
        found.add(DKIM_SYMBOLS[d.result], *([d.domain] if d.domain else []), d.reason)
    result = await dmarc.evaluate(lookups, header_domain, spf_result, dkims, mail.header("Message-ID"))
    found.add(DMARC_SYMBOLS[result.result], *([result.domain] if result.domain else []), result.reason)

    local = await ctx.local_domains()
    claimed = [d for d in dict.fromkeys((header_domain, spf_result.domain)) if d and context.is_local(d, local)]
    for claimed_domain in claimed:
        if proven(claimed_domain, spf_result, dkims):
            continue
        transient = spf_result.result == "temperror" or any(d.result == "temperror" for d in dkims)
        found.add(UNVERIFIED if transient else FORGED, claimed_domain, f"from {envelope.client_ip} through the MX, "
                  f"SPF {spf_result.result}, DKIM {'/'.join(d.result for d in dkims)}")


CHECK = Check(
    "sender_auth",
    (*SPF_SYMBOLS.values(), *DKIM_SYMBOLS.values(), *DMARC_SYMBOLS.values(), FORGED, UNVERIFIED),
    run,
)
