-- Nexmark q9: winning bids.
-- The winning bid of each auction: its highest bid placed while it was open (earliest first
-- on a tie).
--
-- Chained stateful operators: a streaming Top-N (update mode) over a stream-stream join. The
-- join keeps every auction (bids leave its state behind the watermark).
--
--   tributary verify examples/nexmark/q9.sql --set events=100000 --set output=DIR
--   tributary run    examples/nexmark/q9.sql --set events=10000000 --set output=DIR

CREATE UNBOUNDED EXTERNAL TABLE auction STORED AS NEXMARK LOCATION 'nexmark'
OPTIONS ('table' 'auction', 'max_events' '${events}', 'max_events_per_trigger' '${events_per_epoch:-1000000}',
         'watermark_column' 'date_time', 'watermark_delay' '4 seconds');

CREATE UNBOUNDED EXTERNAL TABLE bid STORED AS NEXMARK LOCATION 'nexmark'
OPTIONS ('table' 'bid', 'max_events' '${events}', 'max_events_per_trigger' '${events_per_epoch:-1000000}',
         'watermark_column' 'date_time', 'watermark_delay' '4 seconds');

CREATE EXTERNAL TABLE q9 (
    id BIGINT,
    item_name VARCHAR,
    seller BIGINT,
    category BIGINT,
    expires TIMESTAMP,
    auction BIGINT,
    bidder BIGINT,
    price BIGINT,
    bid_date_time TIMESTAMP
)
STORED AS DELTA
LOCATION '${output}'
OPTIONS ('output_mode' 'update', 'merge_keys' 'id');

INSERT INTO q9
SELECT id, item_name, seller, category, expires, auction, bidder, price, bid_date_time
FROM (
    SELECT a.id, a.item_name, a.seller, a.category, a.expires,
           b.auction, b.bidder, b.price, b.date_time AS bid_date_time,
           row_number() OVER (PARTITION BY a.id ORDER BY b.price DESC, b.date_time ASC) AS rownum
    FROM auction a JOIN bid b
      ON a.id = b.auction AND b.date_time BETWEEN a.date_time AND a.expires
)
WHERE rownum <= 1;
