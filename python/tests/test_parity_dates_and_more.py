"""Datetime patterns, regexp_replace's replacement, concat of timestamps, and the daily date,
array, string and aggregate functions, as PySpark answers.

Every expected value here is PySpark 4's answer to the same program (run with
``SparkSession.builder.master("local[1]")`` and ``spark.sql.session.timeZone=UTC``).
"""

import datetime as dt
from decimal import Decimal

import pytest

from tributary.sql import functions as F

D, T = dt.date, dt.datetime


def rows(df):
    """The rows as tuples, sorted (PySpark's order is not defined)."""
    return sorted((tuple(r) for r in df.collect()), key=repr)


def column(df):
    """The first column's values, in the rows' order."""
    return [r[0] for r in df.collect()]


# -- 1. Spark's datetime patterns: letters by count ---------------------------------------------

@pytest.fixture
def times(spark):
    return spark.createDataFrame(
        [(1, T(2024, 3, 10, 5, 6, 7, 250000)), (2, T(2024, 12, 31, 17, 0, 0, 123456)), (3, T(2024, 1, 5))],
        "id INT, t TIMESTAMP",
    ).orderBy("id")


def test_date_format_pattern_letters_by_count(times):
    def fmt(p):
        return column(times.select(F.date_format("t", p)))

    # PySpark 4's answer, for each pattern over the three rows:
    assert fmt("M/d/yyyy") == ["3/10/2024", "12/31/2024", "1/5/2024"]
    assert fmt("H:m:s") == ["5:6:7", "17:0:0", "0:0:0"]
    assert fmt("h:mm a") == ["5:06 AM", "5:00 PM", "12:00 AM"]
    assert fmt("y") == ["2024", "2024", "2024"]
    assert fmt("E") == ["Sun", "Tue", "Fri"]
    assert fmt("D") == ["70", "366", "5"]
    assert fmt("MMM''yy") == ["Mar'24", "Dec'24", "Jan'24"]
    assert fmt("HH:mm:ss.SS") == ["05:06:07.25", "17:00:00.12", "00:00:00.00"]
    assert fmt("XXX") == ["Z", "Z", "Z"]
    assert fmt("yy yyy yyyy yyyyy") == ["24 2024 2024 02024"] * 3
    assert fmt("DD|DDD") == ["70|070", "366|366", "05|005"]
    assert fmt("EE|EEE|EEEE") == ["Sun|Sun|Sunday", "Tue|Tue|Tuesday", "Fri|Fri|Friday"]
    assert fmt("LLL LLLL L LL") == ["Mar March 3 03", "Dec December 12 12", "Jan January 1 01"]
    assert fmt("S|SS|SSS|SSSS|SSSSSS|SSSSSSSSS") == [
        "2|25|250|2500|250000|250000000", "1|12|123|1234|123456|123456000", "0|00|000|0000|000000|000000000"]
    assert times.select(F.date_format("t", "M/d/yyyy")).columns == ["date_format(t, M/d/yyyy)"]


def test_date_format_zones_eras_quarters_hours_and_literal_text(spark, times):
    def fmt(p):
        return column(times.select(F.date_format("t", p)))

    # PySpark 4's answer (the session's zone is UTC):
    assert fmt("X|XX|XXX|x|xx|xxx|Z|ZZZZ|ZZZZZ|O|OOOO|z|zzzz|VV") == [
        "Z|Z|Z|+00|+0000|+00:00|+0000|GMT|Z|GMT|GMT|UTC|Coordinated Universal Time|UTC"] * 3
    assert fmt("G GGGG") == ["AD Anno Domini"] * 3
    assert fmt("Q QQ QQQ QQQQ q") == ["1 01 Q1 1st quarter 1", "4 04 Q4 4th quarter 4", "1 01 Q1 1st quarter 1"]
    assert fmt("yyyy-MM-dd'T'HH:mm 'o''clock'") == [
        "2024-03-10T05:06 o'clock", "2024-12-31T17:00 o'clock", "2024-01-05T00:00 o'clock"]
    assert fmt("yyyy[-MM] 100%") == ["2024-03 100%", "2024-12 100%", "2024-01 100%"]
    hours = spark.createDataFrame([(T(2024, 5, 5, 0, 0),), (T(2024, 5, 5, 12, 0),), (T(2024, 5, 5, 13, 0),)], "t TIMESTAMP")
    # PySpark 4's answer:
    assert sorted(column(hours.select(F.date_format("t", "K KK k kk h hh H HH a")))) == [
        "0 00 12 12 12 12 12 12 PM", "0 00 24 24 12 12 0 00 AM", "1 01 13 13 1 01 13 13 PM"]


