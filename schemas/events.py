"""Event models carried on the bus: one pydantic v2 model per topic, all sharing one envelope."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


def new_event_id() -> str:
    return str(uuid.uuid4())


def derived_event_id(*parts: str) -> str:
    """An event id that is the same every time the same input is processed again.

    Consumers re-run events after a crash or a republish from the spool; deriving the id
    of what they emit from what they consumed lets ClickHouse and other readers drop the
    repeat instead of counting it twice.
    """
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "govmail:" + "|".join(parts)))


def utcnow() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    """Fields every event carries, set once where the event is born."""

    model_config = ConfigDict(extra="ignore")

    event_id: str = Field(default_factory=new_event_id, description="Unique id of this event (UUID).")
    occurred_at: datetime = Field(default_factory=utcnow, description="When it happened, UTC.")
    schema_version: int = Field(1, description="Version of this event's schema within its topic.")
    producer: str = Field(description="Service that emitted the event, e.g. 'ingress'.")
    trace_id: str = Field(default_factory=new_event_id, description="Id shared by every event of one mail or request.")
    message_id: str | None = Field(
        None, description="govmail's queue id of the mail concerned (not the Message-ID header); null when no mail is concerned."
    )


class BlobRef(BaseModel):
    """Claim-check for a raw message held in the blob store (raw mail never travels on the bus)."""

    model_config = ConfigDict(extra="ignore")

    sha256: str = Field(description="Hex SHA-256 of the stored bytes; also their address in the store.")
    size: int = Field(description="Size of the stored bytes in octets.")
    uri: str = Field(description="Where the bytes are, e.g. 'file:///data/blobs/ab/cd/<sha256>'.")


class MailInfo(BaseModel):
    """What ingress learnt about one accepted message, passed along the pipeline."""

    model_config = ConfigDict(extra="ignore")

    mail_from: str = Field(description="RFC5321.MailFrom (envelope sender); empty for bounces.")
    rcpt_to: list[str] = Field(description="RFC5321.RcptTo addresses accepted for this message.")
    blob: BlobRef
    size: int = Field(description="Size of the message as received (DATA) in octets.")
    listener: Literal["mx", "submission", "internal"] = Field(description="Where the message came in.")
    client_ip: str = Field("", description="IP address of the SMTP client.")
    client_helo: str = Field("", description="HELO/EHLO name the client gave.")
    authenticated_as: str | None = Field(None, description="Account that authenticated (submission), else null.")
    smtputf8: bool = Field(False, description="Client asked for SMTPUTF8.")
    header_from: str = Field("", description="RFC5322.From header, decoded.")
    subject: str = Field("", description="Subject header, decoded (RFC 2047).")
    header_message_id: str = Field("", description="RFC5322.Message-ID header.")
    sender_domain: str = Field("", description="Domain of RFC5321.MailFrom, lower case.")
    sender_unit: str | None = Field(None, description="Unit code of the sender when the sender is a local account.")
    direction: Literal["inbound", "outbound", "internal"] = Field(
        description="inbound: from the world to local accounts; outbound: local to the world; internal: local to local."
    )
    received_at: datetime = Field(description="When ingress answered 250, UTC.")
    separate_delivery: bool = Field(False, description="Each recipient gets a copy showing only themself (R15).")
    delegation: Literal["", "send_as", "send_on_behalf"] = Field(
        "", description="The grant (R16) the authenticated account used to send for another mailbox, if any."
    )
    delegated_mailbox: str = Field("", description="The mailbox whose grant was used (RFC5322.From), else empty.")


class MailReceived(Envelope):
    """ingress accepted a message (answered 250) and stored it durably."""

    mail: MailInfo


class Symbol(BaseModel):
    """One finding of one scanner check."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(description="UPPER_SNAKE name with an area prefix, e.g. 'SPAM_GTUBE', 'VIRUS_EICAR'.")
    score: float = Field(description="Weight from the scanner configuration.")
    group: str = Field("", description="Group the symbol belongs to (spam, virus, phishing, classified, check).")
    options: list[str] = Field(default_factory=list, description="Why it fired: matched part, file name, …")


Action = Literal["accept", "add_header", "quarantine", "reject"]


class Verdict(BaseModel):
    """The scanner's decision on one message and why."""

    model_config = ConfigDict(extra="ignore")

    action: Action
    score: float
    required_score: float = Field(description="Score at which the message counts as spam (the add-header threshold).")
    symbols: list[Symbol] = Field(default_factory=list)
    scanner_version: str
    check_ms: dict[str, float] = Field(default_factory=dict, description="Milliseconds each check took.")


