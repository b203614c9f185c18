-- Retention policy (docs/analytics.md, "Retention"): every row expires with its month's partition
-- once it is older than its table's period, measured from the event's occurred_at.
--   mail events and mailbox activity: 2 years (the annual report compares with the year before);
--   authentication events: 1 year; dead letters: 90 days (they are handled, or replayed, long before);
--   account events and administrator audit: 10 years (R27 audit; inactivity needs account creation);
--   the daily roll-up: 10 years (the long-term statistics after the raw events are gone).
-- ttl_only_drop_parts drops whole expired monthly parts instead of rewriting them row by row.

ALTER TABLE mail_received MODIFY TTL toDateTime(occurred_at) + INTERVAL 2 YEAR;
ALTER TABLE mail_scanned MODIFY TTL toDateTime(occurred_at) + INTERVAL 2 YEAR;
ALTER TABLE mail_delivery MODIFY TTL toDateTime(occurred_at) + INTERVAL 2 YEAR;
ALTER TABLE mail_retry MODIFY TTL toDateTime(occurred_at) + INTERVAL 2 YEAR;
ALTER TABLE mailbox_activity MODIFY TTL toDateTime(occurred_at) + INTERVAL 2 YEAR;
ALTER TABLE auth_events MODIFY TTL toDateTime(occurred_at) + INTERVAL 1 YEAR;
ALTER TABLE dead_letters MODIFY TTL toDateTime(occurred_at) + INTERVAL 90 DAY;
ALTER TABLE account_events MODIFY TTL toDateTime(occurred_at) + INTERVAL 10 YEAR;
ALTER TABLE admin_audit MODIFY TTL toDateTime(occurred_at) + INTERVAL 10 YEAR;
ALTER TABLE mail_received MODIFY SETTING ttl_only_drop_parts = 1;
ALTER TABLE mail_scanned MODIFY SETTING ttl_only_drop_parts = 1;
ALTER TABLE mail_delivery MODIFY SETTING ttl_only_drop_parts = 1;
ALTER TABLE mail_retry MODIFY SETTING ttl_only_drop_parts = 1;
ALTER TABLE mailbox_activity MODIFY SETTING ttl_only_drop_parts = 1;
ALTER TABLE auth_events MODIFY SETTING ttl_only_drop_parts = 1;
ALTER TABLE dead_letters MODIFY SETTING ttl_only_drop_parts = 1;
ALTER TABLE account_events MODIFY SETTING ttl_only_drop_parts = 1;
ALTER TABLE admin_audit MODIFY SETTING ttl_only_drop_parts = 1;

-- One row per local day × unit × account × direction, summed as parts merge. Fed by the three
-- materialized views below at insert time; the ingest drops events whose id is already stored
-- before inserting, so a replayed batch adds nothing here.
CREATE TABLE IF NOT EXISTS mail_daily
(
    day Date COMMENT 'Local day (Asia/Ho_Chi_Minh, the province) of the event',
    unit LowCardinality(String) COMMENT 'Unit code of the account when the event carried it, else empty (queries resolve it from account_events)',
    account String COMMENT 'Local account concerned, lower case: the recipient of inbound and internal mail, RFC5321.MailFrom of outbound mail',
    direction LowCardinality(String) COMMENT 'inbound, outbound or internal (see mail_received.direction)',
    received UInt64 COMMENT 'Recipients accepted by ingress for this account (one message to three local accounts counts once for each)',
    sent UInt64 COMMENT 'Messages this account sent (RFC5321.MailFrom), counted once whatever the number of recipients',
    delivered UInt64 COMMENT 'Recipients delivered: into this mailbox (inbound, internal) or to the remote server (outbound)',
    deferred UInt64 COMMENT 'Delivery attempts that failed temporarily and will be retried',
    bounced UInt64 COMMENT 'Recipients that failed permanently (a bounce goes back to the sender)',
    spam UInt64 COMMENT 'Recipients (outbound: messages) of mail the scanner did not accept with a symbol of group spam',
    virus UInt64 COMMENT 'Recipients (outbound: messages) of mail with a symbol of group virus',
    phishing UInt64 COMMENT 'Recipients (outbound: messages) of mail with a symbol of group phishing',
    quarantined UInt64 COMMENT 'Recipients whose copy was quarantined',
    received_bytes UInt64 COMMENT 'Octets of the mail counted in received (size per recipient)',
    sent_bytes UInt64 COMMENT 'Octets of the mail counted in sent (size per message)',
    delivered_bytes UInt64 COMMENT 'Octets delivered into this mailbox (inbound and internal): the space the mail takes'
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, account, direction, unit)
TTL day + INTERVAL 10 YEAR
SETTINGS ttl_only_drop_parts = 1
COMMENT 'Daily roll-up of mail per local day, unit, account and direction; sum() the columns, rows of one key may not be merged yet';

CREATE MATERIALIZED VIEW IF NOT EXISTS mail_daily_received TO mail_daily AS
SELECT toDate(received_at, 'Asia/Ho_Chi_Minh') AS day,
       if(is_sender = 1, sender_unit, '') AS unit,
       lower(account_) AS account,
       direction,
       toUInt64(is_sender = 0) AS received,
       toUInt64(is_sender = 1) AS sent,
       toUInt64(is_sender = 0) * toUInt64(size) AS received_bytes,
       toUInt64(is_sender = 1) * toUInt64(size) AS sent_bytes
