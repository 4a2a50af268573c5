"""foreachBatch: each epoch (one file per epoch) as a DataFrame; its count and total."""
from pyspark.sql import Row, SparkSession, functions as F

EVENTS = "event_time TIMESTAMP, user_id BIGINT, region STRING, page STRING, amount DOUBLE"


def run(spark, data, work):
    seen = []

    def each(df, epoch_id):
        r = df.agg(F.count("*").alias("n"), F.sum("amount").alias("total")).collect()[0]
        seen.append(Row(epoch=epoch_id, n=r["n"], total=r["total"], pandas_rows=len(df.toPandas())))

    q = (
        spark.readStream.schema(EVENTS).option("mode", "DROPMALFORMED").option("maxFilesPerTrigger", 1).json(f"{data}/events")
        .writeStream.foreachBatch(each)
        .option("checkpointLocation", f"{work}/ckpt")
        .trigger(availableNow=True).start()
    )
    q.awaitTermination()
    return seen
