-- Nexmark q0: pass-through.
-- Every bid as it comes: the cost of reading, decoding and writing alone.
--
--   tributary verify examples/nexmark/q0.sql --set events=100000 --set output=DIR
--   tributary run    examples/nexmark/q0.sql --set events=10000000 --set output=DIR

CREATE UNBOUNDED EXTERNAL TABLE bid STORED AS NEXMARK LOCATION 'nexmark'
OPTIONS ('table' 'bid', 'max_events' '${events}', 'max_events_per_trigger' '${events_per_epoch:-1000000}',
         'watermark_column' 'date_time', 'watermark_delay' '4 seconds');

CREATE EXTERNAL TABLE q0 (
    auction BIGINT,
    bidder BIGINT,
    price BIGINT,
    date_time TIMESTAMP,
    extra VARCHAR
)
STORED AS DELTA
LOCATION '${output}';

INSERT INTO q0
SELECT auction, bidder, price, date_time, extra FROM bid;
