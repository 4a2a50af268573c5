"""Math, string and aggregate functions with Spark's names, types and NULL/NaN handling: signum,
degrees, radians, e, pi, greatest, least, nanvl; lpad, rpad, repeat, translate, ascii, hex,
unhex; stddev_pop, stddev_samp, var_pop, var_samp, covar_pop, covar_samp, sum_distinct; exp,
log, log10, log2, cbrt, pow, atan2 and the trigonometric functions (their values within an ulp
or two of Java's: the last bit of a transcendental function differs between Java's Math and the
engine's libm, as between Java's own Math and StrictMath).

Every expected value here is PySpark 4's answer to the same program (run with
``SparkSession.builder.master("local[1]")``). In the rows, NaN is written "NaN" and a negative
zero "-0.0", so that they compare (NaN is no value equal to itself, and -0.0 == 0.0).
"""

import math

import pytest

from tributary.errors import PySparkValueError
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


@pytest.fixture
def nums(spark):
    inf = float("inf")
    return spark.createDataFrame(
        [(1, 1, 2.0, 8), (2, 0, -1.5, -27), (3, None, None, None), (4, -3, 0.0, 0),
         (5, 5, float("nan"), 100), (6, 2, inf, 1), (7, -1, -0.0, -1), (8, 1, -inf, 3)],
        "k int, i int, d double, l bigint",
    )


@pytest.fixture
def strs(spark):
    return spark.createDataFrame(
        [(1, "abc", 3), (2, "", 0), (3, None, None), (4, "héllo wörld", -1), (5, "aé\U0001F600z", 2),
         (6, "ABCABC", 5)],
        "k int, s string, n int",
    )


def test_signum_degrees_and_radians_are_doubles_and_keep_nan_and_signed_zeros(nums):
    out = nums.select(
        "k", F.signum("i"), F.signum("d"), F.signum(F.col("l")), F.degrees("i"), F.degrees("d"),
        F.radians("l"), F.radians("d"), F.toDegrees("i"), F.toRadians("d"),
    )
    assert out.dtypes == [
        ("k", "int"), ("SIGNUM(i)", "double"), ("SIGNUM(d)", "double"), ("SIGNUM(l)", "double"),
        ("DEGREES(i)", "double"), ("DEGREES(d)", "double"), ("RADIANS(l)", "double"),
        ("RADIANS(d)", "double"), ("DEGREES(i)", "double"), ("RADIANS(d)", "double"),
    ]
    inf = float("inf")
    assert rows(out) == [
        (1, 1.0, 1.0, 1.0, 57.29577951308232, 114.59155902616465, 0.13962634015954636, 0.03490658503988659, 57.29577951308232, 0.03490658503988659),
        (2, 0.0, -1.0, -1.0, 0.0, -85.94366926962348, -0.47123889803846897, -0.026179938779914945, 0.0, -0.026179938779914945),
        (3, None, None, None, None, None, None, None, None, None),
        (4, -1.0, 0.0, 0.0, -171.88733853924697, 0.0, 0.0, 0.0, -171.88733853924697, 0.0),
        (5, 1.0, NAN, 1.0, 286.4788975654116, NAN, 1.7453292519943295, NAN, 286.4788975654116, NAN),
        (6, 1.0, 1.0, 1.0, 114.59155902616465, inf, 0.017453292519943295, inf, 114.59155902616465, inf),
        (7, -1.0, NZ, -1.0, -57.29577951308232, NZ, -0.017453292519943295, NZ, -57.29577951308232, NZ),
        (8, 1.0, -1.0, 1.0, 57.29577951308232, -inf, 0.05235987755982989, -inf, 57.29577951308232, -inf),
    ]


def test_e_and_pi(nums):
    out = nums.filter(F.col("k") <= 2).select("k", F.e(), F.pi(), (F.col("i") * F.pi()).alias("x"))
    assert out.dtypes == [("k", "int"), ("E()", "double"), ("PI()", "double"), ("x", "double")]
    assert rows(out) == [
        (1, 2.718281828459045, 3.141592653589793, 3.141592653589793),
        (2, 2.718281828459045, 3.141592653589793, 0.0),
    ]


