-- Nexmark q11: user sessions.
-- Bids per bidder per session: a session ends after 10 seconds without a bid from that bidder.
--
--   tributary verify examples/nexmark/q11.sql --set events=100000 --set output=DIR
--   tributary run    examples/nexmark/q11.sql --set events=10000000 --set output=DIR

CREATE UNBOUNDED EXTERNAL TABLE bid STORED AS NEXMARK LOCATION 'nexmark'
OPTIONS ('table' 'bid', 'max_events' '${events}', 'max_events_per_trigger' '${events_per_epoch:-1000000}',
         'watermark_column' 'date_time', 'watermark_delay' '4 seconds');

CREATE EXTERNAL TABLE q11 (
    bidder BIGINT,
    bid_count BIGINT,
    session_start TIMESTAMP,
    session_end TIMESTAMP
)
STORED AS DELTA
LOCATION '${output}';

INSERT INTO q11
SELECT bidder, count(*) AS bid_count, s['start'] AS session_start, s['end'] AS session_end
FROM (SELECT bidder, session_window(date_time, '10 seconds') AS s FROM bid)
GROUP BY bidder, s;