def test_date_format_of_dates_text_and_null(spark):
    df = spark.createDataFrame([("2024-03-10 05:06:07", D(2024, 2, 3)), (None, None)], "s STRING, d DATE")
    out = df.select(F.date_format("s", "M/d/yyyy"), F.date_format("d", "M/d/yyyy HH").alias("d"), F.date_format("d", "Q").alias("q"))
    # PySpark 4's answer:
    assert rows(out) == [("3/10/2024", "2/3/2024 00", "1"), (None, None, None)]


def test_from_unixtime_with_spark_patterns(spark):
    df = spark.createDataFrame([(0,), (1710047167,), (None,)], "s BIGINT")
    out = df.select(F.from_unixtime("s", "M/d/yy h:mm a"), F.from_unixtime("s", "EEEE, MMMM d, y").alias("long"), F.from_unixtime("s"))
    # PySpark 4's answer:
    assert out.columns == ["from_unixtime(s, M/d/yy h:mm a)", "long", "from_unixtime(s, yyyy-MM-dd HH:mm:ss)"]
    assert rows(out) == [
        ("1/1/70 12:00 AM", "Thursday, January 1, 1970", "1970-01-01 00:00:00"),
        ("3/10/24 5:06 AM", "Sunday, March 10, 2024", "2024-03-10 05:06:07"),
        (None, None, None),
    ]


def test_to_date_and_to_timestamp_parse_spark_patterns(spark):
    def parse(text, pattern, fn=F.to_timestamp):
        return column(spark.createDataFrame([(text,)], "s STRING").select(fn("s", pattern)))[0]

    # PySpark 4's answers:
    assert parse("3/5/2024", "M/d/yyyy", F.to_date) == D(2024, 3, 5)
    assert parse("03/05/2024", "M/d/yyyy", F.to_date) == D(2024, 3, 5)
    assert parse("24-3-5", "yy-M-d", F.to_date) == D(2024, 3, 5)
    assert parse("Mar'24 5", "MMM''yy d", F.to_date) == D(2024, 3, 5)
    assert parse("2024 070", "yyyy DDD", F.to_date) == D(2024, 3, 10)
    assert parse("2024-03-05 1:02:03 PM", "yyyy-MM-dd h:mm:ss a") == T(2024, 3, 5, 13, 2, 3)
    assert parse("2024-03-05 01:02:03 pm", "yyyy-MM-dd hh:mm:ss a") == T(2024, 3, 5, 13, 2, 3)
    assert parse("2024-03-05 1:2:3", "yyyy-MM-dd H:m:s") == T(2024, 3, 5, 1, 2, 3)
    assert parse("2024-03-05 01:02:03.25", "yyyy-MM-dd HH:mm:ss.SS") == T(2024, 3, 5, 1, 2, 3, 250000)
    assert parse("2024-03-05 01:02:03.123456", "yyyy-MM-dd HH:mm:ss.SSSSSS") == T(2024, 3, 5, 1, 2, 3, 123456)
    assert parse("2024-03-05T01:02:03+02:00", "yyyy-MM-dd'T'HH:mm:ssXXX") == T(2024, 3, 4, 23, 2, 3)
    assert parse("2024-03-05T01:02:03Z", "yyyy-MM-dd'T'HH:mm:ssXXX") == T(2024, 3, 5, 1, 2, 3)
    assert parse("2024-03-05 01:02:03 +0200", "yyyy-MM-dd HH:mm:ss Z") == T(2024, 3, 4, 23, 2, 3)
    u = spark.createDataFrame([("3/5/2024 1:02",)], "s STRING").select(F.unix_timestamp("s", "M/d/yyyy H:mm"))
    assert column(u) == [1709600520]