FROM mail_received
ARRAY JOIN
    -- The recipients of inbound and internal mail (is_sender 0), then the local sender of
    -- outbound and internal mail once (is_sender 1); bounces (empty RFC5321.MailFrom) have no sender.
    arrayConcat(if(direction = 'outbound', [], rcpt_to),
                if(direction = 'inbound' OR mail_from = '', [], [mail_from])) AS account_,
    arrayConcat(arrayMap(r -> toUInt8(0), if(direction = 'outbound', [], rcpt_to)),
                if(direction = 'inbound' OR mail_from = '', [], [toUInt8(1)])) AS is_sender;

CREATE MATERIALIZED VIEW IF NOT EXISTS mail_daily_delivery TO mail_daily AS
SELECT toDate(occurred_at, 'Asia/Ho_Chi_Minh') AS day,
       if(direction = 'outbound', sender_unit, recipient_unit) AS unit,
       lower(if(direction = 'outbound', mail_from, recipient)) AS account,
       direction,
       toUInt64(status = 'delivered') AS delivered,
       toUInt64(status = 'deferred') AS deferred,
       toUInt64(status = 'bounced') AS bounced,
       toUInt64(status = 'quarantined') AS quarantined,
       toUInt64(status = 'delivered' AND direction != 'outbound') * toUInt64(size) AS delivered_bytes
FROM mail_delivery
WHERE status IN ('delivered', 'deferred', 'bounced', 'quarantined')
  AND NOT (direction = 'outbound' AND mail_from = '');

CREATE MATERIALIZED VIEW IF NOT EXISTS mail_daily_scanned TO mail_daily AS
SELECT toDate(received_at, 'Asia/Ho_Chi_Minh') AS day,
       if(direction = 'outbound', sender_unit, '') AS unit,
       lower(account_) AS account,
       direction,
       toUInt64(action != 'accept' AND has(symbol_groups, 'spam')) AS spam,
       toUInt64(has(symbol_groups, 'virus')) AS virus,
       toUInt64(has(symbol_groups, 'phishing')) AS phishing
FROM mail_scanned
ARRAY JOIN if(direction = 'outbound', [mail_from], rcpt_to) AS account_
WHERE has(symbol_groups, 'spam') OR has(symbol_groups, 'virus') OR has(symbol_groups, 'phishing');

-- Mail stored before this migration, rolled up once. Each statement fills only its own columns and
-- runs only while they are all zero, so a migration cut off half-way and run again adds nothing twice.
-- The ingest is not running while migrations are applied.

INSERT INTO mail_daily (day, unit, account, direction, received, sent, received_bytes, sent_bytes)
SELECT toDate(received_at, 'Asia/Ho_Chi_Minh') AS day,
       if(is_sender = 1, sender_unit, '') AS unit,
       lower(account_) AS account,
       direction,
       toUInt64(is_sender = 0) AS received,
       toUInt64(is_sender = 1) AS sent,
       toUInt64(is_sender = 0) * toUInt64(size) AS received_bytes,
       toUInt64(is_sender = 1) * toUInt64(size) AS sent_bytes
FROM mail_received FINAL
ARRAY JOIN
    -- The recipients of inbound and internal mail (is_sender 0), then the local sender of
    -- outbound and internal mail once (is_sender 1); bounces (empty RFC5321.MailFrom) have no sender.
    arrayConcat(if(direction = 'outbound', [], rcpt_to),
                if(direction = 'inbound' OR mail_from = '', [], [mail_from])) AS account_,
    arrayConcat(arrayMap(r -> toUInt8(0), if(direction = 'outbound', [], rcpt_to)),
                if(direction = 'inbound' OR mail_from = '', [], [toUInt8(1)])) AS is_sender
WHERE (SELECT sum(received + sent) FROM mail_daily) = 0;

INSERT INTO mail_daily (day, unit, account, direction, delivered, deferred, bounced, quarantined, delivered_bytes)
SELECT toDate(occurred_at, 'Asia/Ho_Chi_Minh') AS day,
       if(direction = 'outbound', sender_unit, recipient_unit) AS unit,
       lower(if(direction = 'outbound', mail_from, recipient)) AS account,
       direction,
       toUInt64(status = 'delivered') AS delivered,
       toUInt64(status = 'deferred') AS deferred,
       toUInt64(status = 'bounced') AS bounced,
       toUInt64(status = 'quarantined') AS quarantined,
       toUInt64(status = 'delivered' AND direction != 'outbound') * toUInt64(size) AS delivered_bytes
FROM mail_delivery FINAL
WHERE (status IN ('delivered', 'deferred', 'bounced', 'quarantined')
  AND NOT (direction = 'outbound' AND mail_from = ''))
  AND (SELECT sum(delivered + deferred + bounced + quarantined) FROM mail_daily) = 0;

INSERT INTO mail_daily (day, unit, account, direction, spam, virus, phishing)
SELECT toDate(received_at, 'Asia/Ho_Chi_Minh') AS day,
       if(direction = 'outbound', sender_unit, '') AS unit,
       lower(account_) AS account,
       direction,
       toUInt64(action != 'accept' AND has(symbol_groups, 'spam')) AS spam,
       toUInt64(has(symbol_groups, 'virus')) AS virus,
       toUInt64(has(symbol_groups, 'phishing')) AS phishing
FROM mail_scanned FINAL
ARRAY JOIN if(direction = 'outbound', [mail_from], rcpt_to) AS account_
WHERE (has(symbol_groups, 'spam') OR has(symbol_groups, 'virus') OR has(symbol_groups, 'phishing'))
  AND (SELECT sum(spam + virus + phishing) FROM mail_daily) = 0;
