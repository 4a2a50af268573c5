"""``SparkSession``: the entry point, as in PySpark (``SparkSession.builder...getOrCreate()``)."""

from __future__ import annotations

import json
import os
import threading
import warnings
from typing import Any, Optional

import decimal as _decimal

import pyarrow as pa

from tributary import _native
from tributary.errors import PySparkTypeError, PySparkValueError, not_supported
from tributary.sql.dataframe import DataFrame
from tributary.sql.readwriter import DataFrameReader, DataStreamReader, table_path
from tributary.sql.row import Row
from tributary.sql.streaming import StreamingQueryManager
from tributary.sql.types import StructType, _parse_ddl
from tributary.sql.udf import UDFRegistration

# Spark settings that a program may set and that have no meaning on one process of Tributary:
# accepted, with the reason in docs/python.md. Any other `spark.*` key warns; other keys are
# Tributary's own session options (checkpoint_root, storage options) and are checked.
_SPARK_KEYS_WITHOUT_EFFECT = {
    "spark.master", "spark.app.name", "spark.sql.shuffle.partitions", "spark.default.parallelism",
    "spark.driver.memory", "spark.executor.memory", "spark.executor.cores", "spark.ui.enabled",
    "spark.ui.showConsoleProgress", "spark.jars.packages", "spark.sql.extensions",
    "spark.sql.catalog.spark_catalog", "spark.sql.adaptive.enabled",
    "spark.sql.streaming.schemaInference", "spark.sql.execution.arrow.pyspark.enabled",
    "spark.databricks.delta.schema.autoMerge.enabled", "spark.sql.warehouse.dir",
    "spark.sql.streaming.checkpointLocation", "spark.sql.session.timeZone",
    "spark.sql.streaming.forceDeleteTempCheckpointLocation",
}


class RuntimeConfig:
    """``spark.conf``: ``set``, ``get``, ``unset``, ``isModifiable``."""

    def __init__(self, session: "SparkSession"):
        self._session = session
        self._values: dict[str, str] = {}

    def set(self, key: str, value: Any) -> None:
        v = "true" if value is True else "false" if value is False else str(value)
        if key == "spark.driver.memory":
            # Local mode's one process: the driver's memory is what the engine's plans may hold.
            self._session._native.set_conf("memory_limit", v)
        elif key.startswith("spark."):
            if key == "spark.sql.session.timeZone" and v.upper() not in ("UTC", "GMT", "Z", "ETC/UTC"):
                raise not_supported(f"spark.sql.session.timeZone={v}", "Tributary's session time zone is UTC; convert with from_utc_timestamp-style arithmetic")
            if key not in _SPARK_KEYS_WITHOUT_EFFECT:
                warnings.warn(f"the Spark setting '{key}' has no effect on Tributary", stacklevel=2)
        else:
            self._session._native.set_conf(key, v)
        self._values[key] = v

    def get(self, key: str, default: Any = None) -> Any:
        if key in self._values:
            return self._values[key]
        if not key.startswith("spark."):
            v = self._session._native.conf(key)
            if v is not None:
                return v
        return default

    def unset(self, key: str) -> None:
        self._values.pop(key, None)

    def isModifiable(self, key: str) -> bool:
        return True


