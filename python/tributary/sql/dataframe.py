"""``DataFrame`` and ``GroupedData``: PySpark's API, planned as SQL over views of the inputs.

Each operation registers its input DataFrames as views under fresh names, plans one SQL query
over them in the engine (which keeps the plan's streaming sources, watermarks and state), and
removes the views again. Watermarks, deduplication and the writers call the engine directly.
"""

from __future__ import annotations

import itertools
import sys
from typing import TYPE_CHECKING, Any, Iterable, Optional, Union

import pyarrow as pa

from tributary.errors import PySparkTypeError, PySparkValueError, not_supported
from tributary.sql.column import Column, _name_col, quote, sql_literal
from tributary.sql.row import Row
from tributary.sql.types import StructType, _from_arrow_schema

if TYPE_CHECKING:
    from tributary.sql.readwriter import DataFrameWriter
    from tributary.sql.session import SparkSession
    from tributary.sql.streaming import DataStreamWriter

_ids = itertools.count(1)


def _view(i: int) -> str:
    """The placeholder of input `i`'s view in SQL given to `DataFrame._plan`: control characters
    that no column name, literal or pattern of the user's holds."""
    return f"\x00view{i}\x00"


_V0, _V1 = _view(0), _view(1)

_JOIN_TYPES = {
    "inner": "INNER", "cross": "CROSS",
    "left": "LEFT", "leftouter": "LEFT", "left_outer": "LEFT",
    "right": "RIGHT", "rightouter": "RIGHT", "right_outer": "RIGHT",
    "outer": "FULL", "full": "FULL", "fullouter": "FULL", "full_outer": "FULL",
    "semi": "LEFT SEMI", "leftsemi": "LEFT SEMI", "left_semi": "LEFT SEMI",
    "anti": "LEFT ANTI", "leftanti": "LEFT ANTI", "left_anti": "LEFT ANTI",
}


def _cols(args: tuple) -> list:
    """Arguments given as `f(a, b)` or `f([a, b])`."""
    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        return list(args[0])
    return list(args)


