"""HDR_*: header heuristics: missing or odd Date and Message-ID, forged Received chains, shouting subjects, hidden recipients."""

from __future__ import annotations

import codecs
import functools
import re
from datetime import UTC, datetime, timedelta
from email.utils import getaddresses, parsedate_to_datetime

from services.scanner.check import Check, Findings
from services.scanner.message import ParsedMail

FUTURE = timedelta(days=1)  # clocks drift, time zones get mislabelled; a day ahead is not that
PAST = timedelta(days=5)  # a mail held up in queues for days still arrives within this
BACKWARDS = timedelta(hours=12)  # a hop that received mail this long before the hop before it sent it
MESSAGE_ID = re.compile(r"^\s*<[^<>@\s]+@[^<>@\s]+>\s*$")
ENCODED_WORD = re.compile(r"=\?([^?*\s]+)(?:\*[^?]*)?\?[bBqQ]\?")
SHOUTING_LETTERS = 10
SHOUTING_SHARE = 0.75
PUNCTUATION_RUN = re.compile(r"[!?$€¥%*]{3,}|(?:[!?]\s*){3,}")
UNDISCLOSED = re.compile(r"undisclosed|recipient list suppressed", re.IGNORECASE)


def header_date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed.replace(tzinfo=parsed.tzinfo or UTC)


def received_dates(values: list[str]) -> list[datetime | None]:
    """The time each Received header gives after its `;`, newest hop first."""
    return [header_date(v.rpartition(";")[2]) if ";" in v else None for v in values]


def check_dates(mail: ParsedMail, headers: dict[str, list[str]], found: Findings) -> None:
    hops = received_dates(headers.get("received", []))
    # When this message arrived: ingress's own time, else the newest hop's; a message scanned on
    # its own without Received headers has no arrival to measure its Date against.
    arrived = mail.envelope.received_at if mail.envelope is not None else next((d for d in hops if d), None)
    if arrived is not None and arrived.tzinfo is None:  # an event written without a zone means UTC
        arrived = arrived.replace(tzinfo=UTC)
    dates = headers.get("date", [])
    if not dates:
        found.add("HDR_DATE_MISSING")
    else:
        date = header_date(dates[0])
        if date is None or date.year < 1990:
            found.add("HDR_DATE_INVALID", dates[0].strip()[:80])
        elif arrived is None:
            pass
        elif date - arrived > FUTURE:
            found.add("HDR_DATE_FUTURE", f"{dates[0].strip()[:60]} is {(date - arrived).days} days after arrival")
        elif arrived - date > PAST:
            found.add("HDR_DATE_PAST", f"{dates[0].strip()[:60]} is {(arrived - date).days} days before arrival")
    for index, value in enumerate(headers.get("received", [])):
        if ";" not in value or hops[index] is None:
            found.add("HDR_RECEIVED_INVALID", f"Received #{index + 1} has no valid date")
    known = [(i, d) for i, d in enumerate(hops) if d is not None]
    for (newer_index, newer), (_, older) in zip(known, known[1:], strict=False):
        if older - newer > BACKWARDS:  # a hop is said to have received it long before the previous hop
            found.add("HDR_RECEIVED_BACKWARDS", f"Received #{newer_index + 1} is {older - newer} earlier than the hop below")


def check_subject(headers: dict[str, list[str]], found: Findings, subject: str) -> None:
    letters = [c for c in subject if c.isalpha() and not ("\u3400" <= c <= "\u9fff")]
    if len(letters) >= SHOUTING_LETTERS and sum(c.isupper() for c in letters) / len(letters) >= SHOUTING_SHARE:
        found.add("HDR_SUBJECT_CAPS", subject[:80])
    if PUNCTUATION_RUN.search(subject):
        found.add("HDR_SUBJECT_PUNCTUATION", subject[:80])
    for name in ("subject", "from"):
        for value in headers.get(name, []):
            for charset in ENCODED_WORD.findall(value):
                try:
                    codecs.lookup(charset)
                except LookupError:
                    found.add("HDR_ENCODED_BAD_CHARSET", f"{name}: {charset[:40]}")


@functools.lru_cache(maxsize=8192)  # lists and their members come back message after message
def names_someone(value: str) -> bool:
    """The header value holds at least one address."""
    return any(a for _, a in getaddresses([value]))


def check_recipients(headers: dict[str, list[str]], found: Findings) -> None:
    visible = headers.get("to", []) + headers.get("cc", [])
    if not visible:
        found.add("HDR_RECIPIENTS_HIDDEN", "no To or Cc")
    elif all(UNDISCLOSED.search(v) or not names_someone(v) for v in visible):
        found.add("HDR_RECIPIENTS_HIDDEN", visible[0].strip()[:80])


def check_message_id(headers: dict[str, list[str]], found: Findings) -> None:
    ids = headers.get("message-id", [])
    if not ids:
        found.add("HDR_MSGID_MISSING")
    elif not MESSAGE_ID.match(ids[0]):
        found.add("HDR_MSGID_INVALID", ids[0].strip()[:80])


def run(mail: ParsedMail, found: Findings) -> None:
    if mail.message is None:
        return
    # Raw values: the policy's header objects cost more and hide what the sender actually wrote.
    headers: dict[str, list[str]] = {}
    for name, value in mail.message.raw_items():
        headers.setdefault(name.lower(), []).append(str(value))
    check_dates(mail, headers, found)
    check_message_id(headers, found)
    check_subject(headers, found, mail.header("subject"))
    check_recipients(headers, found)


CHECK = Check("headers", (
    "HDR_DATE_MISSING", "HDR_DATE_INVALID", "HDR_DATE_FUTURE", "HDR_DATE_PAST", "HDR_MSGID_MISSING",
    "HDR_MSGID_INVALID", "HDR_RECEIVED_INVALID", "HDR_RECEIVED_BACKWARDS", "HDR_SUBJECT_CAPS",
    "HDR_SUBJECT_PUNCTUATION", "HDR_ENCODED_BAD_CHARSET", "HDR_RECIPIENTS_HIDDEN",
), run)
