"""Runs every parity program (p*.py beside this file) on one engine and writes their rows.

    python run_all.py pyspark|tributary DATA_DIR WORK_DIR OUT.json

The program files import `pyspark.sql`; for `tributary` the import is swapped to
`tributary.sql` and nothing else changes. All programs share one session (one JVM for Spark).
"""

import datetime
import decimal
import json
import os
import shutil
import sys
import traceback
from pathlib import Path


def plain(v):
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        items = [plain(x) for x in v]
        try:
            return sorted(items, key=lambda x: json.dumps(x, sort_keys=True))
        except TypeError:
            return items
    if isinstance(v, float):
        return round(v, 6)
    if isinstance(v, (datetime.datetime, datetime.date)):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return str(v)
    return v


def main():
    engine, data, work, out = sys.argv[1:5]
    # Spark's Python workers (UDFs) run with this interpreter, which has pandas and pyarrow.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["TZ"] = "UTC"
    # Spark's file stream takes the oldest files first; Tributary takes them by name. The copy
    # gives the files modification times in name order, so both read the same file per epoch.
    src, data = Path(data), Path(work) / "_data"
    shutil.rmtree(data, ignore_errors=True)
    shutil.copytree(src, data)
    for i, f in enumerate(sorted((data / "events").iterdir())):
        os.utime(f, (1_700_000_000 + i, 1_700_000_000 + i))
    data = str(data)
    results = {}
    spark = None
    for path in sorted(Path(__file__).parent.glob("p*.py")):
        text = path.read_text()
        if engine == "tributary":
            text = text.replace("pyspark.sql", "tributary.sql")
        ns = {"__name__": path.stem}
        try:
            exec(compile(text, str(path), "exec"), ns)
            if spark is None:
                spark = (
                    ns["SparkSession"].builder.master("local[2]")
                    .config("spark.sql.session.timeZone", "UTC")
                    .config("spark.ui.enabled", "false")
                    .config("spark.sql.shuffle.partitions", "2")
                    .getOrCreate()
                )
            wdir = Path(work) / path.stem
            wdir.mkdir(parents=True, exist_ok=True)
            rows = ns["run"](spark, data, str(wdir))
            results[path.stem] = sorted(
                json.dumps(plain(r.asDict(recursive=True)), sort_keys=True) for r in rows
            )
        except Exception:
            results[path.stem] = {"error": traceback.format_exc()}
    Path(out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
