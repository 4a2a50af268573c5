"""Values, types and errors that answer as PySpark 4's: doubles as text, array indexes, literal
and ranking types, duplicate column names. (Division by zero and overflow: test_parity_arithmetic.)

Every expected value here is PySpark 4's answer to the same program (run with
``SparkSession.builder.master("local[1]")`` and ``spark.sql.session.timeZone=UTC``).
"""

import math

import pytest

from tributary.errors import ArrayIndexOutOfBoundsException
from tributary.sql import Window, functions as F


def rows(df):
    """The rows as tuples, sorted (PySpark's order is not defined), NaN as the string 'nan'."""
    def v(x):
        return "nan" if isinstance(x, float) and math.isnan(x) else x

    return sorted((tuple(v(x) for x in r) for r in df.collect()), key=repr)


# -- 1. doubles and floats as text (Java's Double.toString) ------------------------------------

DOUBLES = [1e20, 1e-5, 0.001, 100.0, -0.0, float("nan"), float("inf"), float("-inf"), 1234567.0,
           12345678.0, 1.0 / 3, 123456789012.5, 1e7, 9999999.0, 0.0001, -2.5e-7, 1e300, 1e15]


def test_a_double_cast_to_string_or_concatenated_is_written_as_java_writes_it(spark):
    df = spark.createDataFrame([(i, v) for i, v in enumerate(DOUBLES)], "i INT, x DOUBLE")
    out = df.orderBy("i").select(F.col("x").cast("string").alias("s"), F.concat("x", F.lit("|")).alias("c"),
                                 F.concat_ws("-", "x", F.lit("a")).alias("w"))
    # PySpark 4:
    texts = ["1.0E20", "1.0E-5", "0.001", "100.0", "-0.0", "NaN", "Infinity", "-Infinity", "1234567.0",
             "1.2345678E7", "0.3333333333333333", "1.234567890125E11", "1.0E7", "9999999.0", "1.0E-4",
             "-2.5E-7", "1.0E300", "1.0E15"]
    assert [tuple(r) for r in out.collect()] == [(t, t + "|", t + "-a") for t in texts]
    # PySpark 4: NULL stays NULL; concat_ws skips it.
    n = spark.createDataFrame([(None,)], "x DOUBLE")
    assert rows(n.select(F.col("x").cast("string"), F.concat_ws("-", "x", F.lit("a")))) == [(None, "a")]


def test_a_float_cast_to_string_is_written_as_java_writes_it(spark):
    df = spark.createDataFrame([(i, v) for i, v in enumerate([1e20, 1e-5, 0.001, 100.0, 0.1, 1.0 / 3, 12345678.0, 3.4e38])],
                               "i INT, x FLOAT")
    # PySpark 4:
    assert [r[0] for r in df.orderBy("i").select(F.col("x").cast("string")).collect()] == [
        "1.0E20", "1.0E-5", "0.001", "100.0", "0.1", "0.33333334", "1.2345678E7", "3.4E38"]


def test_show_writes_doubles_as_java_and_ends_with_an_empty_line(spark, capsys):
    df = spark.createDataFrame([(1, 1e20, 0.1), (2, 1e-5, 1.0 / 3), (3, 100.0, None), (4, float("nan"), 12345678.0)],
                               "i INT, x DOUBLE, f FLOAT")
    df.orderBy("i").show()
    # PySpark 4's show():
    assert capsys.readouterr().out == (
        "+---+------+-----------+\n"
        "|  i|     x|          f|\n"
        "+---+------+-----------+\n"
        "|  1|1.0E20|        0.1|\n"
        "|  2|1.0E-5| 0.33333334|\n"
        "|  3| 100.0|       NULL|\n"
        "|  4|   NaN|1.2345678E7|\n"
        "+---+------+-----------+\n"
        "\n"
    )


# -- 2. arrays: size, indexes -----------------------------------------------------------------

def test_size_of_nested_arrays_and_of_null(spark):
    df = spark.createDataFrame([(1, [[1, 2], [3]]), (2, []), (3, None), (4, [[None]])], "i INT, a ARRAY<ARRAY<INT>>")
    out = df.select("i", F.size("a"), F.size(F.flatten("a")).alias("f"))
    # PySpark 4: NULL for NULL (ANSI on), the outer array's length otherwise.
    assert out.dtypes == [("i", "int"), ("size(a)", "int"), ("f", "int")]
    assert rows(out) == [(1, 2, 3), (2, 0, 0), (3, None, None), (4, 1, 1)]
    assert rows(df.filter("i = 1").select(F.size(F.col("a")[0]))) == [(2,)]
    m = spark.createDataFrame([({"a": [1, 2]},), ({},), (None,)], "m MAP<STRING, ARRAY<INT>>")
    assert rows(m.select(F.size("m"))) == [(0,), (1,), (None,)]


