"""A stream joined with a static table (inner), filtered, with computed columns."""
from pyspark.sql import SparkSession, functions as F

EVENTS = "event_time TIMESTAMP, user_id BIGINT, region STRING, page STRING, amount DOUBLE"


def run(spark, data, work):
    regions = spark.read.schema("region STRING, country STRING, tier STRING").option("header", True).csv(f"{data}/regions.csv")
    q = (
        spark.readStream.schema(EVENTS).option("mode", "DROPMALFORMED").json(f"{data}/events")
        .withColumn("region", F.lower(F.trim("region")))
        .join(regions, "region")
        .where((F.col("tier") == "gold") & (F.col("amount") > 10))
        .select("user_id", "country", (F.col("amount") * 1.2).alias("gross"),
                F.when(F.col("amount") > 40, "big").otherwise("small").alias("size"))
        .writeStream.format("memory").queryName("p06").outputMode("append")
        .option("checkpointLocation", f"{work}/ckpt")
        .trigger(availableNow=True).start()
    )
    q.awaitTermination()
    return spark.sql("SELECT * FROM p06").collect()
