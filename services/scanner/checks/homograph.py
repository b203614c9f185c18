"""PHISHING_HOMOGRAPH / PHISHING_LOOKALIKE_DOMAIN: sender or link domains made to look like the province's own."""

from __future__ import annotations

from services.scanner import context
from services.scanner.addresses import addresses, domain
from services.scanner.check import Check, Findings
from services.scanner.message import ParsedMail
from services.scanner.phishing.links import host, links
from services.scanner.phishing.lookalike import imitation

HOMOGRAPH = "PHISHING_HOMOGRAPH"
LOOKALIKE = "PHISHING_LOOKALIKE_DOMAIN"


def candidates(mail: ParsedMail) -> dict[str, str]:
    """Domain -> what to show in the option (the address or the URL, first so the webmail can warn on it)."""
    out: dict[str, str] = {}
    for header in ("From", "Reply-To", "Sender"):
        for _, address in addresses(mail, header):
            out.setdefault(domain(address), address)
    if mail.envelope is not None and "@" in mail.envelope.mail_from:
        out.setdefault(domain(mail.envelope.mail_from), mail.envelope.mail_from)
    for link in links(mail):
        name = host(link.url)
        if name:
            out.setdefault(name, link.url)
    return out


async def run(mail: ParsedMail, found: Findings) -> None:
    ctx = context.current()
    local = await ctx.local_domains()
    if not local:
        return
    for name, shown in candidates(mail).items():
        found.check_time()
        if context.is_local(name, local):
            continue
        for own in sorted(local):
            kind = imitation(name, own)
            # Registries like gov.vn give names only to government bodies: a neighbour one letter
            # away (hanam/hanoi) is genuine there, but a name that looks the same never is.
            if kind is None or kind != "homograph" and ctx.governmental(name):
                continue
            found.add(HOMOGRAPH if kind == "homograph" else LOOKALIKE, f"{shown} imitates {own} ({kind})")
            break


CHECK = Check("homograph", (HOMOGRAPH, LOOKALIKE), run)
