-- Nexmark q8: monitor new users.
-- People who opened an auction in the same 10-second window in which they registered.
--
-- Chained stateful operators: a stream-stream join of two window aggregations, matched when the
-- watermark closes their windows.
--
--   tributary verify examples/nexmark/q8.sql --set events=100000 --set output=DIR
--   tributary run    examples/nexmark/q8.sql --set events=10000000 --set output=DIR

CREATE UNBOUNDED EXTERNAL TABLE person STORED AS NEXMARK LOCATION 'nexmark'
OPTIONS ('table' 'person', 'max_events' '${events}', 'max_events_per_trigger' '${events_per_epoch:-1000000}',
         'watermark_column' 'date_time', 'watermark_delay' '4 seconds');

CREATE UNBOUNDED EXTERNAL TABLE auction STORED AS NEXMARK LOCATION 'nexmark'
OPTIONS ('table' 'auction', 'max_events' '${events}', 'max_events_per_trigger' '${events_per_epoch:-1000000}',
         'watermark_column' 'date_time', 'watermark_delay' '4 seconds');

CREATE EXTERNAL TABLE q8 (
    id BIGINT,
    name VARCHAR,
    window_start TIMESTAMP
)
STORED AS DELTA
LOCATION '${output}';

INSERT INTO q8
SELECT p.id, p.name, p.window_start
FROM (
    SELECT id, name, w['start'] AS window_start, w['end'] AS window_end
    FROM (SELECT id, name, window(date_time, '10 seconds') AS w FROM person)
    GROUP BY id, name, w
) p
JOIN (
    SELECT seller, w['start'] AS window_start, w['end'] AS window_end
    FROM (SELECT seller, window(date_time, '10 seconds') AS w FROM auction)
    GROUP BY seller, w
) a
ON p.id = a.seller AND p.window_start = a.window_start AND p.window_end = a.window_end;
