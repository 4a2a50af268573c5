-- Bronze to silver: clean the raw events, enrich them with a static region table, write Delta.
--
--   tributary run    examples/etl/job.sql --set input=DIR --set regions=FILE.csv --set output=DIR --set bad=DIR
--   tributary batch  examples/etl/job.sql --set ...   (the same logic over the files as they are)
--   tributary verify examples/etl/job.sql --set ...   (both, compared)

-- The raw events: JSON lines. UNBOUNDED = `run` reads the folder as a stream of new files.
CREATE UNBOUNDED EXTERNAL TABLE events (
    event_time TIMESTAMP,
    user_id    BIGINT,
    region     VARCHAR,
    page       VARCHAR,
    amount     DOUBLE
)
STORED AS JSON
LOCATION '${input}'
OPTIONS ('bad_records_path' '${bad}', 'max_files_per_trigger' '100');

-- A static dimension table, read once per query.
CREATE EXTERNAL TABLE regions (
    region  VARCHAR,
    country VARCHAR,
    tier    VARCHAR
)
STORED AS CSV
LOCATION '${regions}'
OPTIONS ('has_header' 'true');

-- The silver table.
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
LOCATION '${output}';

INSERT INTO silver
SELECT e.event_time, e.user_id, e.region, r.country, r.tier, e.page, e.amount
FROM (
    SELECT event_time, user_id, lower(region) AS region, page, amount
    FROM events
    WHERE user_id IS NOT NULL
) e
LEFT JOIN regions r ON e.region = r.region;
