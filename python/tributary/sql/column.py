"""``Column``: an expression, rendered as SQL text in the engine's dialect when an operation runs.

A column is a function of a rendering context, so that ``df1["id"] == df2["id"]`` resolves to
the two sides of a join: the context maps each DataFrame's id to the alias it has in the SQL
being planned (none outside joins). Each column also carries the name Spark would give it
(``sum(amount)``, ``(a + 1)``), so unaliased results have Spark's column names.
"""

from __future__ import annotations

import datetime as _dt
import decimal as _decimal
import math
from typing import Any, Callable, Optional

Ctx = dict  # DataFrame id -> alias in the SQL being planned

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


def literal_name(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


class Column:
    """An expression over the columns of a DataFrame."""

    def __init__(self, render: Callable[[Ctx], str], name: str, alias: Optional[str] = None,
                 sort: Optional[str] = None, agg: bool = False):
        self._render = render
        self._spark_name = name
        self._alias = alias
        self._sort = sort
        self._agg = agg

    # -- rendering ----------------------------------------------------------------------------

    def _sql(self, ctx: Optional[Ctx] = None) -> str:
        return self._render(ctx or {})

    def _select_sql(self, ctx: Optional[Ctx] = None) -> str:
        """As a select item: with its alias, or Spark's name for an expression."""
        sql = self._sql(ctx)
        name = self._alias if self._alias is not None else self._spark_name
        if self._alias is None and sql in (quote(name), "*") or sql.endswith(".*"):
            return sql
        return f"{sql} AS {quote(name)}"

    def _order_sql(self, ctx: Optional[Ctx] = None) -> str:
        return f"{self._sql(ctx)} {self._sort or 'ASC NULLS FIRST'}"

    def _with(self, **kw: Any) -> "Column":
        c = Column(self._render, self._spark_name, self._alias, self._sort, self._agg)
        over_sql = getattr(self, "_over_sql", None)
        if over_sql is not None:
            c._over_sql = over_sql  # type: ignore[attr-defined]
        for k, v in kw.items():
            setattr(c, "_" + k, v)
        return c

    def __repr__(self) -> str:
        return f"Column<'{self._alias or self._spark_name}'>"

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
    def __mod__(self, o: Any) -> "Column": return self._bin("%", o)
    def __rmod__(self, o: Any) -> "Column": return self._bin("%", o, True)

    def __truediv__(self, o: Any) -> "Column":
        # Spark's `/` is a fractional division, also of integers.
        return _double(self)._bin("/", _double(_col(o)))._with(spark_name=f"({self._spark_name} / {_col(o)._spark_name})")

    def __rtruediv__(self, o: Any) -> "Column":
        return _double(_col(o))._bin("/", _double(self))._with(spark_name=f"({_col(o)._spark_name} / {self._spark_name})")

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
        return Column(lambda ctx: f"(- {self._sql(ctx)})", f"(- {self._spark_name})", agg=self._agg)

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
        return Column(lambda ctx: f"spark_cast({self._sql(ctx)}, CAST(NULL AS {sql_t}))", self._spark_name, agg=self._agg)

    astype = cast

    def getField(self, name: str) -> "Column":
        return Column(lambda ctx: f"{self._sql(ctx)}[{sql_literal(name)}]", f"{self._spark_name}.{name}", agg=self._agg)

    def getItem(self, key: Any) -> "Column":
        if isinstance(key, int):
            # Spark's arrays count from 0, SQL's from 1.
            return Column(lambda ctx: f"{self._sql(ctx)}[{key + 1}]", f"{self._spark_name}[{key}]", agg=self._agg)
        return self.getField(key)

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

        def render(ctx: Ctx) -> str:
            clause = f"OVER ({window._sql(ctx)})"
            return over_sql(ctx, clause) if over_sql is not None else f"{inner._sql(ctx)} {clause}"

        return Column(render, f"{inner._spark_name} OVER ({window._spark_name()})")


def _double(c: Column) -> Column:
    return Column(lambda ctx: f"CAST({c._sql(ctx)} AS DOUBLE)", c._spark_name, agg=c._agg)


def _case(branches: list, default: Optional[Column], final: bool = False) -> Column:
    def render(ctx: Ctx) -> str:
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
    """A Column from a Column or a literal value."""
    if isinstance(v, Column):
        return v
    return Column(lambda ctx: sql_literal(v), literal_name(v))


def _name_col(name: str, df_id: Optional[int] = None) -> Column:
    """A column by name; `df_id` ties it to a DataFrame (for joins)."""
    if name == "*":
        return Column(lambda ctx: "*", "*")
    parts = name.split(".") if "`" not in name else [name.strip("`")]

    def render(ctx: Ctx) -> str:
        base = ".".join(quote(p) if p != "*" else "*" for p in parts)
        if df_id is not None and df_id in ctx:
            return f"{quote(ctx[df_id])}.{base}"
        return base

    return Column(render, parts[-1] if len(parts) > 1 and parts[-1] != "*" else name)


def _substring(s: "Column", pos: Any, length: Any) -> "Column":
    """Spark's substring: positions count from 1, 0 is the first character too, a negative one
    counts from the end, and a length that reaches before the start (or is negative) gives what
    is left of it, '' at least (SQL's substr would count 0 and negatives as positions before the
    string, and refuse a negative length)."""
    if isinstance(pos, int) and not isinstance(pos, bool) and pos > 0 and isinstance(length, int) and length >= 0:
        return _fn("substr", [s, pos, length], "substring")
    p, n = _col(pos), _col(length)

    def render(ctx: Ctx) -> str:
        text, at, count = s._sql(ctx), p._sql(ctx), n._sql(ctx)
        start = f"(CASE WHEN {at} > 0 THEN {at} - 1 WHEN {at} < 0 THEN char_length({text}) + {at} ELSE 0 END)"
        return f"substr({text}, greatest({start}, 0) + 1, greatest({start} + {count} - greatest({start}, 0), 0))"

    return Column(render, f"substring({s._spark_name}, {p._spark_name}, {n._spark_name})", agg=s._agg)


def _fn(sql_name: str, args: list, spark_name: Optional[str] = None, agg: bool = False,
        distinct: bool = False) -> Column:
    """A call of the engine's function `sql_name`, named as Spark names `spark_name`."""
    cols = [_col(a) for a in args]
    d = "DISTINCT " if distinct else ""

    def render(ctx: Ctx) -> str:
        return f"{sql_name}({d}{', '.join(c._sql(ctx) for c in cols)})"

    sname = spark_name or sql_name
    return Column(render, f"{sname}({d}{', '.join(c._spark_name for c in cols)})", agg=agg)
