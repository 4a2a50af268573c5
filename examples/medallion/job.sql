-- The medallion lakehouse in one job: three queries in one process, each layer a Delta table
-- that the next layer reads as a Delta stream.
--
--   raw JSON ──► bronze (as is) ──► silver (clean, dedup, enrich) ──► gold (hourly aggregates)
--
--   tributary run    examples/medallion/job.sql --set input=examples/etl/data/events \
--                      --set regions=examples/etl/data/regions.csv --set lake=/tmp/lake
--   tributary batch  examples/medallion/job.sql --set ...   (the same three steps over history)
--   tributary verify examples/medallion/job.sql --set ...   (both, compared layer by layer)

-- Raw events as they land: JSON lines in a folder.
CREATE UNBOUNDED EXTERNAL TABLE raw_events (
    event_time TIMESTAMP,
    user_id    BIGINT,
    region     VARCHAR,
    page       VARCHAR,
    amount     DOUBLE
)
STORED AS JSON
LOCATION '${input}'
OPTIONS ('max_files_per_trigger' '1');

-- A static dimension, read once per query.
CREATE EXTERNAL TABLE regions (
    region  VARCHAR,
    country VARCHAR,
    tier    VARCHAR
)
STORED AS CSV
LOCATION '${regions}'
OPTIONS ('has_header' 'true');

-- Bronze: the raw rows, unchanged. Read by silver as a Delta stream with a watermark.
CREATE EXTERNAL TABLE bronze (
    event_time TIMESTAMP,
    user_id    BIGINT,
    region     VARCHAR,
    page       VARCHAR,
    amount     DOUBLE
)
STORED AS DELTA
LOCATION '${lake}/bronze'
OPTIONS ('watermark_column' 'event_time', 'watermark_delay' '10 minutes');

-- Silver: valid rows only, one row per event, regions normalised and enriched.
CREATE EXTERNAL TABLE silver (
    event_time TIMESTAMP,
    user_id    BIGINT,
    region     VARCHAR,
    country    VARCHAR,
    tier       VARCHAR,
    page       VARCHAR,
    amount     DOUBLE
)
STORED AS DELTA
LOCATION '${lake}/silver'
OPTIONS ('watermark_column' 'event_time', 'watermark_delay' '10 minutes');

-- Gold: revenue and visitors per country and hour, written once each hour is final.
CREATE EXTERNAL TABLE gold (
    hour_start TIMESTAMP,
    country    VARCHAR,
    events     BIGINT,
    visitors   BIGINT,
    revenue    DOUBLE
)
STORED AS DELTA
LOCATION '${lake}/gold';

INSERT INTO bronze SELECT * FROM raw_events;

INSERT INTO silver
SELECT e.event_time, e.user_id, e.region, coalesce(r.country, 'unknown'), coalesce(r.tier, 'none'),
       e.page, e.amount
FROM (
    SELECT DISTINCT event_time, user_id, lower(trim(region)) AS region, page, amount
    FROM bronze
    WHERE user_id IS NOT NULL AND amount >= 0
) e
LEFT JOIN regions r ON e.region = r.region;

INSERT INTO gold
SELECT w['start'], country, count(*), count(DISTINCT user_id), sum(amount)
FROM (SELECT window(event_time, '1 hour') AS w, country, user_id, amount FROM silver)
GROUP BY w, country;
