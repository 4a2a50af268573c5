#!/usr/bin/env python3
"""Writes the differential corpus's data (crates/tributary/tests/corpus/data/), deterministically.

    py=$(scripts/python_env.sh | tail -n 1)
    "$py" scripts/corpus_data.py [OUT_DIR]

Pure Python plus pyarrow (for the Parquet copy); a fixed seed, so the same files every run.
See crates/tributary/tests/corpus/README.md for the tables. What the data promises:

- events: ids 1..N unique, in file order. Event times are unique, advance 5-20 s per row through
  the files in file order, and are out of order inside a file by at most 30 s (a row is at most
  30 s earlier than a row before it in the same file). So a row of file k is always more than
  30 s after (max event time of files 0..k-1) - 60 s: no row is late under a 1-minute watermark
  delay, whatever the split of the files into epochs. The times cross midnight into 2026.
- events_csv, events_parquet: the same rows (CSV: NULL and '' are both an empty field).
- late/part-10.json: rows hours before the first event (late) and rows after the last one.
- clicks: in each file, click times lie in the span of the same-numbered events file, with the
  same no-late property; most clicks follow an event of the same user_id by 0-90 s.
"""

import csv
import datetime as dt
import json
import os
import random
import shutil
import sys

import pyarrow as pa
import pyarrow.parquet as pq

SEED = 20260101
FILES = 10
EVENTS_PER_FILE = 25
CLICKS_PER_FILE = 10
START = dt.datetime(2025, 12, 31, 23, 40, 0)
MAX_DISORDER = 30  # seconds
WATERMARK_DELAY = 60  # seconds: the promise checked below

EVENT_COLUMNS = ["id", "event_time", "user_id", "region", "page", "amount", "qty", "flag", "tags"]
CLICK_COLUMNS = ["click_id", "click_time", "user_id", "ad"]

REGIONS = [
    ("emea", 20), ("amer", 20), ("apac", 14), ("latam", 10),
    ("EMEA", 4), ("Amer", 3), ("APAC", 2), (" apac", 2),
    ("zürich", 5), ("Zürich", 2), ("東京", 5), ("", 4), (None, 5),
]
PAGES = [("/home", 35), ("/search", 25), ("/cart", 20), ("/buy", 20)]
TAGS = ["t1", "t2", "t3", "t4", "t5"]
ADS = ["ad-1", "ad-2", "ad-3", "ad-4"]


def weighted(rng, pairs):
    values = [v for v, _ in pairs]
    weights = [w for _, w in pairs]
    return rng.choices(values, weights=weights, k=1)[0]


def event_row(rng, id_, event_time):
    user_id = None if rng.random() < 0.10 else rng.randint(1, 20)
    r = rng.random()
    if r < 0.05:
        amount = None
    elif r < 0.10:
        amount = 0.0
    elif r < 0.25:
        amount = round(rng.uniform(-50, -0.01), 2)
    else:
        amount = round(rng.uniform(0.01, 200), 2)
    if amount is not None and amount == 0:
        amount = 0.0  # never -0.0
    qty = None if rng.random() < 0.07 else rng.randint(0, 9)
    r = rng.random()
    flag = None if r < 0.08 else (r < 0.54)
    if rng.random() < 0.10:
        tags = None
    else:
        tags = ",".join(rng.sample(TAGS, rng.choice([1, 1, 2, 2, 3])))
    return {
        "id": id_,
        "event_time": event_time,
        "user_id": user_id,
        "region": weighted(rng, REGIONS),
        "page": weighted(rng, PAGES),
        "amount": amount,
        "qty": qty,
        "flag": flag,
        "tags": tags,
    }


def jittered(rng, bases, used):
    """Each base time minus 0..MAX_DISORDER s (for about a third of them), keeping times unique."""
    out = []
    for base in bases:
        t = base
        if rng.random() < 0.35:
            for _ in range(5):
                cand = base - dt.timedelta(seconds=rng.randint(1, MAX_DISORDER))
                if cand not in used:
                    t = cand
                    break
        if t in used:
            # base is later than every earlier base, so only a jittered time can collide; step on.
            while t in used:
                t += dt.timedelta(seconds=1)
        used.add(t)
        out.append(t)
    return out


def make_events(rng):
    files = []
    bases = []
    t = START
    for _ in range(FILES):
        fb = []
        for _ in range(EVENTS_PER_FILE):
            t += dt.timedelta(seconds=rng.randint(5, 20))
            fb.append(t)
        bases.append(fb)
    used = set()
    id_ = 0
    for fb in bases:
        times = jittered(rng, fb, used)
        rows = []
        for time in times:
            id_ += 1
            rows.append(event_row(rng, id_, time))
        files.append(rows)
    return files, bases


def make_clicks(rng, event_files, event_bases):
    files = []
    used = set()
    click_id = 0
    for rows, fb in zip(event_files, event_bases):
        lo, hi = fb[0], fb[-1]
        picks = []
        for _ in range(CLICKS_PER_FILE):
            if rng.random() < 0.75:
                i = rng.randrange(len(rows))
                user = rows[i]["user_id"]
                base = fb[i] + dt.timedelta(seconds=rng.randint(0, 90))
            else:
                user = None if rng.random() < 0.15 else rng.randint(1, 20)
                base = lo + dt.timedelta(seconds=rng.randint(0, int((hi - lo).total_seconds())))
            picks.append((min(base, hi), user))
        picks.sort(key=lambda p: p[0])
        times = jittered(rng, [b for b, _ in picks], used)
        out = []
        for time, (_, user) in zip(times, picks):
            click_id += 1
            out.append({"click_id": click_id, "click_time": time, "user_id": user, "ad": rng.choice(ADS)})
        files.append(out)
    return files