# -- 2. regexp_replace: Java's replacement syntax --------------------------------------------------

def test_regexp_replace_reads_java_replacements(spark):
    df = spark.createDataFrame([("abc-def",), (None,)], "s STRING")

    def rep(pattern, replacement):
        return column(df.select(F.regexp_replace("s", pattern, replacement)))

    # PySpark 4's answers:
    assert rep(r"(\w+)-(\w+)", "$2x$1") == ["defxabc", None]
    assert rep("(b)", "$1x") == ["abxc-def", None]
    assert rep("(b)", "$1_") == ["ab_c-def", None]
    assert rep("(b)", "$10") == ["ab0c-def", None]  # group 1, then 0: there is no group 10
    assert rep("(b)", r"\$1") == ["a$1c-def", None]
    assert rep("b", r"\$\$") == ["a$$c-def", None]
    assert rep("b", r"\1") == ["a1c-def", None]
    assert rep("b", r"\\1") == ["a\\1c-def", None]
    assert rep("b", "\\\\") == ["a\\c-def", None]
    assert rep(r"([a-z])(\w)", "$2$1$0") == ["baabc-eddef", None]
    assert rep("(?<n>b)", "[${n}]") == ["a[b]c-def", None]
    assert rep("(a)(b)(c)(-)(d)(e)(f)", "$7$6$5$4$3$2$1") == ["fed-cba", None]
    assert df.select(F.regexp_replace("s", "(b)", "$1x")).columns == ["regexp_replace(s, (b), $1x, 1)"]


def test_regexp_replace_bad_replacement_is_an_error(spark):
    df = spark.createDataFrame([("abc",)], "s STRING")
    # PySpark 4: INVALID_REGEXP_REPLACE for a lone '$', '$x', a group the pattern lacks, a
    # trailing backslash.
    for pattern, replacement in [("b", "$"), ("b", "$x"), ("(b)", "$2"), ("b", "x\\")]:
        with pytest.raises(Exception, match="INVALID_REGEXP_REPLACE"):
            df.select(F.regexp_replace("s", pattern, replacement)).collect()


# -- 3. concat and concat_ws write values as Spark ------------------------------------------------

@pytest.fixture
def mixed(spark):
    return spark.createDataFrame(
        [(1, T(2024, 1, 2, 3, 4, 5), T(2024, 1, 2, 3, 4, 5, 120000), D(2024, 1, 2), 1.5, True, 7, Decimal("1.50"), "x", ["p", None, "q"]),
         (2, None, T(2024, 1, 2, 3, 4, 5, 120000), None, None, None, None, None, None, None)],
        "id INT, t TIMESTAMP, t2 TIMESTAMP, d DATE, f DOUBLE, b BOOLEAN, i INT, dec DECIMAL(5,2), s STRING, arr ARRAY<STRING>",
    )


def test_concat_writes_timestamps_as_spark(mixed):
    out = mixed.select("id", F.concat("s", "t", "d"), F.concat("t2", F.lit("|"), "f", "b", "i", "dec").alias("all"))
    # PySpark 4's answer: NULL when an input is NULL.
    assert out.columns == ["id", "concat(s, t, d)", "all"]
    assert rows(out) == [(1, "x2024-01-02 03:04:052024-01-02", "2024-01-02 03:04:05.12|1.5true71.50"), (2, None, None)]


