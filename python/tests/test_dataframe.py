"""The batch DataFrame API: transformations, joins, aggregations, actions."""

import pandas as pd
import pyarrow as pa
import pytest

from tributary.sql import Row, functions as F
from tributary.sql.types import LongType, StringType, StructField, StructType


@pytest.fixture
def people(spark):
    return spark.createDataFrame(
        [(1, "ann", "fr", 10.0), (2, "bob", "de", 20.0), (3, "cid", "fr", None), (4, "dan", None, 5.0)],
        "id BIGINT, name STRING, country STRING, score DOUBLE",
    )


def test_create_from_rows_pandas_and_arrow(spark):
    a = spark.createDataFrame([Row(id=1, s="x"), Row(id=2, s="y")])
    assert a.columns == ["id", "s"] and a.count() == 2
    b = spark.createDataFrame(pd.DataFrame({"id": [1, 2, 3], "s": ["a", "b", None]}))
    assert [r.s for r in b.orderBy("id").collect()] == ["a", "b", None]
    c = spark.createDataFrame(pa.table({"id": pa.array([5], pa.int32())}))
    assert c.dtypes == [("id", "int")]
    d = spark.createDataFrame([{"k": "a", "v": 1}], StructType([StructField("k", StringType()), StructField("v", LongType())]))
    assert d.collect() == [Row(k="a", v=1)]
    assert spark.range(3).collect() == [Row(id=0), Row(id=1), Row(id=2)]


def test_select_filter_and_columns(people):
    out = (
        people.select("id", F.upper("name").alias("who"), (F.col("score") * 2).alias("s2"))
        .filter((F.col("id") > 1) & F.col("s2").isNotNull())
        .orderBy(F.col("id").desc())
        .collect()
    )
    assert out == [Row(id=4, who="DAN", s2=10.0), Row(id=2, who="BOB", s2=40.0)]
    assert people.where("country = 'fr'").count() == 2
    assert people.selectExpr("id * 10 AS x").orderBy("x").first().x == 10
    assert people.filter(people.country.isin("de", "xx")).collect()[0].name == "bob"
    assert people.filter(F.col("name").like("a%") | F.col("name").rlike("^d")).count() == 2


def test_with_column_rename_drop_and_spark_names(people):
    df = people.withColumn("score", F.coalesce("score", F.lit(0.0))).withColumn("big", F.col("score") > 9)
    assert df.columns == ["id", "name", "country", "score", "big"]
    assert [r.big for r in df.orderBy("id").collect()] == [True, True, False, False]
    r = people.withColumnRenamed("name", "n").drop("country", "score")
    assert r.columns == ["id", "n"]
    # Unaliased expressions get Spark's names.
    named = people.select(F.col("id") + 1, F.lower("name"))
    assert named.columns == ["(id + 1)", "lower(name)"]
    assert people.agg(F.sum("score"), F.count("*")).columns == ["sum(score)", "count(1)"]


def test_division_is_fractional_as_in_spark(spark):
    df = spark.createDataFrame([(7, 2)], "a BIGINT, b BIGINT")
    assert df.select((F.col("a") / F.col("b")).alias("q")).first().q == 3.5


def test_case_when_and_conditionals(people):
    df = people.select(
        "id",
        F.when(F.col("score") >= 20, "high").when(F.col("score") >= 10, "mid").otherwise("low").alias("band"),
    )
    assert [r.band for r in df.orderBy("id").collect()] == ["mid", "high", "low", "low"]


