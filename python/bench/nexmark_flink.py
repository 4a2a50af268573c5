"""Nexmark on PyFlink, the peer of `tributary-bench nexmark` (issue 19).

    py=$(bash scripts/flink_env.sh | tail -n 1)          # apache-flink 2.3 in its own venv
    cargo build --release -p tributary-cli
    "$py" python/bench/nexmark_flink.py EVENTS [qN ...]    # default 10,000,000 events

1. The `tributary` binary writes the Nexmark stream of EVENTS events (seed 0, the job files'
   defaults) as JSON lines: one folder per table (`tributary batch`, a NEXMARK source into a JSON
   sink).
2. PyFlink (streaming mode, parallelism = the machine's cores) runs the Flink SQL versions of the
   queries over those files (a bounded filesystem source with a 4-second watermark on
   `date_time`) into a `blackhole` sink, one job at a time, and prints the wall time and events
   per second (the number of events of the whole stream over the job's wall time), and that
   rate divided by the parallelism ("per core").

Flink reads and decodes JSON here, where Tributary generates its rows in memory; the figures say
so beside each other in BENCHMARKS.md. The queries are the Flink Nexmark suite's, with the
translations `examples/nexmark/` makes the other way (no UDF in q14, a generated side table in
q13, a window of 10 s of event time in q12 because processing time over a file is a few
seconds).
"""

import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/tributary-target"))
TRIBUTARY = os.environ.get("TRIBUTARY_BIN", os.path.join(TARGET, "release", "tributary"))

EXPORT = """
CREATE EXTERNAL TABLE {t} STORED AS NEXMARK LOCATION 'nexmark'
OPTIONS ('table' '{t}', 'max_events' '{events}');
CREATE EXTERNAL TABLE {t}_json STORED AS JSON LOCATION '{dir}/{t}';
INSERT INTO {t}_json SELECT * FROM {t};
"""

COLUMNS = {
    "person": "id BIGINT, name STRING, email_address STRING, credit_card STRING, city STRING, "
    "state STRING, date_time TIMESTAMP(3), extra STRING",
    "auction": "id BIGINT, item_name STRING, description STRING, initial_bid BIGINT, reserve BIGINT, "
    "date_time TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT, category BIGINT, extra STRING",
    "bid": "auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, url STRING, "
    "date_time TIMESTAMP(3), extra STRING",
}

RANKS = """
    count(*) FILTER (WHERE price < 10000) AS rank1_bids,
    count(*) FILTER (WHERE price >= 10000 AND price < 1000000) AS rank2_bids,
    count(*) FILTER (WHERE price >= 1000000) AS rank3_bids"""

DISTINCTS = ", ".join(
    f"count(DISTINCT {c}) {f} AS {r}_{c}s"
    for c in ("bidder", "auction")
    for r, f in (
        ("total", ""),
        ("rank1", "FILTER (WHERE price < 10000)"),
        ("rank2", "FILTER (WHERE price >= 10000 AND price < 1000000)"),
        ("rank3", "FILTER (WHERE price >= 1000000)"),
    )
)

