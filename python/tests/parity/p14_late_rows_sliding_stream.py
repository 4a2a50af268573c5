"""Late rows under Spark's two watermarks with sliding windows (2 minutes every minute, which
Tributary keeps by pane): the third file's row (00:00:20) arrives in the batch whose watermark
moves from 0 to 00:04:00; it still counts in both its windows, which close in that batch with
the panes stored before it. The fourth file's row (00:00:30) is behind the previous batch's
watermark: dropped."""
import json
import os
from pathlib import Path

from pyspark.sql import SparkSession, functions as F

TIMES = ["00:00:10", "00:05:00", "00:00:20", "00:00:30", "00:05:30"]


def run(spark, data, work):
    folder = Path(work) / "late_input"
    folder.mkdir(parents=True, exist_ok=True)
    for i, t in enumerate(TIMES):
        f = folder / f"part-{i}.json"
        f.write_text(json.dumps({"event_time": f"2026-01-01 {t}", "v": i}) + "\n")
        # Both engines then read the files in this order, one per micro-batch.
        os.utime(f, (1_700_000_000 + i, 1_700_000_000 + i))
    events = spark.readStream.schema("event_time TIMESTAMP, v BIGINT").option("maxFilesPerTrigger", 1).json(str(folder))
    q = (
        events.withWatermark("event_time", "1 minute")
        .groupBy(F.window("event_time", "2 minutes", "1 minute"))
        .agg(F.count("*").alias("n"), F.sum("v").alias("total"))
        .select(F.col("window.start").alias("start"), "n", "total")
        .writeStream.format("memory").queryName("p14").outputMode("append")
        .option("checkpointLocation", f"{work}/ckpt")
        .trigger(availableNow=True).start()
    )
    q.awaitTermination()
    return spark.sql("SELECT * FROM p14").collect()
