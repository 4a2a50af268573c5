"""Functions and DataFrame methods that answer as PySpark does.

Every expected value here is PySpark 4's answer to the same program (run with
``SparkSession.builder.master("local[1]")`` and ``spark.sql.session.timeZone=UTC``).
"""

import math
from decimal import Decimal

import pytest

from tributary.errors import AnalysisException, PySparkValueError
from tributary.sql import Window, functions as F


def rows(df):
    """The rows as tuples, sorted (PySpark's order is not defined), NaN as the string 'nan'."""
    def v(x):
        return "nan" if isinstance(x, float) and math.isnan(x) else x

    return sorted((tuple(v(x) for x in r) for r in df.collect()), key=repr)


# -- 1. collect_list / collect_set ------------------------------------------------------------------

def test_collect_list_and_set_of_a_group_of_nulls_are_empty_arrays(spark):
    g = spark.createDataFrame([("a", None), ("a", None), ("b", 1), ("b", None), ("b", 1)], "k STRING, v BIGINT")
    out = g.groupBy("k").agg(F.collect_list("v"), F.collect_set("v"))
    # PySpark 4: ['k', 'collect_list(v)', 'collect_set(v)'] [('a', [], []), ('b', [1, 1], [1])]
    assert out.columns == ["k", "collect_list(v)", "collect_set(v)"]
    assert rows(out) == [("a", [], []), ("b", [1, 1], [1])]
    # PySpark 4: [([],)] for a global aggregate of NULLs, [([], [])] of no rows at all.
    assert rows(g.filter("k = 'a'").agg(F.collect_list("v").alias("l"))) == [([],)]
    assert rows(g.filter("false").agg(F.collect_list("v").alias("l"), F.collect_set("v").alias("s"))) == [([], [])]


def test_collect_list_and_set_over_a_window_of_nulls_are_empty_arrays(spark):
    df = spark.createDataFrame([("a", None, 1), ("a", "y", 2), ("b", None, 1), ("c", "x", 1)], "k STRING, v STRING, o INT")
    w = Window.partitionBy("k").orderBy("o")
    out = df.select("k", "o", F.collect_list("v").over(w).alias("l"), F.collect_set("v").over(w).alias("s"))
    # PySpark 4:
    assert rows(out) == [("a", 1, [], []), ("a", 2, ["y"], ["y"]), ("b", 1, [], []), ("c", 1, ["x"], ["x"])]


# -- 2. regexp_extract ----------------------------------------------------------------------------

def test_regexp_extract_of_null_is_null(spark):
    s = spark.createDataFrame([("ab12",), (None,), ("xyz",), ("a",)], "s STRING")
    out = s.select(F.regexp_extract("s", r"([a-z]+)(\d+)", 2), F.regexp_extract("s", r"(a)(b)?", 2).alias("opt"))
    # PySpark 4: NULL for NULL, '' for no match and for a group that took no part in the match.
    assert out.columns == ["regexp_extract(s, ([a-z]+)(\\d+), 2)", "opt"]
    assert rows(out) == [("", ""), ("", ""), ("12", "b"), (None, None)]
    assert rows(s.select(F.regexp_extract("s", r"\d+", 0).alias("m"))) == [("",), ("",), ("12",), (None,)]


# -- 3. concat_ws -----------------------------------------------------------------------------------

def test_concat_ws_joins_the_elements_of_arrays(spark):
    c = spark.createDataFrame(
        [(["x", None, "y"], "a", None, 1), ([], "b", "c", 2), (None, None, None, 3)],
        "arr ARRAY<STRING>, s STRING, t STRING, n INT",
    )
    out = c.select(
        "n", F.concat_ws("-", "s", "arr", "t").alias("j"), F.concat_ws(",", "arr").alias("only"),
        F.concat_ws("/", "s", "t").alias("plain"),
    )
    # PySpark 4: [(1, 'a-x-y', 'x,y', 'a'), (2, 'b-c', '', 'b/c'), (3, '', '', '')]
    assert rows(out) == [(1, "a-x-y", "x,y", "a"), (2, "b-c", "", "b/c"), (3, "", "", "")]
    assert c.select(F.concat_ws("-", "s", "arr")).columns == ["concat_ws(-, s, arr)"]
    # PySpark 4: a number is joined as its text; an empty array adds nothing; split gives an array.
    assert rows(c.select(F.concat_ws("-", "n", "s").alias("x"))) == [("1-a",), ("2-b",), ("3",)]
    assert rows(c.select("n", F.concat_ws("|", F.split(F.lit("p,q"), ","), "s").alias("j"))) == [
        (1, "p|q|a"), (2, "p|q|b"), (3, "p|q")]
    assert rows(c.select("n", F.concat_ws("-", "t", F.lit(None).cast("string")).alias("j"))) == [
        (1, ""), (2, "c"), (3, "")]