QUERIES = {
    "q0": "SELECT auction, bidder, price, date_time, extra FROM bid",
    "q1": "SELECT auction, bidder, 0.908 * price AS price, date_time, extra FROM bid",
    "q2": "SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0",
    "q3": """SELECT P.name, P.city, P.state, A.id FROM auction AS A INNER JOIN person AS P
             ON A.seller = P.id WHERE A.category = 10 AND P.state IN ('OR', 'ID', 'CA')""",
    "q4": """SELECT Q.category, AVG(Q.final) FROM (
               SELECT MAX(B.price) AS final, A.category FROM auction A, bid B
               WHERE A.id = B.auction AND B.date_time BETWEEN A.date_time AND A.expires
               GROUP BY A.id, A.category) Q GROUP BY Q.category""",
    "q5": """SELECT AuctionBids.auction, AuctionBids.num FROM (
               SELECT auction, count(*) AS num, window_start AS starttime, window_end AS endtime
               FROM TABLE(HOP(TABLE bid, DESCRIPTOR(date_time), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
               GROUP BY auction, window_start, window_end) AuctionBids
             JOIN (
               SELECT max(CountBids.num) AS maxn, CountBids.starttime, CountBids.endtime FROM (
                 SELECT count(*) AS num, window_start AS starttime, window_end AS endtime
                 FROM TABLE(HOP(TABLE bid, DESCRIPTOR(date_time), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
                 GROUP BY auction, window_start, window_end) CountBids
               GROUP BY CountBids.starttime, CountBids.endtime) MaxBids
             ON AuctionBids.starttime = MaxBids.starttime AND AuctionBids.endtime = MaxBids.endtime
                AND AuctionBids.num >= MaxBids.maxn""",
    "q7": """SELECT B.auction, B.price, B.bidder, B.date_time, B.extra FROM bid B JOIN (
               SELECT MAX(price) AS maxprice, window_end AS date_time
               FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '10' SECOND))
               GROUP BY window_start, window_end) B1
             ON B.price = B1.maxprice
             WHERE B.date_time BETWEEN B1.date_time - INTERVAL '10' SECOND AND B1.date_time""",
    "q8": """SELECT P.id, P.name, P.starttime FROM (
               SELECT id, name, window_start AS starttime, window_end AS endtime
               FROM TABLE(TUMBLE(TABLE person, DESCRIPTOR(date_time), INTERVAL '10' SECOND))
               GROUP BY id, name, window_start, window_end) P
             JOIN (
               SELECT seller, window_start AS starttime, window_end AS endtime
               FROM TABLE(TUMBLE(TABLE auction, DESCRIPTOR(date_time), INTERVAL '10' SECOND))
               GROUP BY seller, window_start, window_end) A
             ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime""",
    "q9": """SELECT id, item_name, seller, category, expires, auction, bidder, price, bid_date_time FROM (
               SELECT A.*, B.auction, B.bidder, B.price, B.date_time AS bid_date_time,
                 ROW_NUMBER() OVER (PARTITION BY A.id ORDER BY B.price DESC, B.date_time ASC) AS rownum
               FROM auction A, bid B
               WHERE A.id = B.auction AND B.date_time BETWEEN A.date_time AND A.expires)
             WHERE rownum <= 1""",
    "q10": """SELECT auction, bidder, price, date_time, extra, DATE_FORMAT(date_time, 'yyyy-MM-dd'),
              DATE_FORMAT(date_time, 'HH:mm') FROM bid""",
    "q11": """SELECT bidder, count(*) AS bid_count, window_start, window_end
              FROM TABLE(SESSION(TABLE bid PARTITION BY bidder, DESCRIPTOR(date_time), INTERVAL '10' SECOND))
              GROUP BY bidder, window_start, window_end""",
    "q12": """SELECT bidder, count(*) AS bid_count, window_start, window_end
              FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '10' SECOND))
              GROUP BY bidder, window_start, window_end""",
    "q14": """SELECT auction, bidder, 0.908 * price AS price,
                CASE WHEN HOUR(date_time) >= 8 AND HOUR(date_time) <= 18 THEN 'dayTime'
                     WHEN HOUR(date_time) <= 6 OR HOUR(date_time) >= 20 THEN 'nightTime'
                     ELSE 'otherTime' END AS bid_time_type,
                date_time, extra, CHAR_LENGTH(extra) - CHAR_LENGTH(REPLACE(extra, 'c', '')) AS c_counts
              FROM bid WHERE 0.908 * price > 1000000 AND 0.908 * price < 50000000""",
    "q15": f"""SELECT DATE_FORMAT(date_time, 'yyyy-MM-dd') AS `day`, count(*) AS total_bids, {RANKS},
                 {DISTINCTS}
               FROM bid GROUP BY DATE_FORMAT(date_time, 'yyyy-MM-dd')""",
    "q16": f"""SELECT channel, DATE_FORMAT(date_time, 'yyyy-MM-dd') AS `day`,
                 max(DATE_FORMAT(date_time, 'HH:mm')) AS `minute`, count(*) AS total_bids, {RANKS},
                 {DISTINCTS}
               FROM bid GROUP BY channel, DATE_FORMAT(date_time, 'yyyy-MM-dd')""",
    "q17": f"""SELECT auction, DATE_FORMAT(date_time, 'yyyy-MM-dd') AS `day`, count(*) AS total_bids, {RANKS},
                 min(price) AS min_price, max(price) AS max_price, avg(price) AS avg_price,
                 sum(price) AS sum_price
               FROM bid GROUP BY auction, DATE_FORMAT(date_time, 'yyyy-MM-dd')""",
    "q18": """SELECT auction, bidder, price, channel, url, date_time, extra FROM (
                SELECT *, ROW_NUMBER() OVER (PARTITION BY bidder, auction ORDER BY date_time DESC) AS rank_number
                FROM bid) WHERE rank_number <= 1""",
    "q19": """SELECT * FROM (
                SELECT *, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC, date_time ASC) AS rank_number
                FROM bid) WHERE rank_number <= 10""",
    "q20": """SELECT auction, bidder, price, channel, url, B.date_time, B.extra, item_name, description,
                initial_bid, reserve, A.date_time, expires, seller, category, A.extra
              FROM bid AS B INNER JOIN auction AS A ON B.auction = A.id WHERE A.category = 10""",
    "q21": """SELECT auction, bidder, price, channel,
                CASE WHEN lower(channel) = 'apple' THEN '0' WHEN lower(channel) = 'google' THEN '1'
                     WHEN lower(channel) = 'facebook' THEN '2' WHEN lower(channel) = 'baidu' THEN '3'
                     ELSE REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2) END AS channel_id
              FROM bid WHERE REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2) IS NOT NULL
                OR lower(channel) IN ('apple', 'google', 'facebook', 'baidu')""",
    "q22": """SELECT auction, bidder, price, channel, SPLIT_INDEX(url, '/', 3) AS dir1,
                SPLIT_INDEX(url, '/', 4) AS dir2, SPLIT_INDEX(url, '/', 5) AS dir3 FROM bid""",
}


