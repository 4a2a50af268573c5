"""One job on PyFlink (streaming mode, parallelism = the machine's cores), in a process of its own.
Run by peers.py with scripts/flink_env.sh's python:

    python flink_job.py JOB EVENTS REGIONS

JOB is visitors, tumbling or joined (see peers.py); EVENTS one file of JSON lines in event-time
order (see peers.one_file). The events are a bounded filesystem source with a 10-minute
watermark on event_time; at the end of the input Flink's watermark jumps to the end of time, so
every window is emitted. The rows go to Flink's `print` sink
(stdout, one `+I[...]` per row; peers.py parses them). The last line of stdout is
`START_SECONDS RUN_SECONDS`.
"""

import os
import sys
import time

T0 = time.time()


def main():
    job, events, regions = sys.argv[1:4]
    from pyflink.table import EnvironmentSettings, TableEnvironment

    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    env.get_config().set("parallelism.default", str(os.cpu_count() or 1))
    env.get_config().set("table.local-time-zone", "UTC")
    # Flink's own advice for throughput: an updating aggregation (the join job's) folds a batch of
    # rows per key before it emits, instead of a retraction and an update per row.
    env.get_config().set("table.exec.mini-batch.enabled", "true")
    env.get_config().set("table.exec.mini-batch.allow-latency", "1 s")
    env.get_config().set("table.exec.mini-batch.size", "10000")
    started = time.time()
    env.execute_sql(
        "CREATE TABLE events (event_time TIMESTAMP_LTZ(3), user_id BIGINT, region STRING, "
        "page STRING, amount DOUBLE, WATERMARK FOR event_time AS event_time - INTERVAL '10' MINUTE) "
        f"WITH ('connector' = 'filesystem', 'path' = 'file://{events}', 'format' = 'json', "
        "'json.timestamp-format.standard' = 'ISO-8601')")
    env.execute_sql(
        # The header line is one more row, with a region no event has.
        "CREATE TABLE regions (region STRING, country STRING, tier STRING) "
        f"WITH ('connector' = 'filesystem', 'path' = 'file://{regions}', 'format' = 'csv')")
    if job == "visitors":
        sql = """SELECT window_start, region, COUNT(*) AS events, COUNT(DISTINCT user_id) AS visitors,
                   SUM(amount) AS revenue
            FROM TABLE(HOP(TABLE events, DESCRIPTOR(event_time), INTERVAL '1' MINUTE, INTERVAL '5' MINUTE))
            GROUP BY window_start, window_end, region"""
    elif job == "tumbling":
        sql = """SELECT window_start, region, COUNT(*) AS events, SUM(amount) AS revenue
            FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(event_time), INTERVAL '1' MINUTE))
            GROUP BY window_start, window_end, region"""
    else:
        # A regular join drops the event-time attribute, so the windows after it are an updating
        # aggregation by minute (Flink has no broadcast join with a static file table in SQL).
        minute = "FLOOR(CAST(e.event_time AS TIMESTAMP(3)) TO MINUTE)"
        sql = f"""SELECT {minute} AS window_start, r.country, COUNT(*) AS events,
                   SUM(e.amount) AS revenue
            FROM events e JOIN regions r ON e.region = r.region
            GROUP BY {minute}, r.country"""
    table = env.sql_query(sql)
    cols = ", ".join(f"`{n}` {t}" for n, t in zip(table.get_schema().get_field_names(),
                                                  map(str, table.get_schema().get_field_data_types())))
    env.execute_sql(f"CREATE TABLE result_sink ({cols}) WITH ('connector' = 'print')")
    table.execute_insert("result_sink").wait()
    done = time.time()
    sys.stdout.flush()
    print(f"{started - T0:.3f} {done - started:.3f}", flush=True)


if __name__ == "__main__":
    main()