def test_greatest_and_least_skip_nulls_rank_nan_highest_and_widen_the_type(nums):
    out = nums.select(
        "k", F.greatest("i", "d"), F.least("i", "d"), F.greatest("i", "l"), F.least("i", "l", F.lit(1)),
        F.greatest(F.col("d"), F.lit(1.0)), F.least("d", F.lit(None)), F.greatest("i", F.lit(2)),
    )
    assert out.dtypes == [
        ("k", "int"), ("greatest(i, d)", "double"), ("least(i, d)", "double"), ("greatest(i, l)", "bigint"),
        ("least(i, l, 1)", "bigint"), ("greatest(d, 1.0)", "double"), ("least(d, NULL)", "double"),
        ("greatest(i, 2)", "int"),
    ]
    inf = float("inf")
    assert rows(out) == [
        (1, 2.0, 1.0, 8, 1, 2.0, 2.0, 2),
        (2, 0.0, -1.5, 0, -27, 1.0, -1.5, 2),
        (3, None, None, None, 1, 1.0, None, 2),
        (4, 0.0, -3.0, 0, -3, 1.0, 0.0, 2),
        (5, NAN, 5.0, 100, 1, NAN, NAN, 5),
        (6, inf, 2.0, 2, 1, inf, inf, 2),
        (7, NZ, -1.0, -1, -1, 1.0, NZ, 2),
        (8, 1.0, -inf, 3, 1, 1.0, -inf, 2),
    ]
    with pytest.raises(PySparkValueError, match=r"^\[WRONG_NUM_COLUMNS\] Function `greatest` should take at least 2 columns\.$"):
        nums.select(F.greatest("i"))


def test_nanvl_replaces_only_nan(nums):
    out = nums.select("k", F.nanvl("d", F.lit(0.0)), F.nanvl("d", "i"), F.nanvl("i", "d"), F.nanvl("d", F.lit(None)))
    assert out.dtypes == [
        ("k", "int"), ("nanvl(d, 0.0)", "double"), ("nanvl(d, i)", "double"), ("nanvl(i, d)", "double"),
        ("nanvl(d, NULL)", "double"),
    ]
    inf = float("inf")
    assert rows(out) == [
        (1, 2.0, 2.0, 1.0, 2.0),
        (2, -1.5, -1.5, 0.0, -1.5),
        (3, None, None, None, None),
        (4, 0.0, 0.0, -3.0, 0.0),
        (5, 0.0, 5.0, 5.0, None),
        (6, inf, inf, 2.0, inf),
        (7, NZ, NZ, -1.0, NZ),
        (8, -inf, -inf, 1.0, -inf),
    ]


def test_lpad_and_rpad_count_characters_and_cut_long_strings(strs):
    out = strs.select(
        "k", F.lpad("s", 5, "xy"), F.rpad("s", 5, "xy"), F.lpad("s", 2, "-"), F.rpad("s", 0, "-"),
        F.lpad("s", -1, "x"), F.lpad("s", 6, ""), F.rpad("s", 2, ""), F.lpad("s", 4, "\U0001F600"),
    )
    assert out.dtypes == [
        ("k", "int"), ("lpad(s, 5, xy)", "string"), ("rpad(s, 5, xy)", "string"), ("lpad(s, 2, -)", "string"),
        ("rpad(s, 0, -)", "string"), ("lpad(s, -1, x)", "string"), ("lpad(s, 6, )", "string"),
        ("rpad(s, 2, )", "string"), ("lpad(s, 4, \U0001F600)", "string"),
    ]
    assert rows(out) == [
        (1, "xyabc", "abcxy", "ab", "", "", "abc", "ab", "\U0001F600abc"),
        (2, "xyxyx", "xyxyx", "--", "", "", "", "", "\U0001F600" * 4),
        (3, None, None, None, None, None, None, None, None),
        (4, "héllo", "héllo", "hé", "", "", "héllo ", "hé", "héll"),
        (5, "xaé\U0001F600z", "aé\U0001F600zx", "aé", "", "", "aé\U0001F600z", "aé", "aé\U0001F600z"),
        (6, "ABCAB", "ABCAB", "AB", "", "", "ABCABC", "AB", "ABCA"),
    ]