def test_concat_ws_writes_timestamps_as_spark(mixed):
    out = mixed.select("id", F.concat_ws("-", "s", "t", "d", "arr", "t2"), F.concat_ws("/", "f", "b", "i", "dec").alias("n"))
    # PySpark 4's answer: NULLs skipped, an array's strings joined.
    assert out.columns == ["id", "concat_ws(-, s, t, d, arr, t2)", "n"]
    assert rows(out) == [
        (1, "x-2024-01-02 03:04:05-2024-01-02-p-q-2024-01-02 03:04:05.12", "1.5/true/7/1.50"),
        (2, "2024-01-02 03:04:05.12", ""),
    ]


# -- 4. dates -------------------------------------------------------------------------------------

@pytest.fixture
def dates(spark):
    return spark.createDataFrame(
        [(1, D(2024, 3, 10), D(2024, 1, 31), T(2024, 3, 10, 5, 6, 7), T(2024, 1, 9, 18, 0, 30, 500000), "2024-02-29", 2),
         (2, D(2024, 2, 29), D(2023, 12, 31), T(2024, 2, 29), T(2024, 1, 29, 23), "2021-01-01", -1),
         (3, D(2024, 1, 15), D(2024, 3, 15), T(2021, 1, 3, 12), T(2020, 12, 31, 12), "2024-12-30", 0),
         (4, None, None, None, None, None, None)],
        "id INT, d1 DATE, d2 DATE, t1 TIMESTAMP, t2 TIMESTAMP, s STRING, n INT",
    )


def test_datediff_date_add_date_sub(dates):
    out = dates.select("id", F.datediff("d1", "d2"), F.datediff("t1", "s").alias("ts"))
    # PySpark 4's answer:
    assert out.columns == ["id", "datediff(d1, d2)", "ts"]
    assert rows(out) == [(1, 39, 10), (2, 60, 1154), (3, -60, -1457), (4, None, None)]
    out = dates.select(
        "id", F.date_add("d1", 5), F.date_add("d1", -1).alias("m1"), F.date_sub("d1", 10), F.date_add("t1", 1).alias("t"),
        F.date_add("s", 1).alias("s"), F.date_add("d1", F.col("n")).alias("c"), F.date_sub("d1", F.col("n")).alias("cs"))
    # PySpark 4's answer:
    assert out.columns == ["id", "date_add(d1, 5)", "m1", "date_sub(d1, 10)", "t", "s", "c", "cs"]
    assert rows(out) == [
        (1, D(2024, 3, 15), D(2024, 3, 9), D(2024, 2, 29), D(2024, 3, 11), D(2024, 3, 1), D(2024, 3, 12), D(2024, 3, 8)),
        (2, D(2024, 3, 5), D(2024, 2, 28), D(2024, 2, 19), D(2024, 3, 1), D(2021, 1, 2), D(2024, 2, 28), D(2024, 3, 1)),
        (3, D(2024, 1, 20), D(2024, 1, 14), D(2024, 1, 5), D(2021, 1, 4), D(2024, 12, 31), D(2024, 1, 15), D(2024, 1, 15)),
        (4, None, None, None, None, None, None, None),
    ]


