"""Tributary beside the engines its users would pick instead: one table of times, events/s, peak
memory and ratios, every answer checked against DuckDB's. Run through bench/peers/run.sh.

    python peers.py [--events N] [--jobs visitors,tumbling,joined] [--engines ...] [--work DIR]

The events: N JSON lines (default 10,000,000) in files of 100,000, 100 events per second of event
time (10M events span 27.8 hours), 100,000 users, 50 regions, written once by DuckDB into
--work (kept for the next run). The regions dimension: 50 rows, region -> country (10) and tier.

The jobs (the same answer on every engine):
  visitors  5-minute windows sliding by 1 minute, per region: events, exact distinct users, revenue
  tumbling  1-minute windows per region: events, revenue
  joined    the events joined with the regions dimension, 1-minute windows per country: events, revenue

The engines, each job in a process of its own:
  duckdb          batch (the reference: every other answer is compared with its rows)
  polars          batch (lazy, its own sliding windows for visitors)
  tributary       batch (`tributary batch`), and streams (`tributary run --trigger available-now`)
                  at 1,000,000 and 100,000 events per epoch (10 and 1 files per trigger); the
                  batch again held to --memory-limit (default 300m: its plans spill past it)
  pyspark         stream (local[2], 1,000,000 events per epoch, availableNow); Spark refuses exact
                  distinct counts on streams, so its visitors are approx_count_distinct (checked
                  within 10% on average, the largest error printed)
  pyspark-batch   batch (exact distinct; not in the default list)
  pyflink         stream (parallelism = cores, bounded file source, print sink); it reads the
                  same events concatenated into one file (see one_file)

A stream in append mode with a 10-minute watermark leaves the windows that end within 10 minutes
of the last event open when its input ends (Spark and Tributary, availableNow); those windows are
not required of a stream, every row it wrote must still equal DuckDB's. Times are the job's own
(PySpark's and PyFlink's JVM start is the "start" column, not in the time); peak memory is the
largest resident set of the engine's process tree (sampled every 50 ms).
"""

import argparse
import datetime as dt
import glob
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PER_FILE = 100_000
BASE = "2026-11-21 00:00:00"
JOBS = ("visitors", "tumbling", "joined")
DEFAULT_ENGINES = ("duckdb", "polars", "tributary", "pyspark", "pyflink")
WINDOW_MS = {"visitors": 300_000, "tumbling": 60_000, "joined": 60_000}
DELAY_MS = 600_000


# ---- the data -----------------------------------------------------------------------------------

def generate(work: Path, n: int) -> Path:
    """The events and the dimension, written by DuckDB; reused when `work` already holds n events."""
    import duckdb

    events = work / f"events-{n}"
    done = events / "_done"
    if done.exists():
        return events
    events.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    files = -(-n // PER_FILE)
    for f in range(files):
        path = events / f"part-{f:05d}.json"
        con.execute(f"""COPY (
            SELECT strftime(TIMESTAMP '{BASE}' + to_milliseconds(i * 10), '%Y-%m-%dT%H:%M:%S.%g') || 'Z'
                       AS event_time,
                   (hash(i) % 100000)::BIGINT AS user_id,
                   'region-' || lpad((hash(i * 31 + 7) % 50)::VARCHAR, 2, '0') AS region,
                   '/p/' || (i % 20)::VARCHAR AS page,
                   (hash(i * 17 + 3) % 10000)::DOUBLE / 100 AS amount
            FROM range({f * PER_FILE}, {min((f + 1) * PER_FILE, n)}) t(i)
        ) TO '{path}' (FORMAT JSON)""")
        # File streams take the oldest files first: the modification times follow the file order.
        os.utime(path, (1_700_000_000 + f, 1_700_000_000 + f))
    countries = ["Germany", "France", "Japan", "Brazil", "India", "Kenya", "Canada", "Chile",
                 "Norway", "Vietnam"]
    tiers = ["gold", "silver", "bronze"]
    lines = ["region,country,tier"] + [
        f"region-{r:02d},{countries[r % 10]},{tiers[r % 3]}" for r in range(50)]
    (work / "regions.csv").write_text("\n".join(lines) + "\n")
    done.write_text("")
    return events


def one_file(events: Path) -> Path:
    """The events concatenated in order into one file, for PyFlink: its file source hands the
    files of a folder to its readers out of order, and a reader that gets a later file first drops
    the earlier files' events as late (the visitors answer came out wrong that way)."""
    path = events.parent / f"{events.name}.jsonl"
    if not path.exists():
        part = path.with_suffix(".part")
        with open(part, "wb") as out:
            for f in sorted(events.glob("part-*.json")):
                with open(f, "rb") as src:
                    while chunk := src.read(1 << 24):
                        out.write(chunk)
        part.rename(path)
    return path


# ---- running one engine -------------------------------------------------------------------------

def tree_rss(root: int) -> int:
    """Resident bytes of `root` and all its descendants."""
    parent, rss = {}, {}
    page = os.sysconf("SC_PAGE_SIZE")
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
            with open(f"/proc/{d}/statm") as f:
                rss[int(d)] = int(f.read().split()[1]) * page
        except OSError:
            continue
        parent[int(d)] = int(stat[stat.rindex(")") + 2:].split()[1])
    total, todo = 0, [root]
    children = {}
    for pid, ppid in parent.items():
        children.setdefault(ppid, []).append(pid)
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


def run(cmd, log: Path, env=None):
    """Runs cmd; returns (start_s, run_s, peak_rss_bytes, stdout). The engine scripts print
    `START RUN` on their last line; for Tributary's binary the run is the process's wall time."""
    t0 = time.time()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        peak = [0]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], tree_rss(proc.pid))
                stop.wait(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            rc = proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            stop.set()
            sampler.join()
    wall = time.time() - t0
    text = log.read_text()
    if rc != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd[:4]))} ... failed (exit {rc}); log: {log}\n"
                           + text[-3000:])
    last = text.strip().splitlines()[-1].split() if text.strip() else []
    try:
        start, run_s = float(last[0]), float(last[1])
    except (IndexError, ValueError):
        start, run_s = 0.0, wall
    return start, run_s, peak[0], text


