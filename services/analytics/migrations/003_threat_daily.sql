-- Scanner verdicts per local day and direction, counted per message: the spam, virus and
-- phishing rates over a year read a few hundred rows instead of every verdict. Fed at insert
-- time like mail_daily (the ingest drops replayed event ids before inserting).
CREATE TABLE IF NOT EXISTS threat_daily
(
    day Date COMMENT 'Local day (Asia/Ho_Chi_Minh) when ingress received the message',
    direction LowCardinality(String) COMMENT 'inbound, outbound or internal (see mail_received.direction)',
    scanned UInt64 COMMENT 'Messages the scanner gave a verdict on',
    spam UInt64 COMMENT 'Messages with a symbol of group spam that the scanner did not accept',
    virus UInt64 COMMENT 'Messages with a symbol of group virus',
    phishing UInt64 COMMENT 'Messages with a symbol of group phishing',
    rejected UInt64 COMMENT 'Messages the scanner rejected',
    quarantined UInt64 COMMENT 'Messages the scanner quarantined'
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, direction)
TTL day + INTERVAL 10 YEAR
SETTINGS ttl_only_drop_parts = 1
COMMENT 'Scanner verdicts per local day and direction, per message; sum() the columns, rows of one key may not be merged yet';

CREATE MATERIALIZED VIEW IF NOT EXISTS threat_daily_scanned TO threat_daily AS
SELECT toDate(received_at, 'Asia/Ho_Chi_Minh') AS day,
       direction,
       toUInt64(1) AS scanned,
       toUInt64(action != 'accept' AND has(symbol_groups, 'spam')) AS spam,
       toUInt64(has(symbol_groups, 'virus')) AS virus,
       toUInt64(has(symbol_groups, 'phishing')) AS phishing,
       toUInt64(action = 'reject') AS rejected,
       toUInt64(action = 'quarantine') AS quarantined
FROM mail_scanned;

-- Verdicts stored before this migration, once (see 002).
INSERT INTO threat_daily (day, direction, scanned, spam, virus, phishing, rejected, quarantined)
SELECT toDate(received_at, 'Asia/Ho_Chi_Minh') AS day,
       direction,
       toUInt64(1) AS scanned,
       toUInt64(action != 'accept' AND has(symbol_groups, 'spam')) AS spam,
       toUInt64(has(symbol_groups, 'virus')) AS virus,
       toUInt64(has(symbol_groups, 'phishing')) AS phishing,
       toUInt64(action = 'reject') AS rejected,
       toUInt64(action = 'quarantine') AS quarantined
FROM mail_scanned FINAL
WHERE (SELECT count() FROM threat_daily) = 0;