def test_add_months_and_months_between(dates):
    out = dates.select(
        "id", F.add_months("d2", 1), F.add_months("d1", -13).alias("m"), F.add_months("d1", F.col("n")).alias("c"),
        F.add_months("s", 12).alias("s"), F.add_months("t1", 1).alias("t"))
    # PySpark 4's answer: a day past the end of the month is its last day.
    assert out.columns == ["id", "add_months(d2, 1)", "m", "c", "s", "t"]
    assert rows(out) == [
        (1, D(2024, 2, 29), D(2023, 2, 10), D(2024, 5, 10), D(2025, 2, 28), D(2024, 4, 10)),
        (2, D(2024, 1, 31), D(2023, 1, 29), D(2024, 1, 29), D(2022, 1, 1), D(2024, 3, 29)),
        (3, D(2024, 4, 15), D(2022, 12, 15), D(2024, 1, 15), D(2025, 12, 30), D(2021, 2, 3)),
        (4, None, None, None, None, None),
    ]
    out = dates.select(
        "id", F.months_between("d1", "d2"), F.months_between("t1", "t2", False).alias("exact"),
        F.months_between("t1", "t2").alias("rounded"), F.months_between("s", "d1").alias("s"))
    # PySpark 4's answer: whole months for the same day or two last days, else rounded to 8 digits.
    assert out.columns == ["id", "months_between(d1, d2, true)", "exact", "rounded", "s"]
    assert rows(out) == [
        (1, 1.32258065, 2.014910767622461, 2.01491077, -0.38709677),
        (2, 2.0, 1.0, 1.0, -37.90322581),
        (3, -2.0, 0.09677419354838712, 0.09677419, 11.48387097),
        (4, None, None, None, None),
    ]


def test_last_day_next_day_trunc(dates):
    out = dates.select("id", F.last_day("d1"), F.last_day("t2").alias("t"), F.last_day("s").alias("s"))
    # PySpark 4's answer:
    assert out.columns == ["id", "last_day(d1)", "t", "s"]
    assert rows(out) == [
        (1, D(2024, 3, 31), D(2024, 1, 31), D(2024, 2, 29)),
        (2, D(2024, 2, 29), D(2024, 1, 31), D(2021, 1, 31)),
        (3, D(2024, 1, 31), D(2020, 12, 31), D(2024, 12, 31)),
        (4, None, None, None),
    ]
    out = dates.select("id", F.next_day("d1", "Mon"), F.next_day("d1", "sunday").alias("su"), F.next_day("d2", "SU").alias("su2"), F.next_day("t1", "Fri").alias("t"))
    # PySpark 4's answer:
    assert out.columns == ["id", "next_day(d1, Mon)", "su", "su2", "t"]
    assert rows(out) == [
        (1, D(2024, 3, 11), D(2024, 3, 17), D(2024, 2, 4), D(2024, 3, 15)),
        (2, D(2024, 3, 4), D(2024, 3, 3), D(2024, 1, 7), D(2024, 3, 1)),
        (3, D(2024, 1, 22), D(2024, 1, 21), D(2024, 3, 17), D(2021, 1, 8)),
        (4, None, None, None, None),
    ]
    # PySpark 4: ILLEGAL_DAY_OF_WEEK for a name that is no day.
    with pytest.raises(Exception, match="ILLEGAL_DAY_OF_WEEK"):
        dates.select(F.next_day("d1", "xyz")).collect()
    out = dates.select(
        "id", F.trunc("d1", "month"), F.trunc("d1", "year").alias("y"), F.trunc("d1", "quarter").alias("q"),
        F.trunc("d1", "week").alias("w"), F.trunc("t1", "mm").alias("mm"), F.trunc("s", "yy").alias("yy"),
        F.trunc("d1", "MON").alias("mon"), F.trunc("d1", "day").alias("day"))
    # PySpark 4's answer: NULL for a unit trunc does not know (day).
    assert out.columns == ["id", "trunc(d1, month)", "y", "q", "w", "mm", "yy", "mon", "day"]
    assert rows(out) == [
        (1, D(2024, 3, 1), D(2024, 1, 1), D(2024, 1, 1), D(2024, 3, 4), D(2024, 3, 1), D(2024, 1, 1), D(2024, 3, 1), None),
        (2, D(2024, 2, 1), D(2024, 1, 1), D(2024, 1, 1), D(2024, 2, 26), D(2024, 2, 1), D(2021, 1, 1), D(2024, 2, 1), None),
        (3, D(2024, 1, 1), D(2024, 1, 1), D(2024, 1, 1), D(2024, 1, 15), D(2021, 1, 1), D(2024, 1, 1), D(2024, 1, 1), None),
        (4, None, None, None, None, None, None, None, None),
    ]


