"""``DataFrame`` and ``GroupedData``: PySpark's API, planned as SQL over views of the inputs.

Each operation registers its input DataFrames as views under fresh names, plans one SQL query
over them in the engine (which keeps the plan's streaming sources, watermarks and state), and
removes the views again. Watermarks, deduplication and the writers call the engine directly.

A DataFrame keeps its columns as `Field`s: the name the user sees, the engine's name, and what
names the column (the DataFrames it is a column of, their aliases). Two columns may have one
name, as a join's in Spark; the engine's plan then has them under names of their own (`x#3`),
and the user's names come back wherever columns, rows or schemas reach the user.
"""

from __future__ import annotations

import itertools
import re
import sys
from collections import Counter
from typing import TYPE_CHECKING, Any, Iterable, Optional, Union

import pyarrow as pa

from tributary.errors import AnalysisException, PySparkTypeError, PySparkValueError, not_supported
from tributary.sql.column import Column, Field, Scope, _name_col, java_float_text, ambiguous, quote, sql_literal, sql_text
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


def _project(items: list, hidden: Iterable = ()) -> tuple:
    """Select items (SQL, name, tags) as a select list and the Fields of its columns: each column
    under its name, or, when several have one name, under a name of its own (`name#position`).
    `hidden`: (SQL, Field) of hidden columns to keep too, under their Fields' names (none if
    no column is shown)."""
    counts = Counter(name for _, name, _ in items)
    taken = set(counts)
    sql, fields = [], []
    for i, (expr, name, tags) in enumerate(items):
        phys = name
        if counts[name] > 1:
            phys = f"{name}#{i}"
            while phys in taken:
                phys += "#"
            taken.add(phys)
        sql.append(expr if expr == quote(phys) else f"{expr} AS {quote(phys)}")
        fields.append(Field(name, phys, tags))
    for expr, f in hidden if items else ():
        sql.append(expr if expr == quote(f.phys) else f"{expr} AS {quote(f.phys)}")
        fields.append(f)
    return ", ".join(sql), fields


def _keep(df: "DataFrame") -> list:
    """The hidden columns of `df`, as `_project` keeps them."""
    return [(quote(f.phys), f) for f in df._all_fields if f.hidden]


def _hidden_name() -> str:
    """An engine's name for a hidden column, that no other column has."""
    return f"__tributary_hidden{next(_ids)}"


def _duplicate(names: list) -> Optional[str]:
    """The first name that two columns have, if any."""
    seen: set = set()
    for n in names:
        if n in seen:
            return n
        seen.add(n)
    return None


