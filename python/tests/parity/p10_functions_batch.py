"""String, date and conditional functions."""
from pyspark.sql import SparkSession, functions as F

EVENTS = "event_time TIMESTAMP, user_id BIGINT, region STRING, page STRING, amount DOUBLE"


def run(spark, data, work):
    df = spark.read.schema(EVENTS).option("mode", "DROPMALFORMED").json(f"{data}/events")
    return df.select(
        F.upper(F.trim("region")).alias("r"),
        F.length("page").alias("len"),
        F.regexp_extract("page", r"/(\w+)/(\d+)", 2).alias("pid"),
        F.regexp_replace("page", "/", "|").alias("p2"),
        F.concat_ws(":", F.lower("region"), F.col("user_id").cast("string")).alias("key"),
        F.hour("event_time").alias("h"), F.minute("event_time").alias("m"),
        F.date_format("event_time", "yyyy-MM-dd HH:mm").alias("at"),
        F.to_date("event_time").alias("day"),
        F.coalesce(F.col("amount"), F.lit(0.0)).alias("amt"),
        F.round(F.col("amount") / 3, 2).alias("third"),
        F.col("page").startswith("/product").alias("is_product"),
        F.when(F.col("amount").isNull(), "none").when(F.col("amount") < 20, "low").otherwise("high").alias("band"),
    ).collect()
