"""DECIMAL arithmetic as PySpark 4 computes it: the result types of ``+ - * /`` (the scale giving
way past 38 digits, an integer counted by its width and an integer literal by its digits), the
values rounded half up, ``try_divide``, and ``avg`` rounded where DataFusion would cut digits off.

Every expected value here is PySpark 4.3's answer to the same program (``local[1]``, UTC).
"""

from decimal import Decimal as D

import pytest

from tributary.errors import ArithmeticException
from tributary.sql import functions as F
from tributary.sql.types import DecimalType, IntegerType, LongType, StructField, StructType


@pytest.fixture
def decs(spark):
    schema = StructType([
        StructField("k", IntegerType()), StructField("d", DecimalType(10, 2)),
        StructField("e", DecimalType(38, 10)), StructField("i", IntegerType()),
        StructField("l", LongType()),
    ])
    return spark.createDataFrame([
        (1, D("7.00"), D("1.5000000000"), 3, 3),
        (2, D("-1.25"), D("-0.0000000007"), 7, -7),
        (3, D("0.01"), D("123456789.0123456789"), -2, 2),
        (4, None, D("2"), 1, None),
    ], schema)


def test_operators_have_pysparks_types_and_values(decs):
    df = decs
    out = df.select("k", df.d / 2, 2 / df.d, df.d * 2, df.d + 1, df.d - df.i, df.d / df.i,
                    df.d / df.l, df.d * df.e, df.e * df.e, df.e / df.d, df.e + df.d,
                    F.try_divide(df.d, df.e))
    assert [(f.name, f.dataType.simpleString()) for f in out.schema.fields] == [
        ("k", "int"), ("(d / 2)", "decimal(14,6)"), ("(2 / d)", "decimal(14,11)"),
        ("(d * 2)", "decimal(12,2)"), ("(d + 1)", "decimal(11,2)"), ("(d - i)", "decimal(13,2)"),
        ("(d / i)", "decimal(21,13)"), ("(d / l)", "decimal(31,23)"), ("(d * e)", "decimal(38,6)"),
        ("(e * e)", "decimal(38,6)"), ("(e / d)", "decimal(38,8)"), ("(e + d)", "decimal(38,9)"),
        ("try_divide(d, e)", "decimal(38,20)"),
    ]
    got = sorted((tuple(r) for r in out.collect()), key=lambda r: r[0])
    assert got == [
        (1, D("3.500000"), D("0.28571428571"), D("14.00"), D("8.00"), D("4.00"),
         D("2.3333333333333"), D("2.33333333333333333333333"), D("10.500000"), D("2.250000"),
         D("0.21428571"), D("8.500000000"), D("4.66666666666666666667")),
        (2, D("-0.625000"), D("-1.60000000000"), D("-2.50"), D("-0.25"), D("-8.25"),
         D("-0.1785714285714"), D("0.17857142857142857142857"), D("0.000000"), D("0.000000"),
         D("0E-8"), D("-1.250000001"), D("1785714285.71428571428571428571")),
        (3, D("0.005000"), D("200.00000000000"), D("0.02"), D("1.01"), D("2.01"),
         D("-0.0050000000000"), D("0.00500000000000000000000"), D("1234567.890123"),
         D("15241578753238836.750191"), D("12345678901.23456789"), D("123456789.022345679"),
         D("8.100000073E-11")),
        (4, None, None, None, None, None, None, None, None, D("4.000000"), None, None, None),
    ]
    # Scales compared too: equal Decimals may print differently.
    assert [str(v) for v in got[0]][1:4] == ["3.500000", "0.28571428571", "14.00"]


