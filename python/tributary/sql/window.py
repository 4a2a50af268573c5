"""``Window`` and ``WindowSpec``: PySpark's window specifications, rendered as SQL ``OVER (...)``.

    w = Window.partitionBy("auction").orderBy(F.desc("price"))
    top = bids.withColumn("rank", F.row_number().over(w)).filter(F.col("rank") <= 10)

As a batch any window function runs. On a stream, ``row_number()`` filtered to its first N ranks
runs incrementally (a streaming Top-N, output mode ``update``); other window functions are refused
when the query starts, with the reason (docs/python.md).
"""

from __future__ import annotations

from typing import Any, Optional

from tributary.sql.column import Column, Scope, _name_col

__all__ = ["Window", "WindowSpec"]


def _as_column(c: Any) -> Column:
    return c if isinstance(c, Column) else _name_col(str(c))


def _bound(v: int, end: bool) -> str:
    if v <= Window.unboundedPreceding:
        return "UNBOUNDED PRECEDING"
    if v >= Window.unboundedFollowing:
        return "UNBOUNDED FOLLOWING"
    if v == 0:
        return "CURRENT ROW"
    return f"{-v} PRECEDING" if v < 0 else f"{v} FOLLOWING"


class WindowSpec:
    """The partitioning, ordering and frame of a window function."""

    def __init__(self, partition: tuple = (), order: tuple = (), frame: Optional[tuple] = None):
        self._partition = partition
        self._order = order
        self._frame = frame

    def partitionBy(self, *cols: Any) -> "WindowSpec":
        cols = cols[0] if len(cols) == 1 and isinstance(cols[0], (list, tuple)) else cols
        return WindowSpec(tuple(_as_column(c) for c in cols), self._order, self._frame)

    def orderBy(self, *cols: Any) -> "WindowSpec":
        cols = cols[0] if len(cols) == 1 and isinstance(cols[0], (list, tuple)) else cols
        return WindowSpec(self._partition, tuple(_as_column(c) for c in cols), self._frame)

    def rowsBetween(self, start: int, end: int) -> "WindowSpec":
        return WindowSpec(self._partition, self._order, ("ROWS", start, end))

    def rangeBetween(self, start: int, end: int) -> "WindowSpec":
        return WindowSpec(self._partition, self._order, ("RANGE", start, end))

    def _sql(self, ctx: Optional[Scope]) -> str:
        parts = []
        if self._partition:
            parts.append("PARTITION BY " + ", ".join(c._sql(ctx) for c in self._partition))
        if self._order:
            parts.append("ORDER BY " + ", ".join(c._order_sql(ctx) for c in self._order))
        if self._frame:
            kind, start, end = self._frame
            parts.append(f"{kind} BETWEEN {_bound(start, False)} AND {_bound(end, True)}")
        return " ".join(parts)

    def _spark_name(self) -> str:
        parts = []
        if self._partition:
            parts.append("PARTITION BY " + ", ".join(c._spark_name for c in self._partition))
        if self._order:
            parts.append("ORDER BY " + ", ".join(
                f"{c._spark_name} {c._sort or 'ASC NULLS FIRST'}" for c in self._order))
        return " ".join(parts)


class Window:
    """Builds a :class:`WindowSpec` (``Window.partitionBy(...).orderBy(...)``)."""

    unboundedPreceding: int = -(1 << 63)
    unboundedFollowing: int = (1 << 63) - 1
    currentRow: int = 0

    @staticmethod
    def partitionBy(*cols: Any) -> WindowSpec:
        return WindowSpec().partitionBy(*cols)

    @staticmethod
    def orderBy(*cols: Any) -> WindowSpec:
        return WindowSpec().orderBy(*cols)

    @staticmethod
    def rowsBetween(start: int, end: int) -> WindowSpec:
        return WindowSpec().rowsBetween(start, end)

    @staticmethod
    def rangeBetween(start: int, end: int) -> WindowSpec:
        return WindowSpec().rangeBetween(start, end)
