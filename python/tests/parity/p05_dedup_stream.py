"""Deduplication with a watermark, as a stream. (Chained stateful operators, e.g. counts over
the deduplicated stream, are not in Tributary yet: see docs/python.md.)"""
from pyspark.sql import SparkSession, functions as F

EVENTS = "event_time TIMESTAMP, user_id BIGINT, region STRING, page STRING, amount DOUBLE"


def run(spark, data, work):
    events = spark.readStream.schema(EVENTS).option("mode", "DROPMALFORMED").option("maxFilesPerTrigger", 1).json(f"{data}/events")
    q = (
        events.withWatermark("event_time", "30 seconds")
        .dropDuplicates(["user_id", "event_time"])
        .select("user_id", "event_time", F.minute("event_time").alias("m"))
        .writeStream.format("memory").queryName("p05").outputMode("append")
        .option("checkpointLocation", f"{work}/ckpt")
        .trigger(availableNow=True).start()
    )
    q.awaitTermination()
    return spark.sql("SELECT * FROM p05").collect()
