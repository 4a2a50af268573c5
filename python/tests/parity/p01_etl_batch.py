"""The ETL example as a batch: clean, normalise, enrich with a CSV dimension."""
from pyspark.sql import SparkSession, functions as F

EVENTS = "event_time TIMESTAMP, user_id BIGINT, region STRING, page STRING, amount DOUBLE"


def run(spark, data, work):
    events = spark.read.schema(EVENTS).option("mode", "DROPMALFORMED").json(f"{data}/events")
    regions = spark.read.schema("region STRING, country STRING, tier STRING").option("header", True).csv(f"{data}/regions.csv")
    return (
        events.where(F.col("user_id").isNotNull())
        .withColumn("region", F.lower("region"))
        .join(regions, "region", "left")
        .select("event_time", "user_id", "region", "country", "tier", "page", "amount")
        .collect()
    )
