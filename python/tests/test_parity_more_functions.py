"""More of PySpark's functions, with Spark's names, types and NULL/NaN handling: ifnull, nvl,
nvl2, nullif, nullifzero, zeroifnull, sign, ceiling, ln, negative, positive; left, right,
startswith, endswith, contains, char_length, character_length, octet_length, bit_length, btrim,
lcase, ucase, substr; array_size, cardinality, array_position, array_remove, array_compact,
array_union, array_intersect, array_except, arrays_overlap, array_append, array_prepend,
map_keys, map_values, try_element_at; bool_and, bool_or, every, some, count_if, any_value,
first_value, last_value, median, std, try_avg; sinh, cosh, tanh, asinh, acosh, atanh, expm1,
rint, factorial (the transcendental ones within an ulp or two of Java's); product; base64,
unbase64, day, unix_seconds, unix_millis, unix_micros, timestamp_seconds, timestamp_millis,
timestamp_micros, make_date, try_to_date.

Every expected value here is PySpark 4's answer to the same program (run with
``SparkSession.builder.master("local[1]")`` and the session time zone UTC). In the rows, NaN is
written "NaN" and a negative zero "-0.0", so that they compare.
"""

import datetime as dt
import math

import pytest

from tributary.errors import PySparkValueError
from tributary.sql import Window
from tributary.sql import functions as F


def _value(v):
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if isinstance(v, float) and v == 0 and math.copysign(1.0, v) < 0:
        return "-0.0"
    return v


def rows(df):
    """The rows, sorted by their first column (a key that no two rows share)."""
    return sorted((tuple(_value(v) for v in r) for r in df.collect()), key=lambda r: r[0])


NAN, NZ = "NaN", "-0.0"
INF = float("inf")


@pytest.fixture
def nums(spark):
    return spark.createDataFrame(
        [(1, 1, 2.0, 8), (2, 0, -1.5, -27), (3, None, None, None), (4, -3, 0.0, 0),
         (5, 5, float("nan"), 100), (6, 2, INF, 1), (7, -1, -0.0, -1)],
        "k int, i int, d double, l bigint",
    )


@pytest.fixture
def strs(spark):
    return spark.createDataFrame(
        [(1, "abc", "b", 3), (2, "", "", 0), (3, None, None, None), (4, "héllo wörld", "wö", -1),
         (5, "aé\U0001F600z", "z", 2), (6, "  ABC  ", "AB", 5)],
        "k int, s string, t string, n int",
    )


@pytest.fixture
def arrs(spark):
    return spark.createDataFrame(
        [(1, [1, 2, 3, 2], [2, 4], 2), (2, [], [1], 1), (3, None, None, None), (4, [1, None, 3], [3, None], None),
         (5, [5, 5], [], 5), (6, [None], [None], 0)],
        "k int, a array<int>, b array<int>, x int",
    )


def test_null_functions_keep_the_common_type(nums):
    out = nums.select(
        "k", F.ifnull("i", "l"), F.nvl("d", F.lit(9.5)), F.nvl2("i", "d", "l"), F.nullif("i", F.lit(1)),
        F.nullif("d", F.lit(0.0)), F.nullifzero("i"), F.nullifzero("d"), F.zeroifnull("i"), F.zeroifnull("d"),
        F.zeroifnull("l"),
    )
    assert out.dtypes == [
        ("k", "int"), ("ifnull(i, l)", "bigint"), ("nvl(d, 9.5)", "double"), ("nvl2(i, d, l)", "double"),
        ("nullif(i, 1)", "int"), ("nullif(d, 0.0)", "double"), ("nullifzero(i)", "int"), ("nullifzero(d)", "double"),
        ("zeroifnull(i)", "int"), ("zeroifnull(d)", "double"), ("zeroifnull(l)", "bigint"),
    ]
    assert rows(out) == [
        (1, 1, 2.0, 2.0, None, 2.0, 1, 2.0, 1, 2.0, 8),
        (2, 0, -1.5, -1.5, 0, -1.5, None, -1.5, 0, -1.5, -27),
        (3, None, 9.5, None, None, None, None, None, 0, 0.0, 0),
        (4, -3, 0.0, 0.0, -3, None, -3, None, -3, 0.0, 0),
        (5, 5, NAN, NAN, 5, NAN, 5, NAN, 5, NAN, 100),
        (6, 2, INF, INF, 2, INF, 2, INF, 2, INF, 1),
        (7, -1, NZ, NZ, -1, None, -1, None, -1, NZ, -1),
    ]


def test_nullif_takes_nan_as_equal_to_nan_and_zero_to_negative_zero(nums):
    out = nums.select("k", F.nullif("d", F.lit(float("nan"))), F.nullif("d", F.lit(-0.0)),
                      F.negative(F.lit(None).cast("int")))
    assert out.dtypes == [("k", "int"), ("nullif(d, NaN)", "double"), ("nullif(d, -0.0)", "double"),
                          ("negative(CAST(NULL AS INT))", "int")]
    assert rows(out) == [
        (1, 2.0, 2.0, None), (2, -1.5, -1.5, None), (3, None, None, None), (4, 0.0, None, None),
        (5, None, NAN, None), (6, INF, INF, None), (7, NZ, None, None),
    ]