# -- 4. array functions, isnan --------------------------------------------------------------------

@pytest.fixture
def arrays(spark):
    return spark.createDataFrame(
        [(1, ["b", None, "a"], {"k": 1}, 1.0), (2, [], {}, float("nan")), (3, None, None, None), (4, ["c"], {"x": 2, "y": 3}, 2.0)],
        "id INT, arr ARRAY<STRING>, m MAP<STRING,INT>, d DOUBLE",
    )


def test_size_of_arrays_and_maps(arrays):
    out = arrays.select("id", F.size("arr"), F.size("m"))
    # PySpark 4 (ANSI mode, its default): NULL for NULL.
    assert out.columns == ["id", "size(arr)", "size(m)"]
    assert rows(out) == [(1, 3, 1), (2, 0, 0), (3, None, None), (4, 1, 2)]
    assert out.dtypes[1] == ("size(arr)", "int")


def test_isnan_is_false_for_null_and_integers(arrays):
    out = arrays.select("id", F.isnan("d"))
    assert out.columns == ["id", "isnan(d)"]
    # PySpark 4: [(1, False), (2, True), (3, False), (4, False)]
    assert rows(out) == [(1, False), (2, True), (3, False), (4, False)]
    assert rows(arrays.select("id", F.isnan("id"))) == [(1, False), (2, False), (3, False), (4, False)]


def test_sort_array_nulls_first_ascending_last_descending(spark, arrays):
    out = arrays.select("id", F.sort_array("arr"), F.sort_array("arr", asc=False))
    assert out.columns == ["id", "sort_array(arr, true)", "sort_array(arr, false)"]
    # PySpark 4:
    assert rows(out) == [(1, [None, "a", "b"], ["b", "a", None]), (2, [], []), (3, None, None), (4, ["c"], ["c"])]
    ints = spark.createDataFrame([([3, None, 1, 2],)], "a ARRAY<INT>")
    assert rows(ints.select(F.sort_array("a"), F.sort_array("a", False))) == [([None, 1, 2, 3], [3, 2, 1, None])]


def test_array_contains_is_null_when_not_found_among_nulls(arrays):
    out = arrays.select("id", F.array_contains("arr", "a"), F.array_contains("arr", "z").alias("z"))
    assert out.columns == ["id", "array_contains(arr, a)", "z"]
    # PySpark 4: [(1, True, None), (2, False, False), (3, None, None), (4, False, False)]
    assert rows(out) == [(1, True, None), (2, False, False), (3, None, None), (4, False, False)]
    assert rows(arrays.select("id", F.array_contains("arr", F.lit("c")).alias("c"))) == [
        (1, None), (2, False), (3, None), (4, True)]
    assert rows(arrays.select("id", F.array_contains("arr", F.lit(None).cast("string")).alias("n"))) == [
        (1, None), (2, None), (3, None), (4, None)]


# -- 4. fillna / dropna ---------------------------------------------------------------------------

@pytest.fixture
def holes(spark):
    return spark.createDataFrame(
        [(1, None, None, None, None), (None, 2.5, "x", True, None), (3, float("nan"), None, None, 7)],
        "i BIGINT, d DOUBLE, s STRING, b BOOLEAN, j INT",
    )


