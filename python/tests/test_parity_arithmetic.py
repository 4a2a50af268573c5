"""Arithmetic as PySpark 4 does it in its default ANSI mode: a division or remainder by zero and
an integer overflow raise, with Spark's condition; a guarded division never raises; the try_
functions give NULL instead.

Every expected value here is PySpark 4's answer to the same program (run with
``SparkSession.builder.master("local[1]")``).
"""

import pytest

from tributary.errors import ArithmeticException, IllegalArgumentException, NumberFormatException
from tributary.sql import functions as F


def rows(df):
    return sorted(tuple(r) for r in df.collect())


@pytest.fixture
def df(spark):
    return spark.createDataFrame(
        [(4, 2, "1"), (9, 0, "x"), (6, 3, "2"), (8, 2, "3"), (1, 0, "y")], "a int, b int, s string"
    )


def raises(condition, kind=ArithmeticException):
    return pytest.raises(kind, match=rf"^\[{condition}\]")


def test_a_division_or_remainder_by_zero_raises_with_sparks_condition(df):
    with raises("DIVIDE_BY_ZERO") as e:
        df.select(F.col("a") / F.col("b")).collect()
    assert e.value.getCondition() == "DIVIDE_BY_ZERO" and "try_divide" in str(e.value)
    with raises("DIVIDE_BY_ZERO"):
        df.select(F.col("a").cast("double") / F.lit(0.0)).collect()
    with raises("REMAINDER_BY_ZERO") as e:
        df.select(F.col("a") % F.col("b")).collect()
    assert e.value.getErrorClass() == "REMAINDER_BY_ZERO"
    with raises("REMAINDER_BY_ZERO"):
        df.select(F.pmod("a", "b")).collect()


def test_a_guarded_division_never_raises(df):
    guarded = df.filter((F.col("b") != 0) & (F.col("a") / F.col("b") > 1))
    assert rows(guarded) == [(4, 2, "1"), (6, 3, "2"), (8, 2, "3")]
    either = df.select("a", ((F.col("b") == 0) | (F.col("a") % F.col("b") == 0)).alias("ok"))
    assert rows(either) == [(1, True), (4, True), (6, True), (8, True), (9, True)]
    when = df.select("a", F.when(F.col("b") != 0, F.col("a") / F.col("b")).alias("q"))
    assert when.dtypes == [("a", "int"), ("q", "double")]
    assert rows(when) == [(1, None), (4, 2.0), (6, 2.0), (8, 4.0), (9, None)]
    # A cast that fails on the rows the filter removes.
    cast = df.filter(F.col("b") != 0).select((F.col("s").cast("int") * 2).alias("v"))
    assert cast.dtypes == [("v", "int")] and rows(cast) == [(2,), (4,), (6,)]


def test_names_and_types_of_arithmetic_with_python_ints(df):
    out = df.filter(F.col("b") != 0).select(
        F.col("a") / F.col("b"), F.col("a") % 2, F.col("a") + 1, F.lit(1), F.pmod("a", F.lit(3)),
        F.try_divide("a", "b"),
    )
    assert out.dtypes == [
        ("(a / b)", "double"), ("(a % 2)", "int"), ("(a + 1)", "int"), ("1", "int"),
        ("pmod(a, 3)", "int"), ("try_divide(a, b)", "double"),
    ]
    assert rows(out) == [(2.0, 0, 5, 1, 1, 2.0), (2.0, 0, 7, 1, 0, 2.0), (4.0, 0, 9, 1, 2, 4.0)]


def test_integer_overflow_raises_and_a_wider_type_computes(df, spark):
    with raises("ARITHMETIC_OVERFLOW") as e:
        df.select((F.col("a") * 1000000000).alias("v")).collect()
    assert "try_multiply" in str(e.value)
    big = df.select((F.col("a").cast("bigint") * 1000000000).alias("v"))
    assert big.dtypes == [("v", "bigint")]
    assert rows(big) == [(1000000000,), (4000000000,), (6000000000,), (8000000000,), (9000000000,)]
    with raises("ARITHMETIC_OVERFLOW"):
        df.groupBy().agg(F.sum(F.col("a") * 1000000000)).collect()
    m = spark.createDataFrame([(2147483647, 7)], "m int, a int")
    with raises("ARITHMETIC_OVERFLOW"):
        m.select(F.col("m") + F.col("a")).collect()
    with raises("ARITHMETIC_OVERFLOW"):
        m.select(F.col("m") + F.lit(1)).collect()


