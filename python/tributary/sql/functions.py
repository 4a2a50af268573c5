"""``tributary.sql.functions`` (imported as ``F``): Spark's functions, as the engine's SQL.

Each function returns a :class:`Column` whose SQL is written in the engine's dialect with
Spark's semantics (for example ``concat`` is NULL when an input is, as in Spark, and
``collect_list`` skips NULLs) and whose default name is the one Spark gives it.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from tributary.errors import not_supported
from tributary.sql.column import Column, _col, _fn, _name_col, _substring, quote, sql_literal


def _c(x: Any) -> Column:
    """A column argument: a Column, or a column name."""
    if isinstance(x, Column):
        return x
    if isinstance(x, str):
        return _name_col(x)
    raise TypeError(f"expected a Column or a column name, got {type(x).__name__} {x!r}")


def col(name: str) -> Column:
    """The column `name` (``"a.b"``: the field b of struct a, or column b of alias a)."""
    return _name_col(name)


column = col


def lit(value: Any) -> Column:
    """A literal value."""
    return _col(value)


def expr(sql: str) -> Column:
    """A SQL expression, e.g. ``expr("amount * 2 AS doubled")``."""
    m = re.fullmatch(r"(.*?)\s+(?i:as)\s+(`[^`]+`|\w+)\s*", sql, re.S)
    if m:
        return Column(lambda ctx: m.group(1), m.group(1), alias=m.group(2).strip("`"))
    return Column(lambda ctx: sql, sql)


def when(condition: Column, value: Any) -> Column:
    """``CASE WHEN``; chain ``.when(...)`` and ``.otherwise(...)``."""
    from tributary.sql.column import _case

    return _case([(condition, _col(value))], None)


def coalesce(*cols: Any) -> Column:
    return _fn("coalesce", [_c(c) for c in cols])


def isnull(c: Any) -> Column:
    return _c(c).isNull()


def isnotnull(c: Any) -> Column:
    return _c(c).isNotNull()


# -- sort orders (orderBy, Window.orderBy) -----------------------------------------------------

def asc(c: Any) -> Column: return _c(c).asc()
def asc_nulls_first(c: Any) -> Column: return _c(c).asc_nulls_first()
def asc_nulls_last(c: Any) -> Column: return _c(c).asc_nulls_last()
def desc(c: Any) -> Column: return _c(c).desc()
def desc_nulls_first(c: Any) -> Column: return _c(c).desc_nulls_first()
def desc_nulls_last(c: Any) -> Column: return _c(c).desc_nulls_last()


# -- ranking and offsets (with .over(Window...)) ------------------------------------------------

def row_number() -> Column: return _fn("row_number", [])
def rank() -> Column: return _fn("rank", [])
def dense_rank() -> Column: return _fn("dense_rank", [])
def percent_rank() -> Column: return _fn("percent_rank", [])
def cume_dist() -> Column: return _fn("cume_dist", [])
def ntile(n: int) -> Column: return _fn("ntile", [lit(n)])


def lag(c: Any, offset: int = 1, default: Any = None) -> Column:
    return _fn("lag", [_c(c), lit(offset), lit(default)])


def lead(c: Any, offset: int = 1, default: Any = None) -> Column:
    return _fn("lead", [_c(c), lit(offset), lit(default)])


def broadcast(df: Any) -> Any:
    """A hint in Spark; the engine picks the build side itself, so the DataFrame as it is."""
    return df


# -- strings ------------------------------------------------------------------------------------

def lower(c: Any) -> Column: return _fn("lower", [_c(c)])
def upper(c: Any) -> Column: return _fn("upper", [_c(c)])
def trim(c: Any) -> Column: return _fn("trim", [_c(c)])
def ltrim(c: Any) -> Column: return _fn("ltrim", [_c(c)])
def rtrim(c: Any) -> Column: return _fn("rtrim", [_c(c)])
def length(c: Any) -> Column: return _fn("character_length", [_c(c)], "length")
def reverse(c: Any) -> Column: return _fn("reverse", [_c(c)])


def initcap(c: Any) -> Column:
    """Spark's initcap: the first letter of each space-separated word upper case, the rest lower
    case ("hello wORLD-foo" -> "Hello World-foo"). The engine's initcap starts a word after any
    character that is not a letter or digit, so a digit with no case (ARABIC-INDIC DIGIT ZERO) is
    put after every character that is not a space, and taken off again after."""
    s = _c(c)
    return Column(
        lambda ctx: (
            f"regexp_replace(initcap(regexp_replace({s._sql(ctx)}, '([^ ])', '$1{_MARK}', 'g')), "
            f"'([^ ]){_MARK}', '$1', 'g')"
        ),
        f"initcap({s._spark_name})",
        agg=s._agg,
    )


_MARK = "\u0660"  # a digit that is no ASCII letter, digit or _ (so `$1` before it stays group 1)


def concat(*cols: Any) -> Column:
    """Spark's concat: NULL if any input is NULL."""
    cs = [_c(c) for c in cols]
    return Column(
        lambda ctx: "(" + " || ".join(f"CAST({c._sql(ctx)} AS VARCHAR)" for c in cs) + ")",
        f"concat({', '.join(c._spark_name for c in cs)})",
    )


