-- Nexmark q1: currency conversion.
-- Each bid's price converted from dollars to euros.
--
--   tributary verify examples/nexmark/q1.sql --set events=100000 --set output=DIR
--   tributary run    examples/nexmark/q1.sql --set events=10000000 --set output=DIR

CREATE UNBOUNDED EXTERNAL TABLE bid STORED AS NEXMARK LOCATION 'nexmark'
OPTIONS ('table' 'bid', 'max_events' '${events}', 'max_events_per_trigger' '${events_per_epoch:-1000000}',
         'watermark_column' 'date_time', 'watermark_delay' '4 seconds');

CREATE EXTERNAL TABLE q1 (
    auction BIGINT,
    bidder BIGINT,
    price DOUBLE,
    date_time TIMESTAMP,
    extra VARCHAR
)
STORED AS DELTA
LOCATION '${output}';

INSERT INTO q1
SELECT auction, bidder, 0.908 * price AS price, date_time, extra FROM bid;
