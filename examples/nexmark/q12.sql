-- Nexmark q12: processing-time windows.
-- Bids per bidder in 10-second windows of processing time (when Tributary reads the bid, not when
-- it was placed). Its rows depend on when it runs, so a batch and a stream give different
-- windows by design; the total number of bids counted is the same.
--
--   tributary verify examples/nexmark/q12.sql --set events=100000 --set output=DIR
--   tributary run    examples/nexmark/q12.sql --set events=10000000 --set output=DIR

CREATE UNBOUNDED EXTERNAL TABLE bid STORED AS NEXMARK LOCATION 'nexmark'
OPTIONS ('table' 'bid', 'max_events' '${events}', 'max_events_per_trigger' '${events_per_epoch:-1000000}',
         'watermark_column' 'date_time', 'watermark_delay' '4 seconds');

CREATE EXTERNAL TABLE q12 (
    bidder BIGINT,
    bid_count BIGINT,
    window_start TIMESTAMP,
    window_end TIMESTAMP
)
STORED AS DELTA
LOCATION '${output}'
OPTIONS ('output_mode' 'update');

INSERT INTO q12
SELECT bidder, count(*) AS bid_count, w['start'] AS window_start, w['end'] AS window_end
FROM (SELECT bidder, window(now(), '10 seconds') AS w FROM bid)
GROUP BY bidder, w;