def test_joins_by_names_and_conditions(spark, people):
    countries = spark.createDataFrame([("fr", "France"), ("de", "Germany"), ("it", "Italy")], "country STRING, cname STRING")
    inner = people.join(countries, "country").orderBy("id")
    assert inner.columns == ["country", "id", "name", "score", "cname"]
    assert [r.cname for r in inner.collect()] == ["France", "Germany", "France"]
    left = people.join(countries, on=["country"], how="left").orderBy("id").collect()
    assert [r.cname for r in left] == ["France", "Germany", "France", None]
    full = people.join(countries, "country", "outer").collect()
    assert sorted(r.country or "" for r in full) == ["", "de", "fr", "fr", "it"]
    codes = countries.withColumnRenamed("country", "code")
    cond = people.join(codes, people.country == codes.code, "inner")
    assert cond.count() == 3 and cond.columns == people.columns + ["code", "cname"]
    both = people.join(countries, people.country == countries.country)
    assert both.columns == people.columns + ["country", "cname"]
    assert sorted(both.select(people.id, countries.country).collect()) == [(1, "fr"), (2, "de"), (3, "fr")]
    semi = people.join(countries, "country", "left_semi")
    assert semi.columns == people.columns and semi.count() == 3
    anti = people.join(countries, "country", "left_anti").collect()
    assert [r.name for r in anti] == ["dan"]
    a, b = people.alias("a"), codes.alias("b")
    assert a.join(b, F.col("a.country") == F.col("b.code")).select("id", "cname").count() == 3


def test_group_by_and_aggregates(people):
    out = (
        people.groupBy("country")
        .agg(F.count("*").alias("n"), F.sum("score").alias("total"), F.max("name").alias("last"),
             F.collect_list("score").alias("scores"), F.countDistinct("name").alias("d"))
        .orderBy(F.col("country").asc_nulls_last())
        .collect()
    )
    assert [(r.country, r.n, r.total, r.last, sorted(r.scores), r.d) for r in out] == [
        ("de", 1, 20.0, "bob", [20.0], 1),
        ("fr", 2, 10.0, "cid", [10.0], 2),
        (None, 1, 5.0, "dan", [5.0], 1),
    ]
    assert people.groupBy("country").count().orderBy("country").first().asDict() == {"country": None, "count": 1}
    d = people.groupBy().agg({"score": "max"}).collect()
    assert d == [Row(**{"max(score)": 20.0})]
    assert people.agg(F.avg("score").alias("a")).first().a == pytest.approx(35.0 / 3)


def test_union_distinct_dedup_limit(spark, people):
    a = people.select("country")
    assert a.union(a).count() == 8
    assert a.distinct().count() == 3
    assert people.dropDuplicates(["country"]).count() == 3
    assert people.limit(2).count() == 2
    x = spark.createDataFrame([(1, "a")], "id BIGINT, s STRING")
    y = spark.createDataFrame([("b", 2)], "s STRING, id BIGINT")
    assert sorted(r.id for r in x.unionByName(y).collect()) == [1, 2]


def test_string_and_date_functions(spark):
    df = spark.createDataFrame([("  Hello World ", "2026-03-04 05:06:07")], "s STRING, t STRING")
    r = df.select(
        F.trim("s").alias("t1"),
        F.length(F.trim("s")).alias("n"),
        F.regexp_replace("s", "o", "0").alias("r"),
        F.regexp_extract(F.trim("s"), r"(\w+) (\w+)", 2).alias("x"),
        F.regexp_extract(F.trim("s"), r"zzz", 0).alias("none"),
        F.substring(F.trim("s"), 1, 5).alias("sub"),
        F.concat_ws("-", F.lit("a"), F.lit(None), F.lit("b")).alias("ws"),
        F.concat(F.lit("a"), F.lit(None)).alias("c"),
        F.to_timestamp("t").alias("ts"),
        F.hour(F.to_timestamp("t")).alias("h"),
        F.year(F.to_timestamp("t", "yyyy-MM-dd HH:mm:ss")).alias("y"),
        F.date_format(F.to_timestamp("t"), "yyyy/MM/dd").alias("f"),
        F.dayofmonth(F.to_date("t")).alias("d"),
        F.split(F.lit("a,b,c"), ",").alias("parts"),
        F.sha2(F.lit("abc"), 256).alias("h256"),
    ).first()
    assert (r.t1, r.n, r.r, r.x, r.none, r.sub, r.ws, r.c) == (
        "Hello World", 11, "  Hell0 W0rld ", "World", "", "Hello", "a-b", None,
    )
    assert (r.h, r.y, r.f, r.d, r.parts) == (5, 2026, "2026/03/04", 4, ["a", "b", "c"])
    assert r.h256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_structs_and_arrays(spark):
    df = spark.createDataFrame([(1, "a")], "id BIGINT, s STRING")
    r = df.select(F.struct("id", "s").alias("st"), F.array(F.lit(1), F.lit(2)).alias("arr")).first()
    assert r.st == Row(id=1, s="a") and r.st.s == "a" and r.arr == [1, 2]
    nested = df.select(F.struct("id", "s").alias("st")).select(F.col("st")["s"].alias("x"), F.col("st.id").alias("y"))
    assert nested.first() == Row(x="a", y=1)
    j = spark.createDataFrame([('{"a": 5, "b": "x"}',)], "v STRING").select(F.from_json("v", "a BIGINT, b STRING").alias("j"))
    assert j.select("j.a", "j.b").first() == Row(a=5, b="x")
    assert j.select("j.*").first() == Row(a=5, b="x")