# ---- reading and checking answers ---------------------------------------------------------------

def to_ms(v) -> int:
    if isinstance(v, str):
        v = dt.datetime.fromisoformat(v.strip().replace(" ", "T").rstrip("Z"))
    if v.tzinfo is None:
        v = v.replace(tzinfo=dt.timezone.utc)
    return int(v.timestamp() * 1000)


def read_parquet(out: Path, job: str):
    import pyarrow.parquet as pq

    files = [f for f in glob.glob(f"{out}/**/*.parquet", recursive=True)
             if not any(p.startswith(("_", ".")) for p in Path(f).relative_to(out).parts)]
    rows = {}
    for f in files:
        for r in pq.read_table(f).to_pylist():
            key = (to_ms(r["window_start"]), r.get("region", r.get("country")))
            vals = (r["events"], r.get("visitors"), r["revenue"])
            if key in rows:
                raise ValueError(f"{key} written twice")
            rows[key] = vals
    return rows


def read_flink(text: str, job: str):
    """The print sink's changelog (`+I[...]`, `-U[...]`, `+U[...]`, `-D[...]`) applied in order."""
    import re

    line_re = re.compile(r"^(?:\d+> )?([+-][IUD])\[(.*)\]$")
    rows = {}
    for line in text.splitlines():
        m = line_re.match(line.strip())
        if not m:
            continue
        kind, fields = m.group(1), [x.strip() for x in m.group(2).split(",")]
        key = (to_ms(fields[0]), fields[1])
        if kind in ("-U", "-D"):
            rows.pop(key, None)
            continue
        if job == "visitors":
            vals = (int(fields[2]), int(fields[3]), float(fields[4]))
        else:
            vals = (int(fields[2]), None, float(fields[3]))
        rows[key] = vals
    return rows


def check(rows, ref, job, stream, approx, last_event_ms):
    """'ok ...' or 'WRONG ...': every row equal to the reference's (revenue to 1e-9 relative;
    approximate distinct counts, Spark's HyperLogLog++ at its default 5% relative standard
    deviation, off by 10% or less on average), and every window a stream must have closed
    present."""
    worst, errors = 0.0, []
    for key, (events, visitors, revenue) in rows.items():
        if key not in ref:
            return f"WRONG: a row for {key} the reference does not have"
        e, v, r = ref[key]
        if events != e or abs(revenue - r) > 1e-9 * max(1.0, abs(r)):
            return f"WRONG: {key}: {(events, visitors, revenue)} != {(e, v, r)}"
        if job == "visitors":
            if approx:
                errors.append(abs(visitors - v) / max(v, 1))
                worst = max(worst, errors[-1])
            elif visitors != v:
                return f"WRONG: {key}: {visitors} visitors, reference {v}"
    mean = sum(errors) / len(errors) if errors else 0.0
    if mean > 0.1:
        return f"WRONG: approximate visitors off by {mean:.0%} on average"
    closed = last_event_ms - DELAY_MS
    required = [k for k in ref if not stream or k[0] + WINDOW_MS[job] <= closed]
    missing = [k for k in required if k not in rows]
    if missing:
        return f"WRONG: {len(missing)} rows missing, e.g. {sorted(missing)[0]}"
    note = f"ok, {len(rows):,} rows"
    if len(rows) < len(ref):
        note += f" ({len(ref) - len(rows):,} still open)"
    if approx and job == "visitors":
        note += f"; visitors approx.: error {mean:.1%} on average, {worst:.1%} at most"
    return note


