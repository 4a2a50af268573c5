-- Nexmark q5: hot items.
-- The auctions with the most bids in each 10-second window sliding by 2 seconds.
--
-- Chained stateful operators: a join of two window aggregations, one of them over a third.
-- Each window's counts leave their aggregations once the watermark closes it, in the same epoch
-- as its maximum, and the join matches them there.
--
--   tributary verify examples/nexmark/q5.sql --set events=100000 --set output=DIR
--   tributary run    examples/nexmark/q5.sql --set events=10000000 --set output=DIR

CREATE UNBOUNDED EXTERNAL TABLE bid STORED AS NEXMARK LOCATION 'nexmark'
OPTIONS ('table' 'bid', 'max_events' '${events}', 'max_events_per_trigger' '${events_per_epoch:-1000000}',
         'watermark_column' 'date_time', 'watermark_delay' '4 seconds');

CREATE EXTERNAL TABLE q5 (
    auction BIGINT,
    num BIGINT,
    window_start TIMESTAMP,
    window_end TIMESTAMP
)
STORED AS DELTA
LOCATION '${output}';

INSERT INTO q5
SELECT c.auction, c.num, c.window_start, c.window_end
FROM (
    SELECT auction, count(*) AS num, w['start'] AS window_start, w['end'] AS window_end
    FROM (SELECT auction, window(date_time, '10 seconds', '2 seconds') AS w FROM bid)
    GROUP BY auction, w
) c
JOIN (
    SELECT window_start, window_end, max(num) AS maxn
    FROM (
        SELECT w['start'] AS window_start, w['end'] AS window_end, count(*) AS num
        FROM (SELECT auction, window(date_time, '10 seconds', '2 seconds') AS w FROM bid)
        GROUP BY auction, w
    )
    GROUP BY window_start, window_end
) m
ON c.window_start = m.window_start AND c.window_end = m.window_end AND c.num >= m.maxn;