def test_actions_show_and_pandas(people, capsys):
    people.orderBy("id").show(2)
    out = capsys.readouterr().out
    assert "|  1| ann|     fr| 10.0|" in out and "only showing top 2 rows" in out
    pdf = people.orderBy("id").toPandas()
    assert list(pdf["name"]) == ["ann", "bob", "cid", "dan"]
    assert people.toArrow().num_rows == 4
    assert people.head().id in (1, 2, 3, 4) and len(people.take(3)) == 3
    people.printSchema()
    assert " |-- score: double (nullable = true)" in capsys.readouterr().out


def test_temp_views_and_sql(spark, people):
    people.createOrReplaceTempView("people")
    assert spark.sql("SELECT count(*) AS n FROM people WHERE country = 'fr'").first().n == 2
    assert spark.table("people").count() == 4


def test_window_functions_over_a_window_spec(spark):
    from tributary.sql import Window

    df = spark.createDataFrame(
        [("a", 1, 10.0), ("a", 2, 30.0), ("a", 3, 20.0), ("b", 4, 5.0), ("b", 5, 5.0)],
        "k STRING, id BIGINT, price DOUBLE",
    )
    by_price = Window.partitionBy("k").orderBy(F.desc("price"), "id")
    rows = (
        df.select(
            "k", "id",
            F.row_number().over(by_price).alias("rn"),
            F.rank().over(Window.partitionBy("k").orderBy(F.desc("price"))).alias("rk"),
            F.lag("price").over(Window.partitionBy("k").orderBy("id")).alias("prev"),
            F.sum("price").over(Window.partitionBy("k").orderBy("id").rowsBetween(Window.unboundedPreceding, Window.currentRow)).alias("running"),
        )
        .orderBy("id")
        .collect()
    )
    assert [tuple(r) for r in rows] == [
        ("a", 1, 3, 3, None, 10.0),
        ("a", 2, 1, 1, 10.0, 40.0),
        ("a", 3, 2, 2, 30.0, 60.0),
        ("b", 4, 1, 1, None, 5.0),
        ("b", 5, 2, 1, 5.0, 10.0),
    ]


def test_a_top_n_written_with_the_dataframe_api_runs_on_a_stream(spark, tmp_path):
    from tributary.sql import Window

    options = {"table": "bid", "max_events": "10000", "max_events_per_trigger": "2500"}
    w = Window.partitionBy("auction").orderBy(F.desc("price"), "date_time")

    def top_three(bids):
        return (bids.withColumn("rank", F.row_number().over(w))
                .filter(F.col("rank") <= 3)
                .select("auction", "price", "rank"))

    batch = sorted(tuple(r) for r in top_three(spark.read.format("nexmark").options(**options).load("nexmark")).collect())
    q = (
        top_three(spark.readStream.format("nexmark").options(**options).load("nexmark"))
        .writeStream.format("delta").outputMode("update")
        .option("checkpointLocation", str(tmp_path / "ckpt"))
        .trigger(availableNow=True)
        .start(str(tmp_path / "top"))
    )
    q.awaitTermination()
    streamed = sorted(tuple(r) for r in spark.read.format("delta").load(str(tmp_path / "top")).collect())
    assert streamed == batch and len(batch) > 100


