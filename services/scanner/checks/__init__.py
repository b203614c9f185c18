"""The scanner's checks, in the order they run."""

from __future__ import annotations

from services.scanner.check import Check
from services.scanner.checks import (
    bayes,
    clamav,
    classified,
    gtube,
    headers,
    homograph,
    html,
    impersonation,
    links,
    mime,
    phishing,
    sender_auth,
    virus,
)

# The plain checks (CPU work) run in this order in one worker thread, right after the message is
# read and parsed; the coroutine checks (network look-ups: sender authentication, the province's
# domains, ClamAV) then run in this order on the event loop. Each check has its own time budget,
# so what one finds never depends on another finishing, and the verdict lists symbols and check
# times in this order whichever ran first.
CHECKS: tuple[Check, ...] = (
    # Structure first: its findings explain any oddity the content checks meet later.
    mime.CHECK,
    # Who sent it, before what it says: SPF/DKIM/DMARC only read the envelope, headers and DNS,
    # and a forged province domain or a DMARC reject decides the verdict whatever the content.
    sender_auth.CHECK,
    # Cheap exact-string tests next: they decide the verdict outright (forced reject), so their
    # result is in even if a costlier check after them times out.
    gtube.CHECK,
    # Signatures, zip bombs and dangerous file types in every part and archive member: forced
    # reject for a known virus, quarantine for what could not be scanned.
    virus.CHECK,
    # Secrecy markings in mail local users send (R26): forced reject, bounced with the reason.
    classified.CHECK,
    # Phishing after the exact-string tests: links and names are read once the message is known
    # not to be a test signature. The province's list first (a confirmed hit quarantines), then
    # the heuristics that mark links and senders for the webmail to warn about.
    phishing.CHECK,
    links.CHECK,
    homograph.CHECK,
    impersonation.CHECK,
    # Header and HTML heuristics: cheap, each a small weight that only counts together with others.
    headers.CHECK,
    html.CHECK,
    # Statistics: the costliest computation, and only a hint (it never forces an action).
    bayes.CHECK,
    # ClamAV beside our own signatures, when configured: a network round trip per part, so last;
    # a clamd that is down shows as CHECK_ERROR_CLAMAV (quarantine), never as clean.
    clamav.CHECK,
)