def test_sign_ceiling_ln_negative_and_positive(nums):
    out = nums.select("k", F.sign("i"), F.sign("d"), F.ceiling("i"), F.ln("d"), F.ln("i"), F.negative("i"),
                      F.negative("d"), F.positive("l"), F.negative("l"))
    assert out.dtypes == [
        ("k", "int"), ("sign(i)", "double"), ("sign(d)", "double"), ("ceiling(i)", "bigint"), ("ln(d)", "double"),
        ("ln(i)", "double"), ("negative(i)", "int"), ("negative(d)", "double"), ("(+ l)", "bigint"),
        ("negative(l)", "bigint"),
    ]
    assert rows(out) == [
        (1, 1.0, 1.0, 1, 0.6931471805599453, 0.0, -1, -2.0, 8, -8),
        (2, 0.0, -1.0, 0, None, None, 0, 1.5, -27, 27),
        (3, None, None, None, None, None, None, None, None, None),
        (4, -1.0, 0.0, -3, None, None, 3, NZ, 0, 0),
        (5, 1.0, NAN, 5, NAN, 1.6094379124341003, -5, NAN, 100, -100),
        (6, 1.0, 1.0, 2, INF, 0.6931471805599453, -2, -INF, 1, -1),
        (7, -1.0, NZ, -1, None, None, 1, 0.0, -1, 1),
    ]


@pytest.fixture
def fl(spark):
    return spark.createDataFrame(
        [(1, 2.5), (2, -2.5), (3, 3.5), (4, 0.4), (5, -0.4), (6, 1e300), (7, -0.5), (8, 0.49999999999999994),
         (9, 4503599627370497.0), (10, -1.2)],
        "k int, d double",
    )


def test_ceiling_of_doubles_is_a_bigint_nan_is_zero_and_past_the_range_fails(fl, nums):
    out = fl.filter("k <> 6").select("k", F.ceiling("d"), F.ceiling(F.col("d").cast("float")))
    assert out.dtypes == [("k", "int"), ("ceiling(d)", "bigint"), ("ceiling(CAST(d AS FLOAT))", "bigint")]
    assert rows(out) == [
        (1, 3, 3), (2, -2, -2), (3, 4, 4), (4, 1, 1), (5, 0, 0), (7, 0, 0), (8, 1, 1),
        (9, 4503599627370497, 4503599627370496), (10, -1, -1),
    ]
    assert rows(nums.filter("k = 5").select("k", F.ceiling("d"))) == [(5, 0)]
    for k in ("k = 6",):
        with pytest.raises(Exception, match="ARITHMETIC_OVERFLOW"):
            fl.filter(k).select(F.ceiling("d")).collect()
        with pytest.raises(Exception, match="ARITHMETIC_OVERFLOW"):
            nums.filter(k).select(F.ceiling("d")).collect()


def test_left_right_and_substr_count_characters(strs):
    out = strs.select("k", F.left("s", F.lit(2)), F.right("s", F.lit(2)), F.left("s", F.lit(0)),
                      F.right("s", F.lit(-1)), F.left("s", "n"), F.right("s", "n"))
    assert out.dtypes == [
        ("k", "int"), ("left(s, 2)", "string"), ("right(s, 2)", "string"), ("left(s, 0)", "string"),
        ("right(s, -1)", "string"), ("left(s, n)", "string"), ("right(s, n)", "string"),
    ]
    assert rows(out) == [
        (1, "ab", "bc", "", "", "abc", "abc"),
        (2, "", "", "", "", "", ""),
        (3, None, None, None, None, None, None),
        (4, "hé", "ld", "", "", "", ""),
        (5, "aé", "\U0001F600z", "", "", "aé", "\U0001F600z"),
        (6, "  ", "  ", "", "", "  ABC", "ABC  "),
    ]
    out = strs.select("k", F.substr("s", F.lit(2)), F.substr("s", F.lit(2), F.lit(2)), F.substr("s", F.lit(-2)),
                      F.substr("s", "n", "n"))
    assert out.dtypes == [
        ("k", "int"), ("substr(s, 2, 2147483647)", "string"), ("substr(s, 2, 2)", "string"),
        ("substr(s, -2, 2147483647)", "string"), ("substr(s, n, n)", "string"),
    ]
    assert rows(out) == [
        (1, "bc", "bc", "bc", "c"),
        (2, "", "", "", ""),
        (3, None, None, None, None),
        (4, "éllo wörld", "él", "ld", ""),
        (5, "é\U0001F600z", "é\U0001F600", "\U0001F600z", "é\U0001F600"),
        (6, " ABC  ", " A", "  ", "C  "),
    ]
    out = strs.select("k", F.substr("s", F.lit(0), F.lit(2)), F.substr("s", F.lit(-3), F.lit(2)),
                      F.substr("s", F.lit(2), F.lit(-1)), F.left("s", F.lit(100)), F.right("s", F.lit(100)),
                      F.btrim("s", "t"))
    assert out.dtypes == [
        ("k", "int"), ("substr(s, 0, 2)", "string"), ("substr(s, -3, 2)", "string"), ("substr(s, 2, -1)", "string"),
        ("left(s, 100)", "string"), ("right(s, 100)", "string"), ("btrim(s, t)", "string"),
    ]
    assert rows(out) == [
        (1, "ab", "ab", "", "abc", "abc", "abc"),
        (2, "", "", "", "", "", ""),
        (3, None, None, None, None, None, None),
        (4, "hé", "rl", "", "héllo wörld", "héllo wörld", "héllo wörld"),
        (5, "aé", "é\U0001F600", "", "aé\U0001F600z", "aé\U0001F600z", "aé\U0001F600"),
        (6, "  ", "C ", "", "  ABC  ", "  ABC  ", "  ABC  "),
    ]