def test_lpad_rpad_and_repeat_with_a_column_count_negative_or_null(strs):
    out = strs.select("k", F.lpad("s", F.col("n"), F.lit("*")), F.rpad(F.col("s"), F.col("n"), F.lit("ab")))
    assert out.dtypes == [("k", "int"), ("lpad(s, n, *)", "string"), ("rpad(s, n, ab)", "string")]
    assert rows(out) == [(1, "abc", "abc"), (2, "", ""), (3, None, None), (4, "", ""), (5, "aé", "aé"), (6, "ABCAB", "ABCAB")]
    rep = strs.select("k", F.repeat("s", 2), F.repeat("s", 0), F.repeat("s", -2), F.repeat("s", F.col("n")))
    assert rep.dtypes == [
        ("k", "int"), ("repeat(s, 2)", "string"), ("repeat(s, 0)", "string"), ("repeat(s, -2)", "string"),
        ("repeat(s, n)", "string"),
    ]
    assert rows(rep) == [
        (1, "abcabc", "", "", "abcabcabc"),
        (2, "", "", "", ""),
        (3, None, None, None, None),
        (4, "héllo wörldhéllo wörld", "", "", ""),
        (5, "aé\U0001F600zaé\U0001F600z", "", "", "aé\U0001F600zaé\U0001F600z"),
        (6, "ABCABCABCABC", "", "", "ABCABC" * 5),
    ]


def test_translate_replaces_deletes_and_keeps_the_first_of_repeated_characters(strs):
    out = strs.select(
        "k", F.translate("s", "abc", "x"), F.translate("s", "aa", "xy"), F.translate("s", "é\U0001F600", "E?"),
        F.translate("s", "", "x"), F.translate("s", "lo", ""),
    )
    assert out.dtypes == [
        ("k", "int"), ("translate(s, abc, x)", "string"), ("translate(s, aa, xy)", "string"),
        ("translate(s, é\U0001F600, E?)", "string"), ("translate(s, , x)", "string"), ("translate(s, lo, )", "string"),
    ]
    assert rows(out) == [
        (1, "x", "xbc", "abc", "abc", "abc"),
        (2, "", "", "", "", ""),
        (3, None, None, None, None, None),
        (4, "héllo wörld", "héllo wörld", "hEllo wörld", "héllo wörld", "hé wörd"),
        (5, "xé\U0001F600z", "xé\U0001F600z", "aE?z", "aé\U0001F600z", "aé\U0001F600z"),
        (6, "ABCABC", "ABCABC", "ABCABC", "ABCABC", "ABCABC"),
    ]