def test_an_array_index_out_of_the_array_raises(spark):
    df = spark.createDataFrame([([1, 2],)], "a ARRAY<INT>")
    # PySpark 4: ArrayIndexOutOfBoundsException [INVALID_ARRAY_INDEX] The index 5 is out of bounds.
    # The array has 2 elements. Use the SQL function `get()` ...
    with pytest.raises(ArrayIndexOutOfBoundsException, match=r"\[INVALID_ARRAY_INDEX\] The index 5 is out of bounds. The array has 2 elements"):
        df.select(F.col("a")[5]).collect()
    with pytest.raises(ArrayIndexOutOfBoundsException, match=r"\[INVALID_ARRAY_INDEX\] The index -1 is out of bounds"):
        df.select(F.col("a").getItem(-1)).collect()
    # PySpark 4: an index in the array, and any index of a NULL array:
    n = spark.createDataFrame([([1, 2],), (None,)], "a ARRAY<INT>")
    assert rows(n.select(F.col("a")[0], F.col("a").getItem(1))) == [(1, 2), (None, None)]
    assert rows(n.filter(F.col("a").isNull()).select(F.col("a")[7])) == [(None,)]


def test_get_item_of_nested_arrays_and_of_maps_with_any_key(spark):
    df = spark.createDataFrame(
        [([[1, 2], [3]], {1: "a", 2: "b"}, {"x": 1})],
        "aa array<array<int>>, m map<int,string>, sm map<string,int>",
    )
    out = df.select(F.col("aa")[1], F.col("aa")[0][1], F.col("aa").getItem(F.lit(1)).alias("c"))
    assert out.columns == ["aa[1]", "aa[0][1]", "c"]
    assert rows(out) == [([3], 2, [3])]
    # The outer array has two elements (three inside them).
    with pytest.raises(ArrayIndexOutOfBoundsException, match=r"The index 2 is out of bounds. The array has 2 elements"):
        df.select(F.col("aa")[2]).collect()
    maps = df.select(F.col("m")[1], F.col("m").getItem(2), F.col("m")[3], F.col("sm")["x"].alias("x"))
    assert maps.columns == ["m[1]", "m[2]", "m[3]", "x"]
    assert rows(maps) == [("a", "b", None, 1)]
    assert rows(df.select(F.element_at("m", 2), F.element_at("aa", -1))) == [("b", [3])]


# -- 3. types of literals, ranks and counts ---------------------------------------------------

def test_an_int_literal_is_an_int(spark):
    df = spark.createDataFrame([(1,)], "a INT")
    out = df.select(F.lit(1), F.lit(-2147483648), F.lit(2147483648), F.lit(1.5)).withColumn("z", F.lit(0))
    # PySpark 4:
    assert out.dtypes == [("1", "int"), ("-2147483648", "int"), ("2147483648", "bigint"), ("1.5", "double"), ("z", "int")]
    assert rows(out) == [(1, -2147483648, 2147483648, 1.5, 0)]
    w = df.select(F.when(F.col("a") > 0, F.lit(1)).otherwise(F.lit(2)).alias("w"), F.sum(F.lit(1)).over(Window.partitionBy("a")).alias("s"))
    assert w.dtypes == [("w", "int"), ("s", "bigint")]


def test_ranking_functions_are_ints(spark):
    df = spark.createDataFrame([(1, 1, "x"), (1, 2, "y"), (2, 5, "x")], "k INT, v INT, s STRING")
    w = Window.partitionBy("k").orderBy("v")
    out = df.select("k", "v", F.row_number().over(w).alias("rn"), F.rank().over(w).alias("r"),
                    F.dense_rank().over(w).alias("d"), F.ntile(2).over(w).alias("t"))
    # PySpark 4:
    assert out.dtypes == [("k", "int"), ("v", "int"), ("rn", "int"), ("r", "int"), ("d", "int"), ("t", "int")]
    assert rows(out) == [(1, 1, 1, 1, 1, 1), (1, 2, 2, 2, 2, 2), (2, 5, 1, 1, 1, 1)]
    g = df.groupBy("k").agg(F.approx_count_distinct("s"))
    assert g.dtypes == [("k", "int"), ("approx_count_distinct(s)", "bigint")]
    assert rows(g) == [(1, 2), (2, 1)]
    import datetime
    d = spark.createDataFrame([(datetime.date(2024, 1, 31),)], "d DATE").select(F.dayofweek("d"))
    assert d.dtypes == [("dayofweek(d)", "int")] and rows(d) == [(4,)]


# -- 4. two columns of one name ---------------------------------------------------------------

