-- Nexmark q3: local item suggestion.
-- People in Oregon, Idaho or California who sell in category 10: an inner join of
-- auctions and people on the seller, without a time bound.
--
--   tributary verify examples/nexmark/q3.sql --set events=100000 --set output=DIR
--   tributary run    examples/nexmark/q3.sql --set events=10000000 --set output=DIR

CREATE UNBOUNDED EXTERNAL TABLE auction STORED AS NEXMARK LOCATION 'nexmark'
OPTIONS ('table' 'auction', 'max_events' '${events}', 'max_events_per_trigger' '${events_per_epoch:-1000000}',
         'watermark_column' 'date_time', 'watermark_delay' '4 seconds');

CREATE UNBOUNDED EXTERNAL TABLE person STORED AS NEXMARK LOCATION 'nexmark'
OPTIONS ('table' 'person', 'max_events' '${events}', 'max_events_per_trigger' '${events_per_epoch:-1000000}',
         'watermark_column' 'date_time', 'watermark_delay' '4 seconds');

CREATE EXTERNAL TABLE q3 (
    name VARCHAR,
    city VARCHAR,
    state VARCHAR,
    id BIGINT
)
STORED AS DELTA
LOCATION '${output}';

INSERT INTO q3
SELECT p.name, p.city, p.state, a.id
FROM auction a JOIN person p ON a.seller = p.id
WHERE a.category = 10 AND p.state IN ('OR', 'ID', 'CA');