def test_ascii_hex_and_unhex(strs, spark):
    out = strs.select(
        "k", F.ascii("s"), F.hex("s"), F.hex("n"), F.hex(F.col("n").cast("bigint")), F.unhex(F.hex("s")), F.ascii("n"),
    )
    assert out.dtypes == [
        ("k", "int"), ("ascii(s)", "int"), ("hex(s)", "string"), ("hex(n)", "string"),
        ("hex(CAST(n AS BIGINT))", "string"), ("unhex(hex(s))", "binary"), ("ascii(n)", "int"),
    ]
    assert rows(out) == [
        (1, 97, "616263", "3", "3", b"abc", 51),
        (2, 0, "", "0", "0", b"", 48),
        (3, None, None, None, None, None, None),
        (4, 104, "68C3A96C6C6F2077C3B6726C64", "FFFFFFFFFFFFFFFF", "FFFFFFFFFFFFFFFF", "héllo wörld".encode(), 45),
        (5, 97, "61C3A9F09F98807A", "2", "2", "aé\U0001F600z".encode(), 50),
        (6, 65, "414243414243", "5", "5", b"ABCABC", 53),
    ]
    df = spark.createDataFrame(
        [(1, -1, 255, "1F", "abc", "zz", b"\x01\xff")],
        "k int, a bigint, b int, h string, o string, z string, bb binary",
    )
    misc = df.select(
        F.hex("a"), F.hex("b"), F.unhex("h"), F.unhex("o"), F.unhex("z"), F.hex("bb"), F.ascii("b"),
        F.hex(F.col("b").cast("smallint")), F.hex(F.lit(None)), F.unhex(F.lit(None)), F.unhex(F.lit("")),
        F.unhex(F.lit("abc")), F.ascii(F.lit(-7.5)),
    )
    assert misc.dtypes == [
        ("hex(a)", "string"), ("hex(b)", "string"), ("unhex(h)", "binary"), ("unhex(o)", "binary"),
        ("unhex(z)", "binary"), ("hex(bb)", "string"), ("ascii(b)", "int"), ("hex(CAST(b AS SMALLINT))", "string"),
        ("hex(NULL)", "string"), ("unhex(NULL)", "binary"), ("unhex()", "binary"), ("unhex(abc)", "binary"),
        ("ascii(-7.5)", "int"),
    ]
    assert [tuple(r) for r in misc.collect()] == [
        ("FFFFFFFFFFFFFFFF", "FF", b"\x1f", b"\n\xbc", None, "01FF", 50, "FF", None, None, b"", b"\n\xbc", 45)
    ]


@pytest.fixture
def groups(spark):
    return spark.createDataFrame(
        [("a", 1, 2.0), ("a", 2, 4.5), ("a", 4, 1.0), ("a", 4, None), ("b", 5, 3.0), ("c", None, None),
         ("d", 3, float("nan")), ("d", 7, 1.0), ("e", 2, 2.0), ("e", 2, 2.0)],
        "g string, x int, y double",
    )


def test_variance_covariance_and_sum_distinct_by_group(groups):
    out = groups.groupBy("g").agg(
        F.stddev_pop("x"), F.stddev_samp("x"), F.var_pop("x"), F.var_samp("y"), F.covar_pop("x", "y"),
        F.covar_samp("x", "y"), F.sum_distinct("x"), F.sumDistinct("y"),
    )
    assert out.dtypes == [
        ("g", "string"), ("stddev_pop(x)", "double"), ("stddev_samp(x)", "double"), ("var_pop(x)", "double"),
        ("var_samp(y)", "double"), ("covar_pop(x, y)", "double"), ("covar_samp(x, y)", "double"),
        ("sum(DISTINCT x)", "bigint"), ("sum(DISTINCT y)", "double"),
    ]
    assert rows(out) == [
        ("a", 1.2990381056766578, 1.4999999999999998, 1.6874999999999998, 3.25, -0.8333333333333334, -1.25, 7, 7.5),
        ("b", 0.0, None, 0.0, None, 0.0, None, 5, 3.0),
        ("c", None, None, None, None, None, None, None, None),
        ("d", 2.0, 2.8284271247461903, 4.0, NAN, NAN, NAN, 10, NAN),
        ("e", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2, 2.0),
    ]


def test_sum_distinct_types(groups):
    no_nan = groups.filter(~F.isnan("y") | F.col("y").isNull())
    out = no_nan.groupBy().agg(F.sum_distinct(F.col("y").cast("decimal(10,2)")), F.sum_distinct(F.col("x").cast("smallint")))
    assert out.dtypes == [
        ("sum(DISTINCT CAST(y AS DECIMAL(10,2)))", "decimal(20,2)"), ("sum(DISTINCT CAST(x AS SMALLINT))", "bigint"),
    ]
    import decimal

    assert [tuple(r) for r in out.collect()] == [(decimal.Decimal("10.50"), 19)]


