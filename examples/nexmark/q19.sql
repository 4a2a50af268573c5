-- Nexmark q19: auction top-10 price.
-- The ten highest bids of each auction (equal prices ranked by time, so that the answer is one).
--
--   tributary verify examples/nexmark/q19.sql --set events=100000 --set output=DIR
--   tributary run    examples/nexmark/q19.sql --set events=10000000 --set output=DIR

CREATE UNBOUNDED EXTERNAL TABLE bid STORED AS NEXMARK LOCATION 'nexmark'
OPTIONS ('table' 'bid', 'max_events' '${events}', 'max_events_per_trigger' '${events_per_epoch:-1000000}',
         'watermark_column' 'date_time', 'watermark_delay' '4 seconds');

CREATE EXTERNAL TABLE q19 (
    auction BIGINT,
    bidder BIGINT,
    price BIGINT,
    channel VARCHAR,
    url VARCHAR,
    date_time TIMESTAMP,
    extra VARCHAR,
    rank_number BIGINT
)
STORED AS DELTA
LOCATION '${output}'
OPTIONS ('output_mode' 'update');

INSERT INTO q19
SELECT auction, bidder, price, channel, url, date_time, extra, rank_number
FROM (
    SELECT *, row_number() OVER (PARTITION BY auction ORDER BY price DESC, date_time ASC) AS rank_number
    FROM bid
)
WHERE rank_number <= 10;
