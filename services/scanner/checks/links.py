"""PHISHING_LINK_MISMATCH: a link whose text shows one domain while it leads to another."""

from __future__ import annotations

from services.scanner.auth.dmarc import organizational_domain
from services.scanner.check import Check, Findings
from services.scanner.message import ParsedMail
from services.scanner.phishing.links import host, links, shown_host

SYMBOL = "PHISHING_LINK_MISMATCH"


def run(mail: ParsedMail, found: Findings) -> None:
    for link in links(mail):
        found.check_time()
        shown = shown_host(link.text) if link.text else ""
        target = host(link.url)
        if not shown or not target:
            continue
        # www.tiengiang.gov.vn shown for tiengiang.gov.vn/login is the same site: compare organisations.
        if organizational_domain(host("http://" + shown)) != organizational_domain(target):
            found.add(SYMBOL, f"{link.url} shown as {shown}")


CHECK = Check("links", (SYMBOL,), run)