# ---- the table ----------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--jobs", default=",".join(JOBS))
    ap.add_argument("--engines", default=",".join(DEFAULT_ENGINES))
    ap.add_argument("--work", default=os.path.expanduser("~/.cache/tributary-peers"))
    ap.add_argument("--tributary", required=True, help="the release `tributary` binary")
    ap.add_argument("--flink-python", help="scripts/flink_env.sh's python (for pyflink)")
    ap.add_argument("--memory-limit", default="300m",
                    help="Tributary's batch is also run held to this memory limit (`--memory-limit`); "
                         "'none' to skip that run")
    args = ap.parse_args()
    jobs = args.jobs.split(",")
    engines = args.engines.split(",")
    for j in jobs:
        if j not in JOBS:
            raise SystemExit(f"peers.py: unknown job {j!r}; the jobs are {', '.join(JOBS)}")
    known = DEFAULT_ENGINES + ("pyspark-batch",)
    for e in engines:
        if e not in known:
            raise SystemExit(f"peers.py: unknown engine {e!r}; the engines are {', '.join(known)}")
    if "duckdb" not in engines:
        engines.insert(0, "duckdb")  # the reference
    if "pyflink" in engines and not args.flink_python:
        raise SystemExit("peers.py: pyflink needs --flink-python (scripts/flink_env.sh's python)")

    work = Path(args.work)
    n = args.events
    t = time.time()
    events = generate(work, n)
    regions = work / "regions.csv"
    print(f"events: {n:,} in {-(-n // PER_FILE)} files at {events} ({time.time() - t:.1f} s)", flush=True)
    last_event_ms = to_ms(BASE) + (n - 1) * 10
    runs = work / "runs"
    subprocess.run(["rm", "-rf", str(runs)], check=True)
    runs.mkdir(parents=True)
    env = dict(os.environ, TZ="UTC", PYSPARK_PYTHON=sys.executable)

    plan = []  # (engine label, mode, command builder)
    for e in engines:
        if e == "tributary":
            plan += [("tributary", "batch", None), ("tributary", "stream 1M/epoch", 10),
                     ("tributary", "stream 100K/epoch", 1)]
            if args.memory_limit != "none":
                plan.append(("tributary", f"batch, {args.memory_limit} limit", None))
        elif e == "pyspark":
            plan.append(("pyspark", "stream 1M/epoch", 10))
        elif e == "pyspark-batch":
            plan.append(("pyspark", "batch", None))
        elif e == "pyflink":
            plan.append(("pyflink", "stream", None))
        else:
            plan.append((e, "batch", None))
    plan.sort(key=lambda p: p[0] != "duckdb")

    results = []  # (job, engine, mode, start, run, peak, answer)
    for job in jobs:
        ref = None
        for engine, mode, per_trigger in plan:
            name = f"{job}-{engine}-{mode.split()[0].rstrip(',')}{per_trigger or ''}"
            limit = mode.split()[1] if mode.endswith(" limit") else None
            if limit:
                name += f"-{limit}"
            out = runs / name
            log = runs / f"{name}.log"
            streaming = not mode.startswith("batch")
            if engine == "tributary":
                sql = HERE / "tributary" / f"{job}.sql"
                cmd = [args.tributary, "run" if streaming else "batch", str(sql),
                       "--set", f"events={events}", "--set", f"regions={regions}",
                       "--set", f"output={out}", "--set", f"per_trigger={per_trigger or 10}"]
                if streaming:
                    cmd += ["--trigger", "available-now", "--checkpoint", str(runs / f"{name}-checkpoint")]
                if limit:
                    cmd += ["--memory-limit", limit]
            elif engine == "pyflink":
                cmd = [args.flink_python, str(HERE / "flink_job.py"), job, str(one_file(events)),
                       str(regions)]
            else:
                out.mkdir(parents=True)
                cmd = [sys.executable, str(HERE / "engines.py"), engine,
                       "stream" if streaming else "batch", job, str(events), str(regions), str(out),
                       str(per_trigger or 10)]
            print(f"  {job:9} {engine:10} {mode:18}", end="", flush=True)
            try:
                start, run_s, peak, text = run(cmd, log, env)
            except RuntimeError as err:
                print(" FAILED")
                results.append((job, engine, mode, 0.0, None, 0, f"FAILED: {str(err).splitlines()[0]}"))
                continue
            rows = read_flink(text, job) if engine == "pyflink" else read_parquet(out, job)
            if ref is None:
                ref, answer = rows, f"reference, {len(rows):,} rows"
            else:
                answer = check(rows, ref, job, streaming and engine != "pyflink",
                               engine == "pyspark" and streaming, last_event_ms)
            print(f" {run_s:8.2f} s  {peak / 2**20:8.0f} MB  {answer}", flush=True)
            results.append((job, engine, mode, start, run_s, peak, answer))

    print()
    print(f"{n:,} events, {os.cpu_count()} cores; time = the job's own (JVM start apart); "
          "peak = the process tree's largest resident set")
    print()
    print("| job | engine | mode | time (s) | events/s | peak MB | vs DuckDB | answer |")
    print("|---|---|---|---:|---:|---:|---:|---|")
    for job in jobs:
        base = next((r[4] for r in results if r[0] == job and r[1] == "duckdb" and r[4]), None)
        for j, engine, mode, start, run_s, peak, answer in results:
            if j != job:
                continue
            if run_s is None:
                print(f"| {job} | {engine} | {mode} | | | | | {answer} |")
                continue
            ratio = f"{run_s / base:.2f}x" if base else ""
            label = engine + (f" (+{start:.1f} s start)" if start >= 0.5 else "")
            print(f"| {job} | {label} | {mode} | {run_s:.2f} | {n / run_s:,.0f} | "
                  f"{peak / 2**20:,.0f} | {ratio} | {answer} |")
    print()
    aims(results, jobs)
    if any(r[6].startswith(("WRONG", "FAILED")) for r in results):
        sys.exit(1)


