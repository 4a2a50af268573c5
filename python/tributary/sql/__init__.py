"""``tributary.sql``: PySpark's ``pyspark.sql`` API on Tributary's engine.

Change ``from pyspark.sql import ...`` to ``from tributary.sql import ...``; see docs/python.md
for what is supported and what raises (never a silent difference).
"""

from tributary.sql import functions, types
from tributary.sql.column import Column
from tributary.sql.dataframe import DataFrame, GroupedData
from tributary.sql.readwriter import DataFrameReader, DataFrameWriter, DataStreamReader
from tributary.sql.row import Row
from tributary.sql.session import RuntimeConfig, SparkSession
from tributary.sql.streaming import (
    DataStreamWriter,
    StreamingQuery,
    StreamingQueryListener,
    StreamingQueryManager,
)
from tributary.sql.window import Window, WindowSpec

__all__ = [
    "Column", "DataFrame", "DataFrameReader", "DataFrameWriter", "DataStreamReader",
    "DataStreamWriter", "GroupedData", "Row", "RuntimeConfig", "SparkSession", "StreamingQuery",
    "StreamingQueryListener", "StreamingQueryManager", "Window", "WindowSpec", "functions", "types",
]