def test_dayofyear_and_weekofyear(dates):
    out = dates.select("id", F.dayofyear("d1"), F.weekofyear("d1"), F.weekofyear("s").alias("ws"), F.dayofyear("t1").alias("dt"), F.weekofyear("t1").alias("wt"))
    # PySpark 4's answer (ISO weeks: 2021-01-01 and 2021-01-03 are in week 53 of 2020):
    assert out.columns == ["id", "dayofyear(d1)", "weekofyear(d1)", "ws", "dt", "wt"]
    assert rows(out) == [(1, 70, 10, 9, 70, 10), (2, 60, 9, 53, 60, 9), (3, 15, 3, 1, 3, 53), (4, None, None, None, None, None)]


# -- 4. arrays ------------------------------------------------------------------------------------

@pytest.fixture
def arrays(spark):
    return spark.createDataFrame(
        [(1, ["a", "b", None], [3, 1, 3, None, 2, 1, None], [[1, 2], [3]], {"k": 1}),
         (2, [], [], [[1], None], {}),
         (3, None, None, None, None),
         (4, ["c"], [5], [[], [4]], {"k": 2, "j": 3})],
        "id INT, a ARRAY<STRING>, n ARRAY<INT>, nn ARRAY<ARRAY<INT>>, m MAP<STRING,INT>",
    )


def test_explode_outer_and_posexplode(arrays):
    out = arrays.select("id", F.explode_outer("a"))
    # PySpark 4's answer: a NULL or empty array gives a row of NULL.
    assert out.columns == ["id", "col"]
    assert rows(out) == [(1, "a"), (1, "b"), (1, None), (2, None), (3, None), (4, "c")]
    out = arrays.select("id", F.posexplode("a"))
    # PySpark 4's answer:
    assert out.columns == ["id", "pos", "col"]
    assert rows(out) == [(1, 0, "a"), (1, 1, "b"), (1, 2, None), (4, 0, "c")]
    out = arrays.select("id", F.posexplode_outer("nn"))
    # PySpark 4's answer:
    assert rows(out) == [(1, 0, [1, 2]), (1, 1, [3]), (2, 0, [1]), (2, 1, None), (3, None, None), (4, 0, []), (4, 1, [4])]
    assert rows(arrays.select("id", F.explode_outer("nn").alias("v"))) == [
        (1, [1, 2]), (1, [3]), (2, None), (2, [1]), (3, None), (4, [4]), (4, [])]


def test_element_at_counts_from_one_and_reads_maps(arrays):
    ne = arrays.filter("id IN (1, 4)")
    out = ne.select(
        "id", F.element_at("a", 1), F.element_at("a", -1).alias("last"), F.element_at("m", F.lit("k")).alias("mk"),
        F.element_at("m", "j").alias("mj"), F.element_at("nn", -1).alias("nested"))
    # PySpark 4's answer: NULL for a missing key.
    assert out.columns == ["id", "element_at(a, 1)", "last", "mk", "mj", "nested"]
    assert rows(out) == [(1, "a", None, 1, None, [3]), (4, "c", "c", 2, 3, [4])]
    assert rows(arrays.filter("id = 3").select(F.element_at("a", 7), F.element_at("m", "k"))) == [(None, None)]
    # PySpark 4 (ANSI): an index out of the array, or 0, is an error.
    with pytest.raises(Exception, match="INVALID_ARRAY_INDEX_IN_ELEMENT_AT"):
        arrays.select(F.element_at("a", 5)).collect()
    with pytest.raises(Exception, match="INVALID_ARRAY_INDEX_IN_ELEMENT_AT"):
        arrays.select(F.element_at("n", F.col("id"))).collect()
    with pytest.raises(Exception, match="INVALID_INDEX_OF_ZERO"):
        arrays.select(F.element_at("a", 0)).collect()