def test_startswith_endswith_and_contains_are_null_for_null(strs):
    out = strs.select("k", F.startswith("s", "t"), F.endswith("s", "t"), F.contains("s", "t"),
                      F.startswith("s", F.lit("a")), F.contains("s", F.lit("")))
    assert out.dtypes == [
        ("k", "int"), ("startswith(s, t)", "boolean"), ("endswith(s, t)", "boolean"), ("contains(s, t)", "boolean"),
        ("startswith(s, a)", "boolean"), ("contains(s, )", "boolean"),
    ]
    assert rows(out) == [
        (1, False, False, True, True, True),
        (2, True, True, True, False, True),
        (3, None, None, None, None, None),
        (4, False, False, True, False, True),
        (5, False, True, True, True, True),
        (6, False, False, True, False, True),
    ]


def test_lengths_btrim_lcase_and_ucase(strs):
    out = strs.select("k", F.char_length("s"), F.character_length("s"), F.octet_length("s"), F.bit_length("s"),
                      F.btrim("s"), F.btrim("s", F.lit("a ")), F.lcase("s"), F.ucase("s"))
    assert out.dtypes == [
        ("k", "int"), ("char_length(s)", "int"), ("character_length(s)", "int"), ("octet_length(s)", "int"),
        ("bit_length(s)", "int"), ("btrim(s)", "string"), ("btrim(s, a )", "string"), ("lcase(s)", "string"),
        ("ucase(s)", "string"),
    ]
    assert rows(out) == [
        (1, 3, 3, 3, 24, "abc", "bc", "abc", "ABC"),
        (2, 0, 0, 0, 0, "", "", "", ""),
        (3, None, None, None, None, None, None, None, None),
        (4, 11, 11, 13, 104, "héllo wörld", "héllo wörld", "héllo wörld", "HÉLLO WÖRLD"),
        (5, 4, 4, 8, 64, "aé\U0001F600z", "é\U0001F600z", "aé\U0001F600z", "AÉ\U0001F600Z"),
        (6, 7, 7, 7, 56, "ABC", "ABC", "  abc  ", "  ABC  "),
    ]


def test_array_size_position_remove_and_compact(arrs):
    out = arrs.select("k", F.array_size("a"), F.cardinality("a"), F.array_position("a", F.lit(2)),
                      F.array_position("a", F.col("x")), F.array_remove("a", 2), F.array_compact("a"))
    assert out.dtypes == [
        ("k", "int"), ("array_size(a)", "int"), ("cardinality(a)", "int"), ("array_position(a, 2)", "bigint"),
        ("array_position(a, x)", "bigint"), ("array_remove(a, 2)", "array<int>"), ("array_compact(a)", "array<int>"),
    ]
    assert rows(out) == [
        (1, 4, 4, 2, 2, [1, 3], [1, 2, 3, 2]),
        (2, 0, 0, 0, 0, [], []),
        (3, None, None, None, None, None, None),
        (4, 3, 3, 0, None, [1, None, 3], [1, 3]),
        (5, 2, 2, 0, 1, [5, 5], [5, 5]),
        (6, 1, 1, 0, 0, [None], []),
    ]


def test_array_position_finds_nan(nums):
    out = nums.select("k", F.array_position(F.array("d"), F.lit(float("nan"))))
    assert out.dtypes == [("k", "int"), ("array_position(array(d), NaN)", "bigint")]
    assert rows(out) == [(1, 0), (2, 0), (3, 0), (4, 0), (5, 1), (6, 0), (7, 0)]


def test_array_set_operations_and_overlap(arrs):
    out = arrs.select("k", F.array_union("a", "b"), F.array_intersect("a", "b"), F.array_except("a", "b"),
                      F.arrays_overlap("a", "b"))
    assert out.dtypes == [
        ("k", "int"), ("array_union(a, b)", "array<int>"), ("array_intersect(a, b)", "array<int>"),
        ("array_except(a, b)", "array<int>"), ("arrays_overlap(a, b)", "boolean"),
    ]
    assert rows(out) == [
        (1, [1, 2, 3, 4], [2], [1, 3], True),
        (2, [1], [], [], False),
        (3, None, None, None, None),
        (4, [1, None, 3], [None, 3], [1], True),
        (5, [5], [], [5], False),
        (6, [None], [None], [], None),
    ]


