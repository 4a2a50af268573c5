"""``tributary.sql.functions`` (imported as ``F``): Spark's functions, as the engine's SQL.

Each function returns a :class:`Column` whose SQL is written in the engine's dialect with
Spark's semantics (for example ``concat`` is NULL when an input is, as in Spark, and
``collect_list`` skips NULLs) and whose default name is the one Spark gives it.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from tributary.errors import not_supported
from tributary.sql.column import Column, _col, _fn, _name_col, _substring, quote, sql_literal, sql_text


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
        return Column(lambda ctx: sql_text(ctx, m.group(1)), m.group(1), alias=m.group(2).strip("`"))
    c = Column(lambda ctx: sql_text(ctx, sql), sql)
    named = re.fullmatch(r"\s*(`[^`]+`|[A-Za-z_]\w*)\s*", sql)
    if named and named.group(1).lower() not in _SQL_WORDS:
        # A column by name, named as PySpark names it (a cast of it keeps the name too).
        c._spark_name = c._top = named.group(1).strip("`")
    return c


# Words that `expr` takes as values, not column names.
_SQL_WORDS = {"true", "false", "null", "current_date", "current_timestamp", "current_user",
              "localtimestamp", "current_time", "now"}


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

def _int_rank(sql: str, args: str = "") -> Column:
    """A ranking function as an INT, Spark's type (the engine counts in unsigned 64 bits). On a
    stream, row_number() keeps the engine's type: the stream's Top-N reads the window's own
    column."""
    def over_sql(ctx: Any, over: str) -> str:
        if sql == "row_number" and getattr(ctx, "streaming", False):
            return f"{sql}({args}) {over}"
        return f"CAST({sql}({args}) {over} AS INT)"

    col = Column(lambda ctx: f"CAST({sql}({args}) AS INT)", f"{sql}({args})")
    col._over_sql = over_sql  # type: ignore[attr-defined]
    return col


def row_number() -> Column: return _int_rank("row_number")
def rank() -> Column: return _int_rank("rank")
def dense_rank() -> Column: return _int_rank("dense_rank")
def percent_rank() -> Column: return _fn("percent_rank", [])
def cume_dist() -> Column: return _fn("cume_dist", [])
def ntile(n: int) -> Column: return _int_rank("ntile", sql_literal(n))


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
    """Spark's concat: NULL if any input is NULL; each value written as Spark writes it as text
    (a timestamp ``2024-01-02 03:04:05.12``, not ISO's ``T``)."""
    cs = [_c(c) for c in cols]
    if not cs:
        return Column(lambda ctx: "''", "concat()")
    return Column(
        lambda ctx: "(" + " || ".join(_spark_text(c._sql(ctx)) for c in cs) + ")",
        f"concat({', '.join(c._spark_name for c in cs)})",
        agg=any(c._agg for c in cs),
    )


def _spark_text(sql: str) -> str:
    """A value as Spark writes it as text (a timestamp `2024-01-02 03:04:05.12`, not ISO's `T`);
    a string as it is, NULL as NULL."""
    return f"spark_cast({sql}, CAST(NULL AS VARCHAR))"


def concat_ws(sep: str, *cols: Any) -> Column:
    """Spark's concat_ws: the strings, and the elements of the arrays of strings, among `cols`
    joined with `sep`, NULLs skipped; '' when there is nothing to join. Each argument is made an
    array of strings (``[x]`` for a value, written as Spark writes it as text, and the array
    itself for an array) and the arrays are joined as one."""
    cs = [_c(c) for c in cols]
    name = f"concat_ws({sep}, {', '.join(c._spark_name for c in cs)})"
    if sep is None:
        return Column(lambda ctx: "CAST(NULL AS VARCHAR)", name, agg=any(c._agg for c in cs))
    if not cs:
        return Column(lambda ctx: "''", name)

    def render(ctx: dict) -> str:
        parts = []
        for c in cs:
            x = c._sql(ctx)
            # an array's strings as they are; any other value as Spark writes it as text
            parts.append(
                f"CASE WHEN arrow_typeof({x}) ~ '^(Large|FixedSize)?List' "
                f"THEN CAST(flatten(make_array({x})) AS VARCHAR[]) "
                f"ELSE make_array({_spark_text(x)}) END"
            )
        joined = parts[0] if len(parts) == 1 else f"array_concat({', '.join(parts)})"
        return f"coalesce(array_to_string({joined}, {sql_literal(sep)}), '')"

    return Column(render, name, agg=any(c._agg for c in cs))


def substring(c: Any, pos: Any, len: Any) -> Column:
    return _substring(_c(c), pos, len)


def regexp_replace(c: Any, pattern: Any, replacement: Any) -> Column:
    """Every match replaced (Spark's semantics). The replacement is Java's: `$1` is group 1 (and
    `$12` group 12 only when there are 12 groups), `${name}` a named group, `\\x` the character
    x; it is rewritten in the engine's syntax (`${1}`, `$$` for a dollar). A replacement given
    as a Column is passed as it is (the engine's syntax)."""
    s = _c(c)
    p = _col(pattern)
    if isinstance(replacement, str):
        groups = _regex_groups(pattern) if isinstance(pattern, str) else None
        r = Column(lambda ctx: sql_literal(_java_replacement(replacement, groups)), replacement)
    else:
        r = _col(replacement)
    return Column(
        lambda ctx: f"regexp_replace({s._sql(ctx)}, {p._sql(ctx)}, {r._sql(ctx)}, 'g')",
        f"regexp_replace({s._spark_name}, {p._spark_name}, {r._spark_name}, 1)",
        agg=s._agg,
    )


def _regex_groups(pattern: str) -> Optional[int]:
    """The number of capturing groups of a regular expression: each `(` not escaped, not in a
    character class, and not `(?` unless a named group `(?<name>` / `(?P<name>`."""
    n, i, in_class = 0, 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            if pattern.startswith("]", i + 1) or pattern.startswith("^]", i + 1):
                i += 2 if pattern[i + 1] == "]" else 3
                continue
        elif ch == "(":
            if not pattern.startswith("?", i + 1) or re.match(r"\?P?<[A-Za-z]", pattern[i + 1 :]):
                n += 1
        i += 1
    return n


def _java_replacement(rep: str, groups: Optional[int]) -> str:
    """Java's replacement text (`$n`, `${name}`, `\\x`) in the engine's syntax: `${n}` for a group,
    `$$` for a dollar. A backslash before digits is kept apart from them by an empty `${}`-group
    reference (the engine reads `\\1` as group 1)."""
    from tributary.errors import PySparkValueError

    def bad(why: str) -> Exception:
        return PySparkValueError(f"[INVALID_REGEXP_REPLACE] regexp_replace: the replacement {rep!r} {why}")

    out, i = [], 0
    while i < len(rep):
        ch = rep[i]
        if ch == "\\":
            if i + 1 >= len(rep):
                raise bad("ends with a lone backslash (character to be escaped is missing)")
            out.append("$$" if rep[i + 1] == "$" else rep[i + 1])
            i += 2
        elif ch == "$":
            if rep.startswith("{", i + 1):
                j = rep.find("}", i + 2)
                name = rep[i + 2 : j] if j > 0 else ""
                if j < 0 or not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", name):
                    raise bad("has a bad named-group reference")
                out.append("${" + name + "}")
                i = j + 1
            elif i + 1 < len(rep) and rep[i + 1].isdigit() and rep[i + 1].isascii():
                # The first digit is the group; each next one joins while the number is a group.
                g, j = int(rep[i + 1]), i + 2
                while (j < len(rep) and rep[j].isdigit() and rep[j].isascii()
                       and (groups is None or g * 10 + int(rep[j]) <= groups)):
                    g, j = g * 10 + int(rep[j]), j + 1
                if groups is not None and g > groups:
                    raise bad(f"refers to group {g} of a pattern with {groups}")
                out.append("${" + str(g) + "}")
                i = j
            else:
                raise bad("has an illegal group reference ('$' not followed by a group)")
        else:
            out.append(ch)
            i += 1
    text = "".join(out)
    # The engine reads a backslash (or two) before digits as a group: put an empty group
    # reference (`${_}`: a name no group has) between them.
    return re.sub(r"\\(?=\d)", lambda m: "\\${_}", text)


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


def locate(substr: str, str: Any, pos: int = 1) -> Column:
    """The position (from 1) of the first `substr` in `str` at or after `pos`; 0 when there is
    none or `pos` < 1; 1 for an empty `substr`; NULL for NULL."""
    s, sub = _c(str), sql_literal(substr)
    name = f"locate({substr}, {s._spark_name}, {pos})"

    def render(ctx: Any) -> str:
        x = s._sql(ctx)
        if substr is None:
            return "CAST(NULL AS INT)"
        if pos < 1:
            found = "0"
        elif substr == "":
            found = "1"
        else:
            at = f"strpos(substr({x}, {pos}), {sub})"
            found = f"CASE WHEN {at} > 0 THEN {at} + {pos - 1} ELSE 0 END"
        return f"CAST(CASE WHEN {x} IS NULL THEN NULL ELSE {found} END AS INT)"

    return Column(render, name, agg=s._agg)


def instr(str: Any, substr: Any) -> Column:
    """The position (from 1) of the first `substr` (a literal string) in `str`; 0 when there is
    none."""
    s, sub = _c(str), _col(substr)
    return Column(
        lambda ctx: f"CAST(strpos({s._sql(ctx)}, {sub._sql(ctx)}) AS INT)",
        f"instr({s._spark_name}, {sub._spark_name})",
        agg=s._agg,
    )


# -- dates and times ----------------------------------------------------------------------------

def _pattern_runs(fmt: str) -> list:
    """A Spark datetime pattern as its runs: ``(letter, count)`` for a run of one pattern letter,
    ``("", text)`` for literal text (``''`` is a quote, ``'text'`` is text, any character that is
    no letter is itself; ``[``/``]`` (optional sections) are kept as ``("[", 1)``/``("]", 1)``)."""
    runs: list = []

    def text(t: str) -> None:
        if runs and runs[-1][0] == "":
            runs[-1] = ("", runs[-1][1] + t)
        else:
            runs.append(("", t))

    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "'":
            if fmt.startswith("''", i):
                text("'")
                i += 2
                continue
            j, lit = i + 1, []
            while True:
                if j >= len(fmt):
                    raise _bad_pattern(fmt)
                if fmt[j] == "'":
                    if fmt.startswith("''", j):
                        lit.append("'")
                        j += 2
                        continue
                    break
                lit.append(fmt[j])
                j += 1
            text("".join(lit))
            i = j + 1
        elif ("A" <= ch <= "Z") or ("a" <= ch <= "z"):
            j = i
            while j < len(fmt) and fmt[j] == ch:
                j += 1
            runs.append((ch, j - i))
            i = j
        elif ch in "[]":
            runs.append((ch, 1))
            i += 1
        elif ch in "{}#":
            raise _bad_pattern(fmt)
        else:
            text(ch)
            i += 1
    return runs


def _bad_pattern(fmt: str) -> Exception:
    from tributary.errors import PySparkValueError

    return PySparkValueError(
        f"[INVALID_DATETIME_PATTERN] Unrecognized datetime pattern: {fmt!r} (Spark's patterns: "
        "https://spark.apache.org/docs/latest/sql-ref-datetime-pattern.html)"
    )


# Spark's (letter, count) as a chrono format, when chrono writes it alike; for a letter only its
# count range is checked (Spark refuses more letters). A zone is the session's, UTC.
_FORMAT_CHRONO = {
    ("y", 1): "%-Y", ("y", 2): "%y", ("y", 4): "%Y",
    ("M", 1): "%-m", ("M", 2): "%m", ("M", 3): "%b", ("M", 4): "%B",
    ("L", 1): "%-m", ("L", 2): "%m", ("L", 3): "%b", ("L", 4): "%B",
    ("d", 1): "%-d", ("d", 2): "%d", ("D", 1): "%-j", ("D", 3): "%j",
    ("E", 1): "%a", ("E", 2): "%a", ("E", 3): "%a", ("E", 4): "%A",
    ("a", 1): "%p", ("h", 1): "%-I", ("h", 2): "%I", ("H", 1): "%-H", ("H", 2): "%H",
    ("m", 1): "%-M", ("m", 2): "%M", ("s", 1): "%-S", ("s", 2): "%S",
    ("S", 3): "%3f", ("S", 6): "%6f", ("S", 9): "%9f",
}
_FORMAT_TEXT = {
    ("G", 1): "AD", ("G", 2): "AD", ("G", 3): "AD", ("G", 4): "Anno Domini",
    ("z", 1): "UTC", ("z", 2): "UTC", ("z", 3): "UTC",
    ("z", 4): "Coordinated Universal Time", ("O", 1): "GMT", ("O", 4): "GMT",
    ("x", 1): "+00", ("x", 2): "+0000", ("x", 3): "+00:00", ("x", 4): "+0000", ("x", 5): "+00:00",
    ("Z", 1): "+0000", ("Z", 2): "+0000", ("Z", 3): "+0000", ("Z", 4): "GMT", ("Z", 5): "Z",
    **{("X", n): "Z" for n in range(1, 6)}, ("V", 2): "UTC",
}
_WEEK_BASED = set("YwWeuc")


def _format_pieces(fmt: str) -> list:
    """Spark's pattern for formatting, as pieces: a chrono format (str) or a function of the
    chrono formatter (``lambda f: ...`` where ``f(spec)`` is the SQL of the value in `spec`)."""
    pieces: list = []
    for letter, n in _pattern_runs(fmt):
        if letter == "":
            pieces.append(n.replace("%", "%%"))
        elif letter in "[]":
            continue  # an optional section is written whole: every field is there
        elif (letter, n) in _FORMAT_CHRONO:
            pieces.append(_FORMAT_CHRONO[(letter, n)])
        elif (letter, n) in _FORMAT_TEXT:
            pieces.append(_FORMAT_TEXT[(letter, n)].replace("%", "%%"))
        elif letter == "y" and n <= 9:
            pieces.append(lambda f, n=n: _zero_pad(f("%-Y"), n))
        elif letter == "D" and n == 2:
            pieces.append(lambda f: _zero_pad(f("%-j"), 2))
        elif letter == "S" and n <= 9:
            pieces.append(lambda f, n=n: f"substr({f('%9f')}, 1, {n})")
        elif letter in "Qq" and n <= 4:
            q = lambda f: f"CAST((CAST({f('%m')} AS INT) + 2) / 3 AS VARCHAR)"
            pieces.append([
                q,
                lambda f: f"'0' || {q(f)}",
                lambda f: f"'Q' || {q(f)}",
                lambda f: f"CASE {q(f)} WHEN '1' THEN '1st' WHEN '2' THEN '2nd' WHEN '3' THEN '3rd' ELSE '4th' END || ' quarter'",
            ][n - 1])
        elif letter == "K" and n <= 2:
            pieces.append(lambda f, n=n: _zero_pad(f"CAST(CAST({f('%H')} AS INT) % 12 AS VARCHAR)", n))
        elif letter == "k" and n <= 2:
            pieces.append(lambda f, n=n: f"CASE {f('%H')} WHEN '00' THEN '24' ELSE {f('%H' if n == 2 else '%-H')} END")
        elif letter == "F":
            raise not_supported(
                f"the datetime pattern letter 'F' ({fmt!r})",
                "its meaning depends on Spark's Java version; compute it from dayofmonth",
            )
        elif letter in _WEEK_BASED:
            raise not_supported(
                f"the datetime pattern letter {letter!r} ({fmt!r})",
                "Spark 3+ refuses week-based patterns too; use dayofweek/weekofyear",
            )
        else:
            raise _bad_pattern(fmt)
    return pieces


def _zero_pad(sql: str, n: int) -> str:
    """`sql` (digits) padded with zeros to `n` digits at least (lpad alone cuts longer text)."""
    return f"CASE WHEN char_length({sql}) < {n} THEN lpad({sql}, {n}, '0') ELSE {sql} END"


def _format_sql(value_sql: str, fmt: str) -> str:
    """The SQL of `value_sql` (a timestamp, date or timestamp text) written in Spark's pattern
    `fmt`: one ``to_char`` when chrono writes it all, else the pieces joined (NULL for NULL)."""
    pieces = _format_pieces(fmt)
    to_char = lambda spec: f"to_char({value_sql}, {sql_literal(spec)})"
    parts: list = []
    run = ""
    for p in pieces:
        if isinstance(p, str):
            run += p
            continue
        if run:
            parts.append(to_char(run))
            run = ""
        parts.append(p(to_char))
    if run or not parts:
        parts.append(to_char(run))
    return parts[0] if len(parts) == 1 else "(" + " || ".join(parts) + ")"


# Spark's (letter, count) as chrono's parser reads it (chrono's numbers take 1 or 2 digits
# either way, a fraction exactly its digits; `%#z` takes Z, +hh, +hhmm and +hh:mm).
_PARSE_CHRONO = {
    ("y", 1): "%Y", ("y", 2): "%y", ("y", 4): "%Y",
    ("M", 1): "%m", ("M", 2): "%m", ("M", 3): "%b", ("M", 4): "%B",
    ("L", 1): "%m", ("L", 2): "%m", ("L", 3): "%b", ("L", 4): "%B",
    ("d", 1): "%d", ("d", 2): "%d", ("D", 1): "%j", ("D", 2): "%j", ("D", 3): "%j",
    ("E", 1): "%a", ("E", 2): "%a", ("E", 3): "%a", ("E", 4): "%A",
    ("a", 1): "%p", ("h", 1): "%I", ("h", 2): "%I", ("H", 1): "%H", ("H", 2): "%H",
    ("m", 1): "%M", ("m", 2): "%M", ("s", 1): "%S", ("s", 2): "%S",
    ("S", 3): "%3f", ("S", 6): "%6f", ("S", 9): "%9f",
    **{("X", n): "%#z" for n in range(1, 4)}, ("x", 1): "%#z", ("x", 2): "%z", ("x", 3): "%:z",
    ("Z", 1): "%z", ("Z", 2): "%z", ("Z", 3): "%z",
}


def _chrono(fmt: str) -> str:
    """Spark's datetime pattern `fmt` as a chrono format for parsing text."""
    out: list = []
    for letter, n in _pattern_runs(fmt):
        if letter == "":
            out.append(n.replace("%", "%%"))
        elif (letter, n) in _PARSE_CHRONO:
            out.append(_PARSE_CHRONO[(letter, n)])
        elif letter == "S" and n <= 9 and out and out[-1].endswith("."):
            # `.S`, `.SS`: chrono's `%.f` reads the dot and the digits
            out[-1] = out[-1][:-1] + "%.f"
        else:
            raise not_supported(
                f"parsing text with the datetime pattern {fmt!r} ({letter * n!r})",
                "parse a simpler pattern (y, M, d, D, H, h, a, m, s, S, E, X, x, Z) and adjust the result",
            )
    return "".join(out)


def to_timestamp(c: Any, format: Optional[str] = None) -> Column:
    s = _c(c)
    if format is None:
        return Column(lambda ctx: f"CAST({s._sql(ctx)} AS TIMESTAMP)", f"to_timestamp({s._spark_name})")
    f = sql_literal(_chrono(format))
    return Column(lambda ctx: f"to_timestamp({s._sql(ctx)}, {f})", f"to_timestamp({s._spark_name}, {format})")


def try_to_timestamp(col: Any, format: Any = None) -> Column:
    """Like :func:`to_timestamp`, with NULL for text that does not read as a timestamp (of
    the format, when one is given: a string, or ``lit("...")``)."""
    s = _c(col)
    if format is None:
        return Column(lambda ctx: f"try_to_timestamp({s._sql(ctx)})", f"try_to_timestamp({s._spark_name})")
    pattern = getattr(format, "_lit", None) if isinstance(format, Column) else format
    if not isinstance(pattern, str):
        from tributary.errors import PySparkTypeError

        raise PySparkTypeError(f"try_to_timestamp: the format is a string (or lit(\"...\")), not {format!r}")
    f = sql_literal(_chrono(pattern))
    return Column(lambda ctx: f"try_to_timestamp({s._sql(ctx)}, {f})", f"try_to_timestamp({s._spark_name}, {pattern})")


def to_date(c: Any, format: Optional[str] = None) -> Column:
    s = _c(c)
    if format is None:
        return Column(lambda ctx: f"CAST({s._sql(ctx)} AS DATE)", f"to_date({s._spark_name})")
    f = sql_literal(_chrono(format))
    return Column(lambda ctx: f"CAST(to_timestamp({s._sql(ctx)}, {f}) AS DATE)", f"to_date({s._spark_name}, {format})")


def date_trunc(format: str, timestamp: Any) -> Column:
    return _fn("date_trunc", [format.lower(), _c(timestamp)], "date_trunc")


def date_format(c: Any, format: str) -> Column:
    """The timestamp, date or timestamp text written in Spark's pattern (letters by count:
    ``M/d/yyyy``, ``h:mm a``, ``D``, ``MMM''yy``, ``.SS``, ``XXX``; the zone is UTC)."""
    s = _c(c)
    _format_pieces(format)  # a bad pattern is an error here
    return Column(lambda ctx: _format_sql(s._sql(ctx), format), f"date_format({s._spark_name}, {format})", agg=s._agg)


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
dayofyear = _part("doy", "dayofyear")
weekofyear = _part("week", "weekofyear")  # ISO weeks (Monday first; week 1 has 4+ days), as Spark


def dayofweek(c: Any) -> Column:
    s = _c(c)  # Spark: 1 = Sunday ... 7 = Saturday
    return Column(lambda ctx: f"CAST(date_part('dow', {s._sql(ctx)}) + 1 AS INT)", f"dayofweek({s._spark_name})")


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
    """Seconds since the epoch written in Spark's pattern (as date_format)."""
    s = _c(c)
    _format_pieces(format)
    return Column(
        lambda ctx: _format_sql(f"to_timestamp_seconds({s._sql(ctx)})", format),
        f"from_unixtime({s._spark_name}, {format})",
        agg=s._agg,
    )


def _date(c: Column, ctx: Any) -> str:
    """A date, timestamp or date text as a DATE (Spark casts such inputs so)."""
    return f"CAST({c._sql(ctx)} AS DATE)"


def raise_error(errMsg: Any) -> Column:
    """Fails the query with `errMsg` when a row reaches it (in a `when` branch: the rows that
    take it)."""
    m = _col(errMsg)
    return Column(lambda ctx: f"raise_error({m._sql(ctx)})", f"raise_error({m._spark_name})")


def _fails(ok: str, value: str, message: str, sql_type: str = "BIGINT") -> str:
    """`value` where `ok` holds, else a query error reading `message` (SQL text), raised at run
    time as Spark's ANSI errors are. `ok` must hold for NULL inputs."""
    # The engine's raise_error is volatile: the optimizer never evaluates it ahead of the rows.
    return f"CASE WHEN {ok} THEN {value} ELSE CAST(raise_error({message}) AS {sql_type}) END"


def datediff(end: Any, start: Any) -> Column:
    """The days from `start` to `end` (dates; timestamps count by their dates)."""
    e, b = _c(end), _c(start)
    return Column(
        lambda ctx: f"CAST({_date(e, ctx)} - {_date(b, ctx)} AS INT)",
        f"datediff({e._spark_name}, {b._spark_name})",
        agg=e._agg or b._agg,
    )


def date_add(start: Any, days: Any) -> Column:
    """The date `days` days after `start` (a DATE; a timestamp's date)."""
    return _date_plus(start, days, "+", "date_add")


def date_sub(start: Any, days: Any) -> Column:
    """The date `days` days before `start`."""
    return _date_plus(start, days, "-", "date_sub")


def _date_plus(start: Any, days: Any, op: str, name: str) -> Column:
    d, n = _c(start), _col(days)
    return Column(
        lambda ctx: f"({_date(d, ctx)} {op} CAST({n._sql(ctx)} AS INT))",
        f"{name}({d._spark_name}, {n._spark_name})",
        agg=d._agg or n._agg,
    )


def add_months(start: Any, months: Any) -> Column:
    """The date `months` months after `start`; a day past the end of the month is its last day
    (2024-01-31 + 1 month = 2024-02-29), as Spark."""
    d, n = _c(start), _col(months)
    name = f"add_months({d._spark_name}, {n._spark_name})"
    if isinstance(months, int) and not isinstance(months, bool):
        return Column(lambda ctx: f"({_date(d, ctx)} + INTERVAL '{months} month')", name, agg=d._agg)

    def render(ctx: Any) -> str:
        x, k = _date(d, ctx), f"CAST({n._sql(ctx)} AS BIGINT)"
        total = f"(CAST(date_part('year', {x}) AS BIGINT) * 12 + CAST(date_part('month', {x}) AS BIGINT) - 1 + {k})"
        first = f"make_date(CAST(floor({total} / 12.0) AS INT), CAST({total} - floor({total} / 12.0) * 12 + 1 AS INT), 1)"
        last_day_of = f"date_part('day', {first} + INTERVAL '1 month' - INTERVAL '1 day')"
        return f"({first} + CAST(least(date_part('day', {x}), {last_day_of}) - 1 AS INT))"

    return Column(render, name, agg=d._agg or n._agg)


def months_between(date1: Any, date2: Any, roundOff: bool = True) -> Column:
    """Spark's months between two timestamps (dates at midnight): whole months when the days of
    the month are the same or both the last; else the months plus the difference of the days and
    times (whole seconds) over 31 days; rounded to 8 digits unless `roundOff` is False."""
    a, b = _c(date1), _c(date2)

    def render(ctx: Any) -> str:
        t1, t2 = f"CAST({a._sql(ctx)} AS TIMESTAMP)", f"CAST({b._sql(ctx)} AS TIMESTAMP)"

        def months(t: str) -> str:
            return f"(CAST(date_part('year', {t}) AS DOUBLE) * 12 + CAST(date_part('month', {t}) AS DOUBLE))"

        def day(t: str) -> str:
            return f"CAST(date_part('day', {t}) AS DOUBLE)"

        def last(t: str) -> str:
            return f"CAST(date_part('day', date_trunc('month', {t}) + INTERVAL '1 month' - INTERVAL '1 day') AS DOUBLE)"

        def secs(t: str) -> str:
            return f"floor(date_part('epoch', {t}) - date_part('epoch', date_trunc('day', {t})))"

        whole = f"({months(t1)} - {months(t2)})"
        frac = f"(({day(t1)} - {day(t2)}) * 86400 + {secs(t1)} - {secs(t2)}) / 2678400.0"
        diff = f"({whole} + {frac})"
        if roundOff:
            diff = f"(floor({diff} * 1e8 + 0.5) / 1e8)"  # Java's Math.round
        same = f"{day(t1)} = {day(t2)} OR ({day(t1)} = {last(t1)} AND {day(t2)} = {last(t2)})"
        return f"CAST(CASE WHEN {same} THEN {whole} ELSE {diff} END AS DOUBLE)"

    return Column(
        render,
        f"months_between({a._spark_name}, {b._spark_name}, {'true' if roundOff else 'false'})",
        agg=a._agg or b._agg,
    )


def last_day(date: Any) -> Column:
    """The last day of the date's month."""
    d = _c(date)
    return Column(
        lambda ctx: f"CAST(date_trunc('month', {_date(d, ctx)}) + INTERVAL '1 month' - INTERVAL '1 day' AS DATE)",
        f"last_day({d._spark_name})",
        agg=d._agg,
    )


_DAYS = ["SU", "MO", "TU", "WE", "TH", "FR", "SA"]
_DAY_NAMES = ["SUNDAY", "MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY"]


def next_day(date: Any, dayOfWeek: Any) -> Column:
    """The first date after `date` that is a `dayOfWeek` ("Mon", "MO" or "Monday", any case); an
    other name is an error (ILLEGAL_DAY_OF_WEEK), as Spark 4."""
    from tributary.errors import PySparkValueError

    d, w = _c(date), _col(dayOfWeek)
    name = f"next_day({d._spark_name}, {w._spark_name})"
    if isinstance(dayOfWeek, str):
        key = dayOfWeek.upper()
        hits = [i for i in range(7) if key in (_DAYS[i], _DAY_NAMES[i][:3], _DAY_NAMES[i])]
        if not hits:
            raise PySparkValueError(f"[ILLEGAL_DAY_OF_WEEK] Illegal input for day of week: {dayOfWeek}.")
        target = str(hits[0])
        target_sql = lambda ctx: target
    else:
        def target_sql(ctx: Any) -> str:
            u = f"upper({w._sql(ctx)})"
            whens = " ".join(
                f"WHEN {u} IN ('{_DAYS[i]}', '{_DAY_NAMES[i][:3]}', '{_DAY_NAMES[i]}') THEN {i}" for i in range(7)
            )
            msg = f"'[ILLEGAL_DAY_OF_WEEK] Illegal input for day of week: ' || {w._sql(ctx)} || '.'"
            return f"(CASE {whens} WHEN {u} IS NULL THEN NULL ELSE CAST({msg} AS INT) END)"

    def render(ctx: Any) -> str:
        x = _date(d, ctx)
        dow = f"CAST(date_part('dow', {x}) AS INT)"
        return f"({x} + CAST(({target_sql(ctx)} - {dow} + 6) % 7 + 1 AS INT))"

    return Column(render, name, agg=d._agg or w._agg)


_TRUNC_UNITS = {"year": "year", "yyyy": "year", "yy": "year", "quarter": "quarter", "month": "month",
                "mm": "month", "mon": "month", "week": "week"}


def trunc(date: Any, format: str) -> Column:
    """The date truncated to its year, quarter, month or week (Monday); NULL for any other
    unit, as Spark."""
    d = _c(date)
    unit = _TRUNC_UNITS.get(str(format).lower())
    name = f"trunc({d._spark_name}, {format})"
    if unit is None:
        return Column(lambda ctx: "CAST(NULL AS DATE)", name, agg=d._agg)
    return Column(lambda ctx: f"CAST(date_trunc('{unit}', {_date(d, ctx)}) AS DATE)", name, agg=d._agg)



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

    def render(ctx: Any) -> str:
        x = s._sql(ctx)
        # The engine's cardinality of an array of arrays counts the inner elements, and its
        # array_length takes no map; [x] flattened one level is x again, of any array type.
        return (
            f"CAST(CASE WHEN {x} IS NULL THEN NULL WHEN arrow_typeof({x}) LIKE 'Map(%' THEN cardinality({x}) "
            f"ELSE array_length(flatten(make_array({x}))) END AS INT)"
        )

    return Column(render, f"size({s._spark_name})", agg=s._agg)


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


def explode_outer(c: Any) -> Column:
    """As explode, but a NULL or empty array gives one row with NULL (explode gives none)."""
    s = _c(c)
    return Column(lambda ctx: f"unnest({_or_null_row(s._sql(ctx))})", "col")


def _or_null_row(a: str) -> str:
    return f"CASE WHEN array_length({a}) > 0 THEN {a} ELSE make_array(NULL) END"


def posexplode(c: Any) -> Column:
    """A row per element: its position from 0 (`pos`) and the element (`col`)."""
    return _posexplode(c, outer=False)


def posexplode_outer(c: Any) -> Column:
    """As posexplode, but a NULL or empty array gives one row of NULLs."""
    return _posexplode(c, outer=True)


def _posexplode(c: Any, outer: bool) -> Column:
    from tributary.errors import PySparkValueError

    s = _c(c)
    name = "posexplode_outer" if outer else "posexplode"

    def positions(a: str) -> str:
        return f"CAST(range(0, CAST(array_length({a}) AS BIGINT)) AS INT[])"

    def select_items(ctx: Any = None) -> list:
        a = s._sql(ctx)
        pos, val = positions(a), a
        if outer:
            pos = f"CASE WHEN array_length({a}) > 0 THEN {pos} ELSE make_array(CAST(NULL AS INT)) END"
            val = _or_null_row(a)
        return [(f"unnest({pos})", "pos"), (f"unnest({val})", "col")]

    def render(ctx: Any) -> str:
        raise PySparkValueError(f"{name} gives two columns (pos, col): use it in select(...)")

    col = Column(render, f"{name}({s._spark_name})")
    col._select_items = select_items  # type: ignore[method-assign]
    return col


def element_at(c: Any, extraction: Any) -> Column:
    """The array's element at `extraction` (from 1; negative from the end), or the map's value
    for the key `extraction` (a literal; NULL when missing). An index out of the array is an
    error (INVALID_ARRAY_INDEX_IN_ELEMENT_AT, INVALID_INDEX_OF_ZERO), as in Spark 4."""
    from tributary.errors import PySparkValueError

    s, k = _c(c), _col(extraction)
    name = f"element_at({s._spark_name}, {k._spark_name})"
    is_int = isinstance(extraction, int) and not isinstance(extraction, bool)
    if is_int and extraction == 0:
        raise PySparkValueError(_ZERO_INDEX)

    def render(ctx: Any) -> str:
        # The engine's spark_element_at: an array's element (from 1, from the end when
        # negative) or a map's value, by the column's type.
        return f"spark_element_at({s._sql(ctx)}, {k._sql(ctx)})"

    return Column(render, name, agg=s._agg or k._agg)


_ZERO_INDEX = "[INVALID_INDEX_OF_ZERO] The index 0 is invalid. An index shall be either < 0 or > 0 (the first element has index 1)."


def array_distinct(c: Any) -> Column:
    """The array without repeated elements (the first of each, in order; one NULL)."""
    s = _c(c)
    return _fn("array_distinct", [s])._with(agg=s._agg)


def array_join(col: Any, delimiter: str, null_replacement: Optional[str] = None) -> Column:
    """The elements joined with `delimiter`; NULLs skipped, or written as `null_replacement`."""
    s = _c(col)
    args = [sql_literal(delimiter)] + ([sql_literal(null_replacement)] if null_replacement is not None else [])
    name = f"array_join({s._spark_name}, {delimiter}" + (f", {null_replacement})" if null_replacement is not None else ")")
    return Column(lambda ctx: f"array_to_string({s._sql(ctx)}, {', '.join(args)})", name, agg=s._agg)


def slice(x: Any, start: Any, length: Any) -> Column:
    """The `length` elements from position `start` (from 1; negative from the end); start 0 or a
    negative length is an error, as in Spark."""
    from tributary.errors import PySparkValueError

    s, b, n = _c(x), _col(start), _col(length)
    if isinstance(start, int) and not isinstance(start, bool) and start == 0:
        raise PySparkValueError("[INVALID_PARAMETER_VALUE.START] The value of parameter(s) `start` in `slice` is invalid: Expects a positive or a negative value for `start`, but got 0.")
    if isinstance(length, int) and not isinstance(length, bool) and length < 0:
        raise PySparkValueError(f"[INVALID_PARAMETER_VALUE.LENGTH] The value of parameter(s) `length` in `slice` is invalid: Expects `length` greater than or equal to 0, but got {length}.")

    def render(ctx: Any) -> str:
        a, st, ln = s._sql(ctx), b._sql(ctx), n._sql(ctx)
        # a column's value is checked as the query runs (a literal's, above)
        if isinstance(start, Column):
            st = _fails(f"{st} IS NULL OR {st} <> 0", f"CAST({st} AS BIGINT)",
                        "'[INVALID_PARAMETER_VALUE.START] The value of parameter(s) `start` in `slice` is invalid: Expects a positive or a negative value for `start`, but got ' || " + st)
        if isinstance(length, Column):
            ln = _fails(f"{ln} IS NULL OR {ln} >= 0", f"CAST({ln} AS BIGINT)",
                        "'[INVALID_PARAMETER_VALUE.LENGTH] The value of parameter(s) `length` in `slice` is invalid: Expects `length` greater than or equal to 0, but got ' || " + ln)
        first = f"(CASE WHEN {st} > 0 THEN {st} ELSE CAST(array_length({a}) AS BIGINT) + {st} + 1 END)"
        return (
            f"CASE WHEN {st} IS NULL OR {ln} IS NULL THEN NULL WHEN {first} < 1 THEN array_slice({a}, 1, 0) "
            f"ELSE array_slice({a}, {first}, {first} + {ln} - 1) END"
        )

    return Column(render, f"slice({s._spark_name}, {b._spark_name}, {n._spark_name})", agg=s._agg or b._agg or n._agg)


def flatten(c: Any) -> Column:
    """The arrays of an array of arrays as one array; NULL when one of them is NULL (Spark)."""
    s = _c(c)
    return Column(
        lambda ctx: (
            f"CASE WHEN array_length(array_compact({s._sql(ctx)})) < array_length({s._sql(ctx)}) THEN NULL "
            f"ELSE flatten({s._sql(ctx)}) END"
        ),
        f"flatten({s._spark_name})",
        agg=s._agg,
    )


def array_max(c: Any) -> Column:
    """The greatest element, NULLs skipped; NULL for an empty array."""
    s = _c(c)
    return _fn("array_max", [s])._with(agg=s._agg)


def array_min(c: Any) -> Column:
    """The least element, NULLs skipped; NULL for an empty array."""
    s = _c(c)
    return _fn("array_min", [s])._with(agg=s._agg)


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
    """Half away from zero, as Spark: a double is rounded as the decimal it prints
    (``round(1.005, 2)`` is 1.01); an integer keeps its type (a negative ``scale`` rounds to tens,
    hundreds, ...); a DECIMAL gets ``scale`` decimals."""
    return _fn("round", [_c(c), _places(scale)])


def bround(c: Any, scale: int = 0) -> Column:
    """Like :func:`round`, with a tie going to the even neighbour (``bround(2.5)`` is 2.0)."""
    return _fn("bround", [_c(c), _places(scale)])


def _places(scale: Any) -> Any:
    """round's number of decimals as a plain SQL number: the engine reads it while planning, to
    give a DECIMAL its result type (a CAST would hide it). None is 0, as in PySpark; lit(n) is
    n."""
    if scale is None:
        scale = 0
    if isinstance(scale, Column) and isinstance(getattr(scale, "_lit", None), int):
        scale = scale._lit  # type: ignore[attr-defined]
    if isinstance(scale, int) and not isinstance(scale, bool):
        return Column(lambda ctx: str(scale), str(scale))
    return scale


def abs(c: Any) -> Column:
    return _fn("abs", [_c(c)])


# Spark's try_ arithmetic: NULL where the operator would raise (an overflow, a zero divisor).
def try_add(left: Any, right: Any) -> Column: return _fn("try_add", [_c(left), _c(right)])
def try_subtract(left: Any, right: Any) -> Column: return _fn("try_subtract", [_c(left), _c(right)])
def try_multiply(left: Any, right: Any) -> Column: return _fn("try_multiply", [_c(left), _c(right)])
def try_divide(left: Any, right: Any) -> Column: return _fn("try_divide", [_c(left), _c(right)])
def try_mod(left: Any, right: Any) -> Column: return _fn("try_mod", [_c(left), _c(right)])


def pmod(dividend: Any, divisor: Any) -> Column:
    """The positive remainder (Spark's): `a % b`, plus `b` when that is negative; by zero,
    [REMAINDER_BY_ZERO]."""
    a, b = (_c(x) if isinstance(x, str) else _col(x) for x in (dividend, divisor))

    def render(ctx: Any) -> str:
        r = f"spark_mod({a._sql(ctx)}, {b._sql(ctx)})"
        return f"CASE WHEN {r} < 0 THEN spark_mod({r} + {b._sql(ctx)}, {b._sql(ctx)}) ELSE {r} END"

    return Column(render, f"pmod({a._spark_name}, {b._spark_name})", agg=a._agg or b._agg)


def sqrt(c: Any) -> Column:
    """The square root, a double; NaN for a negative number (as Spark; the engine's fails)."""
    return _unary_double(c, "SQRT", lambda x: f"sqrt(CASE WHEN {x} < 0 THEN CAST('NaN' AS DOUBLE) ELSE {x} END)")


def floor(c: Any) -> Column:
    """The greatest integer at or below the value: a BIGINT of an integer, FLOAT or DOUBLE (NaN is
    0; past BIGINT's range [ARITHMETIC_OVERFLOW]), a ``DECIMAL(p - s + 1, 0)`` of a
    ``DECIMAL(p, s)``, as Spark."""
    return _fn("spark_floor", [_c(c)], "FLOOR")


def ceil(c: Any) -> Column:
    """The least integer at or above the value, typed as :func:`floor` types it."""
    return _fn("spark_ceil", [_c(c)], "CEIL")


def isnan(c: Any) -> Column:
    """Whether the value is NaN: false for NULL (as in Spark), and for any integer."""
    s = _c(c)
    return Column(
        lambda ctx: f"coalesce(isnan(CAST({s._sql(ctx)} AS DOUBLE)), FALSE)",
        f"isnan({s._spark_name})",
        agg=s._agg,
    )


# -- more math, strings and aggregates (Spark's names, types and NULL/NaN handling) ------------

def _double(c: Column, ctx: Any) -> str:
    return f"CAST({c._sql(ctx)} AS DOUBLE)"


def _unary_double(c: Any, spark_name: str, body: Any) -> Column:
    """`body(x)` (SQL of the DOUBLE `x`), named ``SPARK_NAME(c)``."""
    s = _c(c)
    return Column(lambda ctx: body(_double(s, ctx)), f"{spark_name}({s._spark_name})", agg=s._agg)


def signum(c: Any) -> Column:
    """-1.0, 0.0 or 1.0 by the sign (a DOUBLE); a zero as it is (-0.0 stays), NaN for NaN."""
    return _unary_double(c, "SIGNUM", lambda x: f"CASE WHEN signum({x}) = 0 THEN {x} ELSE signum({x}) END")


def degrees(col: Any) -> Column:
    """Radians in degrees (a DOUBLE: x * 57.29577951308232, as Java's toDegrees)."""
    return _unary_double(col, "DEGREES", lambda x: f"degrees({x})")


def radians(col: Any) -> Column:
    """Degrees in radians (a DOUBLE: x * 0.017453292519943295, as Java's toRadians)."""
    return _unary_double(col, "RADIANS", lambda x: f"radians({x})")


toDegrees = degrees
toRadians = radians


def e() -> Column:
    """Euler's number, a DOUBLE."""
    return Column(lambda ctx: "CAST(2.718281828459045 AS DOUBLE)", "E()")


def pi() -> Column:
    """Pi, a DOUBLE."""
    return Column(lambda ctx: "CAST(3.141592653589793 AS DOUBLE)", "PI()")


# Transcendental functions: the engine's (Rust's libm) may differ from Java's in the last bit of
# a double, as Java's own Math and StrictMath do; names, types and NULL/NaN rules are Spark's.

def exp(col: Any) -> Column: return _unary_double(col, "EXP", lambda x: f"exp({x})")
def cbrt(col: Any) -> Column: return _unary_double(col, "CBRT", lambda x: f"cbrt({x})")
def log1p(col: Any) -> Column: return _unary_double(col, "LOG1P", lambda x: f"log1p({x})")
def sin(col: Any) -> Column: return _unary_double(col, "SIN", lambda x: f"sin({x})")
def cos(col: Any) -> Column: return _unary_double(col, "COS", lambda x: f"cos({x})")
def tan(col: Any) -> Column: return _unary_double(col, "TAN", lambda x: f"tan({x})")
def asin(col: Any) -> Column: return _unary_double(col, "ASIN", lambda x: f"asin({x})")
def acos(col: Any) -> Column: return _unary_double(col, "ACOS", lambda x: f"acos({x})")
def atan(col: Any) -> Column: return _unary_double(col, "ATAN", lambda x: f"atan({x})")


# NULL for a value at or below 0 (NaN compares above every number, so its log is NaN).
def log10(col: Any) -> Column:
    return _unary_double(col, "LOG10", lambda x: f"CASE WHEN {x} > 0 THEN log10({x}) END")


def log2(col: Any) -> Column:
    return _unary_double(col, "LOG2", lambda x: f"CASE WHEN {x} > 0 THEN ln({x}) / ln(2.0) END")


def log(arg1: Any, arg2: Any = None) -> Column:
    """`log(col)`: the natural logarithm (named ``ln(col)``); `log(base, col)`: the logarithm
    in `base`. NULL for a value or base at or below 0."""
    if arg2 is None:
        return _unary_double(arg1, "ln", lambda x: f"CASE WHEN {x} > 0 THEN ln({x}) END")
    s = _c(arg2)
    b = _col(float(arg1)) if isinstance(arg1, (int, float)) and not isinstance(arg1, bool) else _c(arg1)

    def render(ctx: Any) -> str:
        x, base = _double(s, ctx), _double(b, ctx)
        return f"CASE WHEN {x} > 0 AND {base} > 0 THEN ln({x}) / ln({base}) END"

    return Column(render, f"LOG({b._spark_name}, {s._spark_name})", agg=s._agg or b._agg)


def _binary_double(a: Any, b: Any, spark_name: str, body: Any) -> Column:
    x, y = (v if isinstance(v, Column) else _c(v) if isinstance(v, str) else _col(v) for v in (a, b))
    return Column(
        lambda ctx: body(_double(x, ctx), _double(y, ctx)),
        f"{spark_name}({x._spark_name}, {y._spark_name})",
        agg=x._agg or y._agg,
    )


def pow(col1: Any, col2: Any) -> Column:
    """`col1` to the power `col2`, a DOUBLE, with Java's special cases: anything to NaN and
    (+-1) to +-infinity are NaN, 0 to a negative power is infinity."""
    inf = "CAST('inf' AS DOUBLE)"
    return _binary_double(col1, col2, "POWER", lambda x, y: (
        f"CASE WHEN {x} IS NOT NULL AND isnan({y}) THEN CAST('NaN' AS DOUBLE) "
        f"WHEN abs({x}) = 1 AND abs({y}) = {inf} THEN CAST('NaN' AS DOUBLE) "
        # -0.0 to a negative odd integer is -infinity (its sign read through atan2).
        f"WHEN {x} = 0 AND {y} < 0 THEN CASE WHEN atan2({x}, -1.0) < 0 AND {y} = trunc({y}) "
        f"AND {y} % 2 <> 0 THEN -{inf} ELSE {inf} END ELSE power({x}, {y}) END"))


power = pow


def hypot(col1: Any, col2: Any) -> Column:
    """sqrt(col1² + col2²), without overflow or underflow on the way (a DOUBLE)."""
    return _binary_double(col1, col2, "HYPOT", lambda x, y: f"hypot({x}, {y})")


def atan2(col1: Any, col2: Any) -> Column:
    """The angle of the point (`col2`, `col1`), as Spark computes it (a -0.0 counts as 0.0)."""
    return _binary_double(col1, col2, "ATAN2", lambda y, x: f"atan2({y} + 0.0, {x} + 0.0)")


def _extreme(sql_name: str, cols: tuple) -> Column:
    from tributary.errors import PySparkValueError

    if len(cols) == 1 and isinstance(cols[0], (list, tuple)):
        cols = tuple(cols[0])
    if len(cols) < 2:
        raise PySparkValueError(
            f"[WRONG_NUM_COLUMNS] Function `{sql_name}` should take at least 2 columns."
        )
    return _fn(sql_name, [_c(c) for c in cols])._with(agg=any(_c(c)._agg for c in cols))


def greatest(*cols: Any) -> Column:
    """The greatest of the values, NULLs skipped (NULL when all are); NaN is above every number.
    The type is the inputs' common type (int and double: double)."""
    return _extreme("greatest", cols)


def least(*cols: Any) -> Column:
    """The least of the values, NULLs skipped (NULL when all are); NaN is above every number."""
    return _extreme("least", cols)


def nanvl(col1: Any, col2: Any) -> Column:
    """`col1`, or `col2` where `col1` is NaN (a DOUBLE; NULL where the value taken is NULL)."""
    a, b = _c(col1), _c(col2)
    return Column(
        lambda ctx: f"nanvl({_double(a, ctx)}, {_double(b, ctx)})",
        f"nanvl({a._spark_name}, {b._spark_name})",
        agg=a._agg or b._agg,
    )


def _not_negative(n: str) -> str:
    """A count as a BIGINT, 0 for a negative one (the engine's lpad fails on those), NULL for
    NULL."""
    return f"(CASE WHEN {n} < 0 THEN CAST(0 AS BIGINT) ELSE CAST({n} AS BIGINT) END)"


def _pad(sql_name: str, col: Any, len: Any, pad: Any) -> Column:
    s, n, p = _c(col), _col(len), _col(pad)
    return Column(
        lambda ctx: f"{sql_name}({s._sql(ctx)}, {_not_negative(n._sql(ctx))}, {p._sql(ctx)})",
        f"{sql_name}({s._spark_name}, {n._spark_name}, {p._spark_name})",
        agg=s._agg or n._agg or p._agg,
    )


def lpad(col: Any, len: Any, pad: Any) -> Column:
    """The string padded on the left with `pad` (repeated, the last copy cut) to `len`
    characters, or cut to its first `len` characters; '' for a `len` below 1; the string as it
    is (cut to `len`) for an empty `pad`."""
    return _pad("lpad", col, len, pad)


def rpad(col: Any, len: Any, pad: Any) -> Column:
    """As lpad, the padding on the right."""
    return _pad("rpad", col, len, pad)


def repeat(col: Any, n: Any) -> Column:
    """The string `n` times; '' for `n` below 1 (a number is taken as Spark writes it)."""
    s, k = _c(col), _col(n)

    return Column(
        lambda ctx: f"repeat({_text_of(s._sql(ctx))}, {_not_negative(k._sql(ctx))})",
        f"repeat({s._spark_name}, {k._spark_name})",
        agg=s._agg or k._agg,
    )


def translate(srcCol: Any, matching: str, replace: str) -> Column:
    """Each character of `matching` in the string replaced by the character at its place in
    `replace` (deleted when `replace` is shorter; the first of repeated characters counts)."""
    s = _c(srcCol)
    return Column(
        lambda ctx: f"translate({s._sql(ctx)}, {sql_literal(matching)}, {sql_literal(replace)})",
        f"translate({s._spark_name}, {matching}, {replace})",
        agg=s._agg,
    )


def _is_text(x: str) -> str:
    return f"arrow_typeof({x}) IN ('Utf8', 'LargeUtf8', 'Utf8View')"


def _text_of(x: str) -> str:
    """`x` as text: a string as it is, anything else as Spark writes it."""
    return f"CASE WHEN {_is_text(x)} THEN CAST({x} AS VARCHAR) ELSE {_spark_text(x)} END"


def ascii(col: Any) -> Column:
    """The code point of the first character (an INT); 0 for ''. A number is taken as Spark
    writes it as text."""
    s = _c(col)

    def render(ctx: Any) -> str:
        return f"CAST(ascii({_text_of(s._sql(ctx))}) AS INT)"

    return Column(render, f"ascii({s._spark_name})", agg=s._agg)


def hex(col: Any) -> Column:
    """Upper-case hexadecimal: of an integer as a BIGINT (its two's complement, -1 is
    FFFFFFFFFFFFFFFF), or of the bytes of a string (UTF-8) or binary. (Spark also takes a
    double, decimal or boolean; the engine cannot plan those here.)"""
    s = _c(col)

    def render(ctx: Any) -> str:
        x = s._sql(ctx)
        t = f"arrow_typeof({x})"
        return (
            f"CASE WHEN {t} ~ '^U?Int(8|16|32|64)$' THEN upper(to_hex(CAST(CAST({x} AS VARCHAR) AS BIGINT))) "
            f"WHEN {t} = 'Null' THEN CAST(NULL AS VARCHAR) "
            f"ELSE upper(encode(CAST({x} AS BYTEA), 'hex')) END"
        )

    return Column(render, f"hex({s._spark_name})", agg=s._agg)


def unhex(col: Any) -> Column:
    """The bytes that the hexadecimal digits stand for (a BINARY; an odd count of digits has a
    0 put before); NULL for text that is not hexadecimal digits."""
    s = _c(col)

    def render(ctx: Any) -> str:
        x = f"CAST({s._sql(ctx)} AS VARCHAR)"
        even = f"CASE WHEN character_length({x}) % 2 = 1 THEN '0' || {x} ELSE {x} END"
        return f"CASE WHEN {x} ~ '^[0-9A-Fa-f]*$' THEN decode({even}, 'hex') ELSE CAST(NULL AS BYTEA) END"

    return Column(render, f"unhex({s._spark_name})", agg=s._agg)


def stddev_pop(col: Any) -> Column: return _fn("stddev_pop", [_c(col)], agg=True)
def stddev_samp(col: Any) -> Column: return _fn("stddev_samp", [_c(col)], agg=True)
def var_pop(col: Any) -> Column: return _fn("var_pop", [_c(col)], agg=True)
def var_samp(col: Any) -> Column: return _fn("var_samp", [_c(col)], agg=True)
def covar_pop(col1: Any, col2: Any) -> Column: return _fn("covar_pop", [_c(col1), _c(col2)], agg=True)
def covar_samp(col1: Any, col2: Any) -> Column: return _fn("covar_samp", [_c(col1), _c(col2)], agg=True)


# Spark's running central moments, to the last bit on one partition; NULL without variance.
def skewness(col: Any) -> Column: return _fn("skewness", [_c(col)], agg=True)
def kurtosis(col: Any) -> Column: return _fn("kurtosis", [_c(col)], agg=True)
def corr(col1: Any, col2: Any) -> Column: return _fn("corr", [_c(col1), _c(col2)], agg=True)


def sum_distinct(col: Any) -> Column:
    """The sum of the distinct values (NULLs skipped), of sum's type."""
    return _fn("sum", [_c(col)], agg=True, distinct=True)


sumDistinct = sum_distinct


def format_number(col: Any, d: int) -> Column:
    """The number rounded to `d` decimals and written with thousands separators
    (``1,234,567.89``), as Java's DecimalFormat: half to even by the double's exact value (0.125
    gives 0.12, 0.005 gives 0.01, since that double is a little above 0.005); NULL for a
    negative `d`."""
    s = _c(col)
    name = f"format_number({s._spark_name}, {d})"
    if not isinstance(d, int) or isinstance(d, bool):
        raise not_supported("format_number with a pattern", "give the number of decimals as an int")
    if d < 0:
        return Column(lambda ctx: "CAST(NULL AS VARCHAR)", name, agg=s._agg)
    if d > 22:
        raise not_supported("format_number with more than 22 decimals", "round to fewer decimals")
    scale = 10.0 ** d  # exact up to 22 decimals
    split = 134217729.0 * scale  # Veltkamp's split of the scale into two halves of 26 bits
    scale_hi = split - (split - scale)
    scale_lo = scale - scale_hi

    def render(ctx: Any) -> str:
        x = f"CAST({s._sql(ctx)} AS DOUBLE)"
        p = f"({x} * {scale!r})"
        f = f"floor({p})"
        frac = f"({p} - {f})"
        # At a tie of the rounded product, the product's rounding error (Dekker's exact
        # product) says whether the exact value is above or below it.
        c = f"(134217729.0 * {x})"
        hi = f"({c} - ({c} - {x}))"
        lo = f"({x} - {hi})"
        err = f"((({hi} * {scale_hi!r} - {p}) + {hi} * {scale_lo!r} + {lo} * {scale_hi!r}) + {lo} * {scale_lo!r})"
        rounded = (
            f"(CASE WHEN {frac} > 0.5 THEN {f} + 1 WHEN {frac} < 0.5 THEN {f} "
            f"WHEN {err} > 0 THEN {f} + 1 WHEN {err} < 0 THEN {f} ELSE {f} + abs({f} % 2) END)"
        )
        n = f"abs({rounded})"
        fraction = f"({n} % {scale!r})"
        whole = f"CAST(CAST(({n} - {fraction}) / {scale!r} AS DECIMAL(38, 0)) AS VARCHAR)"
        grouped = f"reverse(rtrim(regexp_replace(reverse({whole}), '([0-9]{{3}})', '${{1}},', 'g'), ','))"
        text = grouped if d == 0 else f"{grouped} || '.' || lpad(CAST(CAST({fraction} AS BIGINT) AS VARCHAR), {d}, '0')"
        negative = f"({x} < 0 OR ({x} = 0 AND 1.0 / {x} < 0))"  # -0.0 too, as Java
        return (
            f"CASE WHEN isnan({x}) THEN 'NaN' WHEN {x} = CAST('inf' AS DOUBLE) THEN '\u221e' "
            f"WHEN {x} = CAST('-inf' AS DOUBLE) THEN '-\u221e' "
            f"ELSE CASE WHEN {negative} THEN '-' ELSE '' END || {text} END"
        )

    return Column(render, name, agg=s._agg)


def md5(c: Any) -> Column:
    return _fn("md5", [_c(c)])


def sha1(col: Any) -> Column:
    """The SHA-1 digest of a binary, or of a string's UTF-8 bytes, as 40 hexadecimal digits."""
    return _fn("sha1", [_c(col)])


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
    s = _c(c)  # a BIGINT, as Spark's (the engine's count is unsigned)
    col = Column(lambda ctx: f"CAST(approx_distinct({s._sql(ctx)}) AS BIGINT)", f"approx_count_distinct({s._spark_name})", agg=True)
    col._over_sql = lambda ctx, over: f"CAST(approx_distinct({s._sql(ctx)}) {over} AS BIGINT)"  # type: ignore[attr-defined]
    return col


approxCountDistinct = approx_count_distinct


def sum(c: Any) -> Column: return _fn("sum", [_c(c)], agg=True)
def try_sum(c: Any) -> Column: return _fn("try_sum", [_c(c)], agg=True)
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


def max_by(col: Any, ord: Any) -> Column:
    """The `col` of the row with the greatest `ord` (rows with a NULL `ord` left out)."""
    return _value_by(col, ord, "DESC", "max_by")


def min_by(col: Any, ord: Any) -> Column:
    """The `col` of the row with the least `ord` (rows with a NULL `ord` left out)."""
    return _value_by(col, ord, "ASC", "min_by")


def _value_by(col: Any, ord: Any, order: str, name: str) -> Column:
    v, o = _c(col), _c(ord)
    return Column(
        lambda ctx: f"first_value({v._sql(ctx)} ORDER BY {o._sql(ctx)} {order}) FILTER (WHERE {o._sql(ctx)} IS NOT NULL)",
        f"{name}({v._spark_name}, {o._spark_name})",
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


# -- more of PySpark's functions (session 39) -----------------------------------------------------

def _call(spark_name: str, args: list, body: Any) -> Column:
    """`body(*sqls)` of the arguments (Columns), named ``spark_name(arg, ...)``."""
    return Column(
        lambda ctx: body(*(a._sql(ctx) for a in args)),
        f"{spark_name}({', '.join(a._spark_name for a in args)})",
        agg=any(a._agg for a in args),
    )


def ifnull(col1: Any, col2: Any) -> Column:
    """`col1`, or `col2` where `col1` is NULL (of the two's common type)."""
    return _call("ifnull", [_c(col1), _c(col2)], lambda a, b: f"coalesce({a}, {b})")


def nvl(col1: Any, col2: Any) -> Column:
    """As :func:`ifnull`."""
    return _call("nvl", [_c(col1), _c(col2)], lambda a, b: f"coalesce({a}, {b})")


def nvl2(col1: Any, col2: Any, col3: Any) -> Column:
    """`col2` where `col1` is not NULL, else `col3`."""
    return _call("nvl2", [_c(col1), _c(col2), _c(col3)],
                 lambda a, b, c: f"CASE WHEN {a} IS NOT NULL THEN {b} ELSE {c} END")


def nullif(col1: Any, col2: Any) -> Column:
    """NULL where `col1` equals `col2`, else `col1`."""
    return _call("nullif", [_c(col1), _c(col2)], lambda a, b: f"CASE WHEN {a} = {b} THEN NULL ELSE {a} END")


def nullifzero(col: Any) -> Column:
    """NULL for a zero (-0.0 too), else the value."""
    return _call("nullifzero", [_c(col)], lambda a: f"CASE WHEN {a} = 0 THEN NULL ELSE {a} END")


def zeroifnull(col: Any) -> Column:
    """0 for NULL, else the value (of the value's type)."""
    # 0 an INT, as Spark's: a smaller integer widens to INT, a wider type keeps its own
    return _call("zeroifnull", [_c(col)], lambda a: f"coalesce({a}, CAST(0 AS INT))")


def sign(col: Any) -> Column:
    """As :func:`signum`, named ``sign(col)``."""
    return signum(col)._with(spark_name=f"sign({_c(col)._spark_name})")


def ceiling(col: Any) -> Column:
    """The least integer at or above the value: Spark's :func:`ceil` under its other name."""
    return _fn("spark_ceil", [_c(col)], "ceiling")


def ln(col: Any) -> Column:
    """The natural logarithm (a DOUBLE); NULL at or below 0."""
    return log(col)


def negative(col: Any) -> Column:
    """The value negated (of its type)."""
    return _call("negative", [_c(col)], lambda a: f"(- {a})")


def positive(col: Any) -> Column:
    """The value as it is, named ``(+ col)``."""
    s = _c(col)
    return Column(lambda ctx: s._sql(ctx), f"(+ {s._spark_name})", agg=s._agg)


def left(str: Any, len: Any) -> Column:
    """The first `len` characters; '' for `len` below 1."""
    return _call("left", [_c(str), _c(len)], lambda s, n: (
        f"CASE WHEN {n} IS NULL THEN NULL WHEN {n} < 1 THEN substr({s}, 1, 0) "
        f"ELSE substr({s}, 1, CAST({n} AS BIGINT)) END"))


def right(str: Any, len: Any) -> Column:
    """The last `len` characters; '' for `len` below 1."""
    return _call("right", [_c(str), _c(len)], lambda s, n: (
        f"CASE WHEN {n} IS NULL THEN NULL WHEN {n} < 1 THEN substr({s}, 1, 0) "
        f"ELSE substr({s}, greatest(CAST(character_length({s}) AS BIGINT) - CAST({n} AS BIGINT), 0) + 1) END"))


def startswith(str: Any, prefix: Any) -> Column:
    """Whether the string starts with `prefix` (NULL if either is NULL; strings, not binaries)."""
    return _call("startswith", [_c(str), _c(prefix)], lambda s, p: f"starts_with({s}, {p})")


def endswith(str: Any, suffix: Any) -> Column:
    """Whether the string ends with `suffix` (NULL if either is NULL; strings, not binaries)."""
    return _call("endswith", [_c(str), _c(suffix)], lambda s, p: f"ends_with({s}, {p})")


def contains(left: Any, right: Any) -> Column:
    """Whether `right` is in the string `left` (NULL if either is NULL; strings, not binaries)."""
    return _call("contains", [_c(left), _c(right)], lambda s, p: f"(strpos({s}, {p}) > 0)")


def char_length(str: Any) -> Column:
    """The number of characters (an INT)."""
    return _call("char_length", [_c(str)], lambda s: f"CAST(character_length({s}) AS INT)")


def character_length(str: Any) -> Column:
    """As :func:`char_length`."""
    return char_length(str)._with(spark_name=f"character_length({_c(str)._spark_name})")


def octet_length(col: Any) -> Column:
    """The number of bytes of a string (UTF-8) or binary (an INT)."""
    return _call("octet_length", [_c(col)], lambda s: f"CAST(character_length(encode({s}, 'hex')) / 2 AS INT)")


def bit_length(col: Any) -> Column:
    """The number of bits of a string (UTF-8) or binary, 8 a byte (an INT)."""
    return _call("bit_length", [_c(col)], lambda s: f"CAST(character_length(encode({s}, 'hex')) * 4 AS INT)")


def btrim(str: Any, trim: Any = None) -> Column:
    """The string without the spaces (or the characters of `trim`) at both ends."""
    if trim is None:
        return _call("btrim", [_c(str)], lambda s: f"btrim({s}, ' ')")
    return _call("btrim", [_c(str), _c(trim)], lambda s, t: f"btrim({s}, {t})")


def lcase(str: Any) -> Column:
    return _call("lcase", [_c(str)], lambda s: f"lower({s})")


def ucase(str: Any) -> Column:
    return _call("ucase", [_c(str)], lambda s: f"upper({s})")


def substr(str: Any, pos: Any, len: Any = None) -> Column:
    """As :func:`substring`, `pos` and `len` columns (names) or Columns; to the end without
    `len`."""
    s, p = _c(str), _c(pos)
    n = _c(len) if len is not None else _col(2147483647)
    return _substring(s, p, n)._with(spark_name=f"substr({s._spark_name}, {p._spark_name}, {n._spark_name})",
                                     agg=s._agg or p._agg or n._agg)


# Hyperbolic functions (a DOUBLE; the last bit may differ from Java's, as for sin and cos).
def sinh(col: Any) -> Column: return _unary_double(col, "SINH", lambda x: f"sinh({x})")
def cosh(col: Any) -> Column: return _unary_double(col, "COSH", lambda x: f"cosh({x})")
def tanh(col: Any) -> Column: return _unary_double(col, "TANH", lambda x: f"tanh({x})")
def asinh(col: Any) -> Column: return _unary_double(col, "ASINH", lambda x: f"asinh({x})")


def acosh(col: Any) -> Column:
    """NaN below 1, as Java."""
    return _unary_double(col, "ACOSH", lambda x: f"CASE WHEN {x} < 1 THEN CAST('NaN' AS DOUBLE) ELSE acosh({x}) END")


def atanh(col: Any) -> Column:
    """NaN outside [-1, 1] (and at +-1 +-infinity), as Java."""
    return _unary_double(col, "ATANH", lambda x: f"CASE WHEN abs({x}) > 1 THEN CAST('NaN' AS DOUBLE) ELSE atanh({x}) END")


def rint(col: Any) -> Column:
    """The nearest whole number as a DOUBLE, a tie to the even one; a zero keeps the value's
    sign (rint(-0.4) is -0.0), NaN and the infinities stay."""
    def body(x: str) -> str:
        f = f"floor({x})"
        d = f"({x} - {f})"  # exact for any double with a fraction
        near = f"(CASE WHEN {d} > 0.5 THEN {f} + 1 WHEN {d} < 0.5 THEN {f} WHEN {f} % 2 = 0 THEN {f} ELSE {f} + 1 END)"
        return (f"CASE WHEN isnan({x}) OR abs({x}) = CAST('inf' AS DOUBLE) THEN {x} "
                f"WHEN {near} = 0 THEN {x} * 0.0 ELSE {near} END")
    return _unary_double(col, "rint", body)


def factorial(col: Any) -> Column:
    """n! as a BIGINT for n from 0 to 20; NULL otherwise."""
    return _call("factorial", [_c(col)], lambda n: (
        f"CASE WHEN {n} >= 0 AND {n} <= 20 THEN CAST(factorial(CAST({n} AS BIGINT)) AS BIGINT) END"))


# -- arrays and maps

def array_size(col: Any) -> Column:
    """The number of elements (an INT); NULL for NULL."""
    return _call("array_size", [_c(col)], lambda a: (
        f"CAST(CASE WHEN {a} IS NULL THEN NULL ELSE array_length(flatten(make_array({a}))) END AS INT)"))


def cardinality(col: Any) -> Column:
    """As :func:`size`: the elements of an array or entries of a map; NULL for NULL."""
    return size(col)._with(spark_name=f"cardinality({_c(col)._spark_name})")


def array_position(col: Any, value: Any) -> Column:
    """The position (from 1, a BIGINT) of the first `value` in the array; 0 when it is not
    there; NULL when the array or the value is NULL. NaN finds NaN; a literal 0.0 or -0.0
    finds either zero, as in Spark (a column's zero finds only the zero of its sign)."""
    v = _col(value)
    zero = isinstance(getattr(v, "_lit", None), float) and v._lit == 0  # type: ignore[attr-defined]

    def body(a: str, x: str) -> str:
        found = f"array_position({a}, {x})"
        if zero:
            found = f"least(array_position({a}, 0.0), array_position({a}, -0.0))"
        return f"CAST(CASE WHEN {a} IS NULL OR {x} IS NULL THEN NULL ELSE coalesce({found}, 0) END AS BIGINT)"

    return _call("array_position", [_c(col), v], body)


def array_remove(col: Any, element: Any) -> Column:
    """The array without the elements equal to `element` (NULLs kept); NULL for a NULL
    `element`."""
    return _call("array_remove", [_c(col), _col(element)], lambda a, v: (
        f"CASE WHEN {v} IS NULL THEN NULL ELSE array_remove_all({a}, {v}) END"))


def array_compact(col: Any) -> Column:
    """The array without its NULLs."""
    return _call("array_compact", [_c(col)], lambda a: f"array_compact({a})")


def array_union(col1: Any, col2: Any) -> Column:
    """The distinct elements of both arrays, in order of first appearance (one NULL)."""
    return _call("array_union", [_c(col1), _c(col2)], lambda a, b: (
        f"CASE WHEN {a} IS NULL OR {b} IS NULL THEN NULL ELSE array_union({a}, {b}) END"))


def array_intersect(col1: Any, col2: Any) -> Column:
    """The distinct elements of `col1` that are in `col2`, in `col1`'s order."""
    return _call("array_intersect", [_c(col1), _c(col2)], lambda a, b: (
        f"CASE WHEN {a} IS NULL OR {b} IS NULL THEN NULL ELSE array_intersect({a}, {b}) END"))


def array_except(col1: Any, col2: Any) -> Column:
    """The distinct elements of `col1` that are not in `col2`, in order."""
    return _call("array_except", [_c(col1), _c(col2)], lambda a, b: (
        f"CASE WHEN {a} IS NULL OR {b} IS NULL THEN NULL ELSE array_except({a}, {b}) END"))


def arrays_overlap(a1: Any, a2: Any) -> Column:
    """Whether the arrays share an element that is not NULL; NULL when they share none but both
    have elements and one has a NULL (or either is NULL)."""
    def body(a: str, b: str) -> str:
        n = lambda x: f"coalesce(array_length({x}), 0)"
        holes = lambda x: f"{n(f'array_compact({x})')} < {n(x)}"
        return (
            f"CASE WHEN {a} IS NULL OR {b} IS NULL THEN NULL "
            # (array_intersect takes -0.0 as 0.0, as Spark; array_has_any does not)
            f"WHEN {n(f'array_intersect(array_compact({a}), array_compact({b}))')} > 0 THEN TRUE "
            f"WHEN {n(a)} > 0 AND {n(b)} > 0 AND ({holes(a)} OR {holes(b)}) THEN NULL ELSE FALSE END"
        )
    return _call("arrays_overlap", [_c(a1), _c(a2)], body)


def array_append(col: Any, value: Any) -> Column:
    """The array with `value` (NULL too) added at the end; NULL for a NULL array."""
    return _call("array_append", [_c(col), _col(value)], lambda a, v: (
        f"CASE WHEN {a} IS NULL THEN NULL ELSE array_append({a}, {v}) END"))


def array_prepend(col: Any, value: Any) -> Column:
    """The array with `value` (NULL too) added at the start; NULL for a NULL array."""
    return _call("array_prepend", [_c(col), _col(value)], lambda a, v: (
        f"CASE WHEN {a} IS NULL THEN NULL ELSE array_prepend({v}, {a}) END"))


def map_keys(col: Any) -> Column:
    """The keys of the map, as an array."""
    return _call("map_keys", [_c(col)], lambda m: f"map_keys({m})")


def map_values(col: Any) -> Column:
    """The values of the map, as an array."""
    return _call("map_values", [_c(col)], lambda m: f"map_values({m})")


def try_element_at(col: Any, extraction: Any) -> Column:
    """As :func:`element_at`, with NULL for an index past the array's end (index 0 is still
    [INVALID_INDEX_OF_ZERO]). The extraction is a literal: an int for an array, a key for a
    map."""
    from tributary.errors import PySparkValueError

    s, k = _c(col), _col(extraction)
    key = getattr(k, "_lit", None)
    if not hasattr(k, "_lit"):
        raise not_supported("try_element_at with a column's value as the extraction", "give it as a literal")
    name = f"try_element_at({s._spark_name}, {k._spark_name})"
    if isinstance(key, int) and not isinstance(key, bool):
        if key == 0:
            raise PySparkValueError(_ZERO_INDEX)

        def render(ctx: Any) -> str:
            a = s._sql(ctx)
            n = f"CAST(array_length(flatten(make_array({a}))) AS BIGINT)"
            return f"CASE WHEN {key if key > 0 else -key} > {n} THEN NULL ELSE spark_element_at({a}, {k._sql(ctx)}) END"
    else:
        def render(ctx: Any) -> str:
            return f"spark_element_at({s._sql(ctx)}, {k._sql(ctx)})"

    return Column(render, name, agg=s._agg)


# -- aggregates

def _agg_call(spark_name: str, args: list, body: Any) -> Column:
    return _call(spark_name, args, body)._with(agg=True)


def bool_and(col: Any) -> Column:
    """Whether every value of the group is true (NULLs skipped; NULL with none)."""
    return _agg_call("bool_and", [_c(col)], lambda b: f"bool_and({b})")


def every(col: Any) -> Column:
    return bool_and(col)._with(spark_name=f"every({_c(col)._spark_name})")


def bool_or(col: Any) -> Column:
    """Whether a value of the group is true (NULLs skipped; NULL with none)."""
    return _agg_call("bool_or", [_c(col)], lambda b: f"bool_or({b})")


def some(col: Any) -> Column:
    return bool_or(col)._with(spark_name=f"some({_c(col)._spark_name})")


def count_if(col: Any) -> Column:
    """The number of rows where the condition is true (a BIGINT; 0 with none)."""
    return _agg_call("count_if", [_c(col)], lambda b: f"count(CASE WHEN {b} THEN 1 END)")


def _first_value(spark_name: str, sql_name: str, col: Any, ignoreNulls: Any) -> Column:
    s = _c(col)
    if isinstance(ignoreNulls, Column):
        ignoreNulls = getattr(ignoreNulls, "_lit", ignoreNulls)
    if not isinstance(ignoreNulls, (bool, type(None))):
        raise not_supported(f"{spark_name} with a column as ignoreNulls", "give True or False")
    nulls = " IGNORE NULLS" if ignoreNulls else ""
    return Column(lambda ctx: f"{sql_name}({s._sql(ctx)}{nulls})", f"{spark_name}({s._spark_name})", agg=True)


def any_value(col: Any, ignoreNulls: Any = None) -> Column:
    """A value of the group: the first one (the first that is not NULL with `ignoreNulls`)."""
    return _first_value("any_value", "first_value", col, ignoreNulls)


def first_value(col: Any, ignoreNulls: Any = None) -> Column:
    """The group's first value (the first that is not NULL with `ignoreNulls`)."""
    return _first_value("first_value", "first_value", col, ignoreNulls)


def last_value(col: Any, ignoreNulls: Any = None) -> Column:
    """The group's last value (the last that is not NULL with `ignoreNulls`)."""
    return _first_value("last_value", "last_value", col, ignoreNulls)


def median(col: Any) -> Column:
    """The median (a DOUBLE; the mean of the two middle values of an even count), NULLs
    skipped."""
    return _agg_call("median", [_c(col)], lambda x: f"median(CAST({x} AS DOUBLE))")


def std(col: Any) -> Column:
    """As :func:`stddev` (the sample standard deviation), named ``std(col)``."""
    return _fn("stddev", [_c(col)], "std", agg=True)


def try_avg(col: Any) -> Column:
    """The mean of a group's numbers (as :func:`avg`), named ``try_avg(col)``."""
    return _fn("avg", [_c(col)], "try_avg", agg=True)


# -- encodings, dates and times

def base64(col: Any) -> Column:
    """The string's UTF-8 bytes (or the binary) in base 64, padded with '='."""
    def body(x: str) -> str:
        e = f"encode({x}, 'base64')"
        return f"({e} || repeat('=', CAST((4 - character_length({e}) % 4) % 4 AS BIGINT)))"
    return _call("base64", [_c(col)], body)


def unbase64(col: Any) -> Column:
    """The bytes that base-64 text stands for (a BINARY), as Java's MIME decoder: characters
    that are not base 64 (spaces, line breaks) are skipped, the '=' padding is optional, and
    text that cannot end so (one character left over, a wrong padding, base 64 after the
    padding) is an error."""
    def body(x: str) -> str:
        t = f"CAST({x} AS VARCHAR)"
        data = f"regexp_replace(split_part({t}, '=', 1), '[^A-Za-z0-9+/]', '', 'g')"
        n = f"(character_length({data}) % 4)"
        at = f"strpos({t}, '=')"
        padded = f"({n} = 3 OR ({n} = 2 AND substr({t}, {at} + 1, 1) = '='))"
        ok = f"{t} IS NULL OR ({n} <> 1 AND NOT ({t} ~ '=.*[A-Za-z0-9+/]') AND ({at} = 0 OR {padded}))"
        return _fails(ok, f"decode({data}, 'base64')",
                      "'[unbase64] Input byte array has a wrong 4-byte ending unit'", "BYTEA")
    return _call("unbase64", [_c(col)], body)


def day(col: Any) -> Column:
    """The day of the month (an INT), as :func:`dayofmonth`."""
    return dayofmonth(col)._with(spark_name=f"day({_c(col)._spark_name})")


def _floor_div(x: str, n: int) -> str:
    return f"(CASE WHEN {x} < 0 AND {x} % {n} <> 0 THEN {x} / {n} - 1 ELSE {x} / {n} END)"


def unix_seconds(col: Any) -> Column:
    """The whole seconds since 1970-01-01 00:00:00 UTC (a BIGINT, rounded down)."""
    return _call("unix_seconds", [_c(col)], lambda t: _floor_div(f"CAST({t} AS BIGINT)", 1000000))


def unix_millis(col: Any) -> Column:
    """The whole milliseconds since the epoch (a BIGINT, rounded down)."""
    return _call("unix_millis", [_c(col)], lambda t: _floor_div(f"CAST({t} AS BIGINT)", 1000))


def unix_micros(col: Any) -> Column:
    """The microseconds since the epoch (a BIGINT)."""
    return _call("unix_micros", [_c(col)], lambda t: f"CAST({t} AS BIGINT)")


def timestamp_seconds(col: Any) -> Column:
    """The timestamp `col` seconds after the epoch (an integer, or a DOUBLE/FLOAT with a
    fraction, cut to whole microseconds toward zero)."""
    return _call("timestamp_seconds", [_c(col)], lambda x: (
        f"to_timestamp_micros(CASE WHEN arrow_typeof({x}) ~ '^Float' THEN CAST(CAST({x} AS DOUBLE) * 1000000.0 AS BIGINT) "
        f"ELSE CAST({x} AS BIGINT) * 1000000 END)"))


def timestamp_millis(col: Any) -> Column:
    """The timestamp `col` milliseconds after the epoch."""
    return _call("timestamp_millis", [_c(col)], lambda x: f"arrow_cast(to_timestamp_millis(CAST({x} AS BIGINT)), 'Timestamp(Microsecond, None)')")


def timestamp_micros(col: Any) -> Column:
    """The timestamp `col` microseconds after the epoch."""
    return _call("timestamp_micros", [_c(col)], lambda x: f"to_timestamp_micros(CAST({x} AS BIGINT))")


def make_date(year: Any, month: Any, day: Any) -> Column:
    """The date of the year, month and day (NULL if one is NULL; a day that does not exist is
    an error)."""
    return _call("make_date", [_c(year), _c(month), _c(day)],
                 lambda y, m, d: f"make_date(CAST({y} AS INT), CAST({m} AS INT), CAST({d} AS INT))")


def try_to_date(col: Any, format: Optional[str] = None) -> Column:
    """As :func:`to_date`, with NULL for text that does not read as a date (of the format)."""
    s = _c(col)
    if format is None:
        # Spark's text of a date: yyyy, yyyy-[m]m or yyyy-[m]m-[d]d, then anything after a space
        # or a 'T'; spaces around it. Made yyyy-mm-dd, then read (NULL for a day that is not).
        def body(x: str) -> str:
            m = f"regexp_match(CAST({x} AS VARCHAR), '^\\s*([0-9]{{4}})(?:-([0-9]{{1,2}})(?:-([0-9]{{1,2}})(?:[ T].*)?)?)?\\s*$')"
            part = lambda i: f"lpad(coalesce({m}[{i}], '1'), 2, '0')"
            return f"CAST(try_to_timestamp({m}[1] || '-' || {part(2)} || '-' || {part(3)}) AS DATE)"
        return _call("try_to_date", [s], body)
    f = sql_literal(_chrono(format))
    return Column(lambda ctx: f"CAST(try_to_timestamp({s._sql(ctx)}, {f}) AS DATE)",
                  f"try_to_date({s._spark_name}, {format})", agg=s._agg)


def expm1(col: Any) -> Column:
    """e^x - 1 (a DOUBLE), accurate for x near 0 too (below 1 in size, Kahan's
    (u - 1) * x / ln(u) with u = e^x); the last bit may differ from Java's, as for exp."""
    def body(x: str) -> str:
        u = f"exp({x})"
        return (
            f"CASE WHEN isnan({x}) THEN {x} WHEN {u} = 1.0 THEN {x} "
            f"WHEN abs({x}) >= 1.0 OR {u} = CAST('inf' AS DOUBLE) THEN {u} - 1.0 "
            f"ELSE ({u} - 1.0) * {x} / ln({u}) END"
        )
    return _unary_double(col, "EXPM1", body)


def product(col: Any) -> Column:
    """The product of the group's values (a DOUBLE), multiplied in order, NULLs skipped; NULL
    when there are none."""
    s = _c(col)

    def values(ctx: Any) -> str:
        x = s._sql(ctx)
        return f"array_agg(CAST({x} AS DOUBLE)) FILTER (WHERE {x} IS NOT NULL)"

    out = Column(lambda ctx: f"array_product({values(ctx)})", f"product({s._spark_name})", agg=True)
    out._over_sql = lambda ctx, over: f"array_product({values(ctx)} {over})"  # type: ignore[attr-defined]
    return out
