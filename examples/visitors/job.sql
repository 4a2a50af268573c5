-- Visitors by region: the seeds' headline job. Events in 5-minute windows sliding by 1 minute,
-- on event time, accepting events up to 10 minutes late; per window and region the number of
-- events, the exact number of distinct visitors, and the revenue. Append mode: a window's row is
-- written once, when the watermark passes the window's end.
--
--   tributary run    examples/visitors/job.sql --set input=examples/etl/data/events --set output=DIR
--   tributary batch  examples/visitors/job.sql --set input=... --set output=DIR
--   tributary verify examples/visitors/job.sql --set input=... --set output=DIR

CREATE UNBOUNDED EXTERNAL TABLE events (
    event_time TIMESTAMP,
    user_id    BIGINT,
    region     VARCHAR,
    page       VARCHAR,
    amount     DOUBLE
)
STORED AS JSON
LOCATION '${input}'
OPTIONS (
    'watermark_column' 'event_time',
    'watermark_delay'  '10 minutes',
    'max_files_per_trigger' '1'
);

CREATE EXTERNAL TABLE visitors (
    window_start TIMESTAMP,
    window_end   TIMESTAMP,
    region       VARCHAR,
    events       BIGINT,
    visitors     BIGINT,
    revenue      DOUBLE
)
STORED AS DELTA
LOCATION '${output}';

INSERT INTO visitors
SELECT
    w['start']              AS window_start,
    w['end']                AS window_end,
    region,
    count(*)                AS events,
    count(DISTINCT user_id) AS visitors,
    sum(amount)             AS revenue
FROM (
    SELECT window(event_time, '5 minutes', '1 minute') AS w, lower(region) AS region, user_id, amount
    FROM events
)
GROUP BY w, region;
