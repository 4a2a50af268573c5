"""Late rows of a stream-stream join (Spark 3.4+): each side drops its rows behind the previous
micro-batch's watermark before they join or enter the state, even without a time condition.
Impressions and clicks of two ads arrive one file per side per micro-batch. The third files'
rows (00:00:20, 00:00:25) arrive while the watermark for late rows is still 0: they join. The
fourth files' rows (00:00:30, 00:00:35) are behind the previous batch's watermark (00:04:00):
dropped on both sides, so they match nothing, stored or new."""
import json
import os
from pathlib import Path

from pyspark.sql import SparkSession, functions as F

IMPRESSIONS = [(1, "00:00:10"), (2, "00:05:00"), (1, "00:00:20"), (1, "00:00:30"), (2, "00:05:30")]
CLICKS = [(1, "00:00:15"), (2, "00:05:10"), (1, "00:00:25"), (1, "00:00:35"), (2, "00:05:40")]


def write(folder, rows, time_name):
    folder.mkdir(parents=True, exist_ok=True)
    for i, (ad, t) in enumerate(rows):
        f = folder / f"part-{i}.json"
        f.write_text(json.dumps({"ad": ad, time_name: f"2026-01-01 {t}"}) + "\n")
        # Both engines then read the files in this order, one per micro-batch.
        os.utime(f, (1_700_000_000 + i, 1_700_000_000 + i))


def run(spark, data, work):
    write(Path(work) / "impressions", IMPRESSIONS, "imp_time")
    write(Path(work) / "clicks", CLICKS, "click_time")
    imps = (
        spark.readStream.schema("ad BIGINT, imp_time TIMESTAMP").option("maxFilesPerTrigger", 1)
        .json(f"{work}/impressions").withWatermark("imp_time", "1 minute")
    )
    clicks = (
        spark.readStream.schema("ad BIGINT, click_time TIMESTAMP").option("maxFilesPerTrigger", 1)
        .json(f"{work}/clicks").withWatermark("click_time", "1 minute")
        .withColumnRenamed("ad", "click_ad")
    )
    q = (
        imps.join(clicks, F.col("ad") == F.col("click_ad"))
        .select("ad", "imp_time", "click_time")
        .writeStream.format("memory").queryName("p15").outputMode("append")
        .option("checkpointLocation", f"{work}/ckpt")
        .trigger(availableNow=True).start()
    )
    q.awaitTermination()
    return spark.sql("SELECT * FROM p15").collect()