def export(events, root):
    for t in ("person", "auction", "bid"):
        with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
            f.write(EXPORT.format(t=t, events=events, dir=root))
        subprocess.run([TRIBUTARY, "batch", f.name], check=True, stdout=subprocess.DEVNULL)
        os.unlink(f.name)


def run_flink(name, sql, root, cores):
    from pyflink.table import EnvironmentSettings, TableEnvironment

    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    env.get_config().set("parallelism.default", str(cores))
    for t in COLUMNS:
        env.execute_sql(
            f"CREATE TABLE {t} ({COLUMNS[t]}, WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND) "
            f"WITH ('connector' = 'filesystem', 'path' = 'file://{root}/{t}', 'format' = 'json', "
            f"'json.timestamp-format.standard' = 'ISO-8601')"
        )
    table = env.sql_query(sql)
    # A sink with the query's columns (time attributes become plain timestamps).
    names = table.get_schema().get_field_names()
    types = [str(t).replace(" *ROWTIME*", "").replace(" *PROCTIME*", "")
             for t in table.get_schema().get_field_data_types()]
    cols = ", ".join(f"`{n}` {t}" for n, t in zip(names, types))
    env.execute_sql(f"CREATE TABLE discard ({cols}) WITH ('connector' = 'blackhole')")
    t0 = time.perf_counter()
    table.execute_insert("discard").wait()
    return time.perf_counter() - t0


def main():
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
    only = sys.argv[2:]
    cores = os.cpu_count() or 1
    root = tempfile.mkdtemp(prefix="nexmark-json-")
    t0 = time.perf_counter()
    export(events, root)
    print(f"Nexmark on PyFlink, {events} events as JSON ({time.perf_counter() - t0:.1f} s to write), "
          f"parallelism {cores}\n")
    print("| query | PyFlink s | events/s | events/s per core |")
    print("|---|---|---|---|")
    for name, sql in QUERIES.items():
        if only and name not in only:
            continue
        try:
            seconds = run_flink(name, sql, root, cores)
            print(f"| {name} | {seconds:.2f} | {events / seconds:.0f} | {events / seconds / cores:.0f} |",
                  flush=True)
        except Exception as e:  # a query Flink refuses: say why, go on
            first = str(e).strip().splitlines()[0][:100] if str(e).strip() else type(e).__name__
            print(f"| {name} | failed: {first} | | |", flush=True)


if __name__ == "__main__":
    main()
