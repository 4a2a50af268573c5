"""Query the visitors job live, from Python, while it runs.

    export TRIBUTARY_SERVE_PASSWORD=choose-one
    tributary run examples/visitors/job.sql --set input=examples/etl/data/events \\
        --set output=/tmp/visitors --serve --flight-sql &
    python examples/visitors/query_live.py --flight grpc://127.0.0.1:50051

Windows the watermark has closed are in the job's Delta table (`visitors`); the windows still
open are in the query's live state (`visitors_state`, as of its last committed epoch). Together
they are the answer so far. The client is ADBC's Flight SQL driver
(`pip install adbc-driver-flightsql pyarrow`): results arrive as Arrow tables.

`--until-equal DELTA_TABLE` waits until the live answer equals that table (e.g. the job's
batch answer, `tributary batch ... --set output=DIR`), for at most `--timeout` seconds, and
exits 1 if it never does (the tests use it).
"""

import argparse
import os
import sys
import time

import adbc_driver_flightsql.dbapi as flight

COLUMNS = "window_start, window_end, region, events, visitors, round(revenue, 6) AS revenue"


def connect(uri, user, password):
    return flight.connect(
        uri, db_kwargs={"username": user, "password": password}, autocommit=True
    )


def normal(row):
    """A row with its timestamps as ISO text and its floats rounded, to compare rows."""
    out = []
    for v in row:
        if hasattr(v, "isoformat"):
            v = v.isoformat()
        elif isinstance(v, float):
            v = round(v, 6)
        out.append(v)
    return tuple(out)


def answer_so_far(cur):
    """Closed windows (Delta) and open windows (live state), as one sorted list of tuples."""
    cur.execute(
        f"SELECT {COLUMNS} FROM visitors UNION ALL SELECT {COLUMNS} FROM visitors_state"
    )
    return sorted(normal(r) for r in cur.fetchall())


def expected_rows(path):
    from deltalake import DeltaTable

    table = DeltaTable(path).to_pyarrow_table()
    names = ["window_start", "window_end", "region", "events", "visitors", "revenue"]
    return sorted(normal([r[n] for n in names]) for r in table.to_pylist())


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--flight", default="grpc://127.0.0.1:50051")
    p.add_argument("--user", default="tributary")
    p.add_argument("--password", default=os.environ.get("TRIBUTARY_SERVE_PASSWORD"))
    p.add_argument("--until-equal", metavar="DELTA_TABLE")
    p.add_argument("--timeout", type=float, default=120)
    args = p.parse_args()
    if not args.password:
        sys.exit("give --password or set TRIBUTARY_SERVE_PASSWORD (the job's endpoint password)")
    conn = connect(args.flight, args.user, args.password)
    cur = conn.cursor()

    # The busiest open windows right now, as Arrow.
    cur.execute(
        "SELECT region, window_start, visitors, events FROM visitors_state "
        "ORDER BY visitors DESC, region LIMIT 5"
    )
    top = cur.fetch_arrow_table()
    print(f"busiest open windows ({top.num_rows}):")
    for r in top.to_pylist():
        print(f"  {r['region']:<10} {r['window_start']}  {r['visitors']} visitors, {r['events']} events")

    if args.until_equal:
        want = expected_rows(args.until_equal)
        deadline = time.time() + args.timeout
        got = answer_so_far(cur)
        while got != want and time.time() < deadline:
            time.sleep(0.2)
            got = answer_so_far(cur)
        if got != want:
            sys.exit(
                f"the live answer ({len(got)} rows) never equalled {args.until_equal} "
                f"({len(want)} rows) in {args.timeout} s"
            )
        cur.execute("SELECT count(*) FROM visitors")
        closed = cur.fetchone()[0]
        print(f"live answer equals the batch: {len(got)} windows, {closed} closed, {len(got) - closed} open")
    else:
        rows = answer_so_far(cur)
        print(f"answer so far: {len(rows)} windows")
    cur.close()
    conn.close()


if __name__ == "__main__":
    main()
