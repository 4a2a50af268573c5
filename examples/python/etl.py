"""Bronze to silver (examples/etl/job.sql in PySpark's API): clean the raw events, enrich them
with a static region table, write Delta. The same file runs as a stream or as a batch.

    tributary submit examples/python/etl.py --set input=DIR --set regions=FILE.csv \
        --set output=DIR --set bad=DIR [--set mode=batch] [--set checkpoint=DIR]

With pyspark installed, `from pyspark.sql import ...` instead of `tributary.sql` runs it on
Spark (the variables then come from the environment of your own launcher).
"""

import tributary
from tributary.sql import SparkSession, functions as F

conf = tributary.conf
streaming = conf.get("mode", "stream") == "stream"
spark = SparkSession.builder.appName("etl").getOrCreate()

EVENTS = "event_time TIMESTAMP, user_id BIGINT, region STRING, page STRING, amount DOUBLE"
if streaming:
    events = spark.readStream.schema(EVENTS).option("maxFilesPerTrigger", 100)
else:
    events = spark.read.schema(EVENTS)
events = events.option("badRecordsPath", conf["bad"]).json(conf["input"])
regions = spark.read.schema("region STRING, country STRING, tier STRING").option("header", True).csv(conf["regions"])

silver = (
    events.where(F.col("user_id").isNotNull())
    .withColumn("region", F.lower("region"))
    .join(regions, "region", "left")
    .select("event_time", "user_id", "region", "country", "tier", "page", "amount")
)

if streaming:
    query = (
        silver.writeStream.format("delta")
        .option("checkpointLocation", conf.get("checkpoint", conf["output"] + "_checkpoint"))
        .trigger(availableNow=True)
        .start(conf["output"])
    )
    query.awaitTermination()
else:
    silver.write.format("delta").mode("overwrite").save(conf["output"])