class DataFrame:
    """A distributed collection of rows with named columns — here, a plan of the engine."""

    def __init__(self, native: Any, session: "SparkSession", alias: Optional[str] = None):
        self._df = native
        self.sparkSession = session
        self._id = next(_ids)
        self._alias = alias

    # -- planning ------------------------------------------------------------------------------

    def _plan(self, sql: str, inputs: Optional[list] = None) -> "DataFrame":
        """Plan `sql`, where `_V0`, `_V1` stand for the views of `inputs` (default: self). (Not
        `str.format` placeholders: the SQL holds the user's text, braces included.)"""
        inputs = inputs if inputs is not None else [self]
        native = self.sparkSession._native
        names = [f"__tributary_view_{d._id}_{next(_ids)}" for d in inputs]
        for n, d in zip(names, inputs):
            native.register(n, d._df)
        for i, n in enumerate(names):
            sql = sql.replace(_view(i), quote(n))
        try:
            return DataFrame(native.sql(sql), self.sparkSession)
        finally:
            for n in names:
                native.deregister(n)

    def _col(self, c: Any) -> Column:
        if isinstance(c, Column):
            return c
        if isinstance(c, str):
            return _name_col(c)
        raise PySparkTypeError(f"expected a Column or a column name, got {type(c).__name__} {c!r}")

    # -- schema ---------------------------------------------------------------------------------

    @property
    def schema(self) -> StructType:
        return _from_arrow_schema(pa.schema(self._df.schema()))

    @property
    def columns(self) -> list:
        return list(self._df.columns())

    @property
    def dtypes(self) -> list:
        return [(f.name, f.dataType.simpleString()) for f in self.schema.fields]

    def printSchema(self) -> None:
        print(self.schema.treeString(), end="")

    @property
    def isStreaming(self) -> bool:
        return bool(self._df.is_streaming())

    def explain(self, extended: Any = False, mode: Optional[str] = None) -> None:
        print(self._df.explain(bool(extended) or mode in ("extended", "formatted")))

    def __getitem__(self, item: Any) -> Any:
        if isinstance(item, str):
            return _name_col(item, self._id)
        if isinstance(item, Column):
            return self.filter(item)
        if isinstance(item, (list, tuple)):
            return self.select(*item)
        raise PySparkTypeError(f"df[...] takes a column name, a Column or a list, not {item!r}")

    def __getattr__(self, name: str) -> Column:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._df.columns():
            return _name_col(name, self._id)
        raise AttributeError(f"'DataFrame' object has no attribute '{name}' (the columns are {self._df.columns()})")

    def alias(self, alias: str) -> "DataFrame":
        df = DataFrame(self._df, self.sparkSession, alias)
        return df

    # -- transformations ---------------------------------------------------------------------

    def select(self, *cols: Any) -> "DataFrame":
        items = []
        for c in _cols(cols):
            fields = self._struct_fields(c)
            if fields is not None:
                # Spark's "s.*": every field of the struct column s, as a column.
                items += [f"{quote(c[:-2])}[{sql_literal(f)}] AS {quote(f)}" for f in fields]
            else:
                items.append(self._col(c)._select_sql())
        return self._plan(f"SELECT {', '.join(items)} FROM {_V0}")

    def _struct_fields(self, c: Any) -> Optional[list]:
        """The fields of struct column `s` when `c` is the string "s.*", else None."""
        if not isinstance(c, str) or not c.endswith(".*"):
            return None
        name = c[:-2].strip("`")
        for f in self.schema.fields:
            if f.name == name and isinstance(f.dataType, StructType):
                return f.dataType.names
        return None

    def selectExpr(self, *expr: str) -> "DataFrame":
        return self._plan(f"SELECT {', '.join(_cols(expr))} FROM {_V0}")

    def filter(self, condition: Any) -> "DataFrame":
        cond = condition if isinstance(condition, str) else self._col(condition)._sql()
        return self._plan(f"SELECT * FROM {_V0} WHERE {cond}")

    where = filter

    def withColumn(self, colName: str, col: Column) -> "DataFrame":
        return self.withColumns({colName: col})

    def withColumns(self, *colsMap: dict) -> "DataFrame":
        mapping = colsMap[0] if colsMap else {}
        existing = self.columns
        items = []
        for c in existing:
            if c in mapping:
                items.append(f"{mapping[c]._sql()} AS {quote(c)}")
            else:
                items.append(quote(c))
        for name, c in mapping.items():
            if name not in existing:
                if not isinstance(c, Column):
                    raise PySparkTypeError(f"withColumn('{name}', ...) takes a Column, not {type(c).__name__}: use F.lit(...) for a value")
                items.append(f"{c._sql()} AS {quote(name)}")
        return self._plan(f"SELECT {', '.join(items)} FROM {_V0}")

    def withColumnRenamed(self, existing: str, new: str) -> "DataFrame":
        return self.withColumnsRenamed({existing: new})

    def withColumnsRenamed(self, colsMap: dict) -> "DataFrame":
        items = [f"{quote(c)} AS {quote(colsMap[c])}" if c in colsMap else quote(c) for c in self.columns]
        return self._plan(f"SELECT {', '.join(items)} FROM {_V0}")

    def toDF(self, *cols: str) -> "DataFrame":
        if len(cols) != len(self.columns):
            raise PySparkValueError(f"toDF: {len(cols)} names for {len(self.columns)} columns")
        return self.withColumnsRenamed(dict(zip(self.columns, cols)))

    def drop(self, *cols: Any) -> "DataFrame":
        names = {c if isinstance(c, str) else c._spark_name for c in cols}
        keep = [quote(c) for c in self.columns if c not in names]
        return self._plan(f"SELECT {', '.join(keep)} FROM {_V0}")

    def limit(self, num: int) -> "DataFrame":
        return DataFrame(self._df.limit(int(num)), self.sparkSession)

    def orderBy(self, *cols: Any, ascending: Any = None) -> "DataFrame":
        cs = [self._col(c) for c in _cols(cols)]
        if ascending is not None:
            flags = ascending if isinstance(ascending, list) else [ascending] * len(cs)
            cs = [c.asc() if a else c.desc() for c, a in zip(cs, flags)]
        return self._plan(f"SELECT * FROM {_V0} ORDER BY {', '.join(c._order_sql() for c in cs)}")

    sort = orderBy

    def distinct(self) -> "DataFrame":
        if self.isStreaming:
            return self.dropDuplicates()
        return self._plan(f"SELECT DISTINCT * FROM {_V0}")

    def dropDuplicates(self, subset: Optional[list] = None) -> "DataFrame":
        return DataFrame(self._df.drop_duplicates(list(subset or [])), self.sparkSession)

    drop_duplicates = dropDuplicates

    def dropDuplicatesWithinWatermark(self, subset: Optional[list] = None) -> "DataFrame":
        return DataFrame(self._df.drop_duplicates_within_watermark(list(subset or [])), self.sparkSession)

    def withWatermark(self, eventTime: str, delayThreshold: str) -> "DataFrame":
        return DataFrame(self._df.with_watermark(eventTime, delayThreshold), self.sparkSession)

    def union(self, other: "DataFrame") -> "DataFrame":
        return self._plan(f"SELECT * FROM {_V0} UNION ALL SELECT * FROM {_V1}", [self, other])

    unionAll = union

    def unionByName(self, other: "DataFrame", allowMissingColumns: bool = False) -> "DataFrame":
        return DataFrame(self._df.union_by_name(other._df, allowMissingColumns), self.sparkSession)

    def subtract(self, other: "DataFrame") -> "DataFrame":
        """The distinct rows of this DataFrame that are not in `other` (SQL's EXCEPT DISTINCT;
        columns by position, NULLs equal to NULLs)."""
        return self._plan(f"SELECT * FROM {_V0} EXCEPT SELECT * FROM {_V1}", [self, other])

    def intersect(self, other: "DataFrame") -> "DataFrame":
        """The distinct rows that are in both DataFrames (INTERSECT DISTINCT)."""
        return self._plan(f"SELECT * FROM {_V0} INTERSECT SELECT * FROM {_V1}", [self, other])

    def exceptAll(self, other: "DataFrame") -> "DataFrame":
        """This DataFrame's rows without those of `other`, duplicates counted: a row that is n
        times here and m times there is max(n - m, 0) times in the result."""
        return self._set_all("EXCEPT", other)

    def intersectAll(self, other: "DataFrame") -> "DataFrame":
        """The rows in both DataFrames, duplicates counted: min(n, m) times."""
        return self._set_all("INTERSECT", other)

    def _set_all(self, op: str, other: "DataFrame") -> "DataFrame":
        # The copies of each row are numbered on both sides: (row, k) pairs are distinct, so
        # the distinct set operation on them counts the duplicates as Spark's ALL forms do.
        left, right = self.columns, other.columns
        if len(left) != len(right):
            raise PySparkValueError(
                f"{op.lower()}All: the DataFrames have {len(left)} and {len(right)} columns"
            )
        n = quote("__tributary_copy")

        def numbered(cols: list, view: str) -> str:
            qs = ", ".join(quote(c) for c in cols)
            return f"SELECT {qs}, row_number() OVER (PARTITION BY {qs}) AS {n} FROM {view}"

        items = ", ".join(quote(c) for c in left)
        return self._plan(
            f"SELECT {items} FROM ({numbered(left, _V0)} {op} {numbered(right, _V1)})",
            [self, other],
        )

    def join(self, other: "DataFrame", on: Any = None, how: Optional[str] = None) -> "DataFrame":
        kind = _JOIN_TYPES.get((how or "inner").lower().replace(" ", ""))
        if kind is None:
            raise PySparkValueError(f"join type '{how}' is not one of {sorted(_JOIN_TYPES)}")
        la = self._alias or "__left"
        ra = other._alias or "__right"
        if la == ra:
            ra = ra + "_2"
        ctx = {self._id: la, other._id: ra}
        left_cols, right_cols = self.columns, other.columns
        semi = kind in ("LEFT SEMI", "LEFT ANTI")
        if on is None:
            if kind != "CROSS" and kind != "INNER":
                raise PySparkValueError(f"a {how} join needs a condition (on=...)")
            return self._plan(f"SELECT * FROM {_V0} AS {quote(la)} CROSS JOIN {_V1} AS {quote(ra)}", [self, other])
        keys = [on] if isinstance(on, str) else on if isinstance(on, list) and all(isinstance(k, str) for k in on) else None
        if keys is not None:
            for k in keys:
                if k not in left_cols or k not in right_cols:
                    raise PySparkValueError(f"join column '{k}' is not on both sides (left: {left_cols}, right: {right_cols})")
            cond = " AND ".join(f"{quote(la)}.{quote(k)} = {quote(ra)}.{quote(k)}" for k in keys)
            if kind == "FULL":
                items = [f"coalesce({quote(la)}.{quote(k)}, {quote(ra)}.{quote(k)}) AS {quote(k)}" for k in keys]
            elif kind == "RIGHT":
                items = [f"{quote(ra)}.{quote(k)}" for k in keys]
            else:
                items = [f"{quote(la)}.{quote(k)}" for k in keys]
            items += [f"{quote(la)}.{quote(c)}" for c in left_cols if c not in keys]
            if semi:
                items = [f"{quote(la)}.{quote(c)}" for c in left_cols]
            else:
                items += [f"{quote(ra)}.{quote(c)}" for c in right_cols if c not in keys]
        else:
            dup = [c for c in left_cols if c in right_cols]
            if dup and not semi:
                raise not_supported(
                    f"a join on a condition whose two sides both have the columns {dup}",
                    "join on the column names (df1.join(df2, " + repr(dup if len(dup) > 1 else dup[0])
                    + ")), or rename one side's columns before the join",
                )
            conds = on if isinstance(on, list) else [on]
            cond = " AND ".join(f"({c._sql(ctx)})" for c in conds)
            items = [f"{quote(la)}.*"] if semi else [f"{quote(la)}.*", f"{quote(ra)}.*"]
        return self._plan(
            f"SELECT {', '.join(items)} FROM {_V0} AS {quote(la)} {kind} JOIN {_V1} AS {quote(ra)} ON {cond}",
            [self, other],
        )

    def crossJoin(self, other: "DataFrame") -> "DataFrame":
        return self.join(other, how="cross")

    # -- missing values (df.na) --------------------------------------------------------------

    @property
    def na(self) -> "DataFrameNaFunctions":
        return DataFrameNaFunctions(self)

    def fillna(self, value: Any, subset: Any = None) -> "DataFrame":
        """NULLs (and NaNs of float columns) replaced by `value`. A number fills the numeric
        columns (cast to each column's type, so 1.5 fills an integer column with 1), a string
        the string columns, a bool the boolean columns; a dict maps column names to values (each
        cast to its column's type) and `subset` is then ignored. Other columns are kept as they
        are, as in Spark."""
        if not isinstance(value, (float, int, str, bool, dict)):
            raise PySparkTypeError(f"fillna: value must be a float, int, str, bool or dict, not {type(value).__name__}")
        fields = self.schema.fields
        names = [f.name for f in fields]
        if isinstance(value, dict):
            for k, v in value.items():
                if not isinstance(k, str):
                    raise PySparkTypeError(f"fillna: the dict's keys are column names, not {k!r}")
                if not isinstance(v, (float, int, str, bool)):
                    raise PySparkTypeError(f"fillna: the dict's values must be float, int, str or bool, not {v!r}")
            self._check_names(list(value), "fillna")
            fills = dict(value)
        else:
            if not isinstance(value, bool) and isinstance(value, int):
                value = float(value)  # as PySpark: an int fills as a double, cast per column
            if subset is None:
                targets = names
            else:
                targets = [subset] if isinstance(subset, str) else subset
                if not isinstance(targets, (list, tuple)):
                    raise PySparkTypeError(f"fillna: subset must be a list or a str, not {type(subset).__name__}")
                self._check_names(list(targets), "fillna")
            arrow = pa.schema(self._df.schema())
            fills = {}
            for f, a in zip(fields, arrow):
                if f.name in targets and _fill_matches(value, a.type):
                    fills[f.name] = value
        if not fills:
            return self
        items = []
        for f in fields:
            if f.name not in fills:
                items.append(quote(f.name))
                continue
            items.append(f"{_fill_sql(quote(f.name), f.dataType, fills[f.name])} AS {quote(f.name)}")
        return self._plan(f"SELECT {', '.join(items)} FROM {_V0}")

    def dropna(self, how: str = "any", thresh: Optional[int] = None, subset: Any = None) -> "DataFrame":
        """The rows with at least `thresh` values that are neither NULL nor NaN among `subset`
        (default: all columns); `thresh` is, when not given, every column for how='any' and one
        for how='all'."""
        if how is not None and how not in ("any", "all"):
            raise PySparkValueError(f"dropna: how must be 'any' or 'all', not {how!r}")
        if subset is None:
            subset = self.columns
        elif isinstance(subset, str):
            subset = [subset]
        elif not isinstance(subset, (list, tuple)):
            raise PySparkTypeError(f"dropna: subset must be a list or a str, not {type(subset).__name__}")
        self._check_names(list(subset), "dropna")
        if thresh is None:
            thresh = len(subset) if how != "all" else 1
        types = {f.name: f.dataType for f in self.schema.fields}
        from tributary.sql.types import DoubleType, FloatType

        counts = []
        for c in subset:
            q = quote(c)
            nan = f" AND NOT isnan({q})" if isinstance(types[c], (DoubleType, FloatType)) else ""
            counts.append(f"CASE WHEN {q} IS NOT NULL{nan} THEN 1 ELSE 0 END")
        total = " + ".join(counts) if counts else "0"
        return self._plan(f"SELECT * FROM {_V0} WHERE ({total}) >= {int(thresh)}")

    def _check_names(self, cols: list, op: str) -> None:
        from tributary.errors import AnalysisException

        for c in cols:
            if c not in self.columns:
                raise AnalysisException(f"{op}: a column with name `{c}` cannot be resolved (the columns are {self.columns})")

    def groupBy(self, *cols: Any) -> "GroupedData":
        return GroupedData(self, [self._col(c) for c in _cols(cols)])

    groupby = groupBy

    def agg(self, *exprs: Any) -> "DataFrame":
        return self.groupBy().agg(*exprs)

    # -- actions ---------------------------------------------------------------------------------

    def toArrow(self) -> pa.Table:
        return pa.table(self._df.collect())

    def toPandas(self) -> Any:
        return self.toArrow().to_pandas()

    def collect(self) -> list:
        t = self.toArrow()
        names = t.column_names
        # Column by column and by position: a join's result may have two columns of one name,
        # and each keeps its own values (rows as dicts would keep one of them).
        columns = [[_py(v, c.type) for v in c.to_pylist()] for c in t.columns]
        if not columns:
            return [Row._make([], []) for _ in range(t.num_rows)]
        return [Row._make(names, list(values)) for values in zip(*columns)]

    def count(self) -> int:
        return int(self._df.count())

    def take(self, num: int) -> list:
        return self.limit(num).collect()

    def head(self, n: Optional[int] = None) -> Any:
        if n is None:
            rows = self.take(1)
            return rows[0] if rows else None
        return self.take(n)

    def first(self) -> Any:
        return self.head()

    def isEmpty(self) -> bool:
        return len(self.take(1)) == 0

    def show(self, n: int = 20, truncate: Union[bool, int] = True, vertical: bool = False) -> None:
        print(self._show_string(n, truncate), end="")

    def _show_string(self, n: int, truncate: Union[bool, int]) -> str:
        rows = self.take(n + 1)
        more = len(rows) > n
        rows = rows[:n]
        names = self.columns
        width = 20 if truncate is True else int(truncate) if truncate else 0

        def cell(v: Any) -> str:
            s = _show_value(v)
            if width and len(s) > width:
                s = s[: width - 3] + "..." if width > 3 else s[:width]
            return s

        table = [[cell(v) for v in r] for r in rows]
        widths = [max([len(h)] + [len(r[i]) for r in table] + [3]) for i, h in enumerate(names)]
        sep = "+" + "+".join("-" * w for w in widths) + "+\n"
        align = (lambda s, w: s.rjust(w)) if width else (lambda s, w: s.ljust(w))
        out = sep + "|" + "|".join(align(h, w) for h, w in zip(names, widths)) + "|\n" + sep
        for r in table:
            out += "|" + "|".join(align(v, w) for v, w in zip(r, widths)) + "|\n"
        out += sep
        if more:
            out += f"only showing top {n} row{'s' if n != 1 else ''}\n"
        return out

    def createOrReplaceTempView(self, name: str) -> None:
        self.sparkSession._native.deregister(name)
        self.sparkSession._native.register(name, self._df)

    def createTempView(self, name: str) -> None:
        from tributary.errors import AnalysisException

        if name in self.sparkSession._views():
            raise AnalysisException(f"Temporary view '{name}' already exists: use createOrReplaceTempView")
        self.sparkSession._native.register(name, self._df)

    registerTempTable = createOrReplaceTempView

    @property
    def write(self) -> "DataFrameWriter":
        from tributary.sql.readwriter import DataFrameWriter

        return DataFrameWriter(self)

    @property
    def writeStream(self) -> "DataStreamWriter":
        from tributary.sql.streaming import DataStreamWriter

        return DataStreamWriter(self)

    def cache(self) -> "DataFrame":
        return self

    persist = cache

    def unpersist(self, blocking: bool = False) -> "DataFrame":
        return self

    def repartition(self, *args: Any, **kwargs: Any) -> "DataFrame":
        return self  # the engine partitions by itself; the rows are the same

    def coalesce(self, numPartitions: int) -> "DataFrame":
        return self

    def __repr__(self) -> str:
        return "DataFrame[" + ", ".join(f"{n}: {t}" for n, t in self.dtypes) + "]"


