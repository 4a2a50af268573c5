-- Nexmark q2: selection.
-- The bids on a few auctions (ids divisible by 123).
--
--   tributary verify examples/nexmark/q2.sql --set events=100000 --set output=DIR
--   tributary run    examples/nexmark/q2.sql --set events=10000000 --set output=DIR

CREATE UNBOUNDED EXTERNAL TABLE bid STORED AS NEXMARK LOCATION 'nexmark'
OPTIONS ('table' 'bid', 'max_events' '${events}', 'max_events_per_trigger' '${events_per_epoch:-1000000}',
         'watermark_column' 'date_time', 'watermark_delay' '4 seconds');

CREATE EXTERNAL TABLE q2 (
    auction BIGINT,
    price BIGINT
)
STORED AS DELTA
LOCATION '${output}';

INSERT INTO q2
SELECT auction, price FROM bid WHERE auction % 123 = 0;