class SparkSession:
    """A Tributary session with PySpark's API. Queries run in this process, on the Rust engine."""

    _active: Optional["SparkSession"] = None
    _lock = threading.Lock()

    class Builder:
        def __init__(self) -> None:
            self._options: dict[str, Any] = {}

        def appName(self, name: str) -> "SparkSession.Builder":
            self._options["spark.app.name"] = name
            return self

        def master(self, master: str) -> "SparkSession.Builder":
            self._options["spark.master"] = master
            return self

        def config(self, key: Any = None, value: Any = None, conf: Any = None, map: Optional[dict] = None) -> "SparkSession.Builder":
            if isinstance(key, dict):
                map, key = key, None
            if key is not None:
                self._options[key] = value
            for k, v in (map or {}).items():
                self._options[k] = v
            if conf is not None:
                for k, v in conf.getAll():
                    self._options[k] = v
            return self

        def enableHiveSupport(self) -> "SparkSession.Builder":
            raise not_supported("enableHiveSupport", "tables are Delta folders; name them with saveAsTable/toTable under spark.sql.warehouse.dir")

        def getOrCreate(self) -> "SparkSession":
            with SparkSession._lock:
                s = SparkSession._active
                if s is None:
                    s = SparkSession()
                    SparkSession._active = s
            for k, v in self._options.items():
                s.conf.set(k, v)
            return s

        create = getOrCreate

    builder = Builder()

    def __init__(self) -> None:
        self._native = _native.Session()
        # `tributary submit --storage-option KEY=VALUE` passes its settings to every session.
        for k, v in json.loads(os.environ.get("TRIBUTARY_STORAGE_OPTIONS") or "{}").items():
            self._native.set_conf(k, v)
        # `tributary submit --memory-limit SIZE` likewise.
        limit = os.environ.get("TRIBUTARY_MEMORY_LIMIT")
        if limit:
            self._native.set_conf("memory_limit", limit)
        self.conf = RuntimeConfig(self)
        self._streams = StreamingQueryManager(self)
        self.udf = UDFRegistration(self)

    @classmethod
    def getActiveSession(cls) -> Optional["SparkSession"]:
        return cls._active

    @property
    def version(self) -> str:
        return _native.__version__

    @property
    def read(self) -> DataFrameReader:
        return DataFrameReader(self)

    @property
    def readStream(self) -> DataStreamReader:
        return DataStreamReader(self)

    @property
    def streams(self) -> StreamingQueryManager:
        return self._streams

    def sql(self, sqlQuery: str, args: Optional[dict] = None, **kwargs: Any) -> DataFrame:
        if args or kwargs:
            raise not_supported("spark.sql with parameters", "format the values into the query")
        return DataFrame(self._native.sql(sqlQuery), self)

    def table(self, tableName: str) -> DataFrame:
        if tableName in self._views():
            return DataFrame(self._native.table(tableName), self)
        return self.read.format("delta").load(table_path(self, tableName))

    def _views(self) -> set:
        t = self._native.sql("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
        return set(pa.table(t.collect()).column(0).to_pylist())

    def range(self, start: int, end: Optional[int] = None, step: int = 1, numPartitions: Optional[int] = None) -> DataFrame:
        if end is None:
            start, end = 0, start
        import builtins

        return self.createDataFrame(pa.table({"id": pa.array(list(builtins.range(start, end, step)), pa.int64())}))

    def createDataFrame(self, data: Any, schema: Any = None, samplingRatio: Any = None, verifySchema: bool = True) -> DataFrame:
        """A batch DataFrame from a pandas DataFrame, Arrow data, or rows (tuples, dicts, Rows)."""
        arrow_schema = None
        names = None
        if isinstance(schema, str):
            schema = _parse_ddl(schema)
        if isinstance(schema, StructType):
            arrow_schema = schema._arrow_schema()
        elif isinstance(schema, (list, tuple)):
            names = [str(n) for n in schema]
        elif schema is not None:
            raise PySparkTypeError(f"schema must be a StructType, a DDL string or a list of names, not {type(schema).__name__}")
        if hasattr(data, "__arrow_c_stream__") and not _is_pandas(data):
            table = pa.table(data)
        elif _is_pandas(data):
            table = pa.Table.from_pandas(data, preserve_index=False)
        elif isinstance(data, pa.RecordBatch):
            table = pa.Table.from_batches([data])
        elif isinstance(data, (list, tuple)):
            table = _rows_to_table(list(data), arrow_schema, names)
            arrow_schema = None
        else:
            raise PySparkTypeError(f"createDataFrame takes a pandas DataFrame, Arrow data or a list of rows, not {type(data).__name__}")
        if names is not None and len(names) == table.num_columns:
            table = table.rename_columns(names)
        if arrow_schema is not None:
            table = table.cast(arrow_schema)
        return DataFrame(self._native.create_dataframe(table), self)

    def stop(self) -> None:
        self._native.stop()
        with SparkSession._lock:
            if SparkSession._active is self:
                SparkSession._active = None

    def __enter__(self) -> "SparkSession":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _is_pandas(data: Any) -> bool:
    return type(data).__module__.startswith("pandas") and type(data).__name__ == "DataFrame"


def _rows_to_table(rows: list, schema: Optional[pa.Schema], names: Optional[list]) -> pa.Table:
    if not rows:
        if schema is None:
            raise PySparkValueError("createDataFrame of no rows needs a schema")
        return schema.empty_table()
    first = rows[0]
    if isinstance(first, Row) and first.__fields__:
        cols = list(first.__fields__)
        values = [list(r) for r in rows]
    elif isinstance(first, dict):
        cols = list(first.keys())
        values = [[r.get(c) for c in cols] for r in rows]
    elif isinstance(first, (list, tuple)):
        cols = schema.names if schema is not None else names or [f"_{i + 1}" for i in __import__("builtins").range(len(first))]
        values = [list(r) for r in rows]
    else:
        cols = schema.names if schema is not None else names or ["value"]
        values = [[r] for r in rows]
    if schema is not None:
        cols = schema.names
    arrays = {}
    for i, c in enumerate(cols):
        col = [v[i] if i < len(v) else None for v in values]
        t = schema.field(c).type if schema is not None else None
        if t is None and any(isinstance(x, _decimal.Decimal) for x in col):
            # PySpark infers a Python Decimal as DECIMAL(38, 18), whatever its digits.
            t = pa.decimal128(38, 18)
        arrays[c] = pa.array([_plain(x) for x in col], type=t)
    return pa.table(arrays)


def _plain(v: Any) -> Any:
    if isinstance(v, Row):
        return v.asDict(True) if v.__fields__ else list(v)
    return v
