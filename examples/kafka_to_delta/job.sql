-- Visitors by region, from Kafka: the JSON events of examples/etl arrive on a topic; the
-- visitors aggregation of examples/visitors (5-minute windows sliding by 1 minute, watermark 10
-- minutes, exact distinct visitors) goes to a Delta table.
--
--   tributary run    examples/kafka_to_delta/job.sql --set bootstrap=HOST:PORT --set topic=events --set output=DIR
--   tributary verify examples/kafka_to_delta/job.sql --set bootstrap=HOST:PORT --set topic=events --set output=DIR
--
-- Against a real cluster, pass its brokers as ${bootstrap}; client settings go in OPTIONS with a
-- `kafka.` prefix, e.g. 'kafka.security.protocol' 'SASL_SSL', 'kafka.sasl.mechanism' 'PLAIN',
-- 'kafka.sasl.username' '...', 'kafka.sasl.password' '...'.

-- LOCATION is the bootstrap servers; the declared columns are decoded from each JSON value.
CREATE UNBOUNDED EXTERNAL TABLE events (
    event_time TIMESTAMP,
    user_id    BIGINT,
    region     VARCHAR,
    page       VARCHAR,
    amount     DOUBLE
)
STORED AS KAFKA
LOCATION '${bootstrap}'
OPTIONS (
    'subscribe' '${topic}',
    'starting_offsets' 'earliest',
    'max_offsets_per_trigger' '100000',
    'watermark_column' 'event_time',
    'watermark_delay' '10 minutes'
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
