-- bench/peers, job 1: visitors by region — 5-minute windows sliding by 1 minute, exact distinct
-- users, events and revenue; a 10-minute watermark, append mode.
-- ${events}: the events folder; ${per_trigger}: files per epoch (each file holds 100,000 events);
-- ${output}: the result folder (Parquet).
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
    visitors     BIGINT,
    revenue      DOUBLE
)
STORED AS PARQUET
LOCATION '${output}';

INSERT INTO result
SELECT w['start'] AS window_start, region, count(*) AS events,
       count(DISTINCT user_id) AS visitors, sum(amount) AS revenue
FROM (SELECT window(event_time, '5 minutes', '1 minute') AS w, region, user_id, amount FROM events)
GROUP BY w, region;