class DataFrameNaFunctions:
    """``df.na``: ``fill`` and ``drop``, as ``df.fillna`` and ``df.dropna``."""

    def __init__(self, df: DataFrame):
        self._df = df

    def fill(self, value: Any, subset: Any = None) -> DataFrame:
        return self._df.fillna(value, subset)

    def drop(self, how: str = "any", thresh: Optional[int] = None, subset: Any = None) -> DataFrame:
        return self._df.dropna(how, thresh, subset)


def _fill_matches(value: Any, t: pa.DataType) -> bool:
    """Whether fillna's scalar `value` applies to a column of Arrow type `t` (Spark's rule: a
    number to the numeric columns, a string to the string columns, a bool to the booleans)."""
    if isinstance(value, bool):
        return pa.types.is_boolean(t)
    if isinstance(value, str):
        return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
    return (pa.types.is_signed_integer(t) or pa.types.is_float32(t) or pa.types.is_float64(t)
            or pa.types.is_decimal(t))


def _fill_sql(col: str, t: Any, value: Any) -> str:
    """`col` with its NULLs (and NaNs, for a float type) replaced by `value` cast to `t`."""
    from tributary.sql.types import DoubleType, FloatType

    if isinstance(value, float) and not isinstance(value, bool) and t.simpleString() in ("tinyint", "smallint", "int", "bigint"):
        value = int(value)  # Spark's cast of a double to an integer: towards zero
    fill = f"CAST({sql_literal(value)} AS {t._sql()})"
    if isinstance(t, (DoubleType, FloatType)):
        return f"CASE WHEN {col} IS NULL OR isnan({col}) THEN {fill} ELSE {col} END"
    return f"coalesce({col}, {fill})"