def concat_ws(sep: str, *cols: Any) -> Column:
    """Spark's concat_ws: the strings, and the elements of the arrays of strings, among `cols`
    joined with `sep`, NULLs skipped; '' when there is nothing to join. Each argument is made an
    array of strings (``flatten(make_array(x))`` is ``[x]`` for a value and ``x`` for an array)
    and the arrays are joined as one."""
    cs = [_c(c) for c in cols]
    name = f"concat_ws({sep}, {', '.join(c._spark_name for c in cs)})"
    if sep is None:
        return Column(lambda ctx: "CAST(NULL AS VARCHAR)", name, agg=any(c._agg for c in cs))
    if not cs:
        return Column(lambda ctx: "''", name)

    def render(ctx: dict) -> str:
        parts = [f"CAST(flatten(make_array({c._sql(ctx)})) AS VARCHAR[])" for c in cs]
        joined = parts[0] if len(parts) == 1 else f"array_concat({', '.join(parts)})"
        return f"coalesce(array_to_string({joined}, {sql_literal(sep)}), '')"

    return Column(render, name, agg=any(c._agg for c in cs))


def substring(c: Any, pos: Any, len: Any) -> Column:
    return _substring(_c(c), pos, len)


def regexp_replace(c: Any, pattern: Any, replacement: Any) -> Column:
    """Every match replaced (Spark's semantics; `$1` refers to a group)."""
    s = _c(c)
    p, r = _col(pattern), _col(replacement)
    return Column(
        lambda ctx: f"regexp_replace({s._sql(ctx)}, {p._sql(ctx)}, {r._sql(ctx)}, 'g')",
        f"regexp_replace({s._spark_name}, {p._spark_name}, {r._spark_name}, 1)",
    )


def regexp_extract(c: Any, pattern: str, idx: int) -> Column:
    """Group `idx` of the first match (0: the whole match); '' when nothing matches, NULL for
    NULL."""
    s = _c(c)
    wrapped = sql_literal("(" + pattern + ")")
    # NULL for a NULL input, as in Spark ('' only for a value with no match).
    return Column(
        lambda ctx: f"coalesce(regexp_match({s._sql(ctx)}, {wrapped})[{idx + 1}], CASE WHEN {s._sql(ctx)} IS NOT NULL THEN '' END)",
        f"regexp_extract({s._spark_name}, {pattern}, {idx})",
    )


def split(c: Any, pattern: str, limit: int = -1) -> Column:
    """Split around matches of the regular expression `pattern`, as Spark (Java's
    `String.split(pattern, -1)`): empty pieces are kept, trailing ones too; a zero-width match at
    the start gives no leading empty piece. A pattern without metacharacters (or one escaped
    character, `\\|`) splits at the literal text."""
    if limit > 0:
        raise not_supported("split(..., limit) with a positive limit", "split without a limit and slice the array")
    s = _c(c)
    literal = pattern if not re.search(r"[\\^$.|?*+()\[\]{}]", pattern) else None
    if literal is None and re.fullmatch(r"\\[^A-Za-z0-9]", pattern):
        literal = pattern[1]
    # A regular expression: every match becomes one unit separator, then split at that.
    unit = "\x1f"

    def render(ctx: Any) -> str:
        text = s._sql(ctx)
        if literal:
            pieces = f"string_to_array({text}, {sql_literal(literal)})"
        else:
            marked = f"string_to_array(regexp_replace({text}, {sql_literal(pattern)}, {sql_literal(unit)}, 'g'), {sql_literal(unit)})"
            if re.fullmatch(pattern, "") is None:
                pieces = marked
            else:
                # A pattern that matches the empty string matches before the first character
                # too; Java drops that leading empty piece, and Spark splits at '' into the
                # characters alone.
                last = f"CAST(cardinality({marked}) AS BIGINT)" + (" - 1" if pattern == "" else "")
                pieces = f"array_slice({marked}, 2, {last})"
        # An empty text is one empty piece.
        return f"CASE WHEN {text} = '' THEN make_array('') ELSE {pieces} END"

    return Column(render, f"split({s._spark_name}, {pattern}, {limit})")


