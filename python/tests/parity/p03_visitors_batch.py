"""The visitors example as a batch: sliding windows, exact distinct visitors, revenue."""
from pyspark.sql import SparkSession, functions as F

EVENTS = "event_time TIMESTAMP, user_id BIGINT, region STRING, page STRING, amount DOUBLE"


def run(spark, data, work):
    events = spark.read.schema(EVENTS).option("mode", "DROPMALFORMED").json(f"{data}/events")
    return (
        events.groupBy(F.window("event_time", "5 minutes", "1 minute"), F.lower("region").alias("region"))
        .agg(F.count("*").alias("events"), F.countDistinct("user_id").alias("visitors"), F.sum("amount").alias("revenue"))
        .select(F.col("window.start").alias("window_start"), F.col("window.end").alias("window_end"), "region", "events", "visitors", "revenue")
        .collect()
    )
