-- bench/peers, job 2: 1-minute tumbling windows per region, count and sum; a 10-minute
-- watermark, append mode. Variables as in visitors.sql.
CREATE UNBOUNDED EXTERNAL TABLE events (
    event_time TIMESTAMP,
    user_id    BIGINT,
    region     VARCHAR,
    page       VARCHAR,
    amount     DOUBLE
)
STORED AS JSON
LOCATION '${events}'
OPTIONS (
    'watermark_column' 'event_time',
    'watermark_delay'  '10 minutes',
    'max_files_per_trigger' '${per_trigger}'
);

CREATE EXTERNAL TABLE result (
    window_start TIMESTAMP,
    region       VARCHAR,
    events       BIGINT,
    revenue      DOUBLE
)
STORED AS PARQUET
LOCATION '${output}';

INSERT INTO result
SELECT w['start'] AS window_start, region, count(*) AS events, sum(amount) AS revenue
FROM (SELECT window(event_time, '1 minute') AS w, region, amount FROM events)
GROUP BY w, region;
