"""Aggregates by group: count, distinct, min, max, avg, collect_set, first rows by order."""
from pyspark.sql import SparkSession, functions as F

EVENTS = "event_time TIMESTAMP, user_id BIGINT, region STRING, page STRING, amount DOUBLE"


def run(spark, data, work):
    df = spark.read.schema(EVENTS).option("mode", "DROPMALFORMED").json(f"{data}/events").withColumn("region", F.lower("region"))
    by_region = df.groupBy("region").agg(
        F.count("*").alias("n"), F.countDistinct("user_id").alias("users"), F.min("amount").alias("lo"),
        F.max("amount").alias("hi"), F.avg("amount").alias("mean"), F.collect_set("page").alias("pages"),
    )
    top = df.where(F.col("amount").isNotNull()).orderBy(F.col("amount").desc(), F.col("user_id")).limit(3)
    return by_region.collect() + top.select("user_id", "amount").collect()