def test_array_distinct_join_max_min(arrays):
    out = arrays.select("id", F.array_distinct("n"), F.array_distinct("a").alias("da"))
    # PySpark 4's answer: the first of each, in order, one NULL.
    assert out.columns == ["id", "array_distinct(n)", "da"]
    assert rows(out) == [(1, [3, 1, None, 2], ["a", "b", None]), (2, [], []), (3, None, None), (4, [5], ["c"])]
    out = arrays.select("id", F.array_join("a", ","), F.array_join("a", "-", "NULL").alias("r"), F.array_join("n", "/").alias("ints"))
    # PySpark 4's answer:
    assert out.columns == ["id", "array_join(a, ,)", "r", "ints"]
    assert rows(out) == [(1, "a,b", "a-b-NULL", "3/1/3/2/1"), (2, "", "", ""), (3, None, None, None), (4, "c", "c", "5")]
    out = arrays.select("id", F.array_max("n"), F.array_min("n"), F.array_max("a").alias("smax"), F.array_min("a").alias("smin"))
    # PySpark 4's answer:
    assert out.columns == ["id", "array_max(n)", "array_min(n)", "smax", "smin"]
    assert rows(out) == [(1, 3, 1, "b", "a"), (2, None, None, None, None), (3, None, None, None, None), (4, 5, 5, "c", "c")]


def test_slice_and_flatten(arrays):
    out = arrays.select(
        "id", F.slice("n", 2, 2), F.slice("n", -2, 5).alias("neg"), F.slice("n", -10, 2).alias("far"),
        F.slice("n", 1, 0).alias("zero"), F.slice("n", 6, 5).alias("end"), F.slice("n", F.col("id"), F.lit(2)).alias("cols"),
        F.slice("nn", 2, 1).alias("nested"))
    # PySpark 4's answer:
    assert out.columns == ["id", "slice(n, 2, 2)", "neg", "far", "zero", "end", "cols", "nested"]
    assert rows(out) == [
        (1, [1, 3], [1, None], [], [], [1, None], [3, 1], [[3]]),
        (2, [], [], [], [], [], [], [None]),
        (3, None, None, None, None, None, None, None),
        (4, [], [], [], [], [], [], [[4]]),
    ]
    # PySpark 4: start 0 or a negative length is an error.
    with pytest.raises(Exception, match="INVALID_PARAMETER_VALUE.START"):
        arrays.select(F.slice("n", 0, 1)).collect()
    with pytest.raises(Exception, match="INVALID_PARAMETER_VALUE.LENGTH"):
        arrays.select(F.slice("n", 1, -1)).collect()
    out = arrays.select("id", F.flatten("nn"))
    # PySpark 4's answer: NULL when one of the arrays is NULL.
    assert out.columns == ["id", "flatten(nn)"]
    assert rows(out) == [(1, [1, 2, 3]), (2, None), (3, None), (4, [4])]


# -- 4. numbers, strings, aggregates ---------------------------------------------------------------

def test_format_number_rounds_half_even_by_the_exact_value(spark):
    values = [1234567.891, 0.125, 2.5, -0.4, -1234.5, None, 1.005, 0.5, 1.5, 1e15, -2.5, 0.005, 999.995, -0.0,
              float("nan"), float("inf")]
    df = spark.createDataFrame([(i, v) for i, v in enumerate(values)], "i INT, x DOUBLE").orderBy("i")
    out = df.select(F.format_number("x", 2), F.format_number("x", 0).alias("z"), F.format_number("i", 3).alias("int"), F.format_number("x", -1).alias("neg"))
    assert out.columns == ["format_number(x, 2)", "z", "int", "neg"]
    got = out.collect()
    # PySpark 4's answers:
    assert [r[0] for r in got] == [
        "1,234,567.89", "0.12", "2.50", "-0.40", "-1,234.50", None, "1.00", "0.50", "1.50",
        "1,000,000,000,000,000.00", "-2.50", "0.01", "1,000.00", "-0.00", "NaN", "\u221e"]
    assert [r[1] for r in got] == [
        "1,234,568", "0", "2", "-0", "-1,234", None, "1", "0", "2", "1,000,000,000,000,000", "-2", "0", "1,000", "-0",
        "NaN", "\u221e"]
    assert [r[2] for r in got][:3] == ["0.000", "1.000", "2.000"]
    assert {r[3] for r in got} == {None}


