#!/usr/bin/env python3
"""Delta Lake interop checks against delta-rs's Python binding (deltalake), for tests and CI.

Run it with the venv's python from scripts/python_env.sh:

    py=$(scripts/python_env.sh | tail -n 1)
    "$py" scripts/delta_interop.py read PATH [--version N]
    "$py" scripts/delta_interop.py write PATH
    "$py" scripts/delta_interop.py history PATH

read     prints the table's rows (at version N if given) as JSON lines, one object per row with
         the columns in schema order, rows sorted by all columns in schema order, comparing the
         JSON values (nulls first; strings, so also timestamps and decimals, compare as text).
write    writes the fixed table below (PATH must not hold a table yet), then prints its rows,
         read back, the same way as `read`.
history  prints one JSON line per commit, oldest first: {"version": N, "operation": "..."}.

JSON values: ints, floats, strings, booleans and null as such; timestamps, dates and times as
ISO 8601 strings from Python's isoformat() (a Delta `timestamp` is UTC and prints like
"2024-01-02T03:04:05.123456+00:00", microseconds only when non-zero; a `timestamp_ntz` has no
offset); decimals as strings; binary as lowercase hex; NaN and infinities as the strings "NaN",
"Infinity", "-Infinity"; structs as objects and lists as arrays. Lines are compact JSON
(no spaces); compare them parsed, not as text, if key order may differ.

The table `write` makes (columns id int64, name string, amount float64, all nullable):
  version 0 (create): (1, "alpha", 10.5), (2, "beta", -2.25), (3, "gamma", 0.0)
  version 1 (append): (4, "delta", 1000000.0), (5, "epsilon", null)
"""

import argparse
import datetime
import decimal
import json
import math
import os
import sys
import traceback


def to_json_value(v):
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        return v
    if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, datetime.timedelta):
        return v.total_seconds()
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    if isinstance(v, dict):
        return {str(k): to_json_value(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        # pyarrow gives maps as lists of (key, value) tuples.
        return [to_json_value(x) for x in v]
    return str(v)


def sort_key_part(v):
    # One column holds one type, so values of the same tag always compare; null sorts first.
    if v is None:
        return (0, 0)
    if isinstance(v, (bool, int, float)):
        return (1, v)
    if isinstance(v, str):
        return (2, v)
    return (3, json.dumps(v, sort_keys=True))


def table_rows(table):
    """The rows of a pyarrow Table as JSON-ready dicts, sorted by all columns."""
    names = table.column_names
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    rows = []
    for r in range(table.num_rows):
        rows.append({names[c]: to_json_value(columns[c][r]) for c in range(len(names))})
    rows.sort(key=lambda row: tuple(sort_key_part(row[n]) for n in names))
    return rows


def print_lines(objs):
    out = sys.stdout
    for o in objs:
        out.write(json.dumps(o, separators=(",", ":"), ensure_ascii=False))
        out.write("\n")
    out.flush()


def cmd_read(path, version):
    from deltalake import DeltaTable

    dt = DeltaTable(path) if version is None else DeltaTable(path, version=version)
    print_lines(table_rows(dt.to_pyarrow_table()))


def cmd_write(path):
    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake

    schema = pa.schema(
        [
            pa.field("id", pa.int64()),
            pa.field("name", pa.string()),
            pa.field("amount", pa.float64()),
        ]
    )
    first = pa.Table.from_pydict(
        {"id": [1, 2, 3], "name": ["alpha", "beta", "gamma"], "amount": [10.5, -2.25, 0.0]},
        schema=schema,
    )
    second = pa.Table.from_pydict(
        {"id": [4, 5], "name": ["delta", "epsilon"], "amount": [1000000.0, None]},
        schema=schema,
    )
    # mode="error": refuse to write over an existing table, so the versions are always 0 and 1.
    write_deltalake(path, first, mode="error")
    write_deltalake(path, second, mode="append")
    print_lines(table_rows(DeltaTable(path).to_pyarrow_table()))


def cmd_compact(path):
    from deltalake import DeltaTable

    # OPTIMIZE: small files rewritten into larger ones in a dataChange=false commit.
    metrics = DeltaTable(path).optimize.compact()
    print_lines(
        [
            {
                "filesAdded": int(metrics.get("numFilesAdded", 0)),
                "filesRemoved": int(metrics.get("numFilesRemoved", 0)),
            }
        ]
    )


def cmd_history(path):
    from deltalake import DeltaTable

    entries = DeltaTable(path).history()
    out = []
    for e in entries:
        version = e.get("version")
        if version is None:
            raise SystemExit("delta_interop.py: history entry without a version: %r" % (e,))
        out.append({"version": int(version), "operation": e.get("operation")})
    out.sort(key=lambda o: o["version"])
    print_lines(out)


def main(argv=None):
    p = argparse.ArgumentParser(description="Delta Lake interop checks (deltalake / delta-rs)")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("read", help="print a table's rows as sorted JSON lines")
    r.add_argument("path")
    r.add_argument("--version", type=int, default=None, help="read this table version")
    w = sub.add_parser("write", help="write the fixed two-version table, print its rows")
    w.add_argument("path")
    h = sub.add_parser("history", help="print (version, operation) per commit, oldest first")
    h.add_argument("path")
    c = sub.add_parser("compact", help="compact the table's small files (OPTIMIZE), print counts")
    c.add_argument("path")
    args = p.parse_args(argv)
    if args.cmd == "read":
        cmd_read(args.path, args.version)
    elif args.cmd == "write":
        cmd_write(args.path)
    elif args.cmd == "compact":
        cmd_compact(args.path)
    else:
        cmd_history(args.path)


def run():
    # Leave through os._exit, after flushing: with deltalake 1.6 and pyarrow 26, a process that
    # read through to_pyarrow_table() (whose default filesystem is deltalake's Rust-backed
    # handler) aborts at interpreter shutdown most of the time ("terminate called without an
    # active exception", exit 134) after all its work is done. Skipping the shutdown avoids it.
    code = 0
    try:
        main()
    except SystemExit as e:  # argparse errors and our own SystemExit("message")
        if isinstance(e.code, int) or e.code is None:
            code = e.code or 0
        else:
            sys.stderr.write("%s\n" % (e.code,))
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    try:
        sys.stdout.flush()
    except BaseException:
        code = code or 1
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