def test_array_append_and_prepend_add_nulls_too(arrs):
    out = arrs.select("k", F.array_append("a", F.lit(9)), F.array_append("a", F.col("x")),
                      F.array_prepend("a", F.lit(0)), F.array_prepend("a", F.col("x")))
    assert out.dtypes == [
        ("k", "int"), ("array_append(a, 9)", "array<int>"), ("array_append(a, x)", "array<int>"),
        ("array_prepend(a, 0)", "array<int>"), ("array_prepend(a, x)", "array<int>"),
    ]
    assert rows(out) == [
        (1, [1, 2, 3, 2, 9], [1, 2, 3, 2, 2], [0, 1, 2, 3, 2], [2, 1, 2, 3, 2]),
        (2, [9], [1], [0], [1]),
        (3, None, None, None, None),
        (4, [1, None, 3, 9], [1, None, 3, None], [0, 1, None, 3], [None, 1, None, 3]),
        (5, [5, 5, 9], [5, 5, 5], [0, 5, 5], [5, 5, 5]),
        (6, [None, 9], [None, 0], [0, None], [0, None]),
    ]


def test_map_keys_values_and_try_element_at(spark):
    maps = spark.createDataFrame([(1, {"a": 1, "b": 2}), (2, {}), (3, None)], "k int, m map<string,int>")
    out = maps.select("k", F.map_keys("m"), F.map_values("m"), F.cardinality("m"))
    assert out.dtypes == [("k", "int"), ("map_keys(m)", "array<string>"), ("map_values(m)", "array<int>"),
                          ("cardinality(m)", "int")]
    assert rows(out) == [(1, ["a", "b"], [1, 2], 2), (2, [], [], 0), (3, None, None, None)]

    df = spark.createDataFrame([(1, [1, 2, 3], {"a": 1}), (2, [], {}), (3, None, None)],
                               "k int, a array<int>, m map<string,int>")
    out = df.select("k", F.try_element_at("a", F.lit(1)), F.try_element_at("a", F.lit(-1)),
                    F.try_element_at("a", F.lit(5)), F.try_element_at("a", F.lit(-4)),
                    F.try_element_at("m", F.lit("a")), F.try_element_at("m", F.lit("zz")))
    assert out.dtypes == [
        ("k", "int"), ("try_element_at(a, 1)", "int"), ("try_element_at(a, -1)", "int"),
        ("try_element_at(a, 5)", "int"), ("try_element_at(a, -4)", "int"), ("try_element_at(m, a)", "int"),
        ("try_element_at(m, zz)", "int"),
    ]
    assert rows(out) == [(1, 1, 3, None, None, 1, None), (2, None, None, None, None, None, None),
                         (3, None, None, None, None, None, None)]
    with pytest.raises(PySparkValueError, match=r"^\[INVALID_INDEX_OF_ZERO\]"):
        df.select(F.try_element_at("a", F.lit(0)))


@pytest.fixture
def groups(spark):
    return spark.createDataFrame(
        [(1, True, 2, 1.5, "x"), (1, False, 3, 2.0, "y"), (1, None, None, None, None), (2, True, 4, 2.5, "z"),
         (3, None, None, None, None), (4, True, -1, float("nan"), "w"), (4, True, 0, 1.0, "v")],
        "g int, b boolean, i int, d double, s string",
    )


def test_boolean_aggregates_count_if_and_any_value(groups):
    out = groups.groupBy("g").agg(F.bool_and("b"), F.bool_or("b"), F.every("b"), F.some("b"), F.count_if("b"),
                                  F.any_value("s"), F.any_value("s", True))
    assert out.dtypes == [
        ("g", "int"), ("bool_and(b)", "boolean"), ("bool_or(b)", "boolean"), ("every(b)", "boolean"),
        ("some(b)", "boolean"), ("count_if(b)", "bigint"), ("any_value(s)", "string"), ("any_value(s)", "string"),
    ]
    assert rows(out) == [
        (1, False, True, False, True, 1, "x", "x"),
        (2, True, True, True, True, 1, "z", "z"),
        (3, None, None, None, None, 0, None, None),
        (4, True, True, True, True, 2, "w", "w"),
    ]


def test_median_std_and_try_avg(groups):
    out = groups.groupBy("g").agg(F.median("i"), F.median("d"), F.std("i"), F.std("d"), F.try_avg("i"), F.try_avg("d"))
    assert out.dtypes == [
        ("g", "int"), ("median(i)", "double"), ("median(d)", "double"), ("std(i)", "double"), ("std(d)", "double"),
        ("try_avg(i)", "double"), ("try_avg(d)", "double"),
    ]
    assert rows(out) == [
        (1, 2.5, 1.75, 0.7071067811865476, 0.3535533905932738, 2.5, 1.75),
        (2, 4.0, 2.5, None, None, 4.0, 2.5),
        (3, None, None, None, None, None, None),
        (4, -0.5, NAN, 0.7071067811865476, NAN, -0.5, NAN),
    ]


def test_first_value_and_last_value(groups):
    out = groups.groupBy("g").agg(F.first_value("s"), F.last_value("s"), F.first_value("s", F.lit(True)),
                                  F.last_value("s", F.lit(True)))
    assert out.dtypes == [("g", "int"), ("first_value(s)", "string"), ("last_value(s)", "string"),
                          ("first_value(s)", "string"), ("last_value(s)", "string")]
    assert rows(out) == [(1, "x", None, "x", "y"), (2, "z", "z", "z", "z"), (3, None, None, None, None),
                         (4, "w", "v", "w", "v")]


def test_count_if_over_a_window(nums):
    out = nums.select("k", F.count_if(F.col("i") > 0).over(Window.orderBy("k")).alias("n"))
    assert out.dtypes == [("k", "int"), ("n", "bigint")]
    assert rows(out) == [(1, 1), (2, 1), (3, 1), (4, 1), (5, 2), (6, 3), (7, 3)]


