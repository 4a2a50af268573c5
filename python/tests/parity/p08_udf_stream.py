"""A Python UDF in a stream, and a pandas UDF in a batch."""
import pandas as pd

from pyspark.sql import SparkSession, functions as F

EVENTS = "event_time TIMESTAMP, user_id BIGINT, region STRING, page STRING, amount DOUBLE"


def run(spark, data, work):
    band = F.udf(lambda a: None if a is None else ("high" if a >= 30 else "low"), "string")

    @F.pandas_udf("double")
    def cents(a: pd.Series) -> pd.Series:
        return (a * 100).round()

    q = (
        spark.readStream.schema(EVENTS).option("mode", "DROPMALFORMED").json(f"{data}/events")
        .select("user_id", band("amount").alias("band"), F.upper(F.col("page")).alias("page"))
        .writeStream.format("memory").queryName("p08").outputMode("append")
        .option("checkpointLocation", f"{work}/ckpt")
        .trigger(availableNow=True).start()
    )
    q.awaitTermination()
    streamed = spark.sql("SELECT * FROM p08").collect()
    batch = spark.read.schema(EVENTS).option("mode", "DROPMALFORMED").json(f"{data}/events").select("user_id", cents("amount").alias("c")).collect()
    return streamed + batch
