"""CLASSIFIED_MARKING: mail a local user sends whose subject, body or attached document carries a secrecy marking (R26)."""

from __future__ import annotations

from services.scanner import documents, markings
from services.scanner.check import Check, Findings
from services.scanner.message import ParsedMail

SYMBOL = "CLASSIFIED_MARKING"
# DOCUMENT_UNREADABLE: a document that should have been read for markings could not be; it is
# reported rather than treated as unmarked.
UNREADABLE = "CLASSIFIED_DOCUMENT_UNREADABLE"


def sent_by_local_user(mail: ParsedMail) -> bool:
    envelope = mail.envelope
    if envelope is None:
        return False
    if not envelope.mail_from:  # a bounce (null sender) quotes the mail it reports: never bounce a bounce
        return False
    return envelope.listener in ("submission", "internal") or envelope.direction in ("outbound", "internal")


def run(mail: ParsedMail, found: Findings) -> None:
    if not sent_by_local_user(mail):
        return
    for level, shape in markings.find(mail.header("subject")):
        found.add(SYMBOL, f"{level} ({shape}) in the subject")
    for part in mail.parts:
        found.check_time()
        where = f"attachment {part.filename}" if part.filename else "the body"
        try:
            text = documents.text_of(part)
        except Exception as exc:  # a corrupt docx or pdf: say so, the message is not known to be unmarked
            found.add(UNREADABLE, f"{part.label}: {type(exc).__name__}: {exc}"[:200])
            continue
        if text is None:
            continue
        for level, shape in markings.find(text):
            found.add(SYMBOL, f"{level} ({shape}) in {where}")


CHECK = Check("classified", (SYMBOL, UNREADABLE), run)