def test_try_functions_give_null_where_the_operator_raises(spark):
    df = spark.createDataFrame([(7, 0, 2147483647, -7, 3)], "a int, z int, m int, n int, t int")
    out = df.select(
        F.try_divide("a", F.lit(2)).alias("d"), F.try_add("m", F.lit(1)).alias("s"),
        F.try_mod("a", "z").alias("r"), F.try_multiply("m", "m").alias("p"),
        F.try_subtract("n", "t").alias("u"), (F.col("n") % F.col("t")).alias("mod"),
        F.pmod("n", "t").alias("pmod"), F.pmod(F.lit(-7.5), F.lit(2)).alias("pmodd"),
    )
    assert out.dtypes == [
        ("d", "double"), ("s", "int"), ("r", "int"), ("p", "int"), ("u", "int"), ("mod", "int"),
        ("pmod", "int"), ("pmodd", "double"),
    ]
    assert rows(out) == [(3.5, None, None, None, -10, -1, 2, 0.5)]


def test_text_that_is_not_a_number_raises_number_format(df):
    with raises("CAST_INVALID_INPUT", NumberFormatException) as e:
        df.select(F.col("s").cast("int")).collect()
    assert isinstance(e.value, IllegalArgumentException)


def test_a_sum_past_bigint_raises_and_try_sum_gives_null(spark):
    from decimal import Decimal

    from tributary.sql.window import Window

    df = spark.createDataFrame(
        [(1, 9223372036854775807), (1, 1), (2, 3), (2, 4), (3, None)], "k int, v bigint"
    )
    with raises("ARITHMETIC_OVERFLOW") as e:
        df.groupBy("k").agg(F.sum("v")).collect()
    assert "try_sum" in str(e.value)
    with raises("ARITHMETIC_OVERFLOW"):
        df.agg(F.sum("v")).collect()
    out = df.groupBy("k").agg(F.try_sum("v"), F.sum(F.col("v").cast("decimal(38,0)")).alias("exact"))
    assert out.dtypes == [("k", "int"), ("try_sum(v)", "bigint"), ("exact", "decimal(38,0)")]
    assert rows(out) == [
        (1, None, Decimal("9223372036854775808")), (2, 7, Decimal("7")), (3, None, None),
    ]
    small = df.filter("k <> 1").agg(F.sum("v"), F.try_sum(F.col("k")))
    assert small.dtypes == [("sum(v)", "bigint"), ("try_sum(k)", "bigint")]
    assert rows(small) == [(7, 7)]
    w = df.select("k", F.try_sum("v").over(Window.partitionBy("k")).alias("t"))
    assert w.dtypes == [("k", "int"), ("t", "bigint")]
    assert rows(w) == [(1, None), (1, None), (2, 7), (2, 7), (3, None)]


def test_decimal_arithmetic_past_its_precision_raises(spark):
    from decimal import Decimal

    df = spark.createDataFrame([(Decimal("12000000000000000000"),)], "d decimal(20,0)")
    with raises("NUMERIC_VALUE_OUT_OF_RANGE.WITH_SUGGESTION") as e:
        df.select(F.col("d") * F.col("d")).collect()
    assert e.value.getCondition() == "NUMERIC_VALUE_OUT_OF_RANGE.WITH_SUGGESTION"
    assert "144000000000000000000000000000000000000" in str(e.value)
    ok = df.select((F.col("d") + F.col("d")).alias("s"))
    assert ok.dtypes == [("s", "decimal(21,0)")]
    assert rows(ok) == [(Decimal("24000000000000000000"),)]