def test_a_result_may_have_two_columns_of_one_name(spark, capsys):
    df = spark.createDataFrame([(1, 2)], "a INT, b INT")
    two = df.select(F.col("a"), F.col("a"), (F.col("a") + 1).alias("a"))
    # PySpark 4:
    assert two.columns == ["a", "a", "a"]
    assert [tuple(r) for r in two.collect()] == [(1, 1, 2)]
    two.show()
    assert capsys.readouterr().out == "+---+---+---+\n|  a|  a|  a|\n+---+---+---+\n|  1|  1|  2|\n+---+---+---+\n\n"
    lit = df.select("a", F.lit(1).alias("a"))
    assert lit.dtypes == [("a", "int"), ("a", "int")]
    assert lit.toPandas().values.tolist() == [[1, 1]]
    assert [tuple(r) for r in df.select(F.col("a"), F.col("a"), "b").select("b").collect()] == [(2,)]
    g = spark.createDataFrame([(1, 2), (1, 3)], "k INT, v INT")
    agg = g.groupBy("k").agg(F.sum("v"), F.sum("v"), F.max("v"))
    assert agg.columns == ["k", "sum(v)", "sum(v)", "max(v)"]
    assert [tuple(r) for r in agg.collect()] == [(1, 5, 5, 3)]
    assert [tuple(r) for r in g.agg(F.sum("v"), F.sum("v")).collect()] == [(5, 5)]


def test_show_writes_maps_with_arrows_and_names_double_literals_as_java(spark, capsys):
    df = spark.createDataFrame([(1, {"a": 1})], "a INT, m MAP<STRING, INT>")
    out = df.select("m", F.sum(F.col("a") * 1e10).over(Window.partitionBy("a")).alias("s"), F.lit(0.5), F.lit(1e-5))
    # PySpark 4:
    assert out.columns == ["m", "s", "0.5", "1.0E-5"]
    out.show()
    assert capsys.readouterr().out == (
        "+--------+------+---+------+\n"
        "|       m|     s|0.5|1.0E-5|\n"
        "+--------+------+---+------+\n"
        "|{a -> 1}|1.0E10|0.5|1.0E-5|\n"
        "+--------+------+---+------+\n"
        "\n"
    )
    assert df.groupBy().agg(F.sum(F.col("a") * 1e10)).columns == ["sum((a * 1.0E10))"]


def test_sqrt_of_a_negative_number_is_nan(spark):
    df = spark.createDataFrame([(-1, -1.0), (4, 2.25), (None, None)], "i INT, x DOUBLE")
    out = df.select(F.sqrt("i"), F.sqrt("x"))
    # PySpark 4:
    assert out.dtypes == [("SQRT(i)", "double"), ("SQRT(x)", "double")]
    assert rows(out) == [("nan", "nan"), (2.0, 1.5), (None, None)]


def test_when_of_ints_is_an_int(spark):
    df = spark.createDataFrame([(1, 10), (2, 20), (3, 30)], "a INT, b BIGINT")
    out = df.select("a", F.when(F.col("a") == 1, 1).otherwise(0).alias("w"),
                    F.when(F.col("a") == 1, 1).when(F.col("a") == 2, 5000000000).alias("big"),
                    F.when(F.col("a") == 1, 1).otherwise(2.5).alias("d"),
                    F.when(F.col("a") == 1, F.col("b")).otherwise(0).alias("l"))
    # PySpark 4:
    assert out.dtypes == [("a", "int"), ("w", "int"), ("big", "bigint"), ("d", "double"), ("l", "bigint")]
    assert rows(out) == [(1, 1, 1, 1.0, 10), (2, 0, 5000000000, 2.5, 0), (3, 0, None, 2.5, 0)]


# -- names of casts ---------------------------------------------------------------------------


def test_a_cast_keeps_a_columns_name_and_is_written_out_inside_a_function(spark):
    from decimal import Decimal

    df = spark.createDataFrame([(1, 2), (1, 3)], "k int, v bigint")
    out = df.groupBy("k").agg(
        F.sum("v"), F.sum(F.col("v").cast("double")), F.count(F.col("v").cast("string")),
        F.max(F.col("v").cast("decimal(10,2)")),
    )
    assert out.columns == [
        "k", "sum(v)", "sum(CAST(v AS DOUBLE))", "count(CAST(v AS STRING))",
        "max(CAST(v AS DECIMAL(10,2)))",
    ]
    assert rows(out) == [(1, 5, 5.0, 2, Decimal("3.00"))]
    sel = df.select(
        F.col("v").cast("double"), F.col("v").alias("w").cast("int"), F.lit(1).cast("bigint"),
        (F.col("v") + 1).cast("string"), F.col("v").cast("int").cast("string"),
    )
    assert sel.dtypes == [
        ("v", "double"), ("w", "int"), ("CAST(1 AS BIGINT)", "bigint"),
        ("CAST((v + 1) AS STRING)", "string"), ("v", "string"),
    ]
    assert rows(sel) == [(2.0, 2, 1, "3", "2"), (3.0, 3, 1, "4", "3")]
    # A column named through expr() is a column too.
    assert df.select(F.expr("v").cast("long"), F.expr("`v`").cast("string")).columns == ["v", "v"]
    # Two casts of one column in one aggregation.
    two = df.groupBy("k").agg(F.sum(F.col("v").cast("bigint")), F.sum(F.col("v").cast("smallint")))
    assert two.dtypes == [
        ("k", "int"), ("sum(CAST(v AS BIGINT))", "bigint"), ("sum(CAST(v AS SMALLINT))", "bigint"),
    ]
    assert rows(two) == [(1, 5, 5)]
