"""Visitors by region from a Kafka topic (examples/kafka_to_delta/job.sql in PySpark's API): the
events are JSON values of the topic, read as Spark reads Kafka (binary `value`, decoded with
from_json), in 5-minute windows sliding by 1 minute, appended to Delta.

    tributary submit examples/python/kafka_to_delta.py --set bootstrap=HOST:PORT --set topic=NAME \
        --set output=DIR [--set checkpoint=DIR] [--set flush_at_end=true]
"""

import tributary
from tributary.sql import SparkSession, functions as F

conf = tributary.conf
spark = SparkSession.builder.appName("kafka_to_delta").getOrCreate()
EVENTS = "event_time TIMESTAMP, user_id BIGINT, region STRING, page STRING, amount DOUBLE"

events = (
    spark.readStream.format("kafka")
    .option("kafka.bootstrap.servers", conf["bootstrap"])
    .option("subscribe", conf["topic"])
    .option("startingOffsets", "earliest")
    .load()
    .select(F.from_json(F.col("value").cast("string"), EVENTS).alias("e"))
    .select("e.*")
)

visitors = (
    events.withWatermark("event_time", "10 minutes")
    .groupBy(F.window("event_time", "5 minutes", "1 minute").alias("w"), F.lower("region").alias("region"))
    .agg(F.count("*").alias("events"), F.countDistinct("user_id").alias("visitors"), F.sum("amount").alias("revenue"))
    .select(F.col("w.start").alias("window_start"), F.col("w.end").alias("window_end"),
            "region", "events", "visitors", "revenue")
)

query = (
    visitors.writeStream.format("delta")
    .outputMode("append")
    .option("checkpointLocation", conf.get("checkpoint", conf["output"] + "_checkpoint"))
    .option("flush_at_end", conf.get("flush_at_end", "false"))
    .trigger(availableNow=True)
    .start(conf["output"])
)
query.awaitTermination()
