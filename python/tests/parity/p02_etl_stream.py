"""The ETL example as a stream (availableNow into the memory sink)."""
from pyspark.sql import SparkSession, functions as F

EVENTS = "event_time TIMESTAMP, user_id BIGINT, region STRING, page STRING, amount DOUBLE"


def run(spark, data, work):
    events = spark.readStream.schema(EVENTS).option("mode", "DROPMALFORMED").option("maxFilesPerTrigger", 1).json(f"{data}/events")
    regions = spark.read.schema("region STRING, country STRING, tier STRING").option("header", True).csv(f"{data}/regions.csv")
    q = (
        events.where(F.col("user_id").isNotNull())
        .withColumn("region", F.lower("region"))
        .join(regions, "region", "left")
        .select("event_time", "user_id", "region", "country", "tier", "page", "amount")
        .writeStream.format("memory").queryName("p02").outputMode("append")
        .option("checkpointLocation", f"{work}/ckpt")
        .trigger(availableNow=True).start()
    )
    q.awaitTermination()
    return spark.sql("SELECT * FROM p02").collect()
