"""The scanner's checks, in the order they run."""

from __future__ import annotations

from services.scanner.check import Check
from services.scanner.checks import (
    bayes,
    eicar,
    gtube,
    homograph,
    impersonation,
    links,
    mime,
    phishing,
    sender_auth,
)

CHECKS: tuple[Check, ...] = (
    # Structure first: its findings explain any oddity the content checks meet later.
    mime.CHECK,
    # Who sent it, before what it says: SPF/DKIM/DMARC only read the envelope, headers and DNS,
    # and a forged province domain or a DMARC reject decides the verdict whatever the content.
    sender_auth.CHECK,
    # Cheap exact-string tests next: they decide the verdict outright (forced reject), so their
    # result is in even if a costlier check after them times out.
    gtube.CHECK,
    eicar.CHECK,
    # Phishing after the exact-string tests: links and names are read once the message is known
    # not to be a test signature. The province's list first (a confirmed hit quarantines), then
    # the heuristics that mark links and senders for the webmail to warn about.
    phishing.CHECK,
    links.CHECK,
    homograph.CHECK,
    impersonation.CHECK,
    # Statistics last: the costliest, and only a hint (it never forces an action).
    bayes.CHECK,
)