class DataFrame:
    """A distributed collection of rows with named columns — here, a plan of the engine."""

    def __init__(self, native: Any, session: "SparkSession", alias: Optional[str] = None,
                 fields: Optional[list] = None):
        # The engine's plan: the columns, and the hidden ones (a join's keys, see `Field`).
        self._wide = native
        self._df_: Any = None  # the plan of the columns alone (`_df`)
        self.sparkSession = session
        self._id = next(_ids)
        self._alias = alias
        # The columns (None: the engine's, named as there); each also a column of this DataFrame
        # (a hidden one stays a column of the DataFrames it comes from only).
        self._fields_: Optional[list] = (
            None if fields is None else [f if f.hidden else f._replace(tags=f.tags | {self._id}) for f in fields]
        )

    @property
    def _all_fields(self) -> list:
        """The columns, then the hidden ones."""
        if self._fields_ is None:
            own = frozenset([self._id])
            self._fields_ = [Field(n, n, own) for n in self._wide.columns()]
        return self._fields_

    @property
    def _fields(self) -> list:
        return [f for f in self._all_fields if not f.hidden]

    @property
    def _df(self) -> Any:
        """The engine's plan of the columns that the user sees: without the hidden ones."""
        if self._df_ is None:
            if len(self._fields) == len(self._all_fields):
                self._df_ = self._wide
            else:
                native = self.sparkSession._native
                name = f"__tributary_view_{self._id}_{next(_ids)}"
                native.register(name, self._wide)
                try:
                    cols = ", ".join(quote(f.phys) for f in self._fields)
                    self._df_ = native.sql(f"SELECT {cols} FROM {quote(name)}")
                finally:
                    native.deregister(name)
        return self._df_

    def _hidden(self) -> bool:
        """Whether the engine has some column under another name (two columns share a name)."""
        return any(f.phys != f.name for f in self._fields)

    def _same(self, native: Any) -> "DataFrame":
        """A DataFrame of `native` (a step of `_wide`), whose columns are this DataFrame's."""
        return DataFrame(native, self.sparkSession, fields=self._all_fields)

    def _scope(self) -> Scope:
        return Scope((None, self._all_fields), streaming=self.isStreaming)

    # -- planning ------------------------------------------------------------------------------

    def _plan(self, sql: str, inputs: Optional[list] = None, fields: Optional[list] = None,
              shown: bool = False, reveal: bool = False) -> "DataFrame":
        """Plan `sql`, where `_V0`, `_V1` stand for the views of `inputs` (default: self). (Not
        `str.format` placeholders: the SQL holds the user's text, braces included.) `fields`:
        the result's columns; by default the first input's, by the engine's names. The views
        have the hidden columns too (`SELECT *` keeps them), unless `shown`; `reveal`: hidden
        columns in the result are shown."""
        inputs = inputs if inputs is not None else [self]
        native = self.sparkSession._native
        names = [f"__tributary_view_{d._id}_{next(_ids)}" for d in inputs]
        for n, d in zip(names, inputs):
            native.register(n, d._df if shown else d._wide)
        for i, n in enumerate(names):
            sql = sql.replace(_view(i), quote(n))
        try:
            planned = native.sql(sql)
        except Exception as e:
            _raise_ambiguous(e, inputs)
            raise
        finally:
            for n in names:
                native.deregister(n)
        if fields is not None:
            return DataFrame(planned, self.sparkSession, fields=fields)
        mine = {f.phys: f._replace(hidden=False) if reveal else f
                for f in (inputs[0]._fields if shown else inputs[0]._all_fields)}
        fields = [mine.get(n) or Field(n, n, frozenset()) for n in planned.columns()]
        out = DataFrame(planned, self.sparkSession, fields=fields)
        shown_fields = out._fields
        if any(f.phys != f.name for f in shown_fields):
            counts = Counter(f.name for f in shown_fields)
            if any(counts[f.name] == 1 and f.phys != f.name for f in shown_fields):
                # A column that had a name of its own, now the only one of its name, takes it.
                sql, fields = _project([(quote(f.phys), f.name, f.tags) for f in shown_fields], _keep(out))
                return out._plan(f"SELECT {sql} FROM {_V0}", fields=fields)
        return out

    def _col(self, c: Any) -> Column:
        if isinstance(c, Column):
            return c
        if isinstance(c, str):
            return _name_col(c)
        raise PySparkTypeError(f"expected a Column or a column name, got {type(c).__name__} {c!r}")

    def _field(self, name: str) -> Field:
        """The one column named `name` (refused if two have the name)."""
        fields = [f for f in self._fields if f.name == name]
        if len(fields) > 1:
            raise ambiguous(name, fields)
        if not fields:
            raise AnalysisException(f"a column with name `{name}` cannot be resolved (the columns are {self.columns})")
        return fields[0]

    def _unique(self, what: str) -> None:
        """Refuse `what` for a DataFrame with two columns of one name, as Spark's file sinks do."""
        dup = _duplicate(self.columns)
        if dup is not None:
            raise AnalysisException(
                f"[COLUMN_ALREADY_EXISTS] The column `{dup}` already exists. Choose another name or "
                f"rename the existing column: {what} needs columns of distinct names (select the "
                f"columns to keep, e.g. df.select(df1['{dup}'], ...), or rename one with "
                f".alias(...) in a select, or withColumnRenamed before the join)."
            )

    def _native_unique(self, what: str) -> Any:
        """The engine's plan, for `what`, which needs the user's column names: refused if two
        columns have one name (the engine cannot hold two columns of one name)."""
        dup = _duplicate(self.columns)
        if dup is not None:
            raise not_supported(
                f"{what} of a DataFrame with two columns named `{dup}`",
                f"select or rename the columns first (e.g. df.select(df1['{dup}'].alias('{dup}_1'), ...)), "
                "or drop one of them",
            )
        return self._df

    # -- schema ---------------------------------------------------------------------------------

    def _arrow_schema(self) -> pa.Schema:
        schema = pa.schema(self._df.schema())
        if self._hidden():
            schema = pa.schema([a.with_name(f.name) for a, f in zip(schema, self._fields)], schema.metadata)
        return schema

    @property
    def schema(self) -> StructType:
        return _from_arrow_schema(self._arrow_schema())

    @property
    def columns(self) -> list:
        return [f.name for f in self._fields]

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
            col = _name_col(item, self._id)
            if not item.endswith("*"):
                self._scope().resolve(col._ref[0], self._id)  # two columns of the name: refused, as Spark
            return col
        if isinstance(item, Column):
            return self.filter(item)
        if isinstance(item, (list, tuple)):
            return self.select(*item)
        raise PySparkTypeError(f"df[...] takes a column name, a Column or a list, not {item!r}")

    def __getattr__(self, name: str) -> Column:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self.columns:
            return self[name]
        raise AttributeError(f"'DataFrame' object has no attribute '{name}' (the columns are {self.columns})")

    def alias(self, alias: str) -> "DataFrame":
        """This DataFrame under the name `alias`: F.col("alias.x") is its column x (the alias
        replaces one given before)."""
        fields = [f if f.hidden else f._replace(tags=frozenset(t for t in f.tags if not isinstance(t, str)) | {alias})
                  for f in self._all_fields]
        return DataFrame(self._wide, self.sparkSession, alias, fields)

    # -- transformations ---------------------------------------------------------------------

    def select(self, *cols: Any) -> "DataFrame":
        scope = self._scope()
        items = []
        plain = True  # whether each item is a column (by name, `*`): no expression, no aggregate
        for c in _cols(cols):
            col = self._col(c)
            plain = plain and getattr(col, "_ref", None) is not None and col._alias is None
            items += self._select_items(col, scope)
        # A select of columns keeps the hidden ones that it does not show; any other drops them.
        sqls = {sql for sql, _, _ in items}
        keep = [h for h in _keep(self) if h[0] not in sqls] if plain else []
        sql, fields = _project(items, keep)
        return self._plan(f"SELECT {sql} FROM {_V0}", fields=fields)

    def _select_items(self, col: Column, scope: Scope) -> list:
        """`col` as select items (SQL, name, tags): a column of this DataFrame stays itself."""
        ref = getattr(col, "_ref", None)
        if ref is not None and col._alias is None:
            parts, df_id = ref
            if parts[-1] == "*":
                fields = scope.star(parts, df_id)
                if fields is not None:
                    return [(scope.sql(a, f), f.name, f.tags) for a, f in fields]
                struct = self._struct_fields(parts[:-1], df_id, scope)
                if struct is not None:
                    # Spark's "s.*": every field of the struct column s, as a column.
                    sql, names = struct
                    return [(f"{sql}[{sql_literal(n)}]", n, frozenset()) for n in names]
            else:
                hit = scope.resolve(parts, df_id)
                if hit is not None and not hit[2]:
                    return [(scope.sql(hit[0], hit[1]), hit[1].name, hit[1].tags)]
        return [(sql, name, frozenset()) for sql, name in col._select_items(scope)]

    def _struct_fields(self, parts: list, df_id: Optional[int], scope: Scope) -> Optional[tuple]:
        """(SQL, field names) of the struct column that `parts` names, else None."""
        hit = scope.resolve(parts, df_id)
        if hit is None or hit[2] or hit[1].hidden:
            return None
        t = self._arrow_schema().field(self._fields.index(hit[1])).type
        if not pa.types.is_struct(t):
            return None
        names = [t.field(i).name for i in range(t.num_fields)]
        dup = _duplicate(names)
        if dup is not None:
            raise not_supported(
                f"'{hit[1].name}.*' of a struct with two fields named `{dup}`",
                "alias the struct's fields apart when making it (F.struct(df1.x.alias('x1'), df2.x.alias('x2')))",
            )
        return scope.sql(hit[0], hit[1]), names

    def selectExpr(self, *expr: str) -> "DataFrame":
        scope = self._scope()
        texts = [scope.text(e) for e in _cols(expr)]
        # A hidden column named in the text (F.col("r.id") of a join on names) is shown; `*`
        # keeps the hidden columns hidden.
        reveal = all(t.strip() != "*" for t in texts)
        return self._plan(f"SELECT {', '.join(texts)} FROM {_V0}", reveal=reveal)

    def filter(self, condition: Any) -> "DataFrame":
        scope = self._scope()
        cond = scope.text(condition) if isinstance(condition, str) else self._col(condition)._sql(scope)
        return self._plan(f"SELECT * FROM {_V0} WHERE {cond}")

    where = filter

    def withColumn(self, colName: str, col: Column) -> "DataFrame":
        return self.withColumns({colName: col})

    def withColumns(self, *colsMap: dict) -> "DataFrame":
        """Each column of `colsMap` added, or in place of every column of its name (as Spark)."""
        mapping = colsMap[0] if colsMap else {}
        for name, c in mapping.items():
            if not isinstance(c, Column):
                raise PySparkTypeError(f"withColumn('{name}', ...) takes a Column, not {type(c).__name__}: use F.lit(...) for a value")
        scope = self._scope()
        items = [
            (mapping[f.name]._sql(scope), f.name, frozenset()) if f.name in mapping else (quote(f.phys), f.name, f.tags)
            for f in self._fields
        ]
        existing = set(self.columns)
        items += [(c._sql(scope), name, frozenset()) for name, c in mapping.items() if name not in existing]
        sql, fields = _project(items, _keep(self))
        return self._plan(f"SELECT {sql} FROM {_V0}", fields=fields)

    def withColumnRenamed(self, existing: str, new: str) -> "DataFrame":
        return self.withColumnsRenamed({existing: new})

    def withColumnsRenamed(self, colsMap: dict) -> "DataFrame":
        """Every column named as a key of `colsMap` renamed (two of one name both, as Spark)."""
        return self._renamed([colsMap.get(f.name) for f in self._fields])

    def _renamed(self, names: list) -> "DataFrame":
        items = [(quote(f.phys), f.name, f.tags) if n is None else (quote(f.phys), n, frozenset())
                 for f, n in zip(self._fields, names)]
        sql, fields = _project(items, _keep(self))
        return self._plan(f"SELECT {sql} FROM {_V0}", fields=fields)

    def toDF(self, *cols: str) -> "DataFrame":
        if len(cols) != len(self.columns):
            raise PySparkValueError(f"toDF: {len(cols)} names for {len(self.columns)} columns")
        return self._renamed(list(cols))

    def drop(self, *cols: Any) -> "DataFrame":
        """Without the columns named (every column of a name given as a string, as Spark) or
        given as Columns (df2["x"]: that DataFrame's x); a name that no column has is ignored."""
        scope = self._scope()
        gone = set()
        for c in cols:
            if isinstance(c, str):
                gone |= {f for f in self._fields if f.name == c}
                continue
            if not isinstance(c, Column):
                raise PySparkTypeError(f"drop takes column names or Columns, not {type(c).__name__} {c!r}")
            ref = getattr(c, "_ref", None)
            if ref is not None and ref[0][-1] != "*":
                hit = scope.resolve(ref[0], ref[1], strict=False)
                if hit is not None and not hit[2]:
                    gone.add(hit[1])
            else:
                gone |= {f for f in self._fields if f.name == c._spark_name}
        sql, fields = _project([(quote(f.phys), f.name, f.tags) for f in self._fields if f not in gone],
                               [h for h in _keep(self) if h[1] not in gone])
        return self._plan(f"SELECT {sql} FROM {_V0}", fields=fields)

    def limit(self, num: int) -> "DataFrame":
        return self._same(self._wide.limit(int(num)))

    def orderBy(self, *cols: Any, ascending: Any = None) -> "DataFrame":
        cs = [self._col(c) for c in _cols(cols)]
        if ascending is not None:
            flags = ascending if isinstance(ascending, list) else [ascending] * len(cs)
            cs = [c.asc() if a else c.desc() for c, a in zip(cs, flags)]
        scope = self._scope()
        return self._plan(f"SELECT * FROM {_V0} ORDER BY {', '.join(c._order_sql(scope) for c in cs)}")

    sort = orderBy

    def distinct(self) -> "DataFrame":
        if self.isStreaming or len(self._fields) != len(self._all_fields):
            # Distinct over the columns shown: a row's hidden keys come along.
            return self.dropDuplicates()
        return self._plan(f"SELECT DISTINCT * FROM {_V0}")

    def dropDuplicates(self, subset: Optional[list] = None) -> "DataFrame":
        return self._same(self._wide.drop_duplicates(self._phys(subset)))

    drop_duplicates = dropDuplicates

    def dropDuplicatesWithinWatermark(self, subset: Optional[list] = None) -> "DataFrame":
        return self._same(self._wide.drop_duplicates_within_watermark(self._phys(subset)))

    def _phys(self, names: Optional[list]) -> list:
        """The engine's names of the columns named `names` (all columns of a name, as Spark; no
        names: all columns, not the hidden ones)."""
        if not names and len(self._fields) != len(self._all_fields):
            return [f.phys for f in self._fields]
        out = []
        for n in names or []:
            out += [f.phys for f in self._fields if f.name == n] or [n]
        return out

    def withWatermark(self, eventTime: str, delayThreshold: str) -> "DataFrame":
        phys = self._field(eventTime).phys if eventTime in self.columns else eventTime
        return self._same(self._wide.with_watermark(phys, delayThreshold))

    def union(self, other: "DataFrame") -> "DataFrame":
        return self._plan(f"SELECT * FROM {_V0} UNION ALL SELECT * FROM {_V1}", [self, other], shown=True)

    unionAll = union

    def unionByName(self, other: "DataFrame", allowMissingColumns: bool = False) -> "DataFrame":
        self._unique("unionByName")
        other._unique("unionByName")
        native = self._df.union_by_name(other._df, allowMissingColumns)
        mine = {f.name: f for f in self._fields}
        return DataFrame(native, self.sparkSession, fields=[
            mine.get(n) or Field(n, n, frozenset()) for n in native.columns()])

    def subtract(self, other: "DataFrame") -> "DataFrame":
        """The distinct rows of this DataFrame that are not in `other` (SQL's EXCEPT DISTINCT;
        columns by position, NULLs equal to NULLs)."""
        return self._plan(f"SELECT * FROM {_V0} EXCEPT SELECT * FROM {_V1}", [self, other], shown=True)

    def intersect(self, other: "DataFrame") -> "DataFrame":
        """The distinct rows that are in both DataFrames (INTERSECT DISTINCT)."""
        return self._plan(f"SELECT * FROM {_V0} INTERSECT SELECT * FROM {_V1}", [self, other], shown=True)

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
        left, right = [f.phys for f in self._fields], [f.phys for f in other._fields]
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
        """Spark's join. On a condition the result has both sides' columns, two of one name
        included (told apart by the DataFrame each comes from: df1["id"], df2["id"], or by
        alias: F.col("l.id")); on column names it has each key once, as Spark, and each side's
        own key hidden (df2.id: NULL where df2 has no row), as Spark's hidden output."""
        kind = _JOIN_TYPES.get((how or "inner").lower().replace(" ", ""))
        if kind is None:
            raise PySparkValueError(f"join type '{how}' is not one of {sorted(_JOIN_TYPES)}")
        la = self._alias or "__left"
        ra = other._alias or "__right"
        if la == ra:
            ra = ra + "_2"
        left, right = self._fields, other._fields
        scope = Scope((la, self._all_fields), (ra, other._all_fields), own={la: self._id, ra: other._id})
        semi = kind in ("LEFT SEMI", "LEFT ANTI")

        def item(alias: str, f: Field) -> tuple:
            return (scope.sql(alias, f), f.name, f.tags)

        def hide(alias: str, f: Field) -> tuple:
            """`f` of a side, hidden in the result under a name of its own."""
            return (scope.sql(alias, f), Field(f.name, _hidden_name(), f.tags, True))

        # The sides' hidden columns stay hidden (the right's not after a semi or anti join).
        hidden = [hide(la, f) for f in self._all_fields if f.hidden]
        if not semi:
            hidden += [hide(ra, f) for f in other._all_fields if f.hidden]

        cond = None
        if on is None:
            if kind != "CROSS" and kind != "INNER":
                raise PySparkValueError(f"a {how} join needs a condition (on=...)")
            kind = "CROSS"
            items = [item(la, f) for f in left] + [item(ra, f) for f in right]
        elif isinstance(on, str) or isinstance(on, list) and all(isinstance(k, str) for k in on):
            keys = [on] if isinstance(on, str) else on
            for k in keys:
                if k not in self.columns or k not in other.columns:
                    raise PySparkValueError(f"join column '{k}' is not on both sides (left: {self.columns}, right: {other.columns})")
            # Each key is the first column of its name on each side, as in Spark.
            lk = {k: next(f for f in left if f.name == k) for k in keys}
            rk = {k: next(f for f in right if f.name == k) for k in keys}
            cond = " AND ".join(f"{scope.sql(la, lk[k])} = {scope.sql(ra, rk[k])}" for k in keys)
            if semi:
                items = [item(la, f) for f in left]
            else:
                # The key once: the left's (inner, left) or right's (right) values, both sides'
                # merged (full); it stays the column of the side whose values it has. The other
                # side's key (both sides' for full) is hidden: b.id, F.col("r.id"), b["*"] name
                # it, as in Spark (NULL where that side has no row).
                if kind == "FULL":
                    items = [(f"coalesce({scope.sql(la, lk[k])}, {scope.sql(ra, rk[k])})", k, frozenset()) for k in keys]
                    own = [hide(la, lk[k]) for k in keys] + [hide(ra, rk[k]) for k in keys]
                elif kind == "RIGHT":
                    items = [item(ra, rk[k]) for k in keys]
                    own = [hide(la, lk[k]) for k in keys]
                else:
                    items = [item(la, lk[k]) for k in keys]
                    own = [hide(ra, rk[k]) for k in keys]
                # Spark's order of a side's columns for b["*"]: its key first.
                hidden = own + hidden
                items += [item(la, f) for f in left if f not in lk.values()]
                items += [item(ra, f) for f in right if f not in rk.values()]
        else:
            conds = on if isinstance(on, list) else [on]
            for c in conds:
                if not isinstance(c, Column):
                    raise PySparkTypeError(f"join: on takes column names or Column conditions, not {type(c).__name__} {c!r}")
            cond = " AND ".join(f"({c._sql(scope)})" for c in conds)
            items = [item(la, f) for f in left] + ([] if semi else [item(ra, f) for f in right])
        sql, fields = _project(items, hidden)
        if kind == "CROSS" and cond is not None:
            kind = "INNER"  # a cross join with a condition is the inner join, as in Spark
        on_sql = f" ON {cond}" if cond is not None else ""
        return self._plan(
            f"SELECT {sql} FROM {_V0} AS {quote(la)} {kind} JOIN {_V1} AS {quote(ra)}{on_sql}",
            [self, other], fields,
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
            fills = {i: value[f.name] for i, f in enumerate(fields) if f.name in value}
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
            arrow = self._arrow_schema()
            fills = {}
            for i, (f, a) in enumerate(zip(fields, arrow)):
                if f.name in targets and _fill_matches(value, a.type):
                    fills[i] = value
        if not fills:
            return self
        items = []
        for i, (f, mine) in enumerate(zip(fields, self._fields)):
            q = quote(mine.phys)
            items.append((q if i not in fills else _fill_sql(q, f.dataType, fills[i]), f.name, mine.tags))
        sql, out = _project(items, _keep(self))
        return self._plan(f"SELECT {sql} FROM {_V0}", fields=out)

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
            q = quote(self._field(c).phys)
            nan = f" AND NOT isnan({q})" if isinstance(types[c], (DoubleType, FloatType)) else ""
            counts.append(f"CASE WHEN {q} IS NOT NULL{nan} THEN 1 ELSE 0 END")
        total = " + ".join(counts) if counts else "0"
        return self._plan(f"SELECT * FROM {_V0} WHERE ({total}) >= {int(thresh)}")

    def _check_names(self, cols: list, op: str) -> None:
        for c in cols:
            if c not in self.columns:
                raise AnalysisException(f"{op}: a column with name `{c}` cannot be resolved (the columns are {self.columns})")
            self._field(c)  # two columns of the name: ambiguous, as in Spark

    def groupBy(self, *cols: Any) -> "GroupedData":
        return GroupedData(self, [self._col(c) for c in _cols(cols)])

    groupby = groupBy

    def agg(self, *exprs: Any) -> "DataFrame":
        return self.groupBy().agg(*exprs)

    # -- actions ---------------------------------------------------------------------------------

    def toArrow(self) -> pa.Table:
        t = pa.table(self._df.collect())
        return t.rename_columns(self.columns) if self._hidden() else t

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
        print(self._show_string(n, truncate))  # as PySpark: the table, then an empty line

    def _show_string(self, n: int, truncate: Union[bool, int]) -> str:
        rows = self.take(n + 1)
        more = len(rows) > n
        rows = rows[:n]
        names = self.columns
        width = 20 if truncate is True else int(truncate) if truncate else 0

        single = [pa.types.is_float32(a.type) for a in self._arrow_schema()]

        def cell(v: Any, float32: bool) -> str:
            s = java_float_text(v, True) if float32 and isinstance(v, float) else _show_value(v)
            if width and len(s) > width:
                s = s[: width - 3] + "..." if width > 3 else s[:width]
            return s

        table = [[cell(v, f) for v, f in zip(r, single)] for r in rows]
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
        native = self._native_unique("createOrReplaceTempView")
        self.sparkSession._native.deregister(name)
        self.sparkSession._native.register(name, native)

    def createTempView(self, name: str) -> None:
        native = self._native_unique("createTempView")
        if name in self.sparkSession._views():
            raise AnalysisException(f"Temporary view '{name}' already exists: use createOrReplaceTempView")
        self.sparkSession._native.register(name, native)

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


def _raise_ambiguous(e: Exception, inputs: list) -> None:
    """An engine error for a name in the user's SQL text that two columns of an input have (and
    so the engine has under names of their own), as Spark's AMBIGUOUS_REFERENCE."""
    msg = str(e)
    for d in inputs:
        for name, n in Counter(d.columns).items():
            if n > 1 and re.search(r"No field named [`\"]?" + re.escape(name) + r"[`\"]?\.(\s|$)", msg):
                raise ambiguous(name, [f for f in d._fields if f.name == name]) from None


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
        aggs = [e if isinstance(e, Column) else Column(lambda ctx, e=e: sql_text(ctx, e), e) for e in _cols(exprs)]
        if not aggs:
            raise PySparkValueError("agg() needs at least one aggregate, e.g. F.count('*')")
        df = self._df
        scope = df._scope()
        values = [(sql, name, frozenset()) for a in aggs for sql, name in a._select_items(scope)]
        if not self._keys:
            sql, fields = _project(values)
            return df._plan(f"SELECT {sql} FROM {_V0}", fields=fields)
        # The keys are computed below the aggregation under hidden names (as the SQL jobs do
        # with a subquery): a window key becomes one row per window there, and a key may take
        # the name of a column that the aggregates still read. A key that is a column stays
        # that column (df1.groupBy(df1.k) has df1's k).
        hidden = [quote(f"__tributary_key{i}") for i in range(len(self._keys))]
        inner = ", ".join(["*"] + [f"{k._sql(scope)} AS {h}" for k, h in zip(self._keys, hidden)])
        keys = []
        for k, h in zip(self._keys, hidden):
            item = df._select_items(k, scope)
            tags = item[0][2] if len(item) == 1 else frozenset()
            keys.append((h, k._name(), tags))
        sql, fields = _project(keys + values)
        return df._plan(
            f"SELECT {sql} FROM (SELECT {inner} FROM {_V0}) GROUP BY {', '.join(hidden)}", fields=fields
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
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_show_value(k)} -> {_show_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, float):
        return java_float_text(v)
    return str(v)
