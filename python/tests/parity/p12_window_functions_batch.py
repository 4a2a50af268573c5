"""Window functions as a batch: a Top-N per key, ranks, running sums and the previous value."""
from pyspark.sql import SparkSession, Window, functions as F

EVENTS = "event_time TIMESTAMP, user_id BIGINT, region STRING, page STRING, amount DOUBLE"


def run(spark, data, work):
    df = (spark.read.schema(EVENTS).option("mode", "DROPMALFORMED").json(f"{data}/events")
          .where(F.col("user_id").isNotNull() & F.col("amount").isNotNull() & F.col("event_time").isNotNull())
          .select(F.lower("region").alias("region"), "user_id", "amount", "event_time"))
    # Ties broken by unique columns, so that the ranking is one.
    by_amount = Window.partitionBy("region").orderBy(F.desc("amount"), "event_time", "user_id")
    top = (df.withColumn("rn", F.row_number().over(by_amount))
           .filter(F.col("rn") <= 3)
           .select("region", "user_id", "amount", "rn"))
    by_time = Window.partitionBy("region").orderBy("event_time", "user_id")
    running = (df.select(
        "region", "user_id", "event_time",
        F.dense_rank().over(Window.partitionBy("region").orderBy(F.desc("amount"))).alias("dr"),
        F.sum("amount").over(by_time.rowsBetween(Window.unboundedPreceding, Window.currentRow)).alias("running"),
        F.lag("user_id").over(by_time).alias("previous_user"),
    ))
    return top.collect() + running.collect()
