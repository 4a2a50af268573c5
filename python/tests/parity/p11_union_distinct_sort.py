"""Unions, distinct, dropDuplicates, ordering with nulls, limits, renames."""
from pyspark.sql import SparkSession, functions as F

EVENTS = "event_time TIMESTAMP, user_id BIGINT, region STRING, page STRING, amount DOUBLE"


def run(spark, data, work):
    # The filter reads user_id: Spark judges a JSON record malformed only by the columns a query
    # reads, Tributary by the whole record.
    df = spark.read.schema(EVENTS).option("mode", "DROPMALFORMED").json(f"{data}/events").where(F.col("user_id") > 0)
    a = df.select(F.lower("region").alias("region"), "page")
    b = df.select(F.col("page").alias("page2"), F.lower("region").alias("region")).withColumnRenamed("page2", "page")
    u = a.union(a).distinct().unionByName(b.dropDuplicates())
    first = df.orderBy(F.col("amount").asc_nulls_first(), "user_id", "event_time").limit(4).select("user_id", "amount")
    return u.collect() + first.collect()