def _close(a, b):
    """Equal, or doubles within an ulp or two (Java's Math and the engine's libm may differ in
    the last bit of a transcendental function)."""
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b) or math.isinf(a) or math.isinf(b):
            return (math.isnan(a) and math.isnan(b)) or a == b
        return math.isclose(a, b, rel_tol=5e-16, abs_tol=0.0) and math.copysign(1, a) == math.copysign(1, b)
    return a == b


def test_logarithms_powers_and_trigonometry(spark):
    df = spark.createDataFrame(
        [(1, 2.0, 8.0), (2, 0.0, -1.0), (3, None, float("nan")), (4, -0.0, 0.5), (5, 1.0, float("inf"))],
        "id int, x double, y double",
    )
    out = df.select(
        "id", F.exp("x"), F.log("y"), F.log(2.0, "y"), F.log(10.0, F.col("y")), F.log10("y"),
        F.log2("y"), F.cbrt("y"), F.sin("x"), F.cos("x"), F.tan("x"), F.asin("y"), F.acos("y"),
        F.atan("y"), F.pow("x", "y"), F.power(F.col("x"), 2), F.atan2("x", "y"),
        F.pow(F.lit(0.0), F.lit(-1.0)).alias("z"), F.exp(F.lit(1)).alias("e1"),
    )
    assert out.columns == [
        "id", "EXP(x)", "ln(y)", "LOG(2.0, y)", "LOG(10.0, y)", "LOG10(y)", "LOG2(y)", "CBRT(y)",
        "SIN(x)", "COS(x)", "TAN(x)", "ASIN(y)", "ACOS(y)", "ATAN(y)", "POWER(x, y)",
        "POWER(x, 2)", "ATAN2(x, y)", "z", "e1",
    ]
    assert all(t == "double" for _, t in out.dtypes[1:])
    nan, inf, e = float("nan"), float("inf"), 2.7182818284590455
    want = [
        (1, 7.38905609893065, 2.0794415416798357, 3.0, 0.9030899869919434, 0.9030899869919435, 3.0, 2.0, 0.9092974268256817, -0.4161468365471424, -2.185039863261519, nan, nan, 1.446441332248135, 256.0, 4.0, 0.24497866312686414, inf, e),
        (2, 1.0, None, None, None, None, None, -1.0, 0.0, 1.0, 0.0, -1.5707963267948966, 3.141592653589793, -0.7853981633974483, inf, 0.0, 3.141592653589793, inf, e),
        (3, None, nan, nan, nan, nan, nan, nan, None, None, None, nan, nan, nan, None, None, None, inf, e),
        (4, 1.0, -0.6931471805599453, -1.0, -0.30102999566398114, -0.3010299956639812, -1.0, 0.7937005259840998, -0.0, 1.0, -0.0, 0.5235987755982989, 1.0471975511965979, 0.4636476090008061, 0.0, 0.0, 0.0, inf, e),
        (5, e, inf, inf, inf, inf, inf, inf, 0.8414709848078965, 0.5403023058681398, 1.5574077246549023, nan, nan, 1.5707963267948966, nan, 1.0, 0.0, inf, e),
    ]
    got = sorted(tuple(r) for r in out.collect())
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert all(_close(a, b) for a, b in zip(g, w)), (g, w)


def test_powers_of_a_negative_zero_and_repeats_of_numbers(spark):
    df = spark.createDataFrame([(1, -0.0, 2.5)], "v int, z double, d double")
    out = df.select(
        F.pow("z", F.lit(-1.0)).alias("a"), F.pow("z", F.lit(-2.0)).alias("b"),
        F.pow(F.lit(0.0), F.lit(-3.0)).alias("c"), F.pow("z", F.lit(-0.5)).alias("d2"),
        F.pow(F.lit(0.0), F.lit(0.0)).alias("e"),
    )
    inf = float("inf")
    assert [tuple(r) for r in out.collect()] == [(-inf, inf, inf, inf, 1.0)]
    rep = df.select(F.repeat("v", 2), F.repeat("d", 2), F.repeat(F.lit("ab"), 2))
    assert rep.columns == ["repeat(v, 2)", "repeat(d, 2)", "repeat(ab, 2)"]
    assert [tuple(r) for r in rep.collect()] == [("11", "2.52.5", "abab")]


