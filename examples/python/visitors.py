"""Visitors by region (examples/visitors/job.sql in PySpark's API): events in 5-minute windows
sliding by 1 minute on event time, accepting events up to 10 minutes late; per window and
region the events, the exact number of distinct visitors, and the revenue. As a stream, a
window's row is written once, when the watermark passes its end.

    tributary submit examples/python/visitors.py --set input=DIR --set output=DIR \
        [--set mode=batch] [--set checkpoint=DIR] [--set flush_at_end=true]
"""

import tributary
from tributary.sql import SparkSession, functions as F

conf = tributary.conf
streaming = conf.get("mode", "stream") == "stream"
spark = SparkSession.builder.appName("visitors").getOrCreate()

EVENTS = "event_time TIMESTAMP, user_id BIGINT, region STRING, page STRING, amount DOUBLE"
reader = spark.readStream.option("maxFilesPerTrigger", 1) if streaming else spark.read
events = reader.schema(EVENTS).json(conf["input"])

visitors = (
    events.withWatermark("event_time", "10 minutes")
    .groupBy(F.window("event_time", "5 minutes", "1 minute").alias("w"), F.lower("region").alias("region"))
    .agg(
        F.count("*").alias("events"),
        F.countDistinct("user_id").alias("visitors"),
        F.sum("amount").alias("revenue"),
    )
    .select(
        F.col("w.start").alias("window_start"),
        F.col("w.end").alias("window_end"),
        "region", "events", "visitors", "revenue",
    )
)

if streaming:
    query = (
        visitors.writeStream.format("delta")
        .outputMode("append")
        .option("checkpointLocation", conf.get("checkpoint", conf["output"] + "_checkpoint"))
        # A replay of bounded input can close every window when the input ends (what `tributary
        # verify` does); a live stream leaves the last windows open until the watermark passes.
        .option("flush_at_end", conf.get("flush_at_end", "false"))
        .trigger(availableNow=True)
        .start(conf["output"])
    )
    query.awaitTermination()
else:
    visitors.write.format("delta").mode("overwrite").save(conf["output"])
