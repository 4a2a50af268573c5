"""The visitors example as a stream in append mode: a window is emitted once the watermark
passes its end (windows still open when the input ends are not emitted, in both engines).
Spark refuses distinct counts on streams, so the stream counts events and revenue. (It reads
`user_id`: Spark judges a JSON record malformed only by the columns a query reads.)"""
from pyspark.sql import SparkSession, functions as F

EVENTS = "event_time TIMESTAMP, user_id BIGINT, region STRING, page STRING, amount DOUBLE"


def run(spark, data, work):
    events = spark.readStream.schema(EVENTS).option("mode", "DROPMALFORMED").option("maxFilesPerTrigger", 1).json(f"{data}/events")
    q = (
        events.withWatermark("event_time", "5 seconds")
        .groupBy(F.window("event_time", "30 seconds", "10 seconds"), F.lower("region").alias("region"))
        .agg(F.count("*").alias("events"), F.count("user_id").alias("known"), F.sum("amount").alias("revenue"))
        .select(F.col("window.start").alias("window_start"), "region", "events", "known", "revenue")
        .writeStream.format("memory").queryName("p04").outputMode("append")
        .option("checkpointLocation", f"{work}/ckpt")
        .trigger(availableNow=True).start()
    )
    q.awaitTermination()
    return spark.sql("SELECT * FROM p04").collect()