def test_round_and_bround_round_a_double_as_the_decimal_it_prints_and_keep_sparks_types(spark):
    from decimal import Decimal as D

    df = spark.createDataFrame(
        [(1, 2.675, 15, "1.25"), (2, 1.005, -25, "-2.50"), (3, 0.125, None, None),
         (4, -2.5, 2147483640, "999.99"), (5, float("nan"), 7, "0.05"), (6, -0.0, 0, "-0.05"),
         (7, 123456789.12345678, 1, "12.345")],
        "k int, d double, i int, s string",
    ).withColumn("m", F.col("s").cast("decimal(5,2)"))
    out = df.select(
        "k", F.round("d", 2), F.bround("d", 2), F.round("d"), F.bround("d"), F.round("d", -1),
        F.round("i", -1), F.bround("i", -1), F.round("m", 1), F.bround("m", 1), F.round("m", -1),
        F.round(F.col("d").cast("float"), 1),
    )
    assert out.columns == [
        "k", "round(d, 2)", "bround(d, 2)", "round(d, 0)", "bround(d, 0)", "round(d, -1)",
        "round(i, -1)", "bround(i, -1)", "round(m, 1)", "bround(m, 1)", "round(m, -1)",
        "round(CAST(d AS FLOAT), 1)",
    ]
    assert [f.dataType.simpleString() for f in out.schema.fields] == [
        "int", "double", "double", "double", "double", "double", "int", "int", "decimal(5,1)",
        "decimal(5,1)", "decimal(4,0)", "float",
    ]
    assert rows(out) == [
        (1, 2.68, 2.68, 3.0, 3.0, 0.0, 20, 20, D("1.3"), D("1.2"), D("0"), 2.700000047683716),
        (2, 1.01, 1.0, 1.0, 1.0, 0.0, -30, -20, D("-2.5"), D("-2.5"), D("0"), 1.0),
        (3, 0.13, 0.12, 0.0, 0.0, 0.0, None, None, None, None, None, 0.10000000149011612),
        (4, -2.5, -2.5, -3.0, -2.0, 0.0, 2147483640, 2147483640, D("1000.0"), D("1000.0"),
         D("1000"), -2.5),
        (5, NAN, NAN, NAN, NAN, NAN, 10, 10, D("0.1"), D("0.0"), D("0"), NAN),
        (6, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0, D("-0.1"), D("0.0"), D("0"), 0.0),
        (7, 123456789.12, 123456789.12, 123456789.0, 123456789.0, 123456790.0, 0, 0, D("12.4"),
         D("12.4"), D("10"), 123456792.0),
    ]
    # Past the integer's type: Spark's condition.
    with pytest.raises(Exception, match="ARITHMETIC_OVERFLOW"):
        spark.createDataFrame([(2147483647,)], "i int").select(F.round("i", -1)).collect()


@pytest.fixture
def pairs(spark):
    return spark.createDataFrame(
        [(1, 1.0, 2.0), (1, 2.0, 4.5), (1, 4.0, 7.0), (1, 10.0, 1.0), (2, 5.0, 5.0), (2, 5.0, 6.0),
         (3, 3.0, None), (3, 7.0, 1.0), (4, None, None), (5, 0.1, 0.3), (5, 0.2, 0.1),
         (5, 0.7, 0.2), (5, 1e10, 3.0), (5, -3.5, 2.5), (6, 2.0, 2.0), (6, 2.0, 2.0),
         (6, 2.0, 2.0)],
        "k int, x double, y double",
    )


