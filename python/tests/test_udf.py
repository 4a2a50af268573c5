"""Python UDFs in batch, stream and SQL; an exception stops the query with its traceback."""

import pandas as pd
import pytest

from tributary import errors
from tributary.sql import functions as F
from tributary.sql.types import DoubleType, LongType

from conftest import EVENTS, write_events


def test_a_row_udf_in_a_batch(spark):
    df = spark.createDataFrame([(1, "ann"), (2, None), (3, "carl")], "id BIGINT, name STRING")
    shout = F.udf(lambda s: None if s is None else s.upper() + "!")
    plus = F.udf(lambda a, b: a + b, LongType())
    out = df.select("id", shout("name").alias("s"), plus("id", F.lit(10)).alias("p")).orderBy("id").collect()
    assert [(r.s, r.p) for r in out] == [("ANN!", 11), (None, 12), ("CARL!", 13)]
    assert df.select(shout("name")).columns == ["<lambda>(name)"]


def test_decorators_and_pandas_udfs(spark):
    @F.udf(returnType="int")
    def twice(x):
        return x * 2

    @F.pandas_udf("double")
    def ratio(a: pd.Series, b: pd.Series) -> pd.Series:
        return a / b

    df = spark.createDataFrame([(1, 4), (3, 4)], "a INT, b INT")
    out = df.select(twice("a").alias("t"), ratio("a", "b").alias("r")).orderBy("t").collect()
    assert [(r.t, r.r) for r in out] == [(2, 0.25), (6, 0.75)]
    assert dict(df.select(ratio("a", "b").alias("r")).dtypes) == {"r": "double"}


def test_registered_udfs_work_in_sql(spark):
    spark.udf.register("cube", lambda x: x ** 3, DoubleType())
    spark.createDataFrame([(2.0,), (3.0,)], "x DOUBLE").createOrReplaceTempView("nums")
    assert [r.c for r in spark.sql("SELECT cube(x) AS c FROM nums ORDER BY x").collect()] == [8.0, 27.0]


def test_a_udf_in_a_stream_equals_the_batch(spark, tmp_path):
    write_events(tmp_path / "in", "a.json", 0, 20)
    write_events(tmp_path / "in", "b.json", 20, 20)
    tier = F.udf(lambda amount: "big" if amount >= 30 else "small")

    def prog(df):
        return df.select("id", tier("amount").alias("tier"))

    got = []
    q = (
        prog(spark.readStream.schema(EVENTS).option("maxFilesPerTrigger", 1).json(str(tmp_path / "in")))
        .writeStream.foreachBatch(lambda df, i: got.extend(tuple(r) for r in df.collect()))
        .option("checkpointLocation", str(tmp_path / "ckpt"))
        .trigger(availableNow=True)
        .start()
    )
    q.awaitTermination()
    batch = prog(spark.read.schema(EVENTS).json(str(tmp_path / "in"))).collect()
    assert sorted(got) == sorted(tuple(r) for r in batch) and len(got) == 40


def test_an_exception_in_a_udf_carries_the_python_traceback(spark, tmp_path):
    def boom(x):
        raise ValueError(f"cannot handle {x}")

    bad = F.udf(boom, "string")
    df = spark.createDataFrame([(7,)], "x BIGINT")
    with pytest.raises(errors.TributaryException, match="cannot handle 7") as e:
        df.select(bad("x")).collect()
    assert "in boom" in str(e.value)
    write_events(tmp_path / "in", "a.json", 0, 2)
    q = (
        spark.readStream.schema(EVENTS).json(str(tmp_path / "in"))
        .select(bad("id"))
        .writeStream.format("memory").queryName("never")
        .trigger(availableNow=True)
        .start()
    )
    with pytest.raises(errors.StreamingQueryException, match="cannot handle 0|cannot handle 1"):
        q.awaitTermination()