def test_mixed_types_of_a_union_or_a_case_give_the_values_and_the_wider_type(spark, tmp_path):
    """A CASE or a union of INT and DOUBLE is DOUBLE, with its values (not a reinterpretation of
    their bits under the first branch's type, as the plan's unresolved schema said)."""
    df = spark.createDataFrame([(1,), (2,)], "x INT")
    w = df.select(F.when(F.col("x") == 1, 1).otherwise(2.5).alias("w")).orderBy("w")
    assert w.dtypes == [("w", "double")]
    assert [r.w for r in w.collect()] == [1.0, 2.5]
    a = spark.createDataFrame([(7,)], "x INT")
    assert sorted(r.x for r in a.union(spark.createDataFrame([(2.5,)], "x DOUBLE")).collect()) == [2.5, 7.0]
    assert sorted(r.x for r in a.union(spark.createDataFrame([(3000000000,)], "x BIGINT")).collect()) == [
        7,
        3000000000,
    ]
    assert sorted(r.x for r in spark.sql("SELECT x FROM (SELECT 1 AS x UNION ALL SELECT 2.5)").collect()) == [1.0, 2.5]
    # Written, the table has the wider type too.
    out = str(tmp_path / "u")
    a.union(spark.createDataFrame([(2.5,)], "x DOUBLE")).write.parquet(out)
    assert sorted(r.x for r in spark.read.parquet(out).collect()) == [2.5, 7.0]


def test_a_join_with_two_columns_of_one_name_keeps_each_sides_values(spark):
    a = spark.createDataFrame([(1, "a1", 10), (2, "a2", 20)], "id INT, v STRING, n INT")
    b = spark.createDataFrame([(1, "b1", 1.5)], "id INT, v STRING, n DOUBLE")
    rows = sorted(a.join(b, "id", "left").collect(), key=lambda r: r[0])
    assert [tuple(r) for r in rows] == [(1, "a1", 10, "b1", 1.5), (2, "a2", 20, None, None)]


def test_a_map_column_comes_back_as_a_dict(spark):
    df = spark.sql("SELECT map('a', 1, 'b', 2) AS m")
    assert df.collect()[0].m == {"a": 1, "b": 2}


def test_first_and_last_can_ignore_nulls(spark):
    df = spark.createDataFrame([(1, "a", None), (2, "a", "y"), (3, "a", None)], "id INT, k STRING, s STRING")
    r = df.groupBy("k").agg(
        F.first("s", True).alias("fi"), F.last("s", ignorenulls=True).alias("li"), F.max("id").alias("m")
    ).first()
    assert (r.fi, r.li) == ("y", "y")


def test_cast_between_timestamps_and_numbers_counts_seconds_as_spark(spark):
    import datetime
    df = spark.createDataFrame(
        [(datetime.datetime(2026, 1, 1, 0, 0, 1, 750000), 1767225601, "7")], "ts TIMESTAMP, n BIGINT, s STRING"
    )
    r = df.select(
        F.col("ts").cast("long").alias("secs"),
        F.col("ts").cast("double").alias("frac"),
        F.col("n").cast("timestamp").alias("back"),
        F.col("s").cast("int").alias("i"),
        F.col("ts").cast("string").alias("text"),
    ).first()
    assert r.secs == 1767225601
    assert r.frac == 1767225601.75
    assert r.back == datetime.datetime(2026, 1, 1, 0, 0, 1)
    assert r.i == 7
    assert r.text == "2026-01-01 00:00:01.75"
    # A cast keeps the column's name, as in Spark.
    assert df.select(F.col("n").cast("string")).columns == ["n"]


def test_substring_takes_zero_and_negative_positions_as_spark(spark):
    df = spark.createDataFrame([("hello",)], "s STRING")
    r = df.select(
        F.substring("s", 0, 2).alias("zero"),
        F.substring("s", -3, 2).alias("neg"),
        F.substring("s", -10, 7).alias("before"),
        F.substring("s", 2, 3).alias("pos"),
        F.col("s").substr(-2, 5).alias("tail"),
        F.col("s").substr(2, -1).alias("none"),
    ).first()
    assert (r.zero, r.neg, r.before, r.pos, r.tail, r.none) == ("he", "ll", "he", "ell", "lo", "")


