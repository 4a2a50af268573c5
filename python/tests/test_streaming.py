"""Streams: the same program as a batch and as a stream, triggers, sinks, foreachBatch,
listeners, processAllAvailable, and failures with their Python traceback."""

import threading
import time

import pytest

from tributary import errors
from tributary.sql import StreamingQueryListener, functions as F

from conftest import EVENTS, write_events


def windowed(df):
    return (
        df.withWatermark("ts", "10 seconds")
        .groupBy(F.window("ts", "30 seconds"), "user")
        .agg(F.count("*").alias("n"), F.sum("amount").alias("total"))
        .select(F.col("window.start").alias("start"), "user", "n", "total")
    )


def stream_with_restarts(spark, tmp_path, query, each_run=lambda q: None):
    """Four files of 40 events, each read by a new run of `query` (a function of the input
    DataFrame) on one checkpoint into a Delta table in append mode; `each_run` checks each run.
    Returns the table's rows (sorted) and the batch answer over all the files."""
    src, ckpt, out = tmp_path / "in", tmp_path / "ckpt", tmp_path / "out"
    for i in range(4):
        write_events(src, f"f{i}.json", i * 40, 40)
        q = (
            query(spark.readStream.schema(EVENTS).option("maxFilesPerTrigger", 1).json(str(src)))
            .writeStream.format("delta")
            .outputMode("append")
            .option("checkpointLocation", str(ckpt))
            .trigger(availableNow=True)
            .start(str(out))
        )
        q.awaitTermination()
        assert sum(p["numInputRows"] for p in q.recentProgress) == 40
        each_run(q)
    streamed = sorted(tuple(r) for r in spark.read.format("delta").load(str(out)).collect())
    return streamed, query(spark.read.schema(EVENTS).json(str(src)))


def test_a_windowed_stream_with_restarts_equals_the_batch(spark, tmp_path):
    streamed, batch = stream_with_restarts(spark, tmp_path, windowed)
    # The stream emits a window once the watermark (last event - 10 s) passes its end.
    last = 159 - 10
    expected = sorted(tuple(r) for r in batch.collect() if r.start.minute * 60 + r.start.second + 30 <= last)
    assert streamed == expected and len(expected) >= 12


def test_foreach_batch_gets_each_epoch_as_a_dataframe(spark, tmp_path):
    write_events(tmp_path / "in", "a.json", 0, 10)
    write_events(tmp_path / "in", "b.json", 10, 5)
    seen = []

    def each(df, epoch_id):
        seen.append((epoch_id, df.count(), sorted(df.toPandas()["id"].tolist())))

    q = (
        spark.readStream.schema(EVENTS).option("maxFilesPerTrigger", 1).json(str(tmp_path / "in"))
        .select("id")
        .writeStream.foreachBatch(each)
        .option("checkpointLocation", str(tmp_path / "ckpt"))
        .trigger(availableNow=True)
        .start()
    )
    q.awaitTermination()
    assert seen == [(0, 10, list(range(10))), (1, 5, list(range(10, 15)))]


def test_an_error_in_foreach_batch_stops_the_query_with_its_traceback(spark, tmp_path):
    write_events(tmp_path / "in", "a.json", 0, 3)

    def broken(df, epoch_id):
        raise KeyError("the-missing-key")

    q = (
        spark.readStream.schema(EVENTS).json(str(tmp_path / "in"))
        .writeStream.foreachBatch(broken)
        .option("checkpointLocation", str(tmp_path / "ckpt"))
        .trigger(availableNow=True)
        .start()
    )
    with pytest.raises(errors.StreamingQueryException, match="the-missing-key") as e:
        q.awaitTermination()
    assert "in broken" in str(e.value) and "Traceback" in str(e.value)
    assert not q.isActive and "the-missing-key" in str(q.exception())


