"""Streaming: ``df.writeStream``, ``StreamingQuery``, ``spark.streams`` and listeners."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Callable, Optional

from tributary.errors import PySparkValueError, StreamingQueryException, not_supported

if TYPE_CHECKING:
    from tributary.sql.dataframe import DataFrame
    from tributary.sql.session import SparkSession


def _trigger(processingTime: Optional[str], once: Optional[bool], availableNow: Optional[bool],
             continuous: Optional[str], realTime: Optional[str]) -> Optional[str]:
    given = [x for x in (processingTime, once, availableNow, continuous, realTime) if x is not None]
    if len(given) != 1:
        raise PySparkValueError("trigger() takes exactly one of processingTime, once, availableNow, realTime")
    if continuous is not None:
        raise not_supported("trigger(continuous=...)", "use trigger(realTime='5 seconds'): rows are processed as they arrive")
    if realTime is not None:
        if not re.fullmatch(r"\s*\d+(\.\d+)?\s*[a-zA-Z ]*", str(realTime)):
            raise PySparkValueError(f"realTime '{realTime}' is not a checkpoint interval such as '5 seconds'")
        return "realtime:" + str(realTime).strip()
    if once:
        return "once"
    if availableNow:
        return "available-now"
    if processingTime is not None:
        if not re.fullmatch(r"\s*\d+(\.\d+)?\s*[a-zA-Z ]*", str(processingTime)):
            raise PySparkValueError(f"processingTime '{processingTime}' is not an interval such as '10 seconds'")
        return str(processingTime).strip()
    raise PySparkValueError("trigger(once=False) / trigger(availableNow=False) is not a trigger")


class DataStreamWriter:
    """``df.writeStream``: where and how a streaming DataFrame's results go."""

    def __init__(self, df: "DataFrame"):
        self._df = df
        self._format = "parquet"
        self._output_mode: Optional[str] = None
        self._trigger: Optional[str] = None
        self._options: dict[str, str] = {}
        self._name: Optional[str] = None
        self._foreach: Optional[Callable] = None
        self._partition_by: list[str] = []

    def format(self, source: str) -> "DataStreamWriter":
        self._format = source.lower()
        return self

    def outputMode(self, outputMode: str) -> "DataStreamWriter":
        self._output_mode = outputMode.lower()
        return self

    def trigger(self, processingTime: Optional[str] = None, once: Optional[bool] = None,
                continuous: Optional[str] = None, availableNow: Optional[bool] = None,
                realTime: Optional[str] = None) -> "DataStreamWriter":
        self._trigger = _trigger(processingTime, once, availableNow, continuous, realTime)
        return self

    def option(self, key: str, value: Any) -> "DataStreamWriter":
        from tributary.sql.readwriter import _opt

        self._options[key] = _opt(value)
        return self

    def options(self, **options: Any) -> "DataStreamWriter":
        for k, v in options.items():
            self.option(k, v)
        return self

    def queryName(self, queryName: str) -> "DataStreamWriter":
        self._name = queryName
        return self

    def partitionBy(self, *cols: str) -> "DataStreamWriter":
        self._partition_by = list(cols[0]) if len(cols) == 1 and isinstance(cols[0], (list, tuple)) else list(cols)
        return self

    def foreachBatch(self, func: Callable) -> "DataStreamWriter":
        session = self._df.sparkSession
        # Each batch has the stream's columns (two of one name, a join's, included).
        fields = self._df._fields

        def call(native_df: Any, epoch_id: int) -> None:
            from tributary.sql.dataframe import DataFrame

            same = list(native_df.columns()) == [f.phys for f in fields]
            func(DataFrame(native_df, session, fields=fields if same else None), epoch_id)

        self._foreach = call
        self._format = "foreach_batch"
        return self

    def foreach(self, f: Any) -> "DataStreamWriter":
        raise not_supported("writeStream.foreach", "use foreachBatch and iterate over df.collect()")

    def start(self, path: Optional[str] = None, format: Optional[str] = None,
              outputMode: Optional[str] = None, partitionBy: Any = None,
              queryName: Optional[str] = None, **options: Any) -> "StreamingQuery":
        if format is not None:
            self.format(format)
        if outputMode is not None:
            self.outputMode(outputMode)
        if partitionBy is not None:
            self.partitionBy(partitionBy)
        if queryName is not None:
            self.queryName(queryName)
        self.options(**options)
        if path is None and "path" in self._options:
            path = self._options.pop("path")
        opts = dict(self._options)
        if self._partition_by:
            # Hive-style `col=value/` folders for files; the partition columns of a Delta table
            # the stream creates.
            if self._format not in ("parquet", "json", "delta"):
                raise not_supported(f"writeStream.partitionBy with format '{self._format}'",
                                    "partition a parquet, json or delta sink")
            opts["partition_by"] = ",".join(self._partition_by)
        session = self._df.sparkSession
        root = session.conf.get("spark.sql.streaming.checkpointLocation", None)
        if root and not any(k.lower().replace("_", "") == "checkpointlocation" for k in opts):
            opts["checkpointLocation"] = f"{root.rstrip('/')}/{self._name or 'query'}"
        df = self._df._df if self._foreach is not None else self._df._native_unique(f"writeStream to {self._format}")
        native = df.write_stream(
            self._format if self._foreach is None else "foreach_batch",
            self._output_mode,
            self._trigger,
            opts,
            self._name,
            self._foreach,
            path or "",
        )
        return StreamingQuery(native, session)

    def toTable(self, tableName: str, format: Optional[str] = None, outputMode: Optional[str] = None,
                partitionBy: Any = None, queryName: Optional[str] = None, **options: Any) -> "StreamingQuery":
        from tributary.sql.readwriter import table_path

        fmt = format or ("delta" if self._format == "parquet" else self._format)
        return self.start(table_path(self._df.sparkSession, tableName), fmt, outputMode, partitionBy, queryName, **options)


