"""One job on one peer engine, in a process of its own: DuckDB, Polars (batch) and PySpark
(batch or stream). Run by peers.py with bench/peers/env.sh's python:

    python engines.py ENGINE MODE JOB EVENTS REGIONS OUT PER_TRIGGER

ENGINE is duckdb, polars or pyspark; MODE batch or stream; JOB visitors, tumbling or joined (see
peers.py). The result goes to OUT as Parquet with the columns window_start, the group key
(region or country), events, [visitors,] revenue. The last line of stdout is
`START_SECONDS RUN_SECONDS`: the session's start (Spark's JVM) and the job itself.
"""

import sys
import time

T0 = time.time()


def duckdb_job(job, events, regions, out):
    import duckdb

    con = duckdb.connect()
    started = time.time()
    con.execute(f"""CREATE VIEW events AS SELECT * FROM read_json('{events}/*.json',
        format = 'newline_delimited',
        columns = {{'event_time': 'TIMESTAMP', 'user_id': 'BIGINT', 'region': 'VARCHAR',
                   'page': 'VARCHAR', 'amount': 'DOUBLE'}})""")
    minute = "time_bucket(INTERVAL 1 minute, event_time)"
    if job == "visitors":
        # Every event in each of its five windows: the windows starting 0..4 minutes before its
        # minute.
        query = f"""SELECT ws AS window_start, region, count(*) AS events,
                count(DISTINCT user_id) AS visitors, sum(amount) AS revenue
            FROM (SELECT unnest(range({minute} - INTERVAL 4 minute, {minute} + INTERVAL 1 minute,
                                      INTERVAL 1 minute)) AS ws, region, user_id, amount
                  FROM events)
            GROUP BY ws, region"""
    elif job == "tumbling":
        query = f"""SELECT {minute} AS window_start, region, count(*) AS events,
                sum(amount) AS revenue FROM events GROUP BY ALL"""
    else:
        query = f"""SELECT time_bucket(INTERVAL 1 minute, e.event_time) AS window_start, r.country,
                count(*) AS events, sum(e.amount) AS revenue
            FROM events e JOIN read_csv('{regions}', header = true) r ON e.region = r.region
            GROUP BY ALL"""
    con.execute(f"COPY ({query}) TO '{out}/result.parquet' (FORMAT PARQUET)")
    return started


def polars_job(job, events, regions, out):
    import glob

    import polars as pl

    started = time.time()
    schema = {"event_time": pl.String, "user_id": pl.Int64, "region": pl.String,
              "page": pl.String, "amount": pl.Float64}
    ev = pl.scan_ndjson(sorted(glob.glob(f"{events}/*.json")), schema=schema).with_columns(
        pl.col("event_time").str.to_datetime("%Y-%m-%dT%H:%M:%S%.3fZ", time_unit="ms"))
    if job == "visitors":
        # Polars' own sliding windows: every minute, 5 minutes long, the first one starting 4
        # minutes before the first event's minute (as Spark's and SQL's sliding windows do).
        result = (ev.group_by_dynamic("event_time", every="1m", period="5m", offset="-4m",
                                      group_by="region", closed="left", label="left",
                                      start_by="window")
                  .agg(pl.len().alias("events"), pl.col("user_id").n_unique().alias("visitors"),
                       pl.col("amount").sum().alias("revenue"))
                  .rename({"event_time": "window_start"}))
    elif job == "tumbling":
        result = (ev.group_by(pl.col("event_time").dt.truncate("1m").alias("window_start"), "region")
                  .agg(pl.len().alias("events"), pl.col("amount").sum().alias("revenue")))
    else:
        dim = pl.scan_csv(regions)
        result = (ev.join(dim, on="region")
                  .group_by(pl.col("event_time").dt.truncate("1m").alias("window_start"), "country")
                  .agg(pl.len().alias("events"), pl.col("amount").sum().alias("revenue")))
    result.sink_parquet(f"{out}/result.parquet")
    return started


def pyspark_job(mode, job, events, regions, out, per_trigger):
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    spark = (SparkSession.builder.master("local[2]")
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", "2")
             .config("spark.driver.memory", "4g")
             .getOrCreate())
    started = time.time()
    schema = "event_time TIMESTAMP, user_id BIGINT, region STRING, page STRING, amount DOUBLE"
    if mode == "batch":
        ev = spark.read.schema(schema).json(events)
        # Spark refuses exact distinct counts on streams: approximate there, exact here.
        distinct = F.countDistinct("user_id")
    else:
        ev = spark.readStream.schema(schema).option("maxFilesPerTrigger", per_trigger).json(events)
        distinct = F.approx_count_distinct("user_id")
    ev = ev.withWatermark("event_time", "10 minutes")
    if job == "visitors":
        result = (ev.groupBy(F.window("event_time", "5 minutes", "1 minute"), "region")
                  .agg(F.count("*").alias("events"), distinct.alias("visitors"),
                       F.sum("amount").alias("revenue")))
    elif job == "tumbling":
        result = (ev.groupBy(F.window("event_time", "1 minute"), "region")
                  .agg(F.count("*").alias("events"), F.sum("amount").alias("revenue")))
    else:
        dim = spark.read.option("header", "true").csv(regions)
        result = (ev.join(dim, "region").groupBy(F.window("event_time", "1 minute"), "country")
                  .agg(F.count("*").alias("events"), F.sum("amount").alias("revenue")))
    result = result.select(F.col("window.start").alias("window_start"),
                           *[c for c in result.columns if c != "window"])
    if mode == "batch":
        result.write.mode("overwrite").parquet(out)
    else:
        q = (result.writeStream.format("parquet").outputMode("append")
             .option("checkpointLocation", out + "_checkpoint").trigger(availableNow=True)
             .start(out))
        q.awaitTermination()
    return started


def main():
    engine, mode, job, events, regions, out, per_trigger = sys.argv[1:8]
    if engine == "duckdb":
        started = duckdb_job(job, events, regions, out)
    elif engine == "polars":
        started = polars_job(job, events, regions, out)
    elif engine == "pyspark":
        started = pyspark_job(mode, job, events, regions, out, per_trigger)
    else:
        raise SystemExit(f"engines.py: unknown engine {engine!r} (duckdb, polars, pyspark)")
    done = time.time()
    print(f"{started - T0:.3f} {done - started:.3f}")


if __name__ == "__main__":
    main()
