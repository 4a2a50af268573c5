-- Nexmark q4: average price per category.
-- The average winning price of the auctions of each category: the highest bid of each
-- auction placed while it was open, averaged per category (update mode).
--
-- Three chained stateful operators: a stream-stream join, the final price of each auction (an
-- aggregation closed by the watermark), and the running average per category over those. The
-- auction's watermark is on `expires`: an auction's highest bid is final, and emitted once, when
-- the watermark passes its end, so the average per category takes each auction once (Flink
-- retracts and re-adds an auction's price as bids arrive; the final answer is the same).
--
--   tributary verify examples/nexmark/q4.sql --set events=100000 --set output=DIR
--   tributary run    examples/nexmark/q4.sql --set events=10000000 --set output=DIR

CREATE UNBOUNDED EXTERNAL TABLE auction STORED AS NEXMARK LOCATION 'nexmark'
OPTIONS ('table' 'auction', 'max_events' '${events}', 'max_events_per_trigger' '${events_per_epoch:-1000000}',
         'watermark_column' 'expires', 'watermark_delay' '4 seconds');

CREATE UNBOUNDED EXTERNAL TABLE bid STORED AS NEXMARK LOCATION 'nexmark'
OPTIONS ('table' 'bid', 'max_events' '${events}', 'max_events_per_trigger' '${events_per_epoch:-1000000}',
         'watermark_column' 'date_time', 'watermark_delay' '4 seconds');

CREATE EXTERNAL TABLE q4 (
    category BIGINT,
    avg_final DOUBLE
)
STORED AS DELTA
LOCATION '${output}'
OPTIONS ('output_mode' 'update');

INSERT INTO q4
SELECT q.category, avg(q.final) AS avg_final
FROM (
    SELECT a.id, a.category, a.expires, max(b.price) AS final
    FROM auction a JOIN bid b
      ON a.id = b.auction AND b.date_time BETWEEN a.date_time AND a.expires
    GROUP BY a.id, a.category, a.expires
) q
GROUP BY q.category;
