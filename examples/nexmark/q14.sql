-- Nexmark q14: calculation.
-- A conversion, a classification by hour of day and a character count, on the bids in a price band.
--
--   tributary verify examples/nexmark/q14.sql --set events=100000 --set output=DIR
--   tributary run    examples/nexmark/q14.sql --set events=10000000 --set output=DIR

CREATE UNBOUNDED EXTERNAL TABLE bid STORED AS NEXMARK LOCATION 'nexmark'
OPTIONS ('table' 'bid', 'max_events' '${events}', 'max_events_per_trigger' '${events_per_epoch:-1000000}',
         'watermark_column' 'date_time', 'watermark_delay' '4 seconds');

CREATE EXTERNAL TABLE q14 (
    auction BIGINT,
    bidder BIGINT,
    price DOUBLE,
    bid_time_type VARCHAR,
    date_time TIMESTAMP,
    extra VARCHAR,
    c_counts BIGINT
)
STORED AS DELTA
LOCATION '${output}';

INSERT INTO q14
SELECT auction, bidder, 0.908 * price AS price,
       CASE
           WHEN date_part('hour', date_time) >= 8 AND date_part('hour', date_time) <= 18 THEN 'dayTime'
           WHEN date_part('hour', date_time) <= 6 OR date_part('hour', date_time) >= 20 THEN 'nightTime'
           ELSE 'otherTime'
       END AS bid_time_type,
       date_time, extra,
       CAST(length(extra) - length(replace(extra, 'c', '')) AS BIGINT) AS c_counts
FROM bid
WHERE 0.908 * price > 1000000 AND 0.908 * price < 50000000;