def test_locate_and_instr(spark):
    df = spark.createDataFrame([("abcb",), ("",), (None,), ("xyz",)], "s STRING")
    out = df.select(
        "s", F.locate("b", "s"), F.locate("b", "s", 3).alias("p3"), F.locate("", "s").alias("empty"),
        F.locate("b", "s", 0).alias("p0"), F.locate("", "s", 3).alias("ep3"), F.locate("b", "s", -1).alias("pneg"))
    # PySpark 4's answer: 0 for no match or a position before 1; 1 for an empty substring.
    assert out.columns == ["s", "locate(b, s, 1)", "p3", "empty", "p0", "ep3", "pneg"]
    assert rows(out) == [("", 0, 0, 1, 0, 1, 0), ("abcb", 2, 4, 1, 0, 1, 0), ("xyz", 0, 0, 1, 0, 1, 0), (None, None, None, None, None, None, None)]
    out = df.select("s", F.instr("s", "c"), F.instr("s", "").alias("e"))
    # PySpark 4's answer:
    assert out.columns == ["s", "instr(s, c)", "e"]
    assert rows(out) == [("", 0, 1), ("abcb", 3, 1), ("xyz", 0, 1), (None, None, None)]


def test_max_by_and_min_by_skip_null_orderings(spark):
    g = spark.createDataFrame(
        [("a", "x", 1), ("a", "y", 3), ("a", None, 2), ("b", "p", None), ("b", "q", 5), ("c", "r", None), ("d", None, 4)],
        "k STRING, v STRING, o INT")
    out = g.groupBy("k").agg(F.max_by("v", "o"), F.min_by("v", "o"))
    # PySpark 4's answer:
    assert out.columns == ["k", "max_by(v, o)", "min_by(v, o)"]
    assert rows(out) == [("a", "y", "x"), ("b", "q", "q"), ("c", None, None), ("d", None, None)]
    assert rows(g.agg(F.max_by("v", "o"), F.min_by("v", "o"))) == [("q", "x")]


def test_to_timestamp_with_a_format_reads_years_past_2262_and_try_to_timestamp_gives_null(spark):
    import datetime as dt

    df = spark.createDataFrame(
        [("2300-01-02 03:04:05",), ("1500-06-01 00:00:00",), ("2024-02-30 00:00:00",), ("x",)],
        "s string")
    fmt = "yyyy-MM-dd HH:mm:ss"
    want = [dt.datetime(2300, 1, 2, 3, 4, 5), dt.datetime(1500, 6, 1), None, None]
    out = df.select(F.try_to_timestamp("s", F.lit(fmt)), F.try_to_timestamp("s"))
    assert out.columns == [f"try_to_timestamp(s, {fmt})", "try_to_timestamp(s)"]
    assert [tuple(r) for r in out.collect()] == [(w, w) for w in want]
    two = df.limit(2)
    assert [r[0] for r in two.select(F.to_timestamp("s", fmt)).collect()] == want[:2]
    assert [r[0] for r in two.select(F.to_date("s", fmt)).collect()] == [
        dt.date(2300, 1, 2), dt.date(1500, 6, 1)]
    # Text that does not read fails to_timestamp, naming the text.
    with pytest.raises(Exception, match="2024-02-30"):
        df.select(F.to_timestamp("s", fmt)).collect()
