#!/usr/bin/env python3
"""Computes the expected rows of the differential corpus with DuckDB.

    py=$(scripts/python_env.sh | tail -n 1)
    "$py" scripts/corpus_expected.py            # every crates/tributary/tests/corpus/*.slt, in place
    "$py" scripts/corpus_expected.py FILE.slt   # only these files
    "$py" scripts/corpus_expected.py --check    # write nothing; exit 1 if an expectation differs

The record format and the canonical rows are described in crates/tributary/tests/corpus/README.md.
For each `query` record, the `---- reference` SQL (else the record's own SQL) runs in DuckDB over
views of the data files with explicit column types; `---- reference stream` gives the
`---- expected stream` rows. `source=csv|parquet` reads `events` and `events_wm` from those files
(`delta` from the Parquet files); `late_events` is always the JSON files plus late/part-10.json.
The `---- expected*` sections are rewritten; everything else in the
file is kept as it is. A reference that fails in DuckDB is reported with the record's name and the
error, and the run exits non-zero (the other records are still written).
"""

import argparse
import datetime as dt
import decimal
import glob
import math
import os
import re
import sys

import duckdb

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.normpath(os.path.join(HERE, "..", "crates", "tributary", "tests", "corpus"))
DATA = os.path.join(CORPUS, "data")

MODES = {"append", "update", "complete"}
SOURCES = {"json", "csv", "parquet", "delta"}
MARKERS = {"---- reference", "---- reference stream", "---- expected", "---- expected stream", "---- error"}

EVENT_COLUMNS = (
    "{'id': 'BIGINT', 'event_time': 'TIMESTAMP', 'user_id': 'BIGINT', 'region': 'VARCHAR', "
    "'page': 'VARCHAR', 'amount': 'DOUBLE', 'qty': 'INTEGER', 'flag': 'BOOLEAN', 'tags': 'VARCHAR'}"
)
EVENT_NAMES = "id, event_time, user_id, region, page, amount, qty, flag, tags"


class CorpusError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Parsing


class Record:
    def __init__(self, path, line_no, kind, name, options, comments, sections):
        self.path = path
        self.line_no = line_no  # 1-based line of the header
        self.kind = kind  # "query" or "refused"
        self.name = name
        self.options = options
        self.comments = comments  # leading '#' lines of the chunk
        self.sections = sections  # list of (marker or None for the SQL, [lines])

    def where(self):
        return f"{os.path.relpath(self.path)}:{self.line_no} {self.name}"

    def section(self, marker):
        for m, lines in self.sections:
            if m == marker:
                return lines
        return None

    @property
    def sql(self):
        return "\n".join(self.section(None))


def parse_header(line, path, line_no):
    parts = line.split()
    kind = parts[0]
    if len(parts) < 2:
        raise CorpusError(f"{path}:{line_no}: `{kind}` without a name")
    name = parts[1]
    options = {"mode": "append", "source": "json"}
    for opt in parts[2:]:
        key, eq, value = opt.partition("=")
        if not eq or key not in ("mode", "source") or (kind == "refused" and key == "source"):
            raise CorpusError(f"{path}:{line_no}: unknown option {opt!r} in {name}")
        if key == "mode" and value not in MODES:
            raise CorpusError(f"{path}:{line_no}: unknown mode {value!r} in {name}")
        if key == "source" and value not in SOURCES:
            raise CorpusError(f"{path}:{line_no}: unknown source {value!r} in {name}")
        options[key] = value
    return kind, name, options