class MailScanned(Envelope):
    """scanner's verdict on a received message."""

    mail: MailInfo
    verdict: Verdict


DeliveryStatus = Literal["delivered", "deferred", "bounced", "quarantined", "rejected", "dropped"]


class MailDelivery(Envelope):
    """Outcome of one delivery attempt for one recipient."""

    recipient: str = Field(description="RFC5321.RcptTo of this recipient.")
    recipient_domain: str
    recipient_unit: str | None = Field(None, description="Unit code of the recipient when local.")
    mail_from: str = Field(description="RFC5321.MailFrom.")
    sender_unit: str | None = None
    direction: Literal["inbound", "outbound", "internal"]
    status: DeliveryStatus
    final: bool = Field(description="True when no further attempt will be made for this recipient.")
    detail: str = Field("", description="Human-readable reason, e.g. the remote SMTP reply.")
    enhanced_status: str = Field("", description="RFC 3463 status, e.g. '2.0.0', '5.1.1'.")
    attempt: int = Field(1, description="Attempt number for this recipient, from 1.")
    size: int = Field(0, description="Message size in octets.")
    action: str = Field("", description="Scanner action that led here.")
    score: float = Field(0.0, description="Scanner score.")
    symbols: list[str] = Field(default_factory=list, description="Names of the scanner symbols that fired.")


class MailRetry(Envelope):
    """A temporary delivery failure to retry later."""

    mail: MailInfo
    verdict: Verdict
    recipients: list[str]
    attempt: int
    not_before: datetime
    deliver_until: datetime
    last_error: str = ""


class MailboxActivity(Envelope):
    """Something a user did with a message in a mailbox (source of processing-efficiency statistics)."""

    mailbox: str = Field(description="Address of the mailbox concerned.")
    unit: str | None = None
    actor: str = Field(description="Account that acted (the owner or a delegate).")
    action: Literal["opened", "replied", "forwarded", "deleted", "recalled", "burned", "todo", "released"]
    folder: str = "INBOX"
    delivered_at: datetime | None = Field(None, description="When the message reached this mailbox, if known.")


class AccountEvent(Envelope):
    """A change in the account directory (lifecycle is the only producer)."""

    kind: Literal[
        "domain_added",
        "unit_added",
        "account_created",
        "account_updated",
        "account_locked",
        "account_unlocked",
        "account_deleted",
        "password_changed",
        "application_submitted",
        "application_approved",
        "application_refused",
        "application_overdue",
        "account_renamed",
        "account_transferred",
        "account_handed_over",
        "account_closed",
        "grant_added",
        "grant_revoked",
        "service_class_set",
        "inactivity_notice",
    ]
    domain: str
    address: str | None = None
    unit: str | None = None
    actor: str = Field("system", description="Administrator or service that made the change.")
    details: dict[str, Any] = Field(default_factory=dict)


class AuthEvent(Envelope):
    """One authentication attempt or lockout."""

    username: str
    ip: str
    service: Literal["smtp", "webmail", "admin"]
    outcome: Literal["success", "failure", "lockout", "blocked"]
    mechanism: str = ""
    reason: str = ""
    place: str = Field("", description="Place from the province's IP library, if known.")


class AdminAudit(Envelope):
    """An administrator's action (R27: every administrator action is logged)."""

    admin: str
    action: str
    target: str
    outcome: Literal["ok", "denied", "error"] = "ok"
    details: dict[str, Any] = Field(default_factory=dict)


class MailFeedback(Envelope):
    """A user says a message was misjudged: spam that got through, or good mail marked as spam.

    The scanner keeps the message under its data dir and `govmail scanner train` learns from it.
    """

    blob: BlobRef = Field(description="The message as the user saw it, in the blob store.")
    label: Literal["spam", "ham"] = Field(description="What the message really is, according to the reporter.")
    reporter: str = Field(description="Address of the account that reported it.")
    header_message_id: str = Field("", description="RFC5322.Message-ID of the reported message, if it has one.")
    mailbox: str = Field("", description="Mailbox the message was in when reported (the reporter's or a delegated one).")
    note: str = Field("", description="What the reporter wrote about it, if anything.")


class DeadLetter(Envelope):
    """An input a consumer could not process, kept with the reason instead of being dropped."""

    source_topic: str
    partition: int
    offset: int
    key: str | None = None
    consumer: str
    reason: str = Field(description="Short machine-readable reason, e.g. 'invalid_payload', 'handler_error'.")
    error: str = Field(description="The error message.")
    payload: str = Field(description="The original value, as UTF-8 text (invalid bytes escaped).")
