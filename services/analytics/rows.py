"""How each event of the bus becomes one row of its ClickHouse table (columns as in migrations/)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

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


def envelope(event: events.Envelope) -> Row:
    return {
        "event_id": event.event_id,
        "occurred_at": utc(event.occurred_at),
        "schema_version": event.schema_version,
        "producer": event.producer,
        "trace_id": event.trace_id,
        "message_id": event.message_id or "",
    }


def mail_route(mail: events.MailInfo) -> Row:
    """The columns of MailInfo that the received and scanned tables share."""
    return {
        "received_at": utc(mail.received_at),
        "direction": mail.direction,
        "mail_from": mail.mail_from,
        "sender_domain": mail.sender_domain.lower(),
        "sender_unit": mail.sender_unit or "",
        "header_from": mail.header_from,
        "subject": mail.subject,
        "rcpt_to": list(mail.rcpt_to),
        "rcpt_count": len(mail.rcpt_to),
        "size": mail.size,
        "client_ip": mail.client_ip,
    }


def received_row(event: events.MailReceived) -> Row:
    mail = event.mail
    return {
        **envelope(event),
        **mail_route(mail),
        "listener": mail.listener,
        "authenticated_as": mail.authenticated_as or "",
        "header_message_id": mail.header_message_id,
        "blob_sha256": mail.blob.sha256,
        "client_helo": mail.client_helo,
        "smtputf8": mail.smtputf8,
        "separate_delivery": mail.separate_delivery,
    }


def scanned_row(event: events.MailScanned) -> Row:
    verdict = event.verdict
    return {
        **envelope(event),
        **mail_route(event.mail),
        "action": verdict.action,
        "score": verdict.score,
        "required_score": verdict.required_score,
        "symbols": [s.name for s in verdict.symbols],
        "symbol_scores": [s.score for s in verdict.symbols],
        "symbol_groups": [s.group for s in verdict.symbols],
        "symbol_options": [list(s.options) for s in verdict.symbols],
        "scanner_version": verdict.scanner_version,
        "check_ms": dict(verdict.check_ms),
    }


def delivery_row(event: events.MailDelivery) -> Row:
    return {
        **envelope(event),
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
        "symbols": list(event.symbols),
    }


def retry_row(event: events.MailRetry) -> Row:
    mail = event.mail
    return {
        **envelope(event),
        "received_at": utc(mail.received_at),
        "direction": mail.direction,
        "mail_from": mail.mail_from,
        "sender_unit": mail.sender_unit or "",
        "recipients": list(event.recipients),
        "attempt": event.attempt,
        "not_before": utc(event.not_before),
        "deliver_until": utc(event.deliver_until),
        "last_error": event.last_error,
        "size": mail.size,
    }


def activity_row(event: events.MailboxActivity) -> Row:
    return {
        **envelope(event),
        "mailbox": event.mailbox,
        "unit": event.unit or "",
        "actor": event.actor,
        "action": event.action,
        "folder": event.folder,
        "delivered_at": utc(event.delivered_at) if event.delivered_at else None,
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
        **envelope(event),
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


def to_row(topic: str, value: bytes | None) -> tuple[str, Row]:
    """Validate one record against its topic's model (raises pydantic's ValidationError) and build its row."""
    event = ALL_TOPICS[topic].model.model_validate_json(value or b"")
    if topic in DLQ_TOPICS:
        return DEAD_LETTERS, dead_letter_row(event, topic)
    table, build = MAIN_TABLES[topic]
    return table, build(event)
