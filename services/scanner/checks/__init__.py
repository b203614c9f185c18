"""The scanner's checks, in the order they run."""

from __future__ import annotations

from services.scanner.check import Check
from services.scanner.checks import bayes, eicar, gtube, mime

CHECKS: tuple[Check, ...] = (
    # Structure first: its findings explain any oddity the content checks meet later.
    mime.CHECK,
    # Cheap exact-string tests next: they decide the verdict outright (forced reject), so their
    # result is in even if a costlier check after them times out.
    gtube.CHECK,
    eicar.CHECK,
    # Statistics last: the costliest, and only a hint (it never forces an action).
    bayes.CHECK,
)