def _close(a, b):
    """Equal, or (a transcendental function's double) within an ulp or two of Java's."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or math.isclose(a, b, rel_tol=5e-16)
    return a == b


def test_hyperbolic_functions_and_rint(nums, fl):
    out = nums.select("k", F.sinh("d"), F.cosh("d"), F.tanh("d"), F.asinh("d"), F.acosh("d"), F.atanh("d"), F.rint("d"))
    assert out.dtypes == [
        ("k", "int"), ("SINH(d)", "double"), ("COSH(d)", "double"), ("TANH(d)", "double"), ("ASINH(d)", "double"),
        ("ACOSH(d)", "double"), ("ATANH(d)", "double"), ("rint(d)", "double"),
    ]
    assert rows(out) == [
        (1, 3.626860407847019, 3.7621956910836314, 0.9640275800758169, 1.4436354751788103, 1.3169578969248166, NAN, 2.0),
        (2, -2.1292794550948173, 2.352409615243247, -0.9051482536448664, -1.1947632172871094, NAN, NAN, -2.0),
        (3, None, None, None, None, None, None, None),
        (4, 0.0, 1.0, 0.0, 0.0, NAN, 0.0, 0.0),
        (5, NAN, NAN, NAN, NAN, NAN, NAN, NAN),
        (6, INF, INF, 1.0, INF, INF, NAN, INF),
        (7, NZ, 1.0, NZ, NZ, NAN, NZ, NZ),
    ]
    out = fl.select("k", F.rint("d"), F.acosh("d"), F.atanh("d"), F.cosh("d"), F.tanh("d"))
    expected = [
        (1, 2.0, 1.566799236972411, NAN, 6.132289479663686, 0.9866142981514303),
        (2, -2.0, NAN, NAN, 6.132289479663686, -0.9866142981514303),
        (3, 4.0, 1.9248473002384139, NAN, 16.572824671057315, 0.9981778976111987),
        (4, 0.0, NAN, 0.42364893019360184, 1.081072371838455, 0.3799489622552249),
        (5, NZ, NAN, -0.42364893019360184, 1.081072371838455, -0.3799489622552249),
        (6, 1e300, 691.4686750787736, NAN, INF, 1.0),
        (7, NZ, NAN, -0.5493061443340548, 1.1276259652063807, -0.46211715726000974),
        (8, 0.0, NAN, 0.5493061443340548, 1.1276259652063807, 0.46211715726000974),
        (9, 4503599627370497.0, 36.7368005696771, NAN, INF, 1.0),
        (10, -1.0, NAN, NAN, 1.8106555673243747, -0.8336546070121552),
    ]
    got = rows(out)
    assert [r[:2] for r in got] == [r[:2] for r in expected]  # rint exactly
    assert all(_close(a, b) for g, e in zip(got, expected) for a, b in zip(g, e)), got


def test_rint_and_factorial_of_integers(nums):
    out = nums.select("k", F.sinh("i"), F.rint("i"), F.factorial("i"), F.factorial(F.col("l")))
    assert out.dtypes == [("k", "int"), ("SINH(i)", "double"), ("rint(i)", "double"), ("factorial(i)", "bigint"),
                          ("factorial(l)", "bigint")]
    assert rows(out) == [
        (1, 1.1752011936438014, 1.0, 1, 40320),
        (2, 0.0, 0.0, 1, None),
        (3, None, None, None, None),
        (4, -10.017874927409903, -3.0, None, 1),
        (5, 74.20321057778875, 5.0, 120, None),
        (6, 3.626860407847019, 2.0, 2, 1),
        (7, -1.1752011936438014, -1.0, None, None),
    ]


def test_base64_and_unbase64(strs):
    out = strs.select("k", F.base64("s"), F.unbase64(F.base64("s")), F.base64(F.col("s").cast("binary")),
                      F.unbase64(F.lit("YWJj")), F.unbase64(F.lit("!!")))
    assert out.dtypes == [
        ("k", "int"), ("base64(s)", "string"), ("unbase64(base64(s))", "binary"),
        ("base64(CAST(s AS BINARY))", "string"), ("unbase64(YWJj)", "binary"), ("unbase64(!!)", "binary"),
    ]
    assert [r[:4] for r in rows(out)] == [
        (1, "YWJj", b"abc", "YWJj"),
        (2, "", b"", ""),
        (3, None, None, None),
        (4, "aMOpbGxvIHfDtnJsZA==", "héllo wörld".encode(), "aMOpbGxvIHfDtnJsZA=="),
        (5, "YcOp8J+YgHo=", "aé\U0001F600z".encode(), "YcOp8J+YgHo="),
        (6, "ICBBQkMgIA==", b"  ABC  ", "ICBBQkMgIA=="),
    ]
    assert {r[4:] for r in rows(out)} == {(b"abc", b"")}


@pytest.mark.parametrize("text, value", [
    ("YW Jj\nZA==", b"abcd"), ("YWJjZA", b"abcd"), ("", b""), ("YWJjZA===", b"abcd"), ("!!YQ==", b"a"),
    ("YQ==!!", b"a"), ("YQ== ", b"a"),
    (" ==", None), ("YWJjZ", None), ("YWJjZA=", None), ("=", None), ("YWJj=", None), ("YWI=Zm9v", None),
])
def test_unbase64_reads_text_as_javas_mime_decoder(spark, text, value):
    df = spark.createDataFrame([(1,)], "k int").select(F.unbase64(F.lit(text)).alias("b"))
    if value is None:
        with pytest.raises(Exception, match="unbase64"):
            df.collect()
    else:
        assert df.collect()[0][0] == value


@pytest.fixture
def times(spark):
    return spark.createDataFrame(
        [(1, dt.datetime(2024, 1, 2, 3, 4, 5, 123456), dt.date(2024, 2, 29), 1700000000, 2024, 2, 29),
         (2, None, None, None, None, None, None),
         (3, dt.datetime(1969, 12, 31, 23, 59, 59, 999999), dt.date(1900, 1, 1), -1, 2023, 12, 31)],
        "k int, t timestamp, dt date, l bigint, y int, m int, d int",
    )


def test_day_unix_and_timestamp_conversions(times):
    out = times.select("k", F.day("t"), F.day("dt"), F.unix_seconds("t"), F.unix_millis("t"), F.unix_micros("t"),
                       F.timestamp_seconds("l"), F.timestamp_millis("l"), F.timestamp_micros("l"))
    assert out.dtypes == [
        ("k", "int"), ("day(t)", "int"), ("day(dt)", "int"), ("unix_seconds(t)", "bigint"),
        ("unix_millis(t)", "bigint"), ("unix_micros(t)", "bigint"), ("timestamp_seconds(l)", "timestamp"),
        ("timestamp_millis(l)", "timestamp"), ("timestamp_micros(l)", "timestamp"),
    ]
    assert rows(out) == [
        (1, 2, 29, 1704164645, 1704164645123, 1704164645123456, dt.datetime(2023, 11, 14, 22, 13, 20),
         dt.datetime(1970, 1, 20, 16, 13, 20), dt.datetime(1970, 1, 1, 0, 28, 20)),
        (2, None, None, None, None, None, None, None, None),
        (3, 31, 1, -1, -1, -1, dt.datetime(1969, 12, 31, 23, 59, 59), dt.datetime(1969, 12, 31, 23, 59, 59, 999000),
         dt.datetime(1969, 12, 31, 23, 59, 59, 999999)),
    ]


def test_make_date_and_try_to_date(times):
    out = times.select("k", F.make_date("y", "m", F.lit(1)), F.make_date("y", "m", "d"),
                       F.try_to_date(F.lit("2024-03-04")), F.try_to_date(F.lit("nope")),
                       F.try_to_date(F.lit("04/03/2024"), "dd/MM/yyyy"), F.try_to_date(F.lit("x/03/2024"), "dd/MM/yyyy"))
    assert out.dtypes == [
        ("k", "int"), ("make_date(y, m, 1)", "date"), ("make_date(y, m, d)", "date"),
        ("try_to_date(2024-03-04)", "date"), ("try_to_date(nope)", "date"),
        ("try_to_date(04/03/2024, dd/MM/yyyy)", "date"), ("try_to_date(x/03/2024, dd/MM/yyyy)", "date"),
    ]
    march4 = dt.date(2024, 3, 4)
    assert rows(out) == [
        (1, dt.date(2024, 2, 1), dt.date(2024, 2, 29), march4, None, march4, None),
        (2, None, None, march4, None, march4, None),
        (3, dt.date(2023, 12, 1), dt.date(2023, 12, 31), march4, None, march4, None),
    ]
    # A day that does not exist is an error in Spark too (DATETIME_FIELD_OUT_OF_BOUNDS there).
    with pytest.raises(Exception):
        times.select(F.make_date(F.lit(2023), F.lit(2), F.lit(29))).collect()


def test_try_to_date_reads_sparks_forms_of_a_date(spark):
    df = spark.createDataFrame(
        [(1, "2024-3-4 05:06:07"), (2, " 2024-03-04T10:00 "), (3, "2024"), (4, "2024-7"), (5, "2023-02-29"),
         (6, "2024-02-29 x"), (7, None), (8, "2024-1-1x"), (9, "20240101"), (10, "2024-13-01"), (11, "")],
        "k int, s string",
    )
    out = df.select("k", F.try_to_date("s"))
    assert out.dtypes == [("k", "int"), ("try_to_date(s)", "date")]
    assert rows(out) == [
        (1, dt.date(2024, 3, 4)), (2, dt.date(2024, 3, 4)), (3, dt.date(2024, 1, 1)), (4, dt.date(2024, 7, 1)),
        (5, None), (6, dt.date(2024, 2, 29)), (7, None), (8, None), (9, None), (10, None), (11, None),
    ]


def _deep(v):
    """`v` with NaN written "NaN" and -0.0 "-0.0", inside arrays too."""
    if isinstance(v, list):
        return [_deep(x) for x in v]
    return _value(v)


def test_array_functions_on_doubles_take_nan_as_nan_and_zeros_as_equal(spark):
    nan = float("nan")
    df = spark.createDataFrame(
        [(1, [1.0], [2.0, 2.0]), (2, [1.0, None, 3.0, None], [3.0]), (3, [2.0, 2.0, 1.0], [2.0, 2.0]),
         (4, [nan, 1.0], [nan]), (5, [None, None], []), (6, [-0.0], [0.0])],
        "k int, a array<double>, b array<double>",
    )
    out = df.select("k", F.array_union("a", "b"), F.array_intersect("a", "b"), F.array_except("a", "b"),
                    F.arrays_overlap("a", "b"), F.array_remove("a", F.lit(nan)), F.array_position("a", F.lit(0.0)),
                    F.array_compact("a"))
    assert out.dtypes == [
        ("k", "int"), ("array_union(a, b)", "array<double>"), ("array_intersect(a, b)", "array<double>"),
        ("array_except(a, b)", "array<double>"), ("arrays_overlap(a, b)", "boolean"),
        ("array_remove(a, NaN)", "array<double>"), ("array_position(a, 0.0)", "bigint"),
        ("array_compact(a)", "array<double>"),
    ]
    assert [tuple(_deep(v) for v in r) for r in sorted(out.collect(), key=lambda r: r[0])] == [
        (1, [1.0, 2.0], [], [1.0], False, [1.0], 0, [1.0]),
        (2, [1.0, None, 3.0], [3.0], [1.0, None], True, [1.0, None, 3.0, None], 0, [1.0, 3.0]),
        (3, [2.0, 1.0], [2.0], [1.0], True, [2.0, 2.0, 1.0], 0, [2.0, 2.0, 1.0]),
        (4, [NAN, 1.0], [NAN], [1.0], True, [1.0], 0, [NAN, 1.0]),
        (5, [None], [], [None], False, [None, None], 0, []),
        (6, [0.0], [0.0], [], True, [NZ], 1, [NZ]),
    ]
    one = spark.createDataFrame([(1, [-0.0, 1.0])], "k int, a array<double>")
    out = one.select("k", F.array_position("a", F.lit(0.0)), F.array_position("a", F.lit(-0.0)),
                     F.arrays_overlap("a", F.array(F.lit(0.0))))
    assert out.dtypes == [("k", "int"), ("array_position(a, 0.0)", "bigint"), ("array_position(a, -0.0)", "bigint"),
                          ("arrays_overlap(a, array(0.0))", "boolean")]
    assert rows(out) == [(1, 1, 1, True)]


def test_timestamp_seconds_keeps_a_fraction_of_a_second(spark):
    df = spark.createDataFrame([(1, 1.5, 1.5), (2, -1.5, -1.5), (3, 1.0000001, 0.1), (4, None, None)],
                               "k int, d double, f float")
    out = df.select("k", F.timestamp_seconds("d"), F.timestamp_seconds("f"))
    assert out.dtypes == [("k", "int"), ("timestamp_seconds(d)", "timestamp"), ("timestamp_seconds(f)", "timestamp")]
    assert rows(out) == [
        (1, dt.datetime(1970, 1, 1, 0, 0, 1, 500000), dt.datetime(1970, 1, 1, 0, 0, 1, 500000)),
        (2, dt.datetime(1969, 12, 31, 23, 59, 58, 500000), dt.datetime(1969, 12, 31, 23, 59, 58, 500000)),
        (3, dt.datetime(1970, 1, 1, 0, 0, 1), dt.datetime(1970, 1, 1, 0, 0, 0, 100000)),
        (4, None, None),
    ]
    ints = spark.createDataFrame([(1, 1700000000, 12)], "k int, l bigint, i int")
    out = ints.select("k", F.timestamp_seconds("l"), F.timestamp_seconds("i"), F.timestamp_seconds(F.lit(None)))
    assert out.dtypes == [("k", "int"), ("timestamp_seconds(l)", "timestamp"), ("timestamp_seconds(i)", "timestamp"),
                          ("timestamp_seconds(NULL)", "timestamp")]
    assert rows(out) == [(1, dt.datetime(2023, 11, 14, 22, 13, 20), dt.datetime(1970, 1, 1, 0, 0, 12), None)]


def test_lengths_and_base64_of_binaries(spark):
    df = spark.createDataFrame([(1, bytearray(b"\x00\xff")), (2, bytearray(b"")), (3, None)], "k int, b binary")
    out = df.select("k", F.octet_length("b"), F.bit_length("b"), F.base64("b"), F.unbase64(F.base64("b")))
    assert out.dtypes == [("k", "int"), ("octet_length(b)", "int"), ("bit_length(b)", "int"), ("base64(b)", "string"),
                          ("unbase64(base64(b))", "binary")]
    assert rows(out) == [(1, 2, 16, "AP8=", b"\x00\xff"), (2, 0, 0, "", b""), (3, None, None, None, None)]


def test_null_functions_widen_as_spark(spark):
    df = spark.createDataFrame([(1, 1, "x"), (2, None, "y")], "k int, i int, s string")
    out = df.select("k", F.nvl2("s", F.lit(1), F.lit(2.5)),
                    F.ifnull(F.col("i").cast("tinyint"), F.lit(7).cast("tinyint")),
                    F.zeroifnull(F.col("i").cast("tinyint")), F.zeroifnull(F.col("i").cast("decimal(5,2)")),
                    F.nullifzero(F.col("i").cast("decimal(5,2)")))
    assert out.dtypes == [
        ("k", "int"), ("nvl2(s, 1, 2.5)", "double"), ("ifnull(CAST(i AS TINYINT), CAST(7 AS TINYINT))", "tinyint"),
        ("zeroifnull(CAST(i AS TINYINT))", "int"), ("zeroifnull(CAST(i AS DECIMAL(5,2)))", "decimal(12,2)"),
        ("nullifzero(CAST(i AS DECIMAL(5,2)))", "decimal(5,2)"),
    ]
    from decimal import Decimal

    assert rows(out) == [(1, 1.0, 1, 1, Decimal("1.00"), Decimal("1.00")), (2, 1.0, 7, 0, Decimal("0.00"), None)]


def test_ceiling_ceil_and_floor_of_decimals_are_decimals_of_scale_zero(spark):
    from decimal import Decimal

    df = spark.createDataFrame([(1, Decimal("1.25"), 1.5), (2, Decimal("-0.01"), -0.5),
                                (3, Decimal("9.99"), float("nan"))], "k int, m decimal(5,2), x double")
    out = df.select("k", F.ceiling("m"), F.ceil("m"), F.floor("m"), F.ceil("x"), F.floor("x"))
    assert out.dtypes == [("k", "int"), ("ceiling(m)", "decimal(4,0)"), ("CEIL(m)", "decimal(4,0)"),
                          ("FLOOR(m)", "decimal(4,0)"), ("CEIL(x)", "bigint"), ("FLOOR(x)", "bigint")]
    assert rows(out) == [(1, Decimal("2"), Decimal("2"), Decimal("1"), 2, 1),
                         (2, Decimal("0"), Decimal("0"), Decimal("-1"), 0, -1),
                         (3, Decimal("10"), Decimal("10"), Decimal("9"), 0, 0)]


def test_negative_of_the_least_int_overflows(spark):
    df = spark.createDataFrame([(1, -2147483648)], "k int, i int")
    with pytest.raises(Exception, match="ARITHMETIC_OVERFLOW"):
        df.select(F.negative("i")).collect()


def test_expm1_is_accurate_near_zero(spark):
    vals = [2.0, -1.5, 1e-10, -1e-10, 1e-5, 0.5, 700.0, 710.0, -50.0, 1e-300, 5e-324, 0.0, -0.0, float("nan"),
            INF, -INF, None, 3e-8, -0.3, 1.2345, 0.01, 40.0]
    df = spark.createDataFrame(list(enumerate(vals)), "k int, d double")
    out = df.select("k", F.expm1("d"), F.expm1(F.col("k")))
    assert out.dtypes == [("k", "int"), ("EXPM1(d)", "double"), ("EXPM1(k)", "double")]
    expected = [
        (0, 6.38905609893065, 0.0), (1, -0.7768698398515702, 1.718281828459045),
        (2, 1.00000000005e-10, 6.38905609893065), (3, -9.999999999500001e-11, 19.085536923187668),
        (4, 1.0000050000166668e-05, 53.598150033144236), (5, 0.6487212707001282, 147.4131591025766),
        (6, 1.0142320547350045e+304, 402.4287934927351), (7, INF, 1095.6331584284585),
        (8, -1.0, 2979.9579870417283), (9, 1e-300, 8102.083927575384), (10, 5e-324, 22025.465794806718),
        (11, 0.0, 59873.14171519782), (12, NZ, 162753.79141900392), (13, NAN, 442412.3920089205),
        (14, INF, 1202603.2841647768), (15, -1.0, 3269016.3724721107), (16, None, 8886109.520507872),
        (17, 3.000000045e-08, 24154951.7535753), (18, -0.2591817793182821, 65659968.13733051),
        (19, 2.436659761170463, 178482299.96318728), (20, 0.010050167084168058, 485165194.4097903),
        (21, 2.3538526683701997e+17, 1318815733.4832146),
    ]
    got = rows(out)
    assert len(got) == len(expected)
    assert all(_close(a, b) for g, e in zip(got, expected) for a, b in zip(g, e)), got


def test_product_multiplies_in_order_as_doubles(spark):
    g = spark.createDataFrame(
        [(1, 2, 1.5), (1, 3, 2.0), (1, None, None), (2, 4, 2.5), (3, None, None), (4, -1, float("nan")), (4, 0, 1.0),
         (5, 7, 0.1), (5, 3, 0.7), (5, 5, 0.3), (5, 2, -1e308), (5, 9, 10.0)],
        "g int, i int, d double",
    )
    out = g.groupBy("g").agg(F.product("i"), F.product("d"), F.product(F.col("d") * 3))
    assert out.dtypes == [("g", "int"), ("product(i)", "double"), ("product(d)", "double"),
                          ("product((d * 3))", "double")]
    assert rows(out) == [
        (1, 6.0, 3.0, 27.0), (2, 4.0, 2.5, 7.5), (3, None, None, None), (4, NZ, NAN, NAN),
        (5, 1890.0, -2.0999999999999998e+307, -INF),
    ]
    out = g.filter("g = 5").select("i", F.product("d").over(Window.orderBy("i")).alias("p"))
    assert out.dtypes == [("i", "int"), ("p", "double")]
    assert rows(out) == [(2, -1e308), (3, -6.999999999999999e+307), (5, -2.0999999999999996e+307),
                         (7, -2.0999999999999998e+306), (9, -2.0999999999999998e+307)]