def test_fillna_fills_the_columns_of_the_value_type(spark, holes):
    # PySpark 4's answers; a number also fills NaN in float columns.
    assert rows(holes.fillna(0)) == [(0, 2.5, "x", True, 0), (1, 0.0, None, None, 0), (3, 0.0, None, None, 7)]
    filled = holes.fillna(1.5)
    assert rows(filled) == [(1, 1.5, None, None, 1), (1, 2.5, "x", True, 1), (3, 1.5, None, None, 7)]
    assert filled.dtypes == [("i", "bigint"), ("d", "double"), ("s", "string"), ("b", "boolean"), ("j", "int")]
    assert rows(holes.fillna("z")) == [(1, None, "z", None, None), (3, "nan", "z", None, 7), (None, 2.5, "x", True, None)]
    assert rows(holes.fillna(False)) == [(1, None, None, False, None), (3, "nan", None, False, 7), (None, 2.5, "x", True, None)]
    assert rows(holes.fillna(9, subset=["i", "s"])) == [
        (1, None, None, None, None), (3, "nan", None, None, 7), (9, 2.5, "x", True, None)]
    assert rows(holes.fillna({"i": 0, "s": "none", "d": 0.5, "b": True})) == [
        (0, 2.5, "x", True, None), (1, 0.5, "none", True, None), (3, 0.5, "none", True, 7)]
    assert rows(holes.na.fill("q", ["s"])) == [(1, None, "q", None, None), (3, "nan", "q", None, 7), (None, 2.5, "x", True, None)]
    # PySpark 4: the value cast to the column's type (a decimal rounds, a float is a float).
    d = spark.createDataFrame([(None, None)], "x DECIMAL(5,2), y FLOAT")
    assert rows(d.fillna(1.239)) == [(Decimal("1.24"), 1.2389999628067017)]
    assert d.fillna(1.239).dtypes == [("x", "decimal(5,2)"), ("y", "float")]
    with pytest.raises(AnalysisException):  # PySpark 4: UNRESOLVED_COLUMN
        holes.fillna(1, subset=["nope"])


def test_dropna_counts_nulls_and_nans(holes):
    # PySpark 4's answers.
    assert rows(holes.dropna()) == []
    assert rows(holes.dropna(how="all")) == [(1, None, None, None, None), (3, "nan", None, None, 7), (None, 2.5, "x", True, None)]
    assert rows(holes.dropna(how="all", subset=["s", "b"])) == [(None, 2.5, "x", True, None)]
    assert rows(holes.dropna(thresh=3)) == [(None, 2.5, "x", True, None)]
    assert rows(holes.na.drop(subset=["d"])) == [(None, 2.5, "x", True, None)]
    assert rows(holes.na.drop("any", None, "i")) == [(1, None, None, None, None), (3, "nan", None, None, 7)]
    with pytest.raises(PySparkValueError):
        holes.dropna(how="some")


# -- 4. set operations ----------------------------------------------------------------------------

@pytest.fixture
def sides(spark):
    x = spark.createDataFrame([(1, "a"), (1, "a"), (1, "a"), (2, "b"), (None, None), (None, None), (3, "c")], "id INT, s STRING")
    y = spark.createDataFrame([(1, "a"), (None, None), (4, "d")], "k INT, t STRING")
    return x, y


def test_subtract_and_intersect_are_distinct(sides):
    x, y = sides
    # PySpark 4: the left side's names; NULLs equal to NULLs.
    assert x.subtract(y).columns == ["id", "s"]
    assert rows(x.subtract(y)) == [(2, "b"), (3, "c")]
    assert rows(x.intersect(y)) == [(1, "a"), (None, None)]


def test_except_all_and_intersect_all_count_duplicates(sides):
    x, y = sides
    # PySpark 4's answers.
    assert x.exceptAll(y).columns == ["id", "s"]
    assert rows(x.exceptAll(y)) == [(1, "a"), (1, "a"), (2, "b"), (3, "c"), (None, None)]
    assert rows(x.intersectAll(x.union(y))) == [
        (1, "a"), (1, "a"), (1, "a"), (2, "b"), (3, "c"), (None, None), (None, None)]
    assert rows(x.intersectAll(y.union(y))) == [(1, "a"), (1, "a"), (None, None), (None, None)]


# -- 5. initcap -----------------------------------------------------------------------------------

def test_initcap_starts_words_at_spaces_only(spark):
    t = spark.createDataFrame(
        [("hello wORLD-foo",), ("a.b c_d  e\tf",), (None,), ("",), ("  x1y 9z",), ("éCOLE ñu",), ("o'neil mc-DONALD",),
         ("a0 00b",), ("x\u00a0y",), ("ABC dEF",)],
        "s STRING",
    )
    out = t.select("s", F.initcap("s"))
    assert out.columns == ["s", "initcap(s)"]
    # PySpark 4's answers (the last row checks that the engine's digits are kept).
    assert dict(out.collect()) == {
        "hello wORLD-foo": "Hello World-foo", "a.b c_d  e\tf": "A.b C_d  E\tf", None: None, "": "",
        "  x1y 9z": "  X1y 9z", "éCOLE ñu": "École Ñu", "o'neil mc-DONALD": "O'neil Mc-donald",
        "a0 00b": "A0 00b", "x\u00a0y": "X\u00a0y", "ABC dEF": "Abc Def",
    }
