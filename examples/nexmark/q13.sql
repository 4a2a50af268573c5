-- Nexmark q13: bounded side input join.
-- Each bid joined with a static side table on auction mod 10,000 (the side table is 10,000
-- generated rows here, where the Flink suite reads a file).
--
--   tributary verify examples/nexmark/q13.sql --set events=100000 --set output=DIR
--   tributary run    examples/nexmark/q13.sql --set events=10000000 --set output=DIR

CREATE UNBOUNDED EXTERNAL TABLE bid STORED AS NEXMARK LOCATION 'nexmark'
OPTIONS ('table' 'bid', 'max_events' '${events}', 'max_events_per_trigger' '${events_per_epoch:-1000000}',
         'watermark_column' 'date_time', 'watermark_delay' '4 seconds');

CREATE EXTERNAL TABLE q13 (
    auction BIGINT,
    bidder BIGINT,
    price BIGINT,
    date_time TIMESTAMP,
    value VARCHAR
)
STORED AS DELTA
LOCATION '${output}';

INSERT INTO q13
SELECT b.auction, b.bidder, b.price, b.date_time, s.value
FROM bid b
JOIN (SELECT value AS key, concat('side-', CAST(value AS VARCHAR)) AS value FROM generate_series(0, 9999)) s
  ON b.auction % 10000 = s.key;
