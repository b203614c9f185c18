"""How each event of the bus becomes one row of its ClickHouse table (columns as in migrations/)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from pydantic_core import CoreConfig, SchemaValidator

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

Row = dict[str, Any]


def utc(moment: datetime) -> datetime:
    # A producer may send a time without a zone; the bus speaks UTC, so read it as UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def as_json(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


# The builders below write each row as one dict literal: they run for every event of the bus, and
# merging partial dicts cost a third of their time. Times other than occurred_at (which picks the
# monthly partition) keep the zone they came with; the insert writes it and ClickHouse converts.


def envelope(event: events.Envelope) -> Row:
    return {
        "event_id": event.event_id,
        "occurred_at": utc(event.occurred_at),
        "schema_version": event.schema_version,
        "producer": event.producer,
        "trace_id": event.trace_id,
        "message_id": event.message_id or "",
    }


def received_row(event: events.MailReceived) -> Row:
    mail = event.mail
    return {
        "event_id": event.event_id,
        "occurred_at": utc(event.occurred_at),
        "schema_version": event.schema_version,
        "producer": event.producer,
        "trace_id": event.trace_id,
        "message_id": event.message_id or "",
        "received_at": mail.received_at,
        "direction": mail.direction,
        "mail_from": mail.mail_from,
        "sender_domain": mail.sender_domain.lower(),
        "sender_unit": mail.sender_unit or "",
        "header_from": mail.header_from,
        "subject": mail.subject,
        "rcpt_to": mail.rcpt_to,
        "rcpt_count": len(mail.rcpt_to),
        "size": mail.size,
        "client_ip": mail.client_ip,
        "listener": mail.listener,
        "authenticated_as": mail.authenticated_as or "",
        "header_message_id": mail.header_message_id,
        "blob_sha256": mail.blob.sha256,
        "client_helo": mail.client_helo,
        "smtputf8": mail.smtputf8,
        "separate_delivery": mail.separate_delivery,
    }


def scanned_row(event: events.MailScanned) -> Row:
    mail, verdict = event.mail, event.verdict
    symbols = verdict.symbols
    return {
        "event_id": event.event_id,
        "occurred_at": utc(event.occurred_at),
        "schema_version": event.schema_version,
        "producer": event.producer,
        "trace_id": event.trace_id,
        "message_id": event.message_id or "",
        "received_at": mail.received_at,
        "direction": mail.direction,
        "mail_from": mail.mail_from,
        "sender_domain": mail.sender_domain.lower(),
        "sender_unit": mail.sender_unit or "",
        "header_from": mail.header_from,
        "subject": mail.subject,
        "rcpt_to": mail.rcpt_to,
        "rcpt_count": len(mail.rcpt_to),
        "size": mail.size,
        "client_ip": mail.client_ip,
        "action": verdict.action,
        "score": verdict.score,
        "required_score": verdict.required_score,
        "symbols": [s.name for s in symbols],
        "symbol_scores": [s.score for s in symbols],
        "symbol_groups": [s.group for s in symbols],
        "symbol_options": [s.options for s in symbols],
        "scanner_version": verdict.scanner_version,
        "check_ms": verdict.check_ms,
    }


def delivery_row(event: events.MailDelivery) -> Row:
    return {
        "event_id": event.event_id,
        "occurred_at": utc(event.occurred_at),
        "schema_version": event.schema_version,
        "producer": event.producer,
        "trace_id": event.trace_id,
        "message_id": event.message_id or "",
        "recipient": event.recipient,
        "recipient_domain": event.recipient_domain.lower(),
        "recipient_unit": event.recipient_unit or "",
        "mail_from": event.mail_from,
        "sender_unit": event.sender_unit or "",
        "direction": event.direction,
        "status": event.status,
        "final": event.final,
        "detail": event.detail,
        "enhanced_status": event.enhanced_status,
        "attempt": event.attempt,
        "size": event.size,
        "action": event.action,
        "score": event.score,
        "symbols": event.symbols,
    }


def retry_row(event: events.MailRetry) -> Row:
    mail = event.mail
    return {
        **envelope(event),
        "received_at": mail.received_at,
        "direction": mail.direction,
        "mail_from": mail.mail_from,
        "sender_unit": mail.sender_unit or "",
        "recipients": event.recipients,
        "attempt": event.attempt,
        "not_before": event.not_before,
        "deliver_until": event.deliver_until,
        "last_error": event.last_error,
        "size": mail.size,
    }


def activity_row(event: events.MailboxActivity) -> Row:
    return {
        "event_id": event.event_id,
        "occurred_at": utc(event.occurred_at),
        "schema_version": event.schema_version,
        "producer": event.producer,
        "trace_id": event.trace_id,
        "message_id": event.message_id or "",
        "mailbox": event.mailbox,
        "unit": event.unit or "",
        "actor": event.actor,
        "action": event.action,
        "folder": event.folder,
        "delivered_at": event.delivered_at,
    }


def account_row(event: events.AccountEvent) -> Row:
    return {
        **envelope(event),
        "kind": event.kind,
        "domain": event.domain,
        "address": event.address or "",
        "unit": event.unit or "",
        "actor": event.actor,
        "details": as_json(event.details),
    }


def auth_row(event: events.AuthEvent) -> Row:
    return {
        "event_id": event.event_id,
        "occurred_at": utc(event.occurred_at),
        "schema_version": event.schema_version,
        "producer": event.producer,
        "trace_id": event.trace_id,
        "message_id": event.message_id or "",
        "username": event.username,
        "ip": event.ip,
        "service": event.service,
        "outcome": event.outcome,
        "mechanism": event.mechanism,
        "reason": event.reason,
        "place": event.place,
    }


def audit_row(event: events.AdminAudit) -> Row:
    return {
        **envelope(event),
        "admin": event.admin,
        "action": event.action,
        "target": event.target,
        "outcome": event.outcome,
        "details": as_json(event.details),
    }


def feedback_row(event: events.MailFeedback) -> Row:
    return {
        **envelope(event),
        "label": event.label,
        "reporter": event.reporter.lower(),
        "mailbox": event.mailbox.lower(),
        "header_message_id": event.header_message_id,
        "blob_sha256": event.blob.sha256,
        "note": event.note,
    }


def dead_letter_row(event: events.DeadLetter, dlq_topic: str) -> Row:
    return {
        **envelope(event),
        "dlq_topic": dlq_topic,
        "source_topic": event.source_topic,
        "partition": event.partition,
        "offset": event.offset,
        "key": event.key or "",
        "consumer": event.consumer,
        "reason": event.reason,
        "error": event.error,
        "payload": event.payload,
    }


MAIN_TABLES: dict[str, tuple[str, Callable[[Any], Row]]] = {
    RECEIVED: ("mail_received", received_row),
    SCANNED: ("mail_scanned", scanned_row),
    DELIVERY: ("mail_delivery", delivery_row),
    RETRY: ("mail_retry", retry_row),
    ACTIVITY: ("mailbox_activity", activity_row),
    ACCOUNTS: ("account_events", account_row),
    AUTH: ("auth_events", auth_row),
    AUDIT: ("admin_audit", audit_row),
    FEEDBACK: ("mail_feedback", feedback_row),
}
DEAD_LETTERS = "dead_letters"


def table_of(topic: str) -> str:
    return DEAD_LETTERS if topic in DLQ_TOPICS else MAIN_TABLES[topic][0]


def validator(model: type[BaseModel]) -> Callable[[bytes], Any]:
    """The model's own validation of JSON, without the wrapper of model_validate_json.

    Built again from the model's schema so that only JSON keys are interned: the values (ids,
    addresses, subjects) are mostly new strings, and looking each up first costs a tenth of the
    validation. The result, errors included, is the same as model_validate_json's.
    """
    return SchemaValidator(model.__pydantic_core_schema__, CoreConfig(cache_strings="keys")).validate_json


# Per topic: its validator, table and row builder.
DECODERS: dict[str, tuple[Callable[[bytes], Any], str, Callable[[Any], Row]]] = {
    topic: (validator(ALL_TOPICS[topic].model), table, build) for topic, (table, build) in MAIN_TABLES.items()
}


def to_row(topic: str, value: bytes | None) -> tuple[str, Row]:
    """Validate one record against its topic's model (raises pydantic's ValidationError) and build its row."""
    decoder = DECODERS.get(topic)
    if decoder is None:
        event = ALL_TOPICS[topic].model.model_validate_json(value or b"")
        return DEAD_LETTERS, dead_letter_row(event, topic)
    validate, table, build = decoder
    return table, build(validate(value or b""))
