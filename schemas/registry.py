"""The topic registry: for every topic its model, key, partitions, retention, producers and consumers."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel

from schemas import events

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    model: type[BaseModel]
    key: str
    partitions: int
    retention_ms: int
    description: str
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    cleanup_policy: str = "delete"
    config: dict[str, str] = field(default_factory=dict)

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"


TOPICS: dict[str, TopicSpec] = {
    t.name: t
    for t in [
        TopicSpec(
            "mail.received.v1",
            events.MailReceived,
            key="message_id",
            partitions=8,
            retention_ms=7 * DAY_MS,
            description="Messages ingress accepted with 250; the raw bytes are in the blob store.",
            producers=("ingress", "spool-reconciler", "webmail"),
            consumers=("scanner", "analytics"),
        ),
        TopicSpec(
            "mail.scanned.v1",
            events.MailScanned,
            key="message_id",
            partitions=8,
            retention_ms=7 * DAY_MS,
            description="Scanner verdicts: action, score, symbols.",
            producers=("scanner",),
            consumers=("delivery", "analytics"),
        ),
        TopicSpec(
            "mail.delivery.v1",
            events.MailDelivery,
            key="recipient",
            partitions=8,
            retention_ms=30 * DAY_MS,
            description="One event per recipient and attempt: delivered, deferred, bounced, quarantined, rejected.",
            producers=("delivery",),
            consumers=("analytics", "webmail"),
        ),
        TopicSpec(
            "mail.retry.v1",
            events.MailRetry,
            key="message_id",
            partitions=4,
            retention_ms=7 * DAY_MS,
            description="Temporary delivery failures waiting for their next attempt.",
            producers=("delivery",),
            consumers=("delivery",),
        ),
        TopicSpec(
            "mailbox.activity.v1",
            events.MailboxActivity,
            key="mailbox",
            partitions=4,
            retention_ms=30 * DAY_MS,
            description="What users do with their mail: opened, replied, deleted, recalled, burned.",
            producers=("webmail", "delivery"),
            consumers=("analytics", "delivery"),
        ),
        TopicSpec(
            "account.events.v1",
            events.AccountEvent,
            key="address",
            partitions=4,
            retention_ms=365 * DAY_MS,
            description="Every change to domains, units and accounts; Redis holds the state of record.",
            producers=("lifecycle", "webmail"),
            consumers=("analytics",),
        ),
        TopicSpec(
            "auth.events.v1",
            events.AuthEvent,
            key="username",
            partitions=4,
            retention_ms=90 * DAY_MS,
            description="Every authentication success, failure and lockout, with the client IP.",
            producers=("ingress", "webmail", "lifecycle"),
            consumers=("analytics",),
        ),
        TopicSpec(
            "admin.audit.v1",
            events.AdminAudit,
            key="admin",
            partitions=1,
            retention_ms=365 * DAY_MS,
            description="Every administrator action (R27).",
            producers=("lifecycle", "scanner"),
            consumers=("analytics",),
        ),
        TopicSpec(
            "mail.feedback.v1",
            events.MailFeedback,
            key="reporter",
            partitions=1,
            retention_ms=30 * DAY_MS,
            description="Users' spam / not-spam reports; the scanner keeps them to train its classifier.",
            producers=("webmail",),
            consumers=("scanner",),
        ),
    ]
}

# Every main topic has a dead-letter topic with the same partitioning as the default for DLQs.
DLQ_TOPICS: dict[str, TopicSpec] = {
    spec.dlq: TopicSpec(
        spec.dlq,
        events.DeadLetter,
        key="key",
        partitions=1,
        retention_ms=30 * DAY_MS,
        description=f"Inputs of {spec.name} that a consumer could not process, with the reason.",
        producers=spec.consumers,
        consumers=("analytics", "operators"),
    )
    for spec in TOPICS.values()
}

ALL_TOPICS: dict[str, TopicSpec] = {**TOPICS, **DLQ_TOPICS}

RECEIVED = "mail.received.v1"
SCANNED = "mail.scanned.v1"
DELIVERY = "mail.delivery.v1"
RETRY = "mail.retry.v1"
ACTIVITY = "mailbox.activity.v1"
ACCOUNTS = "account.events.v1"
AUTH = "auth.events.v1"
AUDIT = "admin.audit.v1"
FEEDBACK = "mail.feedback.v1"
