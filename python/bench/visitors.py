"""The visitors job from Python, on Tributary and on PySpark, batch and stream: wall times.

    python python/bench/visitors.py [EVENTS] [FILES]      # default 1,000,000 events in 10 files

Writes the events (JSON lines, 100 events per second of event time, 100,000 users, 50 regions)
to a temporary folder, then runs in one subprocess per engine and mode (the same program text,
the import swapped): the batch (sliding 5-minute windows by 1 minute, exact distinct visitors,
revenue; to Parquet) and the stream (the same windows with a 10-minute watermark, append mode,
approximate distinct visitors since Spark refuses exact ones on streams; availableNow, one file
per epoch; to Parquet). Times exclude starting the session (Spark's JVM start is printed apart).
Needs `pyspark` and Java; for meaningful numbers a release build of the package
(`TRIBUTARY_PYTHON_PROFILE=release bash scripts/python_package.sh`).
"""

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROGRAM = '''
import sys, time
t0 = time.time()
from pyspark.sql import SparkSession, functions as F
spark = (SparkSession.builder.master("local[2]").config("spark.sql.session.timeZone", "UTC")
         .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2").getOrCreate())
started = time.time()
mode, data, out = sys.argv[1:4]
EVENTS = "event_time TIMESTAMP, user_id BIGINT, region STRING, amount DOUBLE"
if mode == "batch":
    events = spark.read.schema(EVENTS).json(data)
    distinct = F.countDistinct("user_id")
else:
    events = spark.readStream.schema(EVENTS).option("maxFilesPerTrigger", 1).json(data)
    distinct = F.approx_count_distinct("user_id")
visitors = (events.withWatermark("event_time", "10 minutes")
    .groupBy(F.window("event_time", "5 minutes", "1 minute"), "region")
    .agg(F.count("*").alias("events"), distinct.alias("visitors"), F.sum("amount").alias("revenue"))
    .select(F.col("window.start").alias("window_start"), "region", "events", "visitors", "revenue"))
if mode == "batch":
    visitors.write.mode("overwrite").parquet(out)
else:
    q = (visitors.writeStream.format("parquet").outputMode("append")
         .option("checkpointLocation", out + "_ckpt").trigger(availableNow=True).start(out))
    q.awaitTermination()
done = time.time()
print(f"{started - t0:.2f} {done - started:.2f}")
'''


def write_events(folder: Path, n: int, files: int) -> None:
    folder.mkdir(parents=True)
    rng = random.Random(42)
    regions = [f"region-{i:02d}" for i in range(50)]
    per = n // files
    base = 1_795_219_200  # 2026-11-21 00:00:00 UTC
    for f in range(files):
        lines = []
        for i in range(f * per, (f + 1) * per):
            t = base + i / 100
            lines.append(json.dumps({
                "event_time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z",
                "user_id": rng.randrange(100_000), "region": rng.choice(regions),
                "amount": round(rng.random() * 100, 2),
            }))
        (folder / f"part-{f:04d}.json").write_text("\n".join(lines) + "\n")
        os.utime(folder / f"part-{f:04d}.json", (1_700_000_000 + f, 1_700_000_000 + f))


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    files = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_events(tmp / "events", n, files)
        env = dict(os.environ, PYSPARK_PYTHON=sys.executable, TZ="UTC")
        rows = []
        for mode in ("batch", "stream"):
            times = {}
            for engine in ("tributary", "pyspark"):
                text = PROGRAM if engine == "pyspark" else PROGRAM.replace("pyspark.sql", "tributary.sql")
                prog = tmp / f"bench_{engine}.py"
                prog.write_text(text)
                out = tmp / f"out-{engine}-{mode}"
                p = subprocess.run([sys.executable, str(prog), mode, str(tmp / "events"), str(out)],
                                   capture_output=True, text=True, env=env, cwd=tmp)
                if p.returncode != 0:
                    raise SystemExit(f"{engine} {mode} failed:\n{p.stderr[-3000:]}")
                start, run = map(float, p.stdout.split()[-2:])
                times[engine] = (start, run)
            t, s = times["tributary"][1], times["pyspark"][1]
            rows.append((mode, t, s, s / t, times["pyspark"][0]))
        print(f"visitors, {n:,} events in {files} files, 2 cores")
        print("| mode | Tributary (s) | PySpark local[2] (s) | PySpark / Tributary | Spark session start (s) |")
        print("|---|---|---|---|---|")
        for mode, t, s, r, js in rows:
            print(f"| {mode} | {t:.2f} | {s:.2f} | {r:.1f}x | {js:.1f} |")


if __name__ == "__main__":
    main()