def test_memory_sink_process_all_available_and_listeners(spark, tmp_path):
    events = []
    done = threading.Event()

    class Recorder(StreamingQueryListener):
        def onQueryStarted(self, event):
            events.append(("started", event.name))

        def onQueryProgress(self, event):
            events.append(("progress", event.progress.numInputRows, event.progress["batchId"]))

        def onQueryIdle(self, event):
            pass

        def onQueryTerminated(self, event):
            events.append(("terminated", event.exception))
            done.set()

    listener = Recorder()
    spark.streams.addListener(listener)
    write_events(tmp_path / "in", "a.json", 0, 7)
    q = (
        spark.readStream.schema(EVENTS).json(str(tmp_path / "in"))
        .filter(F.col("id") % 2 == 0)
        .writeStream.format("memory")
        .queryName("evens")
        .outputMode("append")
        .trigger(processingTime="50 milliseconds")
        .start()
    )
    assert q.isActive and q.name == "evens"
    assert [x.id for x in spark.streams.active] == [q.id]
    q.processAllAvailable()
    assert spark.sql("SELECT count(*) AS n FROM evens").first().n == 4
    write_events(tmp_path / "in", "b.json", 7, 7)
    q.processAllAvailable()
    assert sorted(r.id for r in spark.table("evens").collect()) == [0, 2, 4, 6, 8, 10, 12]
    assert q.status["isTriggerActive"] in (True, False)
    q.stop()
    assert done.wait(30), "onQueryTerminated was never called"
    assert events[0] == ("started", "evens")
    progress = [e for e in events if e[0] == "progress"]
    assert sum(p[1] for p in progress) == 14 and [p[2] for p in progress] == list(range(len(progress)))
    assert events[-1] == ("terminated", None)
    assert q.recentProgress[-1]["sink"]["description"].startswith("MemorySink")
    assert spark.streams.awaitAnyTermination(timeout=5) is True
    spark.streams.removeListener(listener)


def test_triggers_are_checked(spark, tmp_path):
    write_events(tmp_path / "in", "a.json", 0, 1)
    w = spark.readStream.schema(EVENTS).json(str(tmp_path / "in")).writeStream
    with pytest.raises(ValueError, match="exactly one"):
        w.trigger(once=True, availableNow=True)
    with pytest.raises(NotImplementedError, match="continuous"):
        w.trigger(continuous="1 second")
    with pytest.raises(ValueError, match="realTime"):
        w.trigger(realTime="soon")


def test_real_time_mode_delivers_rows_before_its_epoch_ends(spark, tmp_path):
    write_events(tmp_path / "in", "a.json", 0, 7)
    q = (
        spark.readStream.schema(EVENTS).json(str(tmp_path / "in"))
        .filter(F.col("id") % 2 == 0)
        .writeStream.format("memory")
        .queryName("rt_evens")
        .trigger(realTime="10 minutes")
        .start()
    )
    deadline = time.monotonic() + 30
    while spark.sql("SELECT count(*) AS n FROM rt_evens").first().n < 4:
        assert time.monotonic() < deadline, "the rows never reached the memory sink"
        time.sleep(0.02)
    # The epoch lasts ten minutes: its rows are out, its commit is not.
    assert q.recentProgress == []
    q.stop()
    (p,) = q.recentProgress
    assert p["numInputRows"] == 7
    assert p["realTime"]["immediateSink"] is True
    assert p["realTime"]["numEmittedRows"] == 4
    assert set(p["realTime"]["latencyMs"]) == {"p50", "p99", "p999", "max"}


def test_stream_to_a_named_table_and_back(spark, tmp_path):
    spark.conf.set("spark.sql.warehouse.dir", str(tmp_path / "wh"))
    write_events(tmp_path / "in", "a.json", 0, 6)
    q = (
        spark.readStream.schema(EVENTS).json(str(tmp_path / "in"))
        .writeStream.option("checkpointLocation", str(tmp_path / "ckpt"))
        .trigger(availableNow=True)
        .toTable("bronze")
    )
    q.awaitTermination()
    assert spark.table("bronze").count() == 6
    again = spark.readStream.table("bronze")
    assert again.isStreaming