class GroupedData:
    """``df.groupBy(...)``: aggregations per group."""

    def __init__(self, df: DataFrame, keys: list):
        self._df, self._keys = df, keys

    def agg(self, *exprs: Any) -> DataFrame:
        if len(exprs) == 1 and isinstance(exprs[0], dict):
            from tributary.sql import functions as F

            cols = []
            for c, f in exprs[0].items():
                fn = {"mean": "avg", "count": "count"}.get(f, f)
                col = getattr(F, fn)(c)
                cols.append(col._with(spark_name=f"{f}({c})"))
            exprs = tuple(cols)
        aggs = [e if isinstance(e, Column) else Column(lambda ctx, e=e: e, e) for e in _cols(exprs)]
        if not aggs:
            raise PySparkValueError("agg() needs at least one aggregate, e.g. F.count('*')")
        if not self._keys:
            return self._df._plan(f"SELECT {', '.join(a._select_sql() for a in aggs)} FROM {_V0}")
        # The keys are computed below the aggregation under hidden names (as the SQL jobs do
        # with a subquery): a window key becomes one row per window there, and a key may take
        # the name of a column that the aggregates still read.
        hidden = [quote(f"__tributary_key{i}") for i in range(len(self._keys))]
        inner = ", ".join(["*"] + [f"{k._sql()} AS {h}" for k, h in zip(self._keys, hidden)])
        keys = [f"{h} AS {quote(k._alias or k._spark_name)}" for k, h in zip(self._keys, hidden)]
        items = keys + [a._select_sql() for a in aggs]
        return self._df._plan(
            f"SELECT {', '.join(items)} FROM (SELECT {inner} FROM {_V0}) GROUP BY {', '.join(hidden)}"
        )

    def count(self) -> DataFrame:
        from tributary.sql import functions as F

        return self.agg(F.count("*").alias("count"))

    def _numeric(self, fn: str, cols: tuple) -> DataFrame:
        from tributary.sql import functions as F

        if not cols:
            numeric = ("tinyint", "smallint", "int", "bigint", "float", "double")
            cols = tuple(n for n, t in self._df.dtypes if t in numeric or t.startswith("decimal"))
        return self.agg(*[getattr(F, fn)(c) for c in cols])

    def sum(self, *cols: str) -> DataFrame: return self._numeric("sum", cols)
    def avg(self, *cols: str) -> DataFrame: return self._numeric("avg", cols)
    def mean(self, *cols: str) -> DataFrame: return self._numeric("avg", cols)
    def min(self, *cols: str) -> DataFrame: return self._numeric("min", cols)
    def max(self, *cols: str) -> DataFrame: return self._numeric("max", cols)

    def pivot(self, *args: Any) -> Any:
        raise not_supported("GroupedData.pivot", "aggregate with F.when(...) per value, e.g. F.sum(F.when(col == v, x))")

    def applyInPandas(self, *args: Any) -> Any:
        raise not_supported("GroupedData.applyInPandas", "use foreachBatch with toPandas() and pandas' groupby")


def _py(v: Any, t: pa.DataType) -> Any:
    """An Arrow value of type `t` as PySpark gives it: a struct as a Row, a map as a dict."""
    if v is None:
        return None
    if pa.types.is_map(t):
        return {_py(k, t.key_type): _py(x, t.item_type) for k, x in v}
    if pa.types.is_struct(t):
        fields = [t.field(i) for i in range(t.num_fields)]
        return Row._make([f.name for f in fields], [_py(v[f.name], f.type) for f in fields])
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return [_py(x, t.value_type) for x in v]
    return v


def _show_value(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Row):
        return "{" + ", ".join(_show_value(x) for x in v) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(_show_value(x) for x in v) + "]"
    return str(v)
