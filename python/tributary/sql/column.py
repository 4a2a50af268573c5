"""``Column``: an expression, rendered as SQL text in the engine's dialect when an operation runs.

A column is a function of a rendering context, a `Scope`: the columns of the inputs of the SQL
being planned, through which ``df1["id"] == df2["id"]`` resolves to the two sides of a join and
``F.col("a.id")`` to the column of the DataFrame aliased ``a``. Each column also carries the name
Spark would give it (``sum(amount)``, ``(a + 1)``), so unaliased results have Spark's column names.
"""

from __future__ import annotations

import datetime as _dt
import decimal as _decimal
import math
import re
import struct
from typing import Any, Callable, NamedTuple, Optional

from tributary.errors import AnalysisException

__all__ = ["Column"]


def quote(name: str) -> str:
    """An identifier, quoted (Spark's backticks)."""
    return "`" + name.replace("`", "``") + "`"


def sql_literal(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "CAST('NaN' AS DOUBLE)"
        if math.isinf(v):
            return "CAST('" + ("inf" if v > 0 else "-inf") + "' AS DOUBLE)"
        return repr(v)
    if isinstance(v, _decimal.Decimal):
        t = v.as_tuple()
        scale = max(0, -t.exponent) if isinstance(t.exponent, int) else 0
        return f"CAST('{v}' AS DECIMAL({max(len(t.digits), scale + 1)},{scale}))"
    if isinstance(v, _dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(_dt.timezone.utc).replace(tzinfo=None)
        return f"TIMESTAMP '{v.isoformat(sep=' ')}'"
    if isinstance(v, _dt.date):
        return f"DATE '{v.isoformat()}'"
    if isinstance(v, (bytes, bytearray)):
        return "X'" + bytes(v).hex() + "'"
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    if isinstance(v, (list, tuple)):
        return "make_array(" + ", ".join(sql_literal(x) for x in v) + ")"
    raise TypeError(f"{type(v).__name__} {v!r} cannot be a literal: use str, int, float, bool, date, datetime, Decimal or bytes")


class Field(NamedTuple):
    """A column of a DataFrame."""

    name: str  # its name, as the user sees it
    phys: str  # its name in the engine's plan: `name`, unless another column has that name too
    tags: frozenset  # what names it: ids of the DataFrames it is a column of, and aliases (str)
    # A side's key of a join on names that the joined DataFrame does not show (Spark's hidden
    # output): not in columns, rows or `*`, named only through its DataFrame (b.id, b["id"],
    # b["*"]) or alias (F.col("r.id"), "r.*").
    hidden: bool = False


class Scope:
    """The columns that the SQL being planned reads: each input's fields, with the alias that the
    input has in the SQL (None: the lone input of the FROM). A DataFrame's column (``df["x"]``,
    ``df.x``) resolves to that DataFrame's column x, ``F.col("a.x")`` to the column x of the
    DataFrame aliased a, and ``F.col("x")`` to the one column named x (two are ambiguous)."""

    def __init__(self, *sides: tuple, own: Optional[dict] = None, streaming: bool = False) -> None:
        self.sides = sides  # (alias or None, [Field])
        self.own = own or {}  # alias -> id of the DataFrame that the side is (a join's)
        self.streaming = streaming  # whether the SQL reads a stream

    def _all(self) -> list:
        return [(a, f) for a, fields in self.sides for f in fields]

    def sql(self, alias: Optional[str], f: Field) -> str:
        return quote(f.phys) if alias is None else f"{quote(alias)}.{quote(f.phys)}"

    def resolve(self, parts: list, df_id: Optional[int] = None, strict: bool = True) -> Optional[tuple]:
        """(alias, field, path) that a name split at its dots names: `a.x` is the column x of
        alias a if there is one, else the field path x of column a. None if no column has the
        name (the engine then reads it as written)."""
        tries = [(parts[0], parts[1], parts[2:])] if len(parts) > 1 else []
        hits: list = []
        for qual, name, path in tries + [(None, parts[0], parts[1:])]:
            hits = [(a, f) for a, f in self._all() if f.name == name and (
                qual in f.tags if qual is not None else not f.hidden or df_id in f.tags)]
            if hits:
                break
        if not hits:
            return None
        if df_id is not None:
            mine = [h for h in hits if df_id in h[1].tags]
            if mine:
                hits = mine
            elif any(df_id in f.tags for _, f in self._all()):
                # A column of a DataFrame that this one comes from, replaced on the way.
                if not strict:
                    return None
                raise _missing(hits[0][1].name)
        if len(hits) > 1 and df_id is not None:
            # A join of a DataFrame with one made from it: its column is its own side's.
            own = [h for h in hits if self.own.get(h[0]) == df_id]
            hits = own if len(own) == 1 else hits
        if len(hits) > 1:
            raise ambiguous(hits[0][1].name, [f for _, f in hits])
        return hits[0][0], hits[0][1], path

    def star(self, parts: list, df_id: Optional[int]) -> Optional[list]:
        """The (alias, field)s that `*` (of DataFrame df_id, if it is one of the inputs) or `a.*`
        (a an alias here) stands for; None if `a` is no alias here."""
        # A side's hidden key of a join on names first, as Spark (its key is the side's first
        # column, as a rule).
        if parts == ["*"]:
            mine = [h for h in self._all() if df_id is not None and df_id in h[1].tags]
            return _keys_first(mine) or [h for h in self._all() if not h[1].hidden]
        if len(parts) == 2 and parts[1] == "*":
            return _keys_first([h for h in self._all() if parts[0] in h[1].tags]) or None
        return None

    def text(self, sql: str) -> str:
        """SQL text of the user's (selectExpr, filter, F.expr) with `a.x` and `a.*` read as the
        columns of the DataFrame aliased a, as Spark reads them; the rest as written."""
        quals = {t for _, f in self._all() for t in f.tags if isinstance(t, str)}
        if not quals:
            return sql
        out = []
        for m in _SQL_TOKEN.finditer(sql):
            chain = m.group("chain")
            if chain is None:
                out.append(m.group(0))
                continue
            parts = [_unquote(p) for p in _SQL_PART.findall(chain)]
            rest = sql[m.end():].lstrip()
            if len(parts) < 2 or parts[0] not in quals or rest.startswith("("):
                out.append(chain)
            elif parts[1:] == ["*"]:
                out.append(", ".join(self.sql(a, f) for a, f in self.star(parts, None) or []))
            else:
                hits = [(a, f) for a, f in self._all() if f.name == parts[1] and parts[0] in f.tags]
                if len(hits) > 1:
                    raise ambiguous(parts[1], [f for _, f in hits])
                if not hits:
                    out.append(chain)
                else:
                    out.append(".".join([self.sql(*hits[0])] + [quote(p) for p in parts[2:]]))
        return "".join(out)


def _keys_first(hits: list) -> list:
    return [h for h in hits if h[1].hidden] + [h for h in hits if not h[1].hidden]


_IDENT = r'`(?:[^`]|``)*`|"(?:[^"]|"")*"|[A-Za-z_]\w*'
_SQL_PART = re.compile(rf"{_IDENT}|\*")
_SQL_TOKEN = re.compile(
    rf"[eE]'(?:[^'\\]|\\.|'')*'|'(?:[^']|'')*'|[0-9][\w.]*"
    rf"|(?P<chain>(?:{_IDENT})(?:\.(?:{_IDENT}|\*))*)|.",
    re.S,
)


def _unquote(part: str) -> str:
    if part[:1] in ("`", '"'):
        q = part[0]
        return part[1:-1].replace(q + q, q)
    return part


def sql_text(ctx: Any, sql: str) -> str:
    """The user's SQL text, its alias-qualified names resolved in `ctx`."""
    return ctx.text(sql) if isinstance(ctx, Scope) else sql


def _shown(f: Field) -> str:
    quals = sorted(t for t in f.tags if isinstance(t, str))
    return (f"`{quals[0]}`." if quals else "") + f"`{f.name}`"


def ambiguous(name: str, fields: list) -> AnalysisException:
    """Spark's error for a name that two columns have."""
    return AnalysisException(
        f"[AMBIGUOUS_REFERENCE] Reference `{name}` is ambiguous, could be: "
        f"[{', '.join(_shown(f) for f in fields)}]. Name the column through the DataFrame it "
        f"comes from (df['{name}'] of the side you mean, e.g. df1['{name}']), or alias the "
        f"DataFrames before the join (df1.alias('l')) and use F.col('l.{name}'), or rename one "
        f"side's column before the join."
    )


def _missing(name: str) -> AnalysisException:
    return AnalysisException(
        f"[MISSING_ATTRIBUTES.RESOLVED_ATTRIBUTE_APPEAR_IN_OPERATION] The DataFrame's column "
        f"`{name}` is not in this DataFrame: a step replaced it (withColumn, withColumnRenamed, "
        f"an expression) or left it out (a select without it, which also drops a side's key "
        f"of a join on names). Use F.col('{name}') for the column here, or select the column "
        f"before that step."
    )


def literal_name(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return java_float_text(v)
    return str(v)


def java_float_text(v: float, single: bool = False) -> str:
    """A double (`single`: a float) as Spark writes it, Java's toString: the fewest digits that
    read back as the value, plain with at least one decimal from 0.001 up to 1e7 (`100.0`),
    scientific outside (`1.0E20`, `1.0E-5`); `NaN`, `Infinity`. (The engine's spark_cast writes
    the same for the rows.)"""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    if v == 0:
        return "-0.0" if math.copysign(1.0, v) < 0 else "0.0"
    text = repr(v)
    if single:  # the fewest digits that read back as the same 32-bit float
        for p in range(1, 10):
            text = f"{v:.{p}g}"
            if struct.unpack("f", struct.pack("f", float(text)))[0] == v:
                break
    sign, digits, exp = _decimal.Decimal(text).as_tuple()
    ds = "".join(map(str, digits)).rstrip("0") or "0"
    e = len(digits) + int(exp) - 1  # the exponent of the first digit
    out = "-" if sign else ""
    if 1e-3 <= abs(v) < 1e7:
        if e >= 0:
            return out + ds[: e + 1].ljust(e + 1, "0") + "." + (ds[e + 1:] or "0")
        return out + "0." + "0" * (-e - 1) + ds
    return out + ds[0] + "." + (ds[1:] or "0") + "E" + str(e)


class Column:
    """An expression over the columns of a DataFrame."""

    # The name of the column it makes at the top of a select, where that is not its text
    # (`_spark_name`, its name inside other expressions): a cast of a column keeps the column's
    # name, as in Spark (`col("v").cast("double")` is `v`, `sum(col("v").cast("double"))`
    # is `sum(CAST(v AS DOUBLE))`).
    _top: Optional[str] = None

    def __init__(self, render: Callable[[Any], str], name: str, alias: Optional[str] = None,
                 sort: Optional[str] = None, agg: bool = False):
        self._render = render
        self._spark_name = name
        self._alias = alias
        self._sort = sort
        self._agg = agg

    # -- rendering ----------------------------------------------------------------------------

    def _sql(self, ctx: Optional[Scope] = None) -> str:
        return self._render(ctx)

    def _select_items(self, ctx: Optional[Scope] = None) -> list:
        """As select items: (SQL, name) pairs, the name its alias or Spark's name for it."""
        return [(self._sql(ctx), self._name())]

    def _name(self) -> str:
        """The name of the column it makes: its alias, or Spark's name for it."""
        if self._alias is not None:
            return self._alias
        return self._top if self._top is not None else self._spark_name

    def _order_sql(self, ctx: Optional[Scope] = None) -> str:
        return f"{self._sql(ctx)} {self._sort or 'ASC NULLS FIRST'}"

    def _with(self, **kw: Any) -> "Column":
        c = Column(self._render, self._spark_name, self._alias, self._sort, self._agg)
        c._top = self._top
        over_sql = getattr(self, "_over_sql", None)
        if over_sql is not None:
            c._over_sql = over_sql  # type: ignore[attr-defined]
        for k, v in kw.items():
            setattr(c, "_" + k, v)
        return c

    def __repr__(self) -> str:
        return f"Column<'{self._name()}'>"

    # -- building -----------------------------------------------------------------------------

    def _bin(self, op: str, other: Any, reverse: bool = False, name_op: Optional[str] = None) -> "Column":
        o = _col(other)
        a, b = (o, self) if reverse else (self, o)
        n = name_op or op
        return Column(
            lambda ctx: f"({a._sql(ctx)} {op} {b._sql(ctx)})",
            f"({a._spark_name} {n} {b._spark_name})",
            agg=a._agg or b._agg,
        )

    def __add__(self, o: Any) -> "Column": return self._bin("+", o)
    def __radd__(self, o: Any) -> "Column": return self._bin("+", o, True)
    def __sub__(self, o: Any) -> "Column": return self._bin("-", o)
    def __rsub__(self, o: Any) -> "Column": return self._bin("-", o, True)
    def __mul__(self, o: Any) -> "Column": return self._bin("*", o)
    def __rmul__(self, o: Any) -> "Column": return self._bin("*", o, True)
    def _binfn(self, fn: str, op: str, other: Any, reverse: bool = False, bare_ints: bool = False) -> "Column":
        """`a op b` as the engine's function `fn(a, b)`, named as Spark names the operator.
        `bare_ints`: an int literal goes in as SQL's own literal, which the engine sees as one
        (a DECIMAL divided by the literal `2` is divided by a DECIMAL(1, 0), as in Spark)."""
        o = _col(other)
        a, b = (o, self) if reverse else (self, o)

        def arg(c: "Column", ctx: Any) -> str:
            v = getattr(c, "_lit", None)
            if bare_ints and isinstance(v, int) and not isinstance(v, bool):
                return str(v)
            return c._sql(ctx)

        return Column(
            lambda ctx: f"{fn}({arg(a, ctx)}, {arg(b, ctx)})",
            f"({a._spark_name} {op} {b._spark_name})",
            agg=a._agg or b._agg,
        )

    # Spark's `/` is a fractional division, also of integers; `/` and `%` by zero raise
    # [DIVIDE_BY_ZERO] / [REMAINDER_BY_ZERO] (ANSI mode), as the engine's spark_divide/spark_mod do.
    def __mod__(self, o: Any) -> "Column": return self._binfn("spark_mod", "%", o)
    def __rmod__(self, o: Any) -> "Column": return self._binfn("spark_mod", "%", o, True)
    def __truediv__(self, o: Any) -> "Column": return self._binfn("spark_divide", "/", o, bare_ints=True)
    def __rtruediv__(self, o: Any) -> "Column": return self._binfn("spark_divide", "/", o, True, bare_ints=True)

    def __eq__(self, o: Any) -> "Column":  # type: ignore[override]
        return self._bin("=", o)

    def __ne__(self, o: Any) -> "Column":  # type: ignore[override]
        return self._bin("<>", o, name_op="!=")

    def __lt__(self, o: Any) -> "Column": return self._bin("<", o)
    def __le__(self, o: Any) -> "Column": return self._bin("<=", o)
    def __gt__(self, o: Any) -> "Column": return self._bin(">", o)
    def __ge__(self, o: Any) -> "Column": return self._bin(">=", o)
    def __and__(self, o: Any) -> "Column": return self._bin("AND", o)
    def __rand__(self, o: Any) -> "Column": return self._bin("AND", o, True)
    def __or__(self, o: Any) -> "Column": return self._bin("OR", o)
    def __ror__(self, o: Any) -> "Column": return self._bin("OR", o, True)

    def __invert__(self) -> "Column":
        return Column(lambda ctx: f"(NOT {self._sql(ctx)})", f"(NOT {self._spark_name})", agg=self._agg)

    def __neg__(self) -> "Column":
        # Named as PySpark names it: `-df.i` is `negative(i)`.
        return Column(lambda ctx: f"(- {self._sql(ctx)})", f"negative({self._spark_name})", agg=self._agg)

    def __bool__(self) -> bool:
        raise ValueError(
            "a Column has no truth value: use '&' for 'and', '|' for 'or', '~' for 'not' "
            "(with parentheses around comparisons)"
        )

    __hash__ = None  # type: ignore[assignment]

    def eqNullSafe(self, o: Any) -> "Column":
        return self._bin("IS NOT DISTINCT FROM", o, name_op="<=>")

    def isNull(self) -> "Column":
        return Column(lambda ctx: f"({self._sql(ctx)} IS NULL)", f"({self._spark_name} IS NULL)")

    def isNotNull(self) -> "Column":
        return Column(lambda ctx: f"({self._sql(ctx)} IS NOT NULL)", f"({self._spark_name} IS NOT NULL)")

    def isin(self, *values: Any) -> "Column":
        if len(values) == 1 and isinstance(values[0], (list, tuple, set)):
            values = tuple(values[0])
        cols = [_col(v) for v in values]
        return Column(
            lambda ctx: f"({self._sql(ctx)} IN ({', '.join(c._sql(ctx) for c in cols)}))",
            f"({self._spark_name} IN ({', '.join(c._spark_name for c in cols)}))",
        )

    def between(self, lower: Any, upper: Any) -> "Column":
        lo, hi = _col(lower), _col(upper)
        return Column(
            lambda ctx: f"({self._sql(ctx)} BETWEEN {lo._sql(ctx)} AND {hi._sql(ctx)})",
            f"(({self._spark_name} >= {lo._spark_name}) AND ({self._spark_name} <= {hi._spark_name}))",
        )

    def like(self, pattern: str) -> "Column":
        return self._bin("LIKE", pattern)

    def ilike(self, pattern: str) -> "Column":
        return self._bin("ILIKE", pattern)

    def rlike(self, pattern: str) -> "Column":
        return self._bin("~", pattern, name_op="RLIKE")

    def startswith(self, prefix: Any) -> "Column":
        return _fn("starts_with", [self, _col(prefix)], "startswith")

    def endswith(self, suffix: Any) -> "Column":
        return _fn("ends_with", [self, _col(suffix)], "endswith")

    def contains(self, other: Any) -> "Column":
        o = _col(other)
        return Column(lambda ctx: f"(strpos({self._sql(ctx)}, {o._sql(ctx)}) > 0)", f"contains({self._spark_name}, {o._spark_name})")

    def substr(self, startPos: Any, length: Any) -> "Column":
        return _substring(self, startPos, length)

    def alias(self, *alias: str, **kwargs: Any) -> "Column":
        if len(alias) != 1:
            raise ValueError("alias takes one name (several names for a multi-column generator are not supported)")
        return self._with(alias=alias[0])

    name = alias

    def cast(self, dataType: Any) -> "Column":
        from tributary.sql.types import DataType, _parse_type

        dt = dataType if isinstance(dataType, DataType) else _parse_type(str(dataType))
        sql_t = dt._sql()
        # Spark's cast: a timestamp cast to a number is seconds, a number cast to a timestamp
        # is seconds (SQL's CAST counts the timestamp's own units); the engine's spark_cast
        # knows the input's type and is a plain CAST otherwise.
        cast = Column(
            lambda ctx: f"spark_cast({self._sql(ctx)}, CAST(NULL AS {sql_t}))",
            f"CAST({self._spark_name} AS {dt.simpleString().upper()})",
            agg=self._agg,
        )
        if hasattr(self, "_ref") or self._alias is not None or self._top is not None:
            cast._top = self._name()
        return cast

    astype = cast

    def getField(self, name: str) -> "Column":
        return Column(lambda ctx: f"{self._sql(ctx)}[{sql_literal(name)}]", f"{self._spark_name}.{name}", agg=self._agg)

    def getItem(self, key: Any) -> "Column":
        if isinstance(key, str):
            return self.getField(key)
        # An array's element counted from 0 (an index out of the array raises
        # [INVALID_ARRAY_INDEX], as in ANSI Spark) or a map's value for the key: the engine's
        # spark_get_item tells them apart by the column's type.
        k = key if isinstance(key, Column) else _col(key)
        return Column(
            lambda ctx: f"spark_get_item({self._sql(ctx)}, {k._sql(ctx)})",
            f"{self._spark_name}[{k._spark_name}]",
            agg=self._agg or k._agg,
        )

    def __getitem__(self, key: Any) -> "Column":
        return self.getItem(key)

    def __getattr__(self, item: str) -> "Column":
        if item.startswith("_"):
            raise AttributeError(item)
        return self.getField(item)

    def when(self, condition: "Column", value: Any) -> "Column":
        branches = getattr(self, "_branches", None)
        if branches is None:
            raise ValueError("when() follows F.when(...) or another .when(...)")
        return _case(branches + [(condition, _col(value))], None)

    def otherwise(self, value: Any) -> "Column":
        branches = getattr(self, "_branches", None)
        if branches is None:
            raise ValueError("otherwise() follows F.when(...)")
        return _case(branches, _col(value), final=True)

    def asc(self) -> "Column": return self._with(sort="ASC NULLS FIRST")
    def asc_nulls_first(self) -> "Column": return self._with(sort="ASC NULLS FIRST")
    def asc_nulls_last(self) -> "Column": return self._with(sort="ASC NULLS LAST")
    def desc(self) -> "Column": return self._with(sort="DESC NULLS LAST")
    def desc_nulls_first(self) -> "Column": return self._with(sort="DESC NULLS FIRST")
    def desc_nulls_last(self) -> "Column": return self._with(sort="DESC NULLS LAST")

    def over(self, window: Any) -> "Column":
        """This function over a window (``Window.partitionBy(..).orderBy(..)``). On a stream only
        ``row_number()`` filtered to its first N ranks runs (a Top-N, output mode ``update``)."""
        from tributary.sql.window import WindowSpec

        if not isinstance(window, WindowSpec):
            raise TypeError(f"over() takes a WindowSpec (Window.partitionBy(...)), not {type(window).__name__}")
        inner = self
        # A function whose SQL wraps its aggregate (collect_list: coalesce(array_agg(..), ..))
        # puts the OVER clause on the aggregate itself.
        over_sql = getattr(inner, "_over_sql", None)

        def render(ctx: Any) -> str:
            clause = f"OVER ({window._sql(ctx)})"
            return over_sql(ctx, clause) if over_sql is not None else f"{inner._sql(ctx)} {clause}"

        return Column(render, f"{inner._spark_name} OVER ({window._spark_name()})")


def _case(branches: list, default: Optional[Column], final: bool = False) -> Column:
    def render(ctx: Any) -> str:
        parts = " ".join(f"WHEN {c._sql(ctx)} THEN {v._sql(ctx)}" for c, v in branches)
        tail = f" ELSE {default._sql(ctx)}" if default is not None else ""
        return f"CASE {parts}{tail} END"

    name = "CASE " + " ".join(f"WHEN {c._spark_name} THEN {v._spark_name}" for c, v in branches)
    name += (f" ELSE {default._spark_name}" if default is not None else "") + " END"
    col = Column(render, name)
    if not final:
        col._branches = branches  # type: ignore[attr-defined]
    return col


def _col(v: Any) -> Column:
    """A Column from a Column or a literal value. An int is an INT, as in Spark (a BIGINT beyond
    INT's range): `int_col + 1` is INT arithmetic, which raises [ARITHMETIC_OVERFLOW] past INT."""
    if isinstance(v, Column):
        return v
    if isinstance(v, int) and not isinstance(v, bool) and -(2**31) <= v < 2**31:
        col = Column(lambda ctx: f"CAST({v} AS INT)", str(v))
    else:
        col = Column(lambda ctx: sql_literal(v), literal_name(v))
    col._lit = v  # type: ignore[attr-defined]  # the value, for arguments that must be constants
    return col


def _name_col(name: str, df_id: Optional[int] = None) -> Column:
    """A column by name; `df_id` ties it to a DataFrame (df["x"]), whose column it stays through
    the operations that keep it (a join's two `x` are told apart so)."""
    parts = name.split(".") if "`" not in name else [name.strip("`")]

    def render(ctx: Any) -> str:
        if isinstance(ctx, Scope):
            if parts[-1] == "*":
                fields = ctx.star(parts, df_id)
                if fields is not None:
                    return ", ".join(ctx.sql(a, f) for a, f in fields)
            else:
                hit = ctx.resolve(parts, df_id)
                if hit is not None:
                    alias, f, path = hit
                    return ".".join([ctx.sql(alias, f)] + [quote(p) for p in path])
        return ".".join(quote(p) if p != "*" else "*" for p in parts)

    col = Column(render, parts[-1] if len(parts) > 1 and parts[-1] != "*" else name)
    col._ref = (parts, df_id)  # type: ignore[attr-defined]
    return col


def _substring(s: "Column", pos: Any, length: Any) -> "Column":
    """Spark's substring: positions count from 1, 0 is the first character too, a negative one
    counts from the end, and a length that reaches before the start (or is negative) gives what
    is left of it, '' at least (SQL's substr would count 0 and negatives as positions before the
    string, and refuse a negative length)."""
    if isinstance(pos, int) and not isinstance(pos, bool) and pos > 0 and isinstance(length, int) and length >= 0:
        return _fn("substr", [s, pos, length], "substring")
    p, n = _col(pos), _col(length)

    def render(ctx: Any) -> str:
        text, at, count = s._sql(ctx), p._sql(ctx), n._sql(ctx)
        start = f"(CASE WHEN {at} > 0 THEN {at} - 1 WHEN {at} < 0 THEN char_length({text}) + {at} ELSE 0 END)"
        return f"substr({text}, greatest({start}, 0) + 1, greatest({start} + {count} - greatest({start}, 0), 0))"

    return Column(render, f"substring({s._spark_name}, {p._spark_name}, {n._spark_name})", agg=s._agg)


def _fn(sql_name: str, args: list, spark_name: Optional[str] = None, agg: bool = False,
        distinct: bool = False) -> Column:
    """A call of the engine's function `sql_name`, named as Spark names `spark_name`."""
    cols = [_col(a) for a in args]
    d = "DISTINCT " if distinct else ""

    def render(ctx: Any) -> str:
        return f"{sql_name}({d}{', '.join(c._sql(ctx) for c in cols)})"

    sname = spark_name or sql_name
    return Column(render, f"{sname}({d}{', '.join(c._spark_name for c in cols)})", agg=agg)
