"""Python UDFs: ``F.udf`` (called per row) and ``F.pandas_udf`` (called per batch on pandas
Series), usable in DataFrame expressions and, after ``spark.udf.register``, in SQL.

The engine calls :meth:`UserDefinedFunction._call` with each batch's argument arrays (pyarrow,
no copies) and takes back one array of the declared type.
"""

from __future__ import annotations

import builtins
import itertools
import re
from typing import Any, Callable, Optional

import pyarrow as pa

from tributary.sql.column import Column, _col
from tributary.sql.types import DataType, StringType, _parse_type

_ids = itertools.count(1)


def _type(t: Any) -> DataType:
    if t is None:
        return StringType()
    if isinstance(t, DataType):
        return t
    if isinstance(t, str):
        return _parse_type(t)
    raise TypeError(f"returnType must be a DataType or a type name such as 'double', not {t!r}")


class UserDefinedFunction:
    """A Python function that the engine calls; call it with Columns to use it."""

    def __init__(self, func: Callable, returnType: Any = None, vectorized: bool = False,
                 name: Optional[str] = None):
        self.func = func
        self.returnType = _type(returnType)
        self.evalType = 200 if vectorized else 100  # PySpark's codes: SQL_SCALAR_PANDAS_UDF, SQL_BATCHED_UDF
        self._vectorized = vectorized
        # The engine's name: an identifier (a lambda's `<lambda>` is not one).
        label = re.sub(r"\W", "_", getattr(func, "__name__", "fn"))
        self._name = name or f"__tributary_udf_{next(_ids)}_{label}"
        self._sessions: set = set()
        self.__name__ = getattr(func, "__name__", "udf")
        self.__doc__ = getattr(func, "__doc__", None)

    def _register(self, session: Any, name: Optional[str] = None) -> None:
        arrow_type = pa.schema([pa.field("result", self.returnType._arrow())])
        session._native.register_udf(name or self._name, self._call, arrow_type)

    def __call__(self, *cols: Any) -> Column:
        from tributary.sql.functions import _c
        from tributary.sql.session import SparkSession

        session = SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
        if id(session) not in self._sessions:
            self._register(session)
            self._sessions.add(id(session))
        args = [_c(c) if isinstance(c, (Column, str)) else _col(c) for c in cols]
        name = self._name

        def render(ctx: dict) -> str:
            return f"{name}({', '.join(a._sql(ctx) for a in args)})"

        return Column(render, f"{self.__name__}({', '.join(a._spark_name for a in args)})")

    def _call(self, arrays: list, rows: int) -> pa.Array:
        t = self.returnType._arrow()
        args = [pa.array(a) for a in arrays]
        if self._vectorized:
            out = self.func(*[a.to_pandas() for a in args])
            if isinstance(out, pa.Array):
                return out.cast(t)
            return pa.Array.from_pandas(out, type=t)
        if args:
            columns = [a.to_pylist() for a in args]
            values = [self.func(*row) for row in zip(*columns)]
        else:
            values = [self.func() for _ in builtins.range(rows)]
        return pa.array(values, type=t)


def udf(f: Any = None, returnType: Any = None, *, useArrow: Optional[bool] = None) -> Any:
    """``udf(fn, "double")``, ``@udf("double")``, ``@udf(returnType=...)`` or ``@udf``."""
    if f is None or isinstance(f, (str, DataType)):
        rt = f if returnType is None else returnType
        return lambda fn: UserDefinedFunction(fn, rt)
    return UserDefinedFunction(f, returnType)


def pandas_udf(f: Any = None, returnType: Any = None, functionType: Any = None) -> Any:
    """``pandas_udf(fn, "double")`` or ``@pandas_udf("double")``: called on pandas Series."""
    if f is None or isinstance(f, (str, DataType)):
        rt = f if returnType is None else returnType
        return lambda fn: UserDefinedFunction(fn, rt, vectorized=True)
    return UserDefinedFunction(f, returnType, vectorized=True)


class UDFRegistration:
    """``spark.udf``: functions by name for SQL."""

    def __init__(self, session: Any):
        self._session = session

    def register(self, name: str, f: Any, returnType: Any = None) -> UserDefinedFunction:
        if isinstance(f, UserDefinedFunction):
            u = UserDefinedFunction(f.func, returnType or f.returnType, f._vectorized, name)
        else:
            u = UserDefinedFunction(f, returnType, False, name)
        u._register(self._session, name)
        u._sessions.add(id(self._session))
        return u