def test_skewness_kurtosis_and_corr_are_sparks_to_the_last_bit(spark, pairs):
    out = pairs.groupBy("k").agg(F.skewness("x"), F.kurtosis("x"), F.corr("x", "y"))
    assert out.columns == ["k", "skewness(x)", "kurtosis(x)", "corr(x, y)"]
    # NULL without variance (k 2, 6), for no rows (k 4) and for corr of one pair (k 3).
    assert rows(out) == [
        (1, 0.8483206969390203, -0.9292307692307684, -0.388274912681629),
        (2, None, None, None),
        (3, 0.0, -2.0, None),
        (4, None, None, None),
        (5, 1.5, 0.25, 0.7059047096569598),
        (6, None, None, None),
    ]
    ids = spark.range(1, 11).select(
        F.skewness("id"), F.kurtosis("id"), F.corr("id", F.col("id") * F.col("id")))
    assert ids.columns == ["skewness(id)", "kurtosis(id)", "corr(id, (id * id))"]
    assert rows(ids) == [(0.0, -1.2242424242424241, 0.9745586289152093)]


def test_log1p_hypot_and_sha1(pairs):
    out = pairs.where("k IN (1, 5)").select(
        "k", "x", F.log1p("x"), F.hypot("x", "y"), F.sha1(F.col("k").cast("string")),
        F.sha1(F.lit("Spark")))
    assert out.columns == ["k", "x", "LOG1P(x)", "HYPOT(x, y)", "sha1(CAST(k AS STRING))",
                           "sha1(Spark)"]
    got = sorted(out.collect(), key=lambda r: (r[0], r[1]))
    expected = [  # (k, x, log1p, hypot, sha1 of k)
        (1, 1.0, 0.6931471805599453, 2.23606797749979, "356a192b7913b04c54574d18c28d46e6395428ab"),
        (1, 2.0, 1.0986122886681096, 4.924428900898052, "356a192b7913b04c54574d18c28d46e6395428ab"),
        (1, 4.0, 1.6094379124341003, 8.06225774829855, "356a192b7913b04c54574d18c28d46e6395428ab"),
        (1, 10.0, 2.3978952727983707, 10.04987562112089, "356a192b7913b04c54574d18c28d46e6395428ab"),
        (5, -3.5, None, 4.301162633521313, "ac3478d69a3c81fa62e60f5c3696165a4e5e6ac4"),
        (5, 0.1, 0.09531017980432487, 0.31622776601683794, "ac3478d69a3c81fa62e60f5c3696165a4e5e6ac4"),
        (5, 0.2, 0.18232155679395462, 0.22360679774997896, "ac3478d69a3c81fa62e60f5c3696165a4e5e6ac4"),
        (5, 0.7, 0.5306282510621704, 0.7280109889280517, "ac3478d69a3c81fa62e60f5c3696165a4e5e6ac4"),
        (5, 1e10, 23.025850930040455, 10000000000.0, "ac3478d69a3c81fa62e60f5c3696165a4e5e6ac4"),
    ]
    assert len(got) == len(expected)
    for r, (k, x, log1p, hypot, digest) in zip(got, expected):
        assert (r[0], r[1], r[2], r[4], r[5]) == (
            k, x, log1p, digest, "85f5955f4b27a9a4c2aab6ffe5d7189fc298b92c")
        # hypot: Java's StrictMath and the engine's libm may differ in the last bit.
        assert abs(r[3] - hypot) <= math.ulp(hypot), (x, r[3], hypot)


def test_round_takes_a_literal_column_or_none_as_its_scale(spark):
    from decimal import Decimal as D

    df = spark.createDataFrame([(2.5, "1.25")], "d double, s string").withColumn(
        "m", F.col("s").cast("decimal(5,2)"))
    out = df.select(F.round("m", F.lit(1)), F.bround("m", F.lit(1)), F.round("m", F.lit(-1)),
                    F.round("d", None), F.round("m", -5))
    assert [f.dataType.simpleString() for f in out.schema.fields] == [
        "decimal(5,1)", "decimal(5,1)", "decimal(4,0)", "double", "decimal(6,0)"]
    assert [tuple(r) for r in out.collect()] == [(D("1.3"), D("1.2"), D("0"), 3.0, D("0"))]
