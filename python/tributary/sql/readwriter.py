"""``spark.read`` / ``spark.readStream`` and ``df.write``: formats, options, schemas, paths."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Optional

import pyarrow as pa

from tributary.errors import PySparkTypeError, not_supported
from tributary.sql.types import StructType, _parse_ddl

if TYPE_CHECKING:
    from tributary.sql.dataframe import DataFrame
    from tributary.sql.session import SparkSession


def _opt(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _schema(schema: Any) -> Optional[pa.Schema]:
    if schema is None:
        return None
    if isinstance(schema, str):
        schema = _parse_ddl(schema)
    if isinstance(schema, StructType):
        return schema._arrow_schema()
    if isinstance(schema, pa.Schema):
        return schema
    raise PySparkTypeError(f"schema must be a StructType or a DDL string, not {type(schema).__name__}")


def table_path(session: "SparkSession", name: str) -> str:
    """Where a table named in `saveAsTable`/`toTable`/`table` lives: ``<warehouse>/<name>``
    (``spark.sql.warehouse.dir``, default ``spark-warehouse`` as in Spark)."""
    warehouse = session.conf.get("spark.sql.warehouse.dir", "spark-warehouse")
    if "://" in warehouse:
        return warehouse.rstrip("/") + "/" + name
    return os.path.abspath(os.path.join(warehouse, name))


class _Reader:
    def __init__(self, session: "SparkSession", stream: bool):
        self._session, self._stream = session, stream
        self._format: Optional[str] = None
        self._options: dict[str, str] = {}
        self._schema: Optional[pa.Schema] = None

    def format(self, source: str) -> Any:
        self._format = source.lower()
        return self

    def option(self, key: str, value: Any) -> Any:
        # Option names are case-insensitive, as in Spark: the last value given wins.
        for k in [k for k in self._options if k.lower() == key.lower()]:
            del self._options[k]
        self._options[key] = _opt(value)
        return self

    def options(self, **options: Any) -> Any:
        for k, v in options.items():
            self.option(k, v)
        return self

    def schema(self, schema: Any) -> Any:
        self._schema = _schema(schema)
        return self

    def load(self, path: Optional[str] = None, format: Optional[str] = None,
             schema: Any = None, **options: Any) -> "DataFrame":
        from tributary.sql.dataframe import DataFrame

        if format is not None:
            self.format(format)
        if schema is not None:
            self.schema(schema)
        self.options(**options)
        if isinstance(path, (list, tuple)):
            raise not_supported("load() of several paths", "load their parent folder, or union the DataFrames")
        fmt = self._format or "parquet"
        if (
            not self._stream
            and fmt in ("json", "csv", "parquet", "text")
            and path is not None
            and "://" not in path
            and not os.path.exists(path)
        ):
            from tributary.errors import AnalysisException

            raise AnalysisException(f"[PATH_NOT_FOUND] Path does not exist: {path}")
        options = dict(self._options)
        schema = self._schema
        if fmt == "csv":
            # Spark's CSV has no header line unless told (`header=True`); without a schema it
            # names the columns of a file without one _c0, _c1, ... and reads every column as
            # text unless `inferSchema` is true.
            header_keys = [k for k in options if k.lower().replace("_", "") in ("header", "hasheader")]
            if not header_keys:
                options["header"] = "false"
            header = any(options[k].lower() == "true" for k in header_keys)
            infer = False
            for k in [k for k in options if k.lower() == "inferschema"]:
                infer = options.pop(k).lower() == "true"
            if schema is None and (not header or not infer):
                inferred = self._session._native.read(fmt, path, options, None, self._stream)
                names = pa.schema(inferred.schema()).names
                if not header:
                    names = [f"_c{i}" for i in range(len(names))]
                if infer:
                    native = self._session._native.read(fmt, path, options, None, self._stream)
                    return DataFrame(native, self._session).toDF(*names)
                schema = pa.schema([pa.field(n, pa.string()) for n in names])
        native = self._session._native.read(fmt, path, options, schema, self._stream)
        return DataFrame(native, self._session)

    def json(self, path: str, schema: Any = None, **options: Any) -> "DataFrame":
        return self.load(path, "json", schema, **options)

    def csv(self, path: str, schema: Any = None, sep: Optional[str] = None, header: Any = None,
            **options: Any) -> "DataFrame":
        if sep is not None:
            options["sep"] = sep
        if header is not None:
            options["header"] = header
        return self.load(path, "csv", schema, **options)

    def parquet(self, *paths: str, **options: Any) -> "DataFrame":
        if len(paths) != 1:
            raise not_supported("parquet() of several paths", "read their parent folder")
        return self.load(paths[0], "parquet", None, **options)

    def delta(self, path: str, **options: Any) -> "DataFrame":
        return self.load(path, "delta", None, **options)


class DataFrameReader(_Reader):
    """``spark.read``: data at rest, as a batch DataFrame."""

    def __init__(self, session: "SparkSession"):
        super().__init__(session, False)

    def table(self, tableName: str) -> "DataFrame":
        return self._session.table(tableName)


class DataStreamReader(_Reader):
    """``spark.readStream``: data in motion, as a streaming DataFrame."""

    def __init__(self, session: "SparkSession"):
        super().__init__(session, True)

    def table(self, tableName: str) -> "DataFrame":
        if tableName in self._session._views():
            raise not_supported(
                f"readStream.table('{tableName}') of a temporary view",
                "read the view's source with readStream",
            )
        return self.format("delta").load(table_path(self._session, tableName))


class DataFrameWriter:
    """``df.write``: a batch DataFrame to files, Delta or Kafka."""

    def __init__(self, df: "DataFrame"):
        self._df = df
        self._format = "parquet"
        self._mode = "errorifexists"
        self._options: dict[str, str] = {}
        self._partition_by: list[str] = []

    def format(self, source: str) -> "DataFrameWriter":
        self._format = source.lower()
        return self

    def mode(self, saveMode: Optional[str]) -> "DataFrameWriter":
        m = (saveMode or "errorifexists").lower()
        self._mode = {"error": "errorifexists", "default": "errorifexists"}.get(m, m)
        return self

    def option(self, key: str, value: Any) -> "DataFrameWriter":
        self._options[key] = _opt(value)
        return self

    def options(self, **options: Any) -> "DataFrameWriter":
        for k, v in options.items():
            self.option(k, v)
        return self

    def partitionBy(self, *cols: str) -> "DataFrameWriter":
        self._partition_by = list(cols[0]) if len(cols) == 1 and isinstance(cols[0], (list, tuple)) else list(cols)
        return self

    def save(self, path: Optional[str] = None, format: Optional[str] = None, mode: Optional[str] = None,
             partitionBy: Any = None, **options: Any) -> None:
        if format is not None:
            self.format(format)
        if mode is not None:
            self.mode(mode)
        if partitionBy is not None:
            self.partitionBy(partitionBy)
        self.options(**options)
        if path is None:
            raise PySparkTypeError("save() needs a path (or use saveAsTable(name))")
        self._df._unique(f"writing as {self._format}")
        self._df._df.write(self._format, self._mode, self._options, self._partition_by, path)

    def saveAsTable(self, name: str, format: Optional[str] = None, mode: Optional[str] = None,
                    partitionBy: Any = None, **options: Any) -> None:
        fmt = format or ("delta" if self._format == "parquet" else self._format)
        self.save(table_path(self._df.sparkSession, name), fmt, mode, partitionBy, **options)

    def json(self, path: str, mode: Optional[str] = None, **options: Any) -> None:
        self.save(path, "json", mode, **options)

    def parquet(self, path: str, mode: Optional[str] = None, partitionBy: Any = None, **options: Any) -> None:
        self.save(path, "parquet", mode, partitionBy, **options)

    def csv(self, path: str, mode: Optional[str] = None, **options: Any) -> None:
        raise not_supported("write.csv", "write JSON, Parquet or Delta")

    def insertInto(self, tableName: str, overwrite: Optional[bool] = None) -> None:
        self.saveAsTable(tableName, mode="overwrite" if overwrite else "append")
