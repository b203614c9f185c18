"""PHISHING_URL_LISTED: a link of the message is on the province's Safe-Browsing-style phishing list."""

from __future__ import annotations

from services.scanner import context
from services.scanner.check import Check, Findings
from services.scanner.message import ParsedMail
from services.scanner.phishing.links import links

SYMBOL = "PHISHING_URL_LISTED"


def run(mail: ParsedMail, found: Findings) -> None:
    listed = context.current().phishing.current()
    if not len(listed):
        return
    for link in links(mail):
        found.check_time()
        expression = listed.match(link.url)
        if expression is not None:
            # The URL comes first in the option: the webmail warns when the reader clicks it.
            found.add(SYMBOL, f"{link.url} listed as {expression}")


CHECK = Check("phishing", (SYMBOL,), run)