def parse_file(path):
    """Returns (lines, chunks): chunks are (start, end, Record or None) line ranges (end exclusive)
    of the runs of non-blank lines; a chunk of comments only has no record."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    chunks = []
    i = 0
    while i < len(lines):
        if lines[i].strip() == "":
            i += 1
            continue
        start = i
        while i < len(lines) and lines[i].strip() != "":
            i += 1
        chunks.append((start, i, parse_chunk(path, lines, start, i)))
    return lines, chunks


def parse_chunk(path, lines, start, end):
    j = start
    while j < end and lines[j].startswith("#"):
        j += 1
    if j == end:
        return None
    comments = lines[start:j]
    header = lines[j]
    if not (header.startswith("query ") or header.startswith("refused ")):
        raise CorpusError(f"{path}:{j + 1}: expected `query` or `refused`, found {header!r}")
    kind, name, options = parse_header(header, path, j + 1)
    sections = [(None, [])]
    for k in range(j + 1, end):
        line = lines[k]
        if line.startswith("----"):
            marker = line.rstrip()
            if marker not in MARKERS:
                raise CorpusError(f"{path}:{k + 1}: unknown section {line!r} in {name}")
            if any(m == marker for m, _ in sections):
                raise CorpusError(f"{path}:{k + 1}: section {marker!r} twice in {name}")
            sections.append((marker, []))
        else:
            sections[-1][1].append(line)
    rec = Record(path, j + 1, kind, name, options, comments, sections)
    order = [m for m, _ in sections]
    if not "\n".join(rec.section(None)).strip():
        raise CorpusError(f"{rec.where()}: no SQL")
    if kind == "refused":
        if order != [None, "---- error"] or not "".join(rec.section("---- error")).strip():
            raise CorpusError(f"{rec.where()}: a refused record is its SQL and an `---- error` line")
    else:
        allowed = [None, "---- reference", "---- reference stream", "---- expected", "---- expected stream"]
        positions = []
        for m in order:
            if m not in allowed:
                raise CorpusError(f"{rec.where()}: section {m!r} does not belong in a query")
            positions.append(allowed.index(m))
        if positions != sorted(positions):
            raise CorpusError(f"{rec.where()}: sections out of order (SQL, reference, reference stream, expected, expected stream)")
        for m in ("---- reference", "---- reference stream"):
            if m in order and not "\n".join(rec.section(m)).strip():
                raise CorpusError(f"{rec.where()}: empty {m!r} section")
        if ("---- expected stream" in order) and ("---- reference stream" not in order):
            raise CorpusError(f"{rec.where()}: `expected stream` without `reference stream`")
    return rec


# ---------------------------------------------------------------------------------------------
# DuckDB


def events_relation(source):
    d = DATA.replace("'", "''")
    if source == "json":
        return (f"SELECT {EVENT_NAMES} FROM read_json('{d}/events/part-*.json', "
                f"format = 'newline_delimited', columns = {EVENT_COLUMNS})")
    if source == "csv":
        return (f"SELECT {EVENT_NAMES} FROM read_csv('{d}/events_csv/part-*.csv', header = true, "
                f"delim = ',', quote = '\"', escape = '\"', nullstr = '', columns = {EVENT_COLUMNS})")
    # Parquet, and Delta (made by the harness from the same Parquet files).
    return f"SELECT {EVENT_NAMES} FROM read_parquet('{d}/events_parquet/part-*.parquet')"


def connect(source):
    d = DATA.replace("'", "''")
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET threads = 1")
    con.execute(f"CREATE VIEW events AS {events_relation(source)}")
    con.execute("CREATE VIEW events_wm AS SELECT * FROM events")
    # late_events is always the JSON files (events/ plus late/), whatever `source` says.
    con.execute(
        f"CREATE VIEW late_events AS {events_relation('json')} UNION ALL "
        f"SELECT {EVENT_NAMES} FROM read_json('{d}/late/part-10.json', format = 'newline_delimited', "
        f"columns = {EVENT_COLUMNS})"
    )
    con.execute(
        f"CREATE VIEW clicks AS SELECT click_id, click_time, user_id, ad FROM read_json('{d}/clicks/part-*.json', "
        "format = 'newline_delimited', columns = {'click_id': 'BIGINT', 'click_time': 'TIMESTAMP', "
        "'user_id': 'BIGINT', 'ad': 'VARCHAR'})"
    )
    con.execute(
        f"CREATE VIEW regions AS SELECT region, country, tier FROM read_csv('{d}/regions.csv', header = true, "
        "delim = ',', quote = '\"', nullstr = '', "
        "columns = {'region': 'VARCHAR', 'country': 'VARCHAR', 'tier': 'VARCHAR'})"
    )
    con.execute(
        f"CREATE VIEW users AS SELECT user_id, name, plan, signup FROM read_json('{d}/users.json', "
        "format = 'newline_delimited', columns = {'user_id': 'BIGINT', 'name': 'VARCHAR', "
        "'plan': 'VARCHAR', 'signup': 'DATE'})"
    )
    return con


_connections = {}


def connection(source):
    key = "parquet" if source == "delta" else source
    if key not in _connections:
        _connections[key] = connect(key)
    return _connections[key]


# ---------------------------------------------------------------------------------------------
# Canonical rows (README "Canonical rows")


def fmt_float(v):
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        v = 0.0  # -0.0 is 0.0
    return f"{v:.8e}"


def fmt_timestamp(v):
    if v.tzinfo is not None:
        v = v.astimezone(dt.timezone.utc).replace(tzinfo=None)
    s = f"{v.year:04d}-{v.month:02d}-{v.day:02d} {v.hour:02d}:{v.minute:02d}:{v.second:02d}"
    if v.microsecond:
        s += "." + f"{v.microsecond:06d}".rstrip("0")
    return s


def child_types(t):
    try:
        return list(t.children)
    except Exception:  # not a nested type
        return []


def type_id(t):
    try:
        return t.id
    except Exception:
        return None


def fmt_cell(v, t=None):
    """One value as text; `t` is its DuckDB type when known (to tell a MAP from a STRUCT and to
    pass element types down)."""
    if v is None:
        return "NULL"
    tid = type_id(t) if t is not None else None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (float, decimal.Decimal)):
        return fmt_float(v)
    if isinstance(v, str):
        if "\n" in v or "\r" in v:
            raise CorpusError(f"a string with a line break cannot be written in a row: {v!r}")
        return v
    if isinstance(v, dt.datetime):
        return fmt_timestamp(v)
    if isinstance(v, dt.date):
        return f"{v.year:04d}-{v.month:02d}-{v.day:02d}"
    if isinstance(v, (list, tuple)):
        elem = None
        if tid in ("list", "array"):
            ch = child_types(t)
            elem = ch[0][1] if ch else None
        return "[" + ", ".join(fmt_cell(x, elem) for x in v) + "]"
    if isinstance(v, dict):
        if tid == "map":
            ch = dict(child_types(t))
            kt, vt = ch.get("key"), ch.get("value")
            if (set(v.keys()) == {"key", "value"} and isinstance(v["key"], list)
                    and isinstance(v["value"], list) and len(v["key"]) == len(v["value"])):
                items = list(zip(v["key"], v["value"]))  # older DuckDB: {'key': [..], 'value': [..]}
            else:
                items = list(v.items())
            return "{" + ", ".join(f"{fmt_cell(k, kt)}: {fmt_cell(x, vt)}" for k, x in items) + "}"
        fields = dict(child_types(t)) if tid == "struct" else {}
        return "{" + ", ".join(f"{k}: {fmt_cell(x, fields.get(k))}" for k, x in v.items()) + "}"
    raise CorpusError(f"no canonical form for {type(v).__name__} value {v!r} (type {t})")


def canonical_rows(con, sql):
    rel = con.sql(sql)
    if rel is None:
        raise CorpusError("the statement returns no rows (not a query)")
    types = rel.types
    rows = []
    for row in rel.fetchall():
        text = " | ".join(fmt_cell(v, t) for v, t in zip(row, types))
        if text.strip() == "":
            raise CorpusError("a row renders as a blank line (one empty-string column); add a column")
        if text.startswith("----"):
            raise CorpusError(f"a row starts with '----': {text!r}")
        rows.append(text)
    rows.sort()
    return rows


# ---------------------------------------------------------------------------------------------
# Driver


def run_reference(rec, marker):
    sql = "\n".join(rec.section(marker) if marker else rec.section(None)).strip()
    sql = sql.rstrip(";").strip()
    return canonical_rows(connection(rec.options["source"]), sql)


def rewrite_record(lines, start, end, rec, expected, expected_stream):
    """The chunk's lines with fresh `---- expected` sections: everything up to the first expected
    section is kept as it is."""
    out = []
    for k in range(start, end):
        if lines[k].rstrip() in ("---- expected", "---- expected stream"):
            break
        out.append(lines[k])
    out.append("---- expected")
    out.extend(expected)
    if expected_stream is not None:
        out.append("---- expected stream")
        out.extend(expected_stream)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="write nothing; fail when an expectation differs")
    ap.add_argument("files", nargs="*", help="the .slt files (default: every corpus/*.slt)")
    args = ap.parse_args()
    files = args.files or sorted(glob.glob(os.path.join(CORPUS, "*.slt")))
    if not files:
        print("corpus_expected.py: no .slt files", file=sys.stderr)
        return 2

    failures = []
    differ = []
    names = {}
    counts = {}
    parsed = []
    for path in files:
        try:
            lines, chunks = parse_file(path)
        except CorpusError as e:
            failures.append(str(e))
            continue
        for _, _, rec in chunks:
            if rec is None:
                continue
            if rec.name in names:
                failures.append(f"{rec.where()}: name already used at {names[rec.name]}")
            else:
                names[rec.name] = rec.where()
        parsed.append((path, lines, chunks))

    for path, lines, chunks in parsed:
        out = []
        pos = 0
        changed = False
        n = 0
        for start, end, rec in chunks:
            out.extend(lines[pos:start])
            pos = end
            if rec is None or rec.kind != "query":
                out.extend(lines[start:end])
                continue
            n += 1
            try:
                has_reference = rec.section("---- reference") is not None
                expected = run_reference(rec, "---- reference" if has_reference else None)
                expected_stream = None
                if rec.section("---- reference stream") is not None:
                    expected_stream = run_reference(rec, "---- reference stream")
            except (duckdb.Error, CorpusError) as e:
                msg = str(e).strip().replace("\n", "\n    ")
                failures.append(f"{rec.where()}: the reference fails in DuckDB:\n    {msg}")
                out.extend(lines[start:end])
                continue
            if not expected:
                print(f"warning: {rec.where()}: no rows", file=sys.stderr)
            for r in expected + (expected_stream or []):
                if r != r.rstrip():
                    print(f"warning: {rec.where()}: a row ends with white space (an empty string "
                          f"last?), which editors strip: {r!r}", file=sys.stderr)
                    break
            old_stream = rec.section("---- expected stream")
            if rec.section("---- expected") != expected or old_stream != expected_stream:
                changed = True
                differ.append(rec.where())
                if args.check:
                    old = rec.section("---- expected") or []
                    gone = [r for r in old if r not in expected][:3]
                    new = [r for r in expected if r not in old][:3]
                    detail = "; ".join([f"- {r}" for r in gone] + [f"+ {r}" for r in new])
                    differ[-1] += f" ({len(old)} rows checked in, {len(expected)} computed) {detail}"
            out.extend(rewrite_record(lines, start, end, rec, expected, expected_stream))
        out.extend(lines[pos:])
        counts[path] = n
        if changed and not args.check:
            with open(path, "w", encoding="utf-8", newline="\n") as f:
                f.write("\n".join(out) + "\n")

    for path, n in counts.items():
        print(f"{os.path.relpath(path)}: {n} queries", file=sys.stderr)
    if args.check and differ:
        print("expectations that differ from DuckDB's answer:", file=sys.stderr)
        for d in differ:
            print(f"  {d}", file=sys.stderr)
    elif differ:
        print(f"rewrote the expectations of {len(differ)} records", file=sys.stderr)
    for f in failures:
        print(f"error: {f}", file=sys.stderr)
    return 1 if failures or (args.check and differ) else 0


if __name__ == "__main__":
    sys.exit(main())
