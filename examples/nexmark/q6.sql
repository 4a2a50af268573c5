-- Nexmark q6: average selling price by seller.
-- Per seller, at each of their closed auctions, the average final price of their last ten
-- closed auctions (one row per auction, as an append stream).
--
-- Not on a stream, by its meaning: the window (a seller's last ten closed auctions, ordered by the
-- time of each auction's last bid) is not in the order auctions close. An auction that closes
-- later can have an earlier last bid and land among rows already emitted, changing their
-- averages; an append stream cannot take those rows back, so no stream of it could equal the
-- batch answer. Tributary refuses it at start, naming the window function (Flink's Nexmark
-- suite does not run it either); `tributary batch` runs it.
--
--   tributary verify examples/nexmark/q6.sql --set events=100000 --set output=DIR
--   tributary run    examples/nexmark/q6.sql --set events=10000000 --set output=DIR

CREATE UNBOUNDED EXTERNAL TABLE auction STORED AS NEXMARK LOCATION 'nexmark'
OPTIONS ('table' 'auction', 'max_events' '${events}', 'max_events_per_trigger' '${events_per_epoch:-1000000}',
         'watermark_column' 'date_time', 'watermark_delay' '4 seconds');

CREATE UNBOUNDED EXTERNAL TABLE bid STORED AS NEXMARK LOCATION 'nexmark'
OPTIONS ('table' 'bid', 'max_events' '${events}', 'max_events_per_trigger' '${events_per_epoch:-1000000}',
         'watermark_column' 'date_time', 'watermark_delay' '4 seconds');

CREATE EXTERNAL TABLE q6 (
    seller BIGINT,
    id BIGINT,
    avg_price DOUBLE,
    date_time TIMESTAMP
)
STORED AS DELTA
LOCATION '${output}';

INSERT INTO q6
SELECT q.seller, q.id,
       avg(q.final) OVER (PARTITION BY q.seller ORDER BY q.date_time ROWS BETWEEN 10 PRECEDING AND CURRENT ROW) AS avg_price,
       q.date_time
FROM (
    SELECT a.id, a.seller, max(b.price) AS final, max(b.date_time) AS date_time
    FROM auction a JOIN bid b
      ON a.id = b.auction AND b.date_time BETWEEN a.date_time AND a.expires
    GROUP BY a.id, a.seller
) q;