class StreamingQuery:
    """A handle on a running streaming query."""

    def __init__(self, native: Any, session: "SparkSession"):
        self._q = native
        self.sparkSession = session

    @property
    def id(self) -> str:
        return self._q.id()

    @property
    def runId(self) -> str:
        return self._q.run_id()

    @property
    def name(self) -> Optional[str]:
        return self._q.name()

    @property
    def isActive(self) -> bool:
        return self._q.is_active()

    @property
    def status(self) -> dict:
        message, data, active = self._q.status()
        return {"message": message, "isDataAvailable": data, "isTriggerActive": active}

    @property
    def lastProgress(self) -> Optional[dict]:
        p = self._q.last_progress()
        return json.loads(p) if p else None

    @property
    def recentProgress(self) -> list:
        return [json.loads(p) for p in self._q.recent_progress()]

    def awaitTermination(self, timeout: Optional[float] = None) -> Optional[bool]:
        return self._q.await_termination(timeout)

    def processAllAvailable(self) -> None:
        self._q.process_all_available()

    def stop(self) -> None:
        self._q.stop()

    def exception(self) -> Optional[StreamingQueryException]:
        e = self._q.exception()
        return StreamingQueryException(e) if e else None

    def explain(self, extended: bool = False) -> None:
        print(self._q.explain())

    def __repr__(self) -> str:
        return f"<StreamingQuery id={self.id} name={self.name} active={self.isActive}>"


class StreamingQueryManager:
    """``spark.streams``: the session's queries."""

    def __init__(self, session: "SparkSession"):
        self._session = session
        self._listeners: list = []

    @property
    def active(self) -> list:
        return [StreamingQuery(q, self._session) for q in self._session._native.active()]

    def get(self, id: str) -> Optional[StreamingQuery]:
        q = self._session._native.get(id)
        return StreamingQuery(q, self._session) if q is not None else None

    def awaitAnyTermination(self, timeout: Optional[float] = None) -> Optional[bool]:
        done = self._session._native.await_any_termination(timeout)
        return done if timeout is not None else None

    def resetTerminated(self) -> None:
        self._session._native.reset_terminated()

    def addListener(self, listener: "StreamingQueryListener") -> None:
        if not isinstance(listener, StreamingQueryListener):
            raise PySparkValueError("addListener takes a StreamingQueryListener subclass instance")
        handle = self._session._native.add_listener(_Adapter(listener))
        self._listeners.append((listener, handle))

    def removeListener(self, listener: "StreamingQueryListener") -> None:
        for i, (l, h) in enumerate(self._listeners):
            if l is listener:
                self._session._native.remove_listener(h)
                del self._listeners[i]
                return


class StreamingQueryListener:
    """Subclass and override the events you need; add with ``spark.streams.addListener``."""

    def onQueryStarted(self, event: "QueryStartedEvent") -> None:
        pass

    def onQueryProgress(self, event: "QueryProgressEvent") -> None:
        pass

    def onQueryIdle(self, event: "QueryIdleEvent") -> None:
        pass

    def onQueryTerminated(self, event: "QueryTerminatedEvent") -> None:
        pass


class QueryStartedEvent:
    def __init__(self, id: str, runId: str, name: Optional[str], timestamp: str):
        self.id, self.runId, self.name, self.timestamp = id, runId, name, timestamp


class QueryIdleEvent:
    def __init__(self, id: str, runId: str, timestamp: str):
        self.id, self.runId, self.timestamp = id, runId, timestamp


class QueryTerminatedEvent:
    def __init__(self, id: str, runId: str, exception: Optional[str]):
        self.id, self.runId, self.exception = id, runId, exception
        self.errorClassOnException = None


class StreamingQueryProgress:
    """An epoch's progress: Spark's fields as attributes, plus ``json`` and ``prettyJson``."""

    def __init__(self, raw: str):
        self.json = raw
        self._d = json.loads(raw)
        self.prettyJson = json.dumps(self._d, indent=2)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._d[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, key: str) -> Any:
        return self._d[key]


class QueryProgressEvent:
    def __init__(self, progress: StreamingQueryProgress):
        self.progress = progress


class _Adapter:
    """What the engine calls; builds PySpark's events for the user's listener."""

    def __init__(self, listener: StreamingQueryListener):
        self._l = listener

    def _started(self, id: str, run_id: str, name: Optional[str], ts: str) -> None:
        self._l.onQueryStarted(QueryStartedEvent(id, run_id, name, ts))

    def _progress(self, raw: str) -> None:
        self._l.onQueryProgress(QueryProgressEvent(StreamingQueryProgress(raw)))

    def _idle(self, id: str, run_id: str, ts: str) -> None:
        self._l.onQueryIdle(QueryIdleEvent(id, run_id, ts))

    def _terminated(self, id: str, run_id: str, exception: Optional[str]) -> None:
        self._l.onQueryTerminated(QueryTerminatedEvent(id, run_id, exception))
