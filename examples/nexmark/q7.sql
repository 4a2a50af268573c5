-- Nexmark q7: highest bid.
-- The highest bid of each 10-second window, with its bidder.
--
-- Chained stateful operators: a stream-stream join of the bids with the output of a window
-- aggregation. The time condition is in ON (Flink's is in WHERE; for an inner join it is the
-- same) so that the join can evict bids older than any window still to close.
--
--   tributary verify examples/nexmark/q7.sql --set events=100000 --set output=DIR
--   tributary run    examples/nexmark/q7.sql --set events=10000000 --set output=DIR

CREATE UNBOUNDED EXTERNAL TABLE bid STORED AS NEXMARK LOCATION 'nexmark'
OPTIONS ('table' 'bid', 'max_events' '${events}', 'max_events_per_trigger' '${events_per_epoch:-1000000}',
         'watermark_column' 'date_time', 'watermark_delay' '4 seconds');

CREATE EXTERNAL TABLE q7 (
    auction BIGINT,
    price BIGINT,
    bidder BIGINT,
    date_time TIMESTAMP,
    extra VARCHAR
)
STORED AS DELTA
LOCATION '${output}';

INSERT INTO q7
SELECT b.auction, b.price, b.bidder, b.date_time, b.extra
FROM bid b
JOIN (
    SELECT max(price) AS maxprice, w['end'] AS window_end
    FROM (SELECT price, window(date_time, '10 seconds') AS w FROM bid)
    GROUP BY w
) m
ON b.price = m.maxprice
   AND b.date_time >= m.window_end - INTERVAL '10 seconds' AND b.date_time < m.window_end;