# -- dates and times ----------------------------------------------------------------------------

_SPARK_TO_CHRONO = [
    ("yyyy", "%Y"), ("yy", "%y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("hh", "%I"),
    ("mm", "%M"), ("ss", "%S"), ("SSSSSS", "%6f"), ("SSS", "%3f"), ("a", "%p"), ("EEEE", "%A"),
    ("EEE", "%a"), ("MMMM", "%B"), ("MMM", "%b"), ("XXX", "%:z"), ("Z", "%z"),
]


def _chrono(fmt: str) -> str:
    """A Spark datetime pattern as a chrono format (quoted text kept as is)."""
    out, i = [], 0
    while i < len(fmt):
        if fmt[i] == "'":
            j = fmt.find("'", i + 1)
            j = len(fmt) if j < 0 else j
            out.append(fmt[i + 1 : j].replace("%", "%%"))
            i = j + 1
            continue
        for spark, chrono in sorted(_SPARK_TO_CHRONO, key=lambda p: -len(p[0])):
            if fmt.startswith(spark, i):
                out.append(chrono)
                i += len(spark)
                break
        else:
            out.append("%%" if fmt[i] == "%" else fmt[i])
            i += 1
    return "".join(out)


def to_timestamp(c: Any, format: Optional[str] = None) -> Column:
    s = _c(c)
    if format is None:
        return Column(lambda ctx: f"CAST({s._sql(ctx)} AS TIMESTAMP)", f"to_timestamp({s._spark_name})")
    f = sql_literal(_chrono(format))
    return Column(lambda ctx: f"to_timestamp({s._sql(ctx)}, {f})", f"to_timestamp({s._spark_name}, {format})")


def to_date(c: Any, format: Optional[str] = None) -> Column:
    s = _c(c)
    if format is None:
        return Column(lambda ctx: f"CAST({s._sql(ctx)} AS DATE)", f"to_date({s._spark_name})")
    f = sql_literal(_chrono(format))
    return Column(lambda ctx: f"CAST(to_timestamp({s._sql(ctx)}, {f}) AS DATE)", f"to_date({s._spark_name}, {format})")


def date_trunc(format: str, timestamp: Any) -> Column:
    return _fn("date_trunc", [format.lower(), _c(timestamp)], "date_trunc")


def date_format(c: Any, format: str) -> Column:
    s = _c(c)
    f = sql_literal(_chrono(format))
    return Column(lambda ctx: f"to_char({s._sql(ctx)}, {f})", f"date_format({s._spark_name}, {format})")


def _part(part: str, spark: str):
    def f(c: Any) -> Column:
        s = _c(c)
        return Column(lambda ctx: f"CAST(date_part('{part}', {s._sql(ctx)}) AS INT)", f"{spark}({s._spark_name})")

    f.__name__ = spark
    return f


year = _part("year", "year")
month = _part("month", "month")
dayofmonth = _part("day", "dayofmonth")
hour = _part("hour", "hour")
minute = _part("minute", "minute")
second = _part("second", "second")
quarter = _part("quarter", "quarter")


def dayofweek(c: Any) -> Column:
    s = _c(c)  # Spark: 1 = Sunday ... 7 = Saturday
    return Column(lambda ctx: f"(CAST(date_part('dow', {s._sql(ctx)}) AS INT) + 1)", f"dayofweek({s._spark_name})")


def current_timestamp() -> Column:
    return Column(lambda ctx: "now()", "current_timestamp()")


def current_date() -> Column:
    return Column(lambda ctx: "current_date()", "current_date()")


def unix_timestamp(c: Any = None, format: str = "yyyy-MM-dd HH:mm:ss") -> Column:
    if c is None:
        return Column(lambda ctx: "CAST(date_part('epoch', now()) AS BIGINT)", "unix_timestamp(current_timestamp(), yyyy-MM-dd HH:mm:ss)")
    s = _c(c)
    f = sql_literal(_chrono(format))
    return Column(
        lambda ctx: f"CAST(date_part('epoch', CASE WHEN arrow_typeof({s._sql(ctx)}) LIKE 'Timestamp%' THEN CAST({s._sql(ctx)} AS TIMESTAMP) ELSE to_timestamp(CAST({s._sql(ctx)} AS VARCHAR), {f}) END) AS BIGINT)",
        f"unix_timestamp({s._spark_name}, {format})",
    )


def from_unixtime(c: Any, format: str = "yyyy-MM-dd HH:mm:ss") -> Column:
    s = _c(c)
    f = sql_literal(_chrono(format))
    return Column(lambda ctx: f"to_char(to_timestamp_seconds({s._sql(ctx)}), {f})", f"from_unixtime({s._spark_name}, {format})")


def window(timeColumn: Any, windowDuration: str, slideDuration: Optional[str] = None,
           startTime: Optional[str] = None) -> Column:
    """An event-time window ``{start, end}``: tumbling, or sliding with `slideDuration`."""
    args: list = [_c(timeColumn), windowDuration]
    if slideDuration is not None or startTime is not None:
        args.append(slideDuration or windowDuration)
    if startTime is not None:
        args.append(startTime)
    return _fn("window", args)._with(alias=None, spark_name="window")


def session_window(timeColumn: Any, gapDuration: str) -> Column:
    return _fn("session_window", [_c(timeColumn), gapDuration])._with(spark_name="session_window")


def window_time(windowColumn: Any) -> Column:
    return _fn("window_time", [_c(windowColumn)])._with(spark_name="window_time")


# -- structures and JSON -----------------------------------------------------------------------

def struct(*cols: Any) -> Column:
    if len(cols) == 1 and isinstance(cols[0], (list, tuple)):
        cols = tuple(cols[0])
    cs = [_c(c) for c in cols]

    def render(ctx: dict) -> str:
        items = ", ".join(f"{sql_literal(c._alias or c._spark_name)}, {c._sql(ctx)}" for c in cs)
        return f"named_struct({items})"

    return Column(render, f"struct({', '.join(c._spark_name for c in cs)})")


def array(*cols: Any) -> Column:
    if len(cols) == 1 and isinstance(cols[0], (list, tuple)):
        cols = tuple(cols[0])
    return _fn("make_array", [_c(c) for c in cols], "array")


def explode(c: Any) -> Column:
    return _fn("unnest", [_c(c)])._with(spark_name="col")


def size(c: Any) -> Column:
    """The number of elements of an array or entries of a map; NULL for NULL (Spark 4's default,
    with ANSI mode on)."""
    s = _c(c)
    return Column(lambda ctx: f"CAST(cardinality({s._sql(ctx)}) AS INT)", f"size({s._spark_name})", agg=s._agg)


def sort_array(c: Any, asc: bool = True) -> Column:
    """The array sorted, NULLs first when ascending and last when descending (as in Spark)."""
    s = _c(c)
    order = "'ASC', 'NULLS FIRST'" if asc else "'DESC', 'NULLS LAST'"
    return Column(
        lambda ctx: f"array_sort({s._sql(ctx)}, {order})",
        f"sort_array({s._spark_name}, {'true' if asc else 'false'})",
        agg=s._agg,
    )


def array_contains(c: Any, value: Any) -> Column:
    """Whether the array holds `value`: NULL when the array or the value is NULL, or when the
    value is not found but the array holds a NULL (Spark's three-valued answer)."""
    s, v = _c(c), _col(value)

    def render(ctx: dict) -> str:
        a, x = s._sql(ctx), v._sql(ctx)
        return (
            f"CASE WHEN {a} IS NULL OR {x} IS NULL THEN NULL WHEN array_has({a}, {x}) THEN TRUE "
            f"WHEN array_position({a}, NULL) IS NOT NULL THEN NULL ELSE FALSE END"
        )

    return Column(render, f"array_contains({s._spark_name}, {v._spark_name})", agg=s._agg or v._agg)


def from_json(c: Any, schema: Any, options: Optional[dict] = None) -> Column:
    """A JSON string parsed into a struct of `schema` (a StructType or a DDL string)."""
    from tributary.sql.types import StructType, _parse_ddl

    st = schema if isinstance(schema, StructType) else _parse_ddl(str(schema))
    ddl = ", ".join(f"{quote(f.name).replace('`', '')} {f.dataType._sql()}" for f in st.fields)
    s = _c(c)
    return Column(lambda ctx: f"from_json({s._sql(ctx)}, {sql_literal(ddl)})", f"from_json({s._spark_name})")


def to_json(c: Any, options: Optional[dict] = None) -> Column:
    raise not_supported("to_json", "write the rows with format('json'), or build the string with concat")


# -- numbers and hashes -------------------------------------------------------------------------

def round(c: Any, scale: int = 0) -> Column:
    return _fn("round", [_c(c), scale])


def abs(c: Any) -> Column:
    return _fn("abs", [_c(c)])


def sqrt(c: Any) -> Column:
    return _fn("sqrt", [_c(c)], "SQRT")


def floor(c: Any) -> Column:
    return _fn("floor", [_c(c)], "FLOOR")


def ceil(c: Any) -> Column:
    return _fn("ceil", [_c(c)], "CEIL")


def isnan(c: Any) -> Column:
    """Whether the value is NaN: false for NULL (as in Spark), and for any integer."""
    s = _c(c)
    return Column(
        lambda ctx: f"coalesce(isnan(CAST({s._sql(ctx)} AS DOUBLE)), FALSE)",
        f"isnan({s._spark_name})",
        agg=s._agg,
    )


def md5(c: Any) -> Column:
    return _fn("md5", [_c(c)])


def sha2(c: Any, numBits: int) -> Column:
    fns = {224: "sha224", 256: "sha256", 0: "sha256", 384: "sha384", 512: "sha512"}
    if numBits not in fns:
        raise ValueError(f"sha2: numBits must be 224, 256, 384 or 512, not {numBits}")
    s = _c(c)
    return Column(lambda ctx: f"encode({fns[numBits]}({s._sql(ctx)}), 'hex')", f"sha2({s._spark_name}, {numBits})")


# -- aggregates -----------------------------------------------------------------------------------

def count(c: Any) -> Column:
    if isinstance(c, str) and c == "*":
        return Column(lambda ctx: "count(*)", "count(1)", agg=True)
    return _fn("count", [_c(c)], agg=True)


def countDistinct(c: Any, *cols: Any) -> Column:
    if cols:
        raise not_supported("countDistinct over several columns", "count the distinct values of F.struct(...) of them")
    return _fn("count", [_c(c)], agg=True, distinct=True)


count_distinct = countDistinct


def approx_count_distinct(c: Any, rsd: Optional[float] = None) -> Column:
    return _fn("approx_distinct", [_c(c)], "approx_count_distinct", agg=True)


approxCountDistinct = approx_count_distinct


def sum(c: Any) -> Column: return _fn("sum", [_c(c)], agg=True)
def avg(c: Any) -> Column: return _fn("avg", [_c(c)], agg=True)
def mean(c: Any) -> Column: return _fn("avg", [_c(c)], "avg", agg=True)
def min(c: Any) -> Column: return _fn("min", [_c(c)], agg=True)
def max(c: Any) -> Column: return _fn("max", [_c(c)], agg=True)
def stddev(c: Any) -> Column: return _fn("stddev", [_c(c)], "stddev", agg=True)
def variance(c: Any) -> Column: return _fn("var_samp", [_c(c)], "variance", agg=True)


def first(c: Any, ignorenulls: bool = False) -> Column:
    return _first_or_last("first_value", "first", c, ignorenulls)


def last(c: Any, ignorenulls: bool = False) -> Column:
    return _first_or_last("last_value", "last", c, ignorenulls)


def _first_or_last(sql_name: str, spark_name: str, c: Any, ignorenulls: bool) -> Column:
    s = _c(c)
    if not ignorenulls:
        return _fn(sql_name, [s], spark_name, agg=True)
    return Column(
        lambda ctx: f"{sql_name}({s._sql(ctx)} IGNORE NULLS)",
        f"{spark_name}({s._spark_name})",
        agg=True,
    )


def collect_list(c: Any) -> Column:
    """The values of the group, NULLs skipped; ``[]`` when there are none (as in Spark)."""
    s = _c(c)
    return _empty_if_null(
        lambda ctx: f"array_agg({s._sql(ctx)}) FILTER (WHERE {s._sql(ctx)} IS NOT NULL)",
        f"collect_list({s._spark_name})",
    )


def collect_set(c: Any) -> Column:
    """The distinct values of the group, NULLs skipped; ``[]`` when there are none."""
    s = _c(c)
    return _empty_if_null(
        lambda ctx: f"array_agg(DISTINCT {s._sql(ctx)}) FILTER (WHERE {s._sql(ctx)} IS NOT NULL)",
        f"collect_set({s._spark_name})",
    )


def _empty_if_null(agg: Any, name: str) -> Column:
    """The array aggregate `agg` (a function of the rendering context), ``[]`` instead of NULL
    when it has no values (also over a window: the OVER clause goes on the aggregate)."""
    col = Column(lambda ctx: f"coalesce({agg(ctx)}, make_array())", name, agg=True)
    col._over_sql = lambda ctx, over: f"coalesce({agg(ctx)} {over}, make_array())"  # type: ignore[attr-defined]
    return col


# -- user-defined functions -------------------------------------------------------------------------

from tributary.sql.udf import pandas_udf, udf  # noqa: E402,F401
