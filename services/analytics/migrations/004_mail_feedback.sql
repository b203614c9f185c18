-- Users' spam / not-spam reports (topic mail.feedback.v1): how often the filter is corrected, by
-- whom and which way, beside the verdicts in mail_scanned. Kept 2 years, like the mail events.

CREATE TABLE IF NOT EXISTS mail_feedback
(
    event_id String COMMENT 'Envelope event_id of the MailFeedback event',
    occurred_at DateTime64(3, 'UTC') COMMENT 'Envelope occurred_at: when the user reported the message, UTC',
    schema_version UInt16 COMMENT 'Envelope schema_version of the event within mail.feedback.v1',
    producer LowCardinality(String) COMMENT 'Envelope producer: webmail',
    trace_id String COMMENT 'Envelope trace_id of the report',
    message_id String COMMENT 'govmail queue id of the reported message when the copy named it, else empty',
    label LowCardinality(String) COMMENT 'What the reporter says the message is: spam (missed by the filter) or ham (wrongly marked)',
    reporter String COMMENT 'Account that reported it, lower case',
    mailbox String COMMENT 'Mailbox the message was in (the reporter''s own or one delegated to them)',
    header_message_id String COMMENT 'RFC5322.Message-ID header of the reported message',
    blob_sha256 String COMMENT 'SHA-256 of the reported message as the user saw it (the scanner''s training copy)',
    note String COMMENT 'What the reporter wrote, if anything (UTF-8)',
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3, 'UTC') COMMENT 'When analytics inserted the row, UTC'
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY event_id
TTL toDateTime(occurred_at) + INTERVAL 2 YEAR
SETTINGS ttl_only_drop_parts = 1
COMMENT 'Users'' spam and not-spam reports that retrain the scanner (topic mail.feedback.v1)';
