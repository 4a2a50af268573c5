"""The medallion lakehouse (examples/medallion/job.sql in PySpark's API): raw JSON -> bronze (as
is) -> silver (clean, deduplicated, enriched) -> gold (hourly revenue and visitors per country),
each layer a Delta table that the next layer reads as a Delta stream.

    tributary submit examples/python/medallion.py --set input=DIR --set regions=FILE.csv \
        --set lake=DIR [--set mode=batch] [--set flush_at_end=true]
"""

import tributary
from tributary.sql import SparkSession, functions as F

conf = tributary.conf
streaming = conf.get("mode", "stream") == "stream"
lake = conf["lake"].rstrip("/")
spark = SparkSession.builder.appName("medallion").getOrCreate()
EVENTS = "event_time TIMESTAMP, user_id BIGINT, region STRING, page STRING, amount DOUBLE"


def read(path, fmt, schema=None):
    r = spark.readStream.option("maxFilesPerTrigger", 1) if streaming and fmt == "json" else (
        spark.readStream if streaming else spark.read
    )
    if schema:
        r = r.schema(schema)
    return r.format(fmt).load(path)


def write(df, layer, mode="append"):
    if not streaming:
        df.write.format("delta").mode("overwrite").save(f"{lake}/{layer}")
        return
    q = (
        df.writeStream.format("delta")
        .outputMode(mode)
        .option("checkpointLocation", f"{lake}/_checkpoints/{layer}")
        .option("flush_at_end", conf.get("flush_at_end", "false"))
        .trigger(availableNow=True)
        .start(f"{lake}/{layer}")
    )
    q.awaitTermination()


# Bronze: the raw rows, unchanged.
write(read(conf["input"], "json", EVENTS), "bronze")

# Silver: valid rows only, one row per event, regions normalised and enriched.
regions = spark.read.schema("region STRING, country STRING, tier STRING").option("header", True).csv(conf["regions"])
silver = (
    read(f"{lake}/bronze", "delta")
    .withWatermark("event_time", "10 minutes")
    .where(F.col("user_id").isNotNull() & (F.col("amount") >= 0))
    .select("event_time", "user_id", F.lower(F.trim("region")).alias("region"), "page", "amount")
    .dropDuplicates()
    .join(regions, "region", "left")
    .select(
        "event_time", "user_id", "region",
        F.coalesce("country", F.lit("unknown")).alias("country"),
        F.coalesce("tier", F.lit("none")).alias("tier"),
        "page", "amount",
    )
)
write(silver, "silver")

# Gold: revenue and visitors per country and hour, written once each hour is final.
gold = (
    read(f"{lake}/silver", "delta")
    .withWatermark("event_time", "10 minutes")
    .groupBy(F.window("event_time", "1 hour").alias("w"), "country")
    .agg(F.count("*").alias("events"), F.countDistinct("user_id").alias("visitors"), F.sum("amount").alias("revenue"))
    .select(F.col("w.start").alias("hour_start"), "country", "events", "visitors", "revenue")
)
write(gold, "gold")