def test_nexmark_top_n_as_a_stream_equals_the_batch(spark, tmp_path):
    """The built-in Nexmark source (`format("nexmark")`) and a streaming Top-N from Python:
    Nexmark q19 (the ten highest bids of each auction) in update mode, over four epochs."""
    options = {"table": "bid", "max_events": "20000", "max_events_per_trigger": "5000", "seed": "3"}
    top_ten = """SELECT auction, bidder, price, rank_number FROM (
        SELECT *, row_number() OVER (PARTITION BY auction ORDER BY price DESC, date_time) AS rank_number
        FROM {bids}) WHERE rank_number <= 10"""
    spark.read.format("nexmark").options(**options).load("nexmark").createOrReplaceTempView("bids_at_rest")
    batch = sorted(tuple(r) for r in spark.sql(top_ten.format(bids="bids_at_rest")).collect())
    spark.readStream.format("nexmark").options(**options).load("nexmark").createOrReplaceTempView("bids")
    q = (
        spark.sql(top_ten.format(bids="bids"))
        .writeStream.format("delta")
        .outputMode("update")
        .option("checkpointLocation", str(tmp_path / "ckpt"))
        .trigger(availableNow=True)
        .start(str(tmp_path / "top"))
    )
    q.awaitTermination()
    assert len(q.recentProgress) == 4
    streamed = sorted(tuple(r) for r in spark.read.format("delta").load(str(tmp_path / "top")).collect())
    assert streamed == batch and len(batch) > 1000


def test_chained_window_aggregations_as_a_stream_equal_the_batch(spark, tmp_path):
    """Chained stateful operators from the DataFrame API: each user's total per 30-second window,
    then, per window, the largest total and how many users had one. The lower aggregation emits
    a window once the watermark closes it; the upper one takes it in the same epoch."""

    def largest(df):
        per_user = (
            df.withWatermark("ts", "10 seconds")
            .groupBy(F.window("ts", "30 seconds"), "user")
            .agg(F.sum("amount").alias("total"))
        )
        return per_user.groupBy(F.col("window.end").alias("end")).agg(
            F.max("total").alias("top"), F.count("*").alias("users")
        )

    def two_operators(q):
        assert len(q.lastProgress["stateOperators"]) == 2

    streamed, batch = stream_with_restarts(spark, tmp_path, largest, two_operators)
    # Both close a window once the watermark (last event - 10 s) passes its end.
    last = 159 - 10
    expected = sorted(tuple(r) for r in batch.collect() if r.end.minute * 60 + r.end.second <= last)
    assert streamed == expected and len(expected) == 4


def test_the_state_of_a_stream_reads_like_sparks_state_data_source(spark, tmp_path):
    """`spark.read.format("statestore")` reads an aggregation's state from its checkpoint:
    one row per open group, with `key`, `value` and `partition_id`."""
    src, ckpt = tmp_path / "in", tmp_path / "ckpt"
    write_events(src, "f0.json", 0, 40)
    q = (
        spark.readStream.schema(EVENTS).json(str(src))
        .groupBy("user")
        .agg(F.count("*").alias("n"))
        .writeStream.format("memory")
        .queryName("per_user")
        .outputMode("update")
        .option("checkpointLocation", str(ckpt))
        .trigger(availableNow=True)
        .start()
    )
    q.awaitTermination()
    state = spark.read.format("statestore").option("operatorId", 0).load(str(ckpt))
    assert state.columns == ["key", "value", "partition_id"]
    rows = state.collect()
    # The key's fields are the state's own columns (a groupBy's keys are computed under hidden
    # names): the user is the first.
    users = sorted(r.key[0] for r in rows)
    expected = sorted(r.user for r in spark.read.schema(EVENTS).json(str(src)).select("user").distinct().collect())
    assert users == expected and len(users) > 1
    assert all(0 <= r.partition_id < 4 for r in rows)
    with pytest.raises(errors.TributaryException, match="no stateful operator 3"):
        spark.read.format("statestore").option("operatorId", 3).load(str(ckpt)).collect()