def test_braces_in_literals_and_patterns_are_the_users_text(spark):
    df = spark.createDataFrame([("ab12cd",)], "s STRING")
    r = df.filter(F.col("s") != "{1}").select(
        F.lit("{x} and {0}").alias("lit"),
        F.regexp_replace("s", r"\d{2}", "_").alias("re"),
    ).first()
    assert (r.lit, r.re) == ("{x} and {0}", "ab_cd")
    j = df.join(df.select(F.col("s").alias("t")), F.col("s") == F.col("t")).select(F.lit("{1}").alias("b"))
    assert j.first().b == "{1}"


def test_split_takes_a_regular_expression_as_spark(spark):
    df = spark.createDataFrame(
        [("a.b.c", "a1b22c", "a,b;c", "abc", "a|b", "", None)],
        "p STRING, d STRING, m STRING, e STRING, o STRING, z STRING, n STRING",
    )
    r = df.select(
        F.split("p", "\\.").alias("1"), F.split("d", "\\d+").alias("2"), F.split("m", "[,;]").alias("3"),
        F.split("e", "").alias("4"), F.split("p", ".").alias("5"), F.split("o", "|").alias("6"),
        F.split("z", ",").alias("7"), F.split("n", ",").alias("8"), F.split("m", ",").alias("9"),
    ).first()
    # PySpark 4's answers (Java's String.split with limit -1; '' splits into the characters).
    assert [r[i] for i in range(9)] == [
        ["a", "b", "c"], ["a", "b", "c"], ["a", "b", "c"], ["a", "b", "c"], ["", "", "", "", "", ""],
        ["a", "|", "b", ""], [""], None, ["a", "b;c"],
    ]


def test_spark_sql_order_by_puts_nulls_where_spark_does(spark):
    spark.createDataFrame([(1, 100), (2, None), (3, 50)], "id INT, sal INT").createOrReplaceTempView("emp_nulls")
    desc = [r.id for r in spark.sql("SELECT id FROM emp_nulls ORDER BY sal DESC").collect()]
    asc = [r.id for r in spark.sql("SELECT id FROM emp_nulls ORDER BY sal").collect()]
    assert (desc, asc) == ([1, 3, 2], [2, 3, 1])


def test_a_sorted_dataframe_keeps_its_order_through_later_steps(spark):
    df = spark.createDataFrame([(i, f"n{i}", i * 7 % 10) for i in range(10)], "id INT, name STRING, sal INT")
    ordered = df.orderBy(F.desc("sal"))
    # PySpark 4's answers.
    assert [r.name for r in ordered.select("name").limit(3).collect()] == ["n7", "n4", "n1"]
    assert [r.name for r in ordered.withColumn("x", F.lit(1)).collect()][:3] == ["n7", "n4", "n1"]
    assert [r.id for r in ordered.where(F.col("id") > 2).take(2)] == [7, 4]


def test_a_field_of_a_null_struct_is_null(spark):
    df = spark.createDataFrame([(1, None), (2, ("x", 5))], "id INT, s STRUCT<a: STRING, b: INT>")
    # PySpark 4's answers.
    assert [(r.id, r.b) for r in df.select("id", "s.b").orderBy("id").collect()] == [(1, None), (2, 5)]
    assert df.where(F.col("s.b") == 0).count() == 0


def test_raise_error_fails_the_query_only_for_the_rows_that_reach_it(spark):
    df = spark.createDataFrame([(1,), (2,)], "v INT")
    guarded = F.when(F.col("v") > 0, F.col("v")).otherwise(F.raise_error(F.lit("v must be positive")))
    assert [r.v for r in df.select(guarded.alias("v")).orderBy("v").collect()] == [1, 2]
    bad = spark.createDataFrame([(1,), (-2,)], "v INT")
    with pytest.raises(Exception, match="v must be positive"):
        bad.select(guarded.alias("v")).collect()


def test_a_field_of_a_null_struct_is_null_at_every_depth(spark):
    df = spark.createDataFrame([(1, None), (2, ((5,),))], "id INT, s STRUCT<t: STRUCT<x: INT>>")
    assert [(r.id, r.x) for r in df.select("id", "s.t.x").orderBy("id").collect()] == [(1, None), (2, 5)]
