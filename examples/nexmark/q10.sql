-- Nexmark q10: log to file system.
-- Every bid, with its day and minute as the table's partition columns.
--
--   tributary verify examples/nexmark/q10.sql --set events=100000 --set output=DIR
--   tributary run    examples/nexmark/q10.sql --set events=10000000 --set output=DIR

CREATE UNBOUNDED EXTERNAL TABLE bid STORED AS NEXMARK LOCATION 'nexmark'
OPTIONS ('table' 'bid', 'max_events' '${events}', 'max_events_per_trigger' '${events_per_epoch:-1000000}',
         'watermark_column' 'date_time', 'watermark_delay' '4 seconds');

CREATE EXTERNAL TABLE q10 (
    auction BIGINT,
    bidder BIGINT,
    price BIGINT,
    date_time TIMESTAMP,
    extra VARCHAR,
    dt VARCHAR,
    hm VARCHAR
)
STORED AS DELTA
PARTITIONED BY (dt, hm)
LOCATION '${output}';

INSERT INTO q10
SELECT auction, bidder, price, date_time, extra,
       to_char(date_time, '%Y-%m-%d') AS dt, to_char(date_time, '%H:%M') AS hm
FROM bid;