def test_avg_of_decimals_is_rounded_half_up(decs):
    df = decs
    out = df.groupBy((df.k % 2).alias("g")).agg(F.avg("d"), F.avg("e"), F.sum("d")).orderBy("g")
    assert [(f.name, f.dataType.simpleString()) for f in out.schema.fields] == [
        ("g", "int"), ("avg(d)", "decimal(14,6)"), ("avg(e)", "decimal(38,14)"),
        ("sum(d)", "decimal(20,2)"),
    ]
    assert [tuple(r) for r in out.collect()] == [
        (0, D("-1.250000"), D("0.99999999965000"), D("-1.25")),
        (1, D("3.505000"), D("61728395.25617283945000"), D("7.01")),
    ]


def test_out_of_range_and_zero_divisors_raise_as_in_pyspark(spark):
    big = spark.createDataFrame(
        [(D("123456789012345678.0123456789"), D("0.00"))],
        StructType([StructField("e", DecimalType(38, 10)), StructField("z", DecimalType(10, 2))]),
    )
    with pytest.raises(ArithmeticException) as e:
        big.select(big.e * big.e).collect()
    assert e.value.getCondition() == "NUMERIC_VALUE_OUT_OF_RANGE.WITH_SUGGESTION"
    assert "15241578753238836531016615515622619.7529" in str(e.value)
    with pytest.raises(ArithmeticException) as e:
        big.select(big.e / big.z).collect()
    assert e.value.getCondition() == "DIVIDE_BY_ZERO"
    assert big.select(F.try_divide(big.e, big.z)).collect()[0][0] is None


def test_casts_of_doubles_and_remainders_as_in_pyspark(spark):
    df = spark.createDataFrame(
        [(1, 1.255, D("1.25"), D("-7.50")), (2, -1.005, D("-0.01"), D("2.25")),
         (3, float("nan"), D("9.99"), None)],
        "k int, x double, m decimal(5,2), d decimal(10,2)")
    out = df.select("k", df.x.cast("decimal(5,2)"), F.col("x").cast("float").cast("decimal(10,9)"),
                    df.d % df.m)
    assert [(f.name, f.dataType.simpleString()) for f in out.schema.fields] == [
        ("k", "int"), ("x", "decimal(5,2)"), ("x", "decimal(10,9)"), ("(d % m)", "decimal(5,2)")]
    assert sorted((tuple(r) for r in out.collect()), key=lambda r: r[0]) == [
        (1, D("1.26"), D("1.254999995"), D("0.00")),
        (2, D("-1.01"), D("-1.004999995"), D("0.00")),
        (3, None, None, None),
    ]
    # A literal in SQL counts its digits: `d % 2` of a DECIMAL(10,2) is a DECIMAL(3,2).
    df.createOrReplaceTempView("rem")
    sql = spark.sql("SELECT d % 2 AS r FROM rem WHERE k = 1")
    assert sql.schema.fields[0].dataType.simpleString() == "decimal(3,2)"
    assert sql.collect()[0][0] == D("-1.50")


def test_a_python_decimal_is_inferred_as_decimal_38_18(spark):
    df = spark.createDataFrame([(1, D("1.25")), (2, None), (3, D("-0.001"))], ["k", "d"])
    assert df.dtypes == [("k", "bigint"), ("d", "decimal(38,18)")]
    assert [r.d for r in df.collect()] == [D("1.250000000000000000"), None, D("-0.001000000000000000")]
    seven = spark.createDataFrame([(D("7"),)], ["d"])
    out = seven.select(seven.d / 3)
    assert out.dtypes == [("(d / 3)", "decimal(38,18)")]
    assert str(out.collect()[0][0]) == "2.333333333333333333"


def test_a_negated_column_is_named_negative(spark):
    df = spark.createDataFrame([(1, 2.5, D("1.25"))], "i int, x double, d decimal(5,2)")
    out = df.select(-df.i, -df.x, -df.d, -(df.i + 1), -F.lit(3))
    assert out.columns == ["negative(i)", "negative(x)", "negative(d)", "negative((i + 1))", "negative(3)"]
    assert tuple(out.collect()[0]) == (-1, -2.5, D("-1.25"), -2, -3)