def aims(results, jobs):
    """The issue's aims, each with the measured ratio."""
    def time_of(job, engine, mode):
        return next((r[4] for r in results if r[:3] == (job, engine, mode) and r[4]), None)

    print("aims (issue 20):")
    for job in jobs:
        duck = time_of(job, "duckdb", "batch")
        batch = time_of(job, "tributary", "batch")
        stream = time_of(job, "tributary", "stream 1M/epoch")
        stream100k = time_of(job, "tributary", "stream 100K/epoch")
        spark = time_of(job, "pyspark", "stream 1M/epoch")
        flink = time_of(job, "pyflink", "stream")
        want = 1.2 if job == "visitors" else 1.0
        if duck and stream:
            print(f"  {job}: stream / DuckDB batch = {stream / duck:.2f} (aim <= {want})")
        if duck and batch and job == "visitors":
            print(f"  {job}: batch / DuckDB batch = {batch / duck:.2f} (aim <= 1.0)")
        for r in results:
            if r[:2] == (job, "tributary") and r[2].endswith(" limit") and r[4] and duck:
                print(f"  {job}: batch held to a {r[2].split()[1]} memory limit / DuckDB batch = "
                      f"{r[4] / duck:.2f}, peak {r[5] / 2**20:,.0f} MB")
        if stream and stream100k:
            print(f"  {job}: stream 100K/epoch / stream 1M/epoch = {stream100k / stream:.2f} (aim <= 1.2)")
        if stream and spark:
            print(f"  {job}: PySpark stream / Tributary stream = {spark / stream:.1f}x (aim >= 20)")
        if stream and flink:
            print(f"  {job}: PyFlink stream / Tributary stream = {flink / stream:.1f}x (aim >= 10)")
    peaks = [(r[5], r[0], r[2]) for r in results if r[1] == "tributary" and r[4]]
    if peaks:
        p, job, mode = max(peaks)
        print(f"  Tributary's largest peak: {p / 2**20:,.0f} MB ({job}, {mode}; aim < 500 MB)")


if __name__ == "__main__":
    main()
