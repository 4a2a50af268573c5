-- bench/peers, job 3: job 2 after a join with a 50-row dimension (region -> country, tier),
-- grouped by country. ${regions}: the dimension's CSV file; other variables as in visitors.sql.
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

CREATE EXTERNAL TABLE regions (
    region  VARCHAR,
    country VARCHAR,
    tier    VARCHAR
)
STORED AS CSV
LOCATION '${regions}'
OPTIONS ('has_header' 'true');

CREATE EXTERNAL TABLE result (
    window_start TIMESTAMP,
    country      VARCHAR,
    events       BIGINT,
    revenue      DOUBLE
)
STORED AS PARQUET
LOCATION '${output}';

INSERT INTO result
SELECT w['start'] AS window_start, country, count(*) AS events, sum(amount) AS revenue
FROM (
    SELECT window(e.event_time, '1 minute') AS w, r.country, e.amount
    FROM events e JOIN regions r ON e.region = r.region
)
GROUP BY w, country;
