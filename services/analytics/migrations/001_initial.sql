-- One table per topic of the bus. Rows are keyed by the event id (ORDER BY event_id) in a
-- ReplacingMergeTree, so that a replayed batch collapses into one row when parts merge;
-- queries that must be exact before the merge use FINAL or count distinct ids.
-- Optional strings are stored as '' (ClickHouse's Nullable costs a column per field).

CREATE TABLE IF NOT EXISTS mail_received
(
    event_id String COMMENT 'Envelope event_id (UUID) of the MailReceived event; a replay has the same id',
    occurred_at DateTime64(3, 'UTC') COMMENT 'Envelope occurred_at: when the event was born, UTC',
    schema_version UInt16 COMMENT 'Envelope schema_version of the event within mail.received.v1',
    producer LowCardinality(String) COMMENT 'Envelope producer: ingress, or spool-reconciler for a republish',
    trace_id String COMMENT 'Envelope trace_id shared by every event of this mail',
    message_id String COMMENT 'govmail queue id of the message (not the RFC5322.Message-ID header)',
    received_at DateTime64(3, 'UTC') COMMENT 'When ingress answered 250 to the DATA command, UTC',
    listener LowCardinality(String) COMMENT 'Where the message came in: mx (port 25), submission (587, authenticated) or internal',
    direction LowCardinality(String) COMMENT 'inbound (world to local), outbound (local to world) or internal (local to local)',
    mail_from String COMMENT 'RFC5321.MailFrom: the envelope sender; empty for bounces (null reverse-path)',
    sender_domain LowCardinality(String) COMMENT 'Domain of RFC5321.MailFrom, lower case',
    sender_unit LowCardinality(String) COMMENT 'Unit code of the sender when RFC5321.MailFrom is a local account, else empty',
    authenticated_as String COMMENT 'Account that authenticated with SMTP AUTH on submission, else empty',
    header_from String COMMENT 'RFC5322.From header, decoded; may differ from RFC5321.MailFrom',
    subject String COMMENT 'RFC5322 Subject header, decoded from RFC 2047, UTF-8',
    header_message_id String COMMENT 'RFC5322.Message-ID header as the client sent it',
    rcpt_to Array(String) COMMENT 'RFC5321.RcptTo addresses accepted for this message',
    rcpt_count UInt32 COMMENT 'Number of accepted RFC5321.RcptTo addresses (length of rcpt_to)',
    size Int64 COMMENT 'Size of the message as received in DATA, octets',
    blob_sha256 String COMMENT 'SHA-256 of the raw message: its address in the blob store',
    client_ip String COMMENT 'IP address of the SMTP client',
    client_helo String COMMENT 'RFC5321 HELO/EHLO name the client gave',
    smtputf8 Bool COMMENT 'The client asked for SMTPUTF8 (RFC 6531) in MAIL FROM',
    separate_delivery Bool COMMENT 'Each recipient gets a copy showing only their own address (mass mailing, R15)',
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3, 'UTC') COMMENT 'When analytics inserted the row, UTC'
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY event_id
COMMENT 'One row per message ingress accepted with 250 (topic mail.received.v1)';

CREATE TABLE IF NOT EXISTS mail_scanned
(
    event_id String COMMENT 'Envelope event_id of the MailScanned event, derived from the received event (a rescan has the same id)',
    occurred_at DateTime64(3, 'UTC') COMMENT 'Envelope occurred_at: when the verdict was given, UTC',
    schema_version UInt16 COMMENT 'Envelope schema_version of the event within mail.scanned.v1',
    producer LowCardinality(String) COMMENT 'Envelope producer: scanner',
    trace_id String COMMENT 'Envelope trace_id shared by every event of this mail',
    message_id String COMMENT 'govmail queue id of the message (not the RFC5322.Message-ID header)',
    received_at DateTime64(3, 'UTC') COMMENT 'When ingress answered 250 for this message, UTC',
    direction LowCardinality(String) COMMENT 'inbound, outbound or internal (see mail_received.direction)',
    mail_from String COMMENT 'RFC5321.MailFrom: the envelope sender; empty for bounces',
    sender_domain LowCardinality(String) COMMENT 'Domain of RFC5321.MailFrom, lower case',
    sender_unit LowCardinality(String) COMMENT 'Unit code of the sender when local, else empty',
    header_from String COMMENT 'RFC5322.From header, decoded; may differ from RFC5321.MailFrom',
    subject String COMMENT 'RFC5322 Subject header, decoded from RFC 2047, UTF-8',
    rcpt_to Array(String) COMMENT 'RFC5321.RcptTo addresses of the message; the verdict applies to each of them',
    rcpt_count UInt32 COMMENT 'Number of RFC5321.RcptTo addresses',
    size Int64 COMMENT 'Size of the message as received, octets',
    client_ip String COMMENT 'IP address of the SMTP client that sent the message',
    action LowCardinality(String) COMMENT 'Verdict: accept, add_header (spam, to Junk), quarantine or reject',
    score Float64 COMMENT 'Total score of the symbols that fired',
    required_score Float64 COMMENT 'Score at which a message counts as spam (the add_header threshold)',
    symbols Array(LowCardinality(String)) COMMENT 'Names of the symbols that fired, e.g. SPAM_GTUBE, VIRUS_EICAR',
    symbol_scores Array(Float64) COMMENT 'Score of each symbol, same order as symbols',
    symbol_groups Array(LowCardinality(String)) COMMENT 'Group of each symbol (spam, virus, phishing, classified, check), same order as symbols',
    symbol_options Array(Array(String)) COMMENT 'Why each symbol fired (matched part, file name, ...), same order as symbols',
    scanner_version LowCardinality(String) COMMENT 'Version of the scanner and its configuration',
    check_ms Map(String, Float64) COMMENT 'Milliseconds each check took, by check name',
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3, 'UTC') COMMENT 'When analytics inserted the row, UTC'
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY event_id
COMMENT 'One row per scanner verdict (topic mail.scanned.v1)';

CREATE TABLE IF NOT EXISTS mail_delivery
(
    event_id String COMMENT 'Envelope event_id of the MailDelivery event, derived from message, recipient and status',
    occurred_at DateTime64(3, 'UTC') COMMENT 'Envelope occurred_at: when the outcome was known, UTC',
    schema_version UInt16 COMMENT 'Envelope schema_version of the event within mail.delivery.v1',
    producer LowCardinality(String) COMMENT 'Envelope producer: delivery',
    trace_id String COMMENT 'Envelope trace_id shared by every event of this mail',
    message_id String COMMENT 'govmail queue id of the message (not the RFC5322.Message-ID header)',
    recipient String COMMENT 'RFC5321.RcptTo of this recipient',
    recipient_domain LowCardinality(String) COMMENT 'Domain of the recipient, lower case',
    recipient_unit LowCardinality(String) COMMENT 'Unit code of the recipient when a local account, else empty',
    mail_from String COMMENT 'RFC5321.MailFrom: the envelope sender; empty for bounces',
    sender_unit LowCardinality(String) COMMENT 'Unit code of the sender when local, else empty',
    direction LowCardinality(String) COMMENT 'inbound, outbound or internal (see mail_received.direction)',
    status LowCardinality(String) COMMENT 'delivered, deferred (will retry), bounced (permanent failure), quarantined, rejected (refused after the scanner verdict) or dropped',
    final Bool COMMENT 'True when no further attempt will be made for this recipient',
    detail String COMMENT 'Human-readable reason, e.g. the remote SMTP reply or the target folder',
    enhanced_status LowCardinality(String) COMMENT 'RFC 3463 enhanced status code, e.g. 2.0.0, 5.1.1',
    attempt Int32 COMMENT 'Attempt number for this recipient, from 1',
    size Int64 COMMENT 'Message size, octets',
    action LowCardinality(String) COMMENT 'Scanner action that led to this outcome',
    score Float64 COMMENT 'Scanner score of the message',
    symbols Array(LowCardinality(String)) COMMENT 'Names of the scanner symbols that fired',
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3, 'UTC') COMMENT 'When analytics inserted the row, UTC'
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY event_id
COMMENT 'One row per recipient and delivery attempt outcome (topic mail.delivery.v1)';

CREATE TABLE IF NOT EXISTS mail_retry
(
    event_id String COMMENT 'Envelope event_id of the MailRetry event',
    occurred_at DateTime64(3, 'UTC') COMMENT 'Envelope occurred_at: when the temporary failure happened, UTC',
    schema_version UInt16 COMMENT 'Envelope schema_version of the event within mail.retry.v1',
    producer LowCardinality(String) COMMENT 'Envelope producer: delivery',
    trace_id String COMMENT 'Envelope trace_id shared by every event of this mail',
    message_id String COMMENT 'govmail queue id of the message (not the RFC5322.Message-ID header)',
    received_at DateTime64(3, 'UTC') COMMENT 'When ingress answered 250 for this message, UTC',
    direction LowCardinality(String) COMMENT 'inbound, outbound or internal',
    mail_from String COMMENT 'RFC5321.MailFrom: the envelope sender; empty for bounces',
    sender_unit LowCardinality(String) COMMENT 'Unit code of the sender when local, else empty',
    recipients Array(String) COMMENT 'RFC5321.RcptTo addresses still to be tried',
    attempt Int32 COMMENT 'Number of the next attempt',
    not_before DateTime64(3, 'UTC') COMMENT 'Earliest time of the next attempt, UTC',
    deliver_until DateTime64(3, 'UTC') COMMENT 'Deadline after which the recipients bounce, UTC',
    last_error String COMMENT 'Error of the last attempt, e.g. the remote SMTP reply',
    size Int64 COMMENT 'Message size, octets',
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3, 'UTC') COMMENT 'When analytics inserted the row, UTC'
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY event_id
COMMENT 'Temporary delivery failures scheduled for another attempt (topic mail.retry.v1)';

CREATE TABLE IF NOT EXISTS mailbox_activity
(
    event_id String COMMENT 'Envelope event_id of the MailboxActivity event',
    occurred_at DateTime64(3, 'UTC') COMMENT 'Envelope occurred_at: when the user acted, UTC',
    schema_version UInt16 COMMENT 'Envelope schema_version of the event within mailbox.activity.v1',
    producer LowCardinality(String) COMMENT 'Envelope producer: webmail (or the IMAP/POP3 bridge)',
    trace_id String COMMENT 'Envelope trace_id of the request',
    message_id String COMMENT 'govmail queue id of the message acted on (not the RFC5322.Message-ID header); empty when none',
    mailbox String COMMENT 'Address of the mailbox concerned',
    unit LowCardinality(String) COMMENT 'Unit code of the mailbox, empty when unknown',
    actor String COMMENT 'Account that acted: the owner or a delegate',
    action LowCardinality(String) COMMENT 'opened, replied, forwarded, deleted, recalled, burned, todo or released',
    folder LowCardinality(String) COMMENT 'Folder of the message, e.g. INBOX, Junk',
    delivered_at Nullable(DateTime64(3, 'UTC')) COMMENT 'When the message reached this mailbox, UTC; null when unknown',
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3, 'UTC') COMMENT 'When analytics inserted the row, UTC'
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY event_id
COMMENT 'What users do with their mail, the source of processing-efficiency statistics (topic mailbox.activity.v1)';

CREATE TABLE IF NOT EXISTS account_events
(
    event_id String COMMENT 'Envelope event_id of the AccountEvent',
    occurred_at DateTime64(3, 'UTC') COMMENT 'Envelope occurred_at: when the change was made, UTC',
    schema_version UInt16 COMMENT 'Envelope schema_version of the event within account.events.v1',
    producer LowCardinality(String) COMMENT 'Envelope producer: lifecycle',
    trace_id String COMMENT 'Envelope trace_id of the request',
    message_id String COMMENT 'govmail queue id of a mail concerned, usually empty',
    kind LowCardinality(String) COMMENT 'domain_added, unit_added, account_created, account_updated, account_locked, account_unlocked, account_deleted or password_changed',
    domain LowCardinality(String) COMMENT 'Mail domain concerned, e.g. tiengiang.gov.vn',
    address String COMMENT 'Address of the account concerned, empty for domain and unit events',
    unit LowCardinality(String) COMMENT 'Unit code concerned, empty when none',
    actor String COMMENT 'Administrator or service that made the change',
    details String COMMENT 'Further details as a JSON object (UTF-8)',
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3, 'UTC') COMMENT 'When analytics inserted the row, UTC'
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY event_id
COMMENT 'Every change to domains, units and accounts (topic account.events.v1); Redis holds the state of record';

CREATE TABLE IF NOT EXISTS auth_events
(
    event_id String COMMENT 'Envelope event_id of the AuthEvent',
    occurred_at DateTime64(3, 'UTC') COMMENT 'Envelope occurred_at: when the attempt was made, UTC',
    schema_version UInt16 COMMENT 'Envelope schema_version of the event within auth.events.v1',
    producer LowCardinality(String) COMMENT 'Envelope producer: ingress, webmail or lifecycle',
    trace_id String COMMENT 'Envelope trace_id of the request',
    message_id String COMMENT 'govmail queue id of a mail concerned, usually empty',
    username String COMMENT 'User name given (an address, or what the client typed)',
    ip String COMMENT 'IP address of the client',
    service LowCardinality(String) COMMENT 'smtp (SMTP AUTH), webmail or admin',
    outcome LowCardinality(String) COMMENT 'success, failure, lockout or blocked',
    mechanism LowCardinality(String) COMMENT 'Authentication mechanism, e.g. PLAIN, LOGIN, password',
    reason String COMMENT 'Why it failed or was blocked, empty on success',
    place String COMMENT 'Place of the IP address from the province IP library, empty when unknown',
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3, 'UTC') COMMENT 'When analytics inserted the row, UTC'
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY event_id
COMMENT 'Every authentication attempt and lockout (topic auth.events.v1)';

CREATE TABLE IF NOT EXISTS admin_audit
(
    event_id String COMMENT 'Envelope event_id of the AdminAudit event',
    occurred_at DateTime64(3, 'UTC') COMMENT 'Envelope occurred_at: when the administrator acted, UTC',
    schema_version UInt16 COMMENT 'Envelope schema_version of the event within admin.audit.v1',
    producer LowCardinality(String) COMMENT 'Envelope producer: lifecycle',
    trace_id String COMMENT 'Envelope trace_id of the request',
    message_id String COMMENT 'govmail queue id of a mail concerned, usually empty',
    admin String COMMENT 'Administrator who acted',
    action LowCardinality(String) COMMENT 'What was done, e.g. account.create, unit.add',
    target String COMMENT 'What it was done to, e.g. an address or unit code',
    outcome LowCardinality(String) COMMENT 'ok, denied or error',
    details String COMMENT 'Further details as a JSON object (UTF-8)',
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3, 'UTC') COMMENT 'When analytics inserted the row, UTC'
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY event_id
COMMENT 'Every administrator action, R27 (topic admin.audit.v1)';

CREATE TABLE IF NOT EXISTS dead_letters
(
    event_id String COMMENT 'Envelope event_id of the DeadLetter, derived from consumer, topic, partition and offset',
    occurred_at DateTime64(3, 'UTC') COMMENT 'Envelope occurred_at: when the input was dead-lettered, UTC',
    schema_version UInt16 COMMENT 'Envelope schema_version of the DeadLetter event',
    producer LowCardinality(String) COMMENT 'Envelope producer: the consumer that gave up on the input',
    trace_id String COMMENT 'Envelope trace_id of the DeadLetter event',
    message_id String COMMENT 'govmail queue id when known, usually empty',
    dlq_topic LowCardinality(String) COMMENT 'Topic the letter was read from (<source_topic>.dlq); a DLQ input analytics could not read itself is stored with its own topic here',
    source_topic LowCardinality(String) COMMENT 'Topic the failed input was read from',
    partition UInt32 COMMENT 'Partition of the failed input in source_topic',
    offset Int64 COMMENT 'Offset of the failed input in source_topic',
    key String COMMENT 'Kafka key of the failed input as UTF-8 (invalid bytes escaped), empty when none',
    consumer LowCardinality(String) COMMENT 'Consumer that could not process the input',
    reason LowCardinality(String) COMMENT 'Machine-readable reason, e.g. invalid_payload, handler_error, blob_missing',
    error String COMMENT 'The error message',
    payload String COMMENT 'The original value as UTF-8 text (invalid bytes escaped)',
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3, 'UTC') COMMENT 'When analytics inserted the row, UTC'
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY event_id
COMMENT 'Inputs a consumer could not process, with the reason (all <topic>.dlq topics)';
