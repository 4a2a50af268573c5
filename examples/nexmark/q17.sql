-- Nexmark q17: auction statistics report.
-- Per auction and day: bids in total and per price band, and the lowest, highest, average and
-- total price (update mode).
--
--   tributary verify examples/nexmark/q17.sql --set events=100000 --set output=DIR
--   tributary run    examples/nexmark/q17.sql --set events=10000000 --set output=DIR

CREATE UNBOUNDED EXTERNAL TABLE bid STORED AS NEXMARK LOCATION 'nexmark'
OPTIONS ('table' 'bid', 'max_events' '${events}', 'max_events_per_trigger' '${events_per_epoch:-1000000}',
         'watermark_column' 'date_time', 'watermark_delay' '4 seconds');

CREATE EXTERNAL TABLE q17 (
    auction BIGINT,
    day VARCHAR,
    total_bids BIGINT,
    rank1_bids BIGINT,
    rank2_bids BIGINT,
    rank3_bids BIGINT,
    min_price BIGINT,
    max_price BIGINT,
    avg_price DOUBLE,
    sum_price BIGINT
)
STORED AS DELTA
LOCATION '${output}'
OPTIONS ('output_mode' 'update');

INSERT INTO q17
SELECT auction, day,
       count(*) AS total_bids,
       count(*) FILTER (WHERE price < 10000) AS rank1_bids,
       count(*) FILTER (WHERE price >= 10000 AND price < 1000000) AS rank2_bids,
       count(*) FILTER (WHERE price >= 1000000) AS rank3_bids,
       min(price) AS min_price,
       max(price) AS max_price,
       avg(price) AS avg_price,
       sum(price) AS sum_price
FROM (SELECT auction, to_char(date_time, '%Y-%m-%d') AS day, price FROM bid)
GROUP BY auction, day;
