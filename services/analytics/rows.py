"""How each event of the bus becomes one row of its ClickHouse table: the event's JSON as ClickHouse reads it, and the SELECT of the row from it.

ClickHouse parses the JSON of the events itself (in C++, several times faster than validating
and rebuilding them in Python); the input structure that makes it as strict as the event model
comes from input_structure. Columns are those of migrations/.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from pydantic import BaseModel

from schemas import events
from schemas.registry import (
    ACCOUNTS,
    ACTIVITY,
    ALL_TOPICS,
    AUDIT,
    AUTH,
    DELIVERY,
    DLQ_TOPICS,
    FEEDBACK,
    RECEIVED,
    RETRY,
    SCANNED,
)
from services.analytics.input_structure import InputStructure, structure
from services.common.bus import encode

# A column of a table and the expression that fills it from the event (the column's own name
# when the event has a field of that name). Optional strings are stored as '' (see migrations).
Column = tuple[str, str]


@dataclass(frozen=True)
class TableInput:
    """One table: the structure its events are read into and the expression of each of its columns."""

    table: str
    input: InputStructure
    columns: tuple[Column, ...]

    @property
    def select(self) -> str:
        return ", ".join(expression if expression == name else f"{expression} AS {name}"
                         for name, expression in self.columns)

    @property
    def column_names(self) -> str:
        return ", ".join(name for name, _ in self.columns)


def same(*names: str) -> tuple[Column, ...]:
    return tuple((name, name) for name in names)


def optional(*names: str, within: str = "") -> tuple[Column, ...]:
    return tuple((name, f"ifNull({within}{name}, '')") for name in names)


def of(within: str, *names: str) -> tuple[Column, ...]:
    return tuple((name, f"{within}{name}") for name in names)


ENVELOPE = same("event_id", "occurred_at", "schema_version", "producer", "trace_id") + optional("message_id")
# What mail.received and mail.scanned both say of the mail (MailInfo); lowerUTF8, as domains may be IDNs.
MAIL = (of("mail.", "received_at", "direction", "mail_from")
        + (("sender_domain", "lowerUTF8(mail.sender_domain)"),)
        + optional("sender_unit", within="mail.")
        + of("mail.", "header_from", "subject", "rcpt_to")
        + (("rcpt_count", "length(mail.rcpt_to)"),)
        + of("mail.", "size", "client_ip"))


def table_input(table: str, model: type[BaseModel], *columns: Column,
                extra: tuple[Column, ...] = ()) -> TableInput:
    return TableInput(table, structure(model, extra), ENVELOPE + columns)


MAIN_TABLES: dict[str, TableInput] = {
    RECEIVED: table_input(
        "mail_received", events.MailReceived, *MAIL, *of("mail.", "listener"),
        *optional("authenticated_as", within="mail."), *of("mail.", "header_message_id"),
        ("blob_sha256", "mail.blob.sha256"), *of("mail.", "client_helo", "smtputf8", "separate_delivery")),
    SCANNED: table_input(
        "mail_scanned", events.MailScanned, *MAIL, *of("verdict.", "action", "score", "required_score"),
        ("symbols", "verdict.symbols.name"), ("symbol_scores", "verdict.symbols.score"),
        ("symbol_groups", "verdict.symbols.group"), ("symbol_options", "verdict.symbols.options"),
        *of("verdict.", "scanner_version", "check_ms")),
    DELIVERY: table_input(
        "mail_delivery", events.MailDelivery, *same("recipient"),
        ("recipient_domain", "lowerUTF8(recipient_domain)"), *optional("recipient_unit"), *same("mail_from"),
        *optional("sender_unit"),
        *same("direction", "status", "final", "detail", "enhanced_status", "attempt", "size", "action", "score",
              "symbols")),
    RETRY: table_input(
        "mail_retry", events.MailRetry, *of("mail.", "received_at", "direction", "mail_from"),
        *optional("sender_unit", within="mail."),
        *same("recipients", "attempt", "not_before", "deliver_until", "last_error"), ("size", "mail.size")),
    ACTIVITY: table_input(
        "mailbox_activity", events.MailboxActivity, *same("mailbox"), *optional("unit"),
        *same("actor", "action", "folder", "delivered_at")),
    ACCOUNTS: table_input(
        "account_events", events.AccountEvent, *same("kind", "domain"), *optional("address", "unit"),
        *same("actor", "details")),
    AUTH: table_input(
        "auth_events", events.AuthEvent,
        *same("username", "ip", "service", "outcome", "mechanism", "reason", "place")),
    AUDIT: table_input(
        "admin_audit", events.AdminAudit, *same("admin", "action", "target", "outcome", "details")),
    FEEDBACK: table_input(
        "mail_feedback", events.MailFeedback, *same("label"), ("reporter", "lowerUTF8(reporter)"),
        ("mailbox", "lowerUTF8(mailbox)"), *same("header_message_id"), ("blob_sha256", "blob.sha256"),
        *same("note")),
}
DEAD_LETTERS = "dead_letters"
# Every DLQ topic goes to one table; the line of a dead letter carries the DLQ topic it was on.
DEAD_LETTER_INPUT = table_input(
    DEAD_LETTERS, events.DeadLetter,
    *same("dlq_topic", "source_topic", "partition", "offset"), *optional("key"),
    *same("consumer", "reason", "error", "payload"), extra=(("dlq_topic", "String"),))
TABLES: dict[str, TableInput] = {spec.table: spec for spec in (*MAIN_TABLES.values(), DEAD_LETTER_INPUT)}


def table_of(topic: str) -> str:
    return DEAD_LETTERS if topic in DLQ_TOPICS else MAIN_TABLES[topic].table


def dead_letter_line(letter: events.DeadLetter, dlq_topic: str) -> bytes:
    """The line of a dead letter: its JSON with the DLQ topic it was on."""
    return b'{"dlq_topic":' + orjson.dumps(dlq_topic) + b"," + encode(letter)[1:]


def canonical_line(topic: str, value: bytes | None) -> bytes:
    """The line of a record as its model writes it, which the input structure reads; raises pydantic's ValidationError."""
    event = ALL_TOPICS[topic].model.model_validate_json(value or b"")
    if topic in DLQ_TOPICS:
        assert isinstance(event, events.DeadLetter)
        return dead_letter_line(event, topic)
    return encode(event)