def make_late(rng, event_files):
    first = min(r["event_time"] for r in event_files[0])
    last = max(r["event_time"] for r in event_files[-1])
    next_id = sum(len(f) for f in event_files) + 1
    rows = []
    for k in range(12):
        if k % 2 == 0:
            t = first - dt.timedelta(hours=rng.randint(2, 5), seconds=rng.randint(0, 3599))
        else:
            t = last + dt.timedelta(seconds=10 * (k + 1) + rng.randint(0, 5))
        rows.append(event_row(rng, next_id + k, t))
    return rows


def check_no_late(files, col):
    """Every row is on time under a WATERMARK_DELAY watermark, whatever the split into epochs."""
    high = None
    for k, rows in enumerate(files):
        times = [r[col] for r in rows]
        for i in range(len(times)):
            for j in range(i + 1, len(times)):
                assert (times[i] - times[j]).total_seconds() <= MAX_DISORDER, (col, k, i, j)
        if high is not None:
            assert min(times) > high - dt.timedelta(seconds=WATERMARK_DELAY), (col, k)
        high = max(times) if high is None else max(high, max(times))


def ts_json(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S")


def ts_csv(t):
    return t.strftime("%Y-%m-%d %H:%M:%S")


def write_json_lines(path, rows, columns, ts_columns):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for r in rows:
            obj = {c: (ts_json(r[c]) if c in ts_columns and r[c] is not None else r[c]) for c in columns}
            f.write(json.dumps(obj, ensure_ascii=False) + "\n")


def csv_cell(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dt.datetime):
        return ts_csv(v)
    if isinstance(v, float):
        return repr(v)
    return str(v)


def write_csv(path, rows, columns):
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow([csv_cell(r[c]) for c in columns])


EVENT_ARROW_SCHEMA = pa.schema([
    ("id", pa.int64()),
    ("event_time", pa.timestamp("us")),
    ("user_id", pa.int64()),
    ("region", pa.string()),
    ("page", pa.string()),
    ("amount", pa.float64()),
    ("qty", pa.int32()),
    ("flag", pa.bool_()),
    ("tags", pa.string()),
])


def write_parquet(path, rows):
    table = pa.table({c: [r[c] for r in rows] for c in EVENT_COLUMNS}, schema=EVENT_ARROW_SCHEMA)
    pq.write_table(table, path)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(here, "..", "crates", "tributary", "tests", "corpus", "data")
    out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else default)
    rng = random.Random(SEED)

    event_files, event_bases = make_events(rng)
    click_files = make_clicks(rng, event_files, event_bases)
    late = make_late(rng, event_files)
    check_no_late(event_files, "event_time")
    check_no_late(click_files, "click_time")

    for sub in ["events", "events_csv", "events_parquet", "late", "clicks"]:
        shutil.rmtree(os.path.join(out, sub), ignore_errors=True)
        os.makedirs(os.path.join(out, sub))

    for k, rows in enumerate(event_files):
        write_json_lines(os.path.join(out, "events", f"part-{k:02}.json"), rows, EVENT_COLUMNS, {"event_time"})
        write_csv(os.path.join(out, "events_csv", f"part-{k:02}.csv"), rows, EVENT_COLUMNS)
        write_parquet(os.path.join(out, "events_parquet", f"part-{k:02}.parquet"), rows)
    for k, rows in enumerate(click_files):
        write_json_lines(os.path.join(out, "clicks", f"part-{k:02}.json"), rows, CLICK_COLUMNS, {"click_time"})
    write_json_lines(os.path.join(out, "late", f"part-{FILES:02}.json"), late, EVENT_COLUMNS, {"event_time"})

    regions = [
        ("emea", "Germany", "gold"),
        ("amer", "United States", "gold"),
        ("apac", "Singapore", "silver"),
        ("zürich", "Schweiz", None),
        ("東京", "日本", "silver"),
        ("antarctica", "Antarctica", "bronze"),
    ]
    with open(os.path.join(out, "regions.csv"), "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["region", "country", "tier"])
        for r in regions:
            w.writerow([csv_cell(v) for v in r])

    names = ["Ada", "Björn", "Chloé", "Dmitri", "Eun-ji", "Farah", "Gustav", "Hana", "Ígor", "José",
             "Kenji", "Lena", "Miguel", "Nadia", "Oscar", "Priya", "Quentin", "Ren 蓮"]
    plans = ["free", "pro", "free", None, "pro", "free"]
    with open(os.path.join(out, "users.json"), "w", encoding="utf-8", newline="\n") as f:
        for i, name in enumerate(names, start=1):
            signup = dt.date(2025, 5, 1) + dt.timedelta(days=rng.randint(0, 200))
            obj = {"user_id": i, "name": name, "plan": plans[i % len(plans)], "signup": signup.isoformat()}
            f.write(json.dumps(obj, ensure_ascii=False) + "\n")

    n_events = sum(len(f) for f in event_files)
    n_clicks = sum(len(f) for f in click_files)
    print(f"wrote {n_events} events, {len(late)} late events, {n_clicks} clicks into {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
