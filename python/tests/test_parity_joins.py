"""Joins whose two sides have columns of one name, as PySpark 4 gives them.

Every expected value here is PySpark 4's answer to the same program (run with
``SparkSession.builder.master("local[1]")`` and ``spark.sql.session.timeZone=UTC``). Where
Tributary refuses what PySpark does, the test says so and checks that the error names the fix.
"""

import pytest

from tributary.errors import AnalysisException, PySparkNotImplementedError
from tributary.sql import Window, functions as F


def rows(df):
    """The rows as tuples, sorted (PySpark's order is not defined)."""
    return sorted((tuple(r) for r in df.collect()), key=repr)


def result(df):
    return df.columns, rows(df)


@pytest.fixture
def shop(spark):
    orders = spark.createDataFrame([(1, 10, "o1"), (2, 20, "o2"), (3, 99, "o3")], "id INT, customer_id INT, name STRING")
    customers = spark.createDataFrame([(10, "ann"), (20, "bob"), (30, "cid")], "id INT, name STRING")
    return orders, customers, orders.join(customers, orders.customer_id == customers.id)


@pytest.fixture
def ab(spark):
    a = spark.createDataFrame([(1, "k1", 5), (2, "k1", 6), (3, "k2", 7)], "id INT, k STRING, x INT")
    b = spark.createDataFrame([(1, 100, "p"), (3, 300, "q"), (4, 400, "r")], "id INT, x INT, v STRING")
    return a, b, a.join(b, a.id == b.id, "left")


def ambiguous(name):
    return pytest.raises(AnalysisException, match=rf"\[AMBIGUOUS_REFERENCE\] Reference `{name}` is ambiguous")


# -- 1. the joined DataFrame shows both sides' columns --------------------------------------------

def test_a_condition_join_keeps_both_columns_of_one_name(shop):
    orders, customers, j = shop
    # PySpark 4: duplicates in columns, dtypes, schema, repr and the rows' fields.
    assert j.columns == ["id", "customer_id", "name", "id", "name"]
    assert j.dtypes == [("id", "int"), ("customer_id", "int"), ("name", "string"), ("id", "int"), ("name", "string")]
    assert [f.name for f in j.schema.fields] == j.columns
    assert repr(j) == "DataFrame[id: int, customer_id: int, name: string, id: int, name: string]"
    assert rows(j) == [(1, 10, "o1", 10, "ann"), (2, 20, "o2", 20, "bob")]
    first = sorted(j.collect())[0]
    assert list(first.__fields__) == ["id", "customer_id", "name", "id", "name"]
    # PySpark 4: a field by name is the first of the name; asDict keeps the last.
    assert first.name == "o1" and first["id"] == 1
    assert first.asDict() == {"id": 10, "customer_id": 10, "name": "ann"}
    assert j.count() == 2


def test_toPandas_and_show_have_both_columns(ab, capsys):
    a, b, j = ab
    pdf = j.toPandas()
    # PySpark 4: ['id', 'k', 'x', 'id', 'x', 'v'], one pandas column each.
    assert list(pdf.columns) == ["id", "k", "x", "id", "x", "v"]
    assert pdf.shape == (3, 6)
    # PySpark 4's show() of j.orderBy(a.id):
    j.orderBy(a.id).show()
    assert capsys.readouterr().out == (
        "+---+---+---+----+----+----+\n"
        "| id|  k|  x|  id|   x|   v|\n"
        "+---+---+---+----+----+----+\n"
        "|  1| k1|  5|   1| 100|   p|\n"
        "|  2| k1|  6|NULL|NULL|NULL|\n"
        "|  3| k2|  7|   3| 300|   q|\n"
        "+---+---+---+----+----+----+\n"
        "\n"
    )


# -- 2. each side's column through its DataFrame ----------------------------------------------------

def test_columns_resolve_through_the_dataframe_they_come_from(shop):
    orders, customers, j = shop
    out = j.select(orders.id, customers.name.alias("customer"), orders.name)
    # PySpark 4:
    assert result(out) == (["id", "customer", "name"], [(1, "ann", "o1"), (2, "bob", "o2")])
    assert rows(j.filter(customers.name > "ann")) == [(2, 20, "o2", 20, "bob")]
    assert [tuple(r) for r in j.orderBy(customers.name.desc()).collect()] == [(2, 20, "o2", 20, "bob"), (1, 10, "o1", 10, "ann")]
    assert result(j.groupBy(customers.name).count()) == (["name", "count"], [("ann", 1), ("bob", 1)])
    assert result(j.withColumn("x", customers.id + 1)) == (
        ["id", "customer_id", "name", "id", "name", "x"], [(1, 10, "o1", 10, "ann", 11), (2, 20, "o2", 20, "bob", 21)])
    assert result(j.agg(F.max(customers.name))) == (["max(name)"], [("bob",)])
    # A name that one column has needs nothing more.
    assert result(j.select("customer_id")) == (["customer_id"], [(10,), (20,)])
    assert rows(j.filter("customer_id > 10")) == [(2, 20, "o2", 20, "bob")]
    assert result(j.selectExpr("customer_id * 2 AS c")) == (["c"], [(20,), (40,)])


def test_a_name_that_two_columns_have_is_ambiguous_as_in_pyspark(shop):
    orders, customers, j = shop
    # PySpark 4: AnalysisException [AMBIGUOUS_REFERENCE] Reference `name` is ambiguous, for each.
    with ambiguous("name"):
        j.select("name").collect()
    with ambiguous("name"):
        j.select(F.col("name")).collect()
    with ambiguous("name"):
        j.name
    with ambiguous("name"):
        j["name"]
    with ambiguous("name"):
        j.filter("name > 'ann'").collect()
    with ambiguous("name"):
        j.selectExpr("name").collect()
    with ambiguous("name"):
        j.fillna("x", subset=["name"])
    with ambiguous("name"):
        j.dropna(subset=["name"])
    with ambiguous("id"):
        j.dropna()  # PySpark 4 too: every column, `id` the first of two
    # The error names the fixes.
    with pytest.raises(AnalysisException, match=r"df\['name'\].*alias"):
        j.select("name")


def test_left_join_drop_star_filter_and_group(ab):
    a, b, j = ab
    # PySpark 4:
    assert result(j) == (["id", "k", "x", "id", "x", "v"], [(1, "k1", 5, 1, 100, "p"), (2, "k1", 6, None, None, None), (3, "k2", 7, 3, 300, "q")])
    assert result(j.drop(b.id)) == (["id", "k", "x", "x", "v"], [(1, "k1", 5, 100, "p"), (2, "k1", 6, None, None), (3, "k2", 7, 300, "q")])
    assert result(j.drop(a.id)) == (["k", "x", "id", "x", "v"], [("k1", 5, 1, 100, "p"), ("k1", 6, None, None, None), ("k2", 7, 3, 300, "q")])
    assert result(j.drop("x")) == (["id", "k", "id", "v"], [(1, "k1", 1, "p"), (2, "k1", None, None), (3, "k2", 3, "q")])
    with ambiguous("id"):
        j.drop(F.col("id"))
    assert result(j.select(a["*"])) == (["id", "k", "x"], [(1, "k1", 5), (2, "k1", 6), (3, "k2", 7)])
    assert result(j.select(b["*"], a.k)) == (["id", "x", "v", "k"], [(1, 100, "p", "k1"), (3, 300, "q", "k2"), (None, None, None, "k1")])
    assert rows(j.filter(b.x > 1)) == [(1, "k1", 5, 1, 100, "p"), (3, "k2", 7, 3, 300, "q")]
    assert rows(j.filter(a.x > 5)) == [(2, "k1", 6, None, None, None), (3, "k2", 7, 3, 300, "q")]
    assert rows(j.filter(b.id.isNull())) == [(2, "k1", 6, None, None, None)]
    assert result(j.groupBy(a.k).count()) == (["k", "count"], [("k1", 2), ("k2", 1)])
    assert result(j.groupBy(a.k).agg(F.sum(b.x))) == (["k", "sum(x)"], [("k1", 100), ("k2", 300)])
    by_both = j.groupBy(a.id, b.id).count()
    assert result(by_both) == (["id", "id", "count"], [(1, 1, 1), (2, None, 1), (3, 3, 1)])
    assert result(by_both.select(b.id)) == (["id"], [(1,), (3,), (None,)])
    assert [tuple(r) for r in j.orderBy(b.x.desc_nulls_last()).collect()] == [
        (3, "k2", 7, 3, 300, "q"), (1, "k1", 5, 1, 100, "p"), (2, "k1", 6, None, None, None)]
    # PySpark 4 resolves the aggregates' names as any other: ambiguous.
    with ambiguous("id"):
        j.groupBy().sum().collect()
    with ambiguous("x"):
        j.agg({"x": "max"}).collect()


def test_a_window_over_the_join_resolves_each_side(ab):
    a, b, j = ab
    w = Window.partitionBy(a.k).orderBy(b.x.desc_nulls_last())
    # PySpark 4:
    assert result(j.select(a.id, b.x, F.row_number().over(w).alias("r"))) == (
        ["id", "x", "r"], [(1, 100, 1), (2, None, 2), (3, 300, 1)])


def test_columns_stay_themselves_through_later_steps(ab):
    a, b, j = ab
    # PySpark 4:
    assert result(j.withColumn("s", F.lit(1)).select(b.x, "s")) == (["x", "s"], [(100, 1), (300, 1), (None, 1)])
    assert result(j.withColumn("s", b.x + a.x)) == (
        ["id", "k", "x", "id", "x", "v", "s"],
        [(1, "k1", 5, 1, 100, "p", 105), (2, "k1", 6, None, None, None, None), (3, "k2", 7, 3, 300, "q", 307)])
    assert result(j.filter(a.x > 5).select(b.v, a.x)) == (["v", "x"], [("q", 7), (None, 6)])
    both = j.select(a.x, b.x)
    assert result(both) == (["x", "x"], [(5, 100), (6, None), (7, 300)])
    assert result(both.select(b.x)) == (["x"], [(100,), (300,), (None,)])
    assert result(both.select((a.x + b.x).alias("t"))) == (["t"], [(105,), (307,), (None,)])
    for step in (j.orderBy(a.id), j.distinct(), j.limit(10)):
        assert result(step.select(b.id)) == (["id"], [(1,), (3,), (None,)])


def test_withColumn_renames_and_fills_apply_to_every_column_of_the_name(shop, ab):
    orders, customers, j = shop
    # PySpark 4:
    assert result(j.withColumn("name", F.lit("z"))) == (
        ["id", "customer_id", "name", "id", "name"], [(1, 10, "z", 10, "z"), (2, 20, "z", 20, "z")])
    assert j.withColumnRenamed("name", "z").columns == ["id", "customer_id", "z", "id", "z"]
    assert result(j.toDF("a", "b", "c", "d", "e")) == (["a", "b", "c", "d", "e"], [(1, 10, "o1", 10, "ann"), (2, 20, "o2", 20, "bob")])
    a, b, lj = ab
    assert rows(lj.fillna(0)) == [(1, "k1", 5, 1, 100, "p"), (2, "k1", 6, 0, 0, None), (3, "k2", 7, 3, 300, "q")]
    assert rows(lj.fillna({"v": "z"})) == [(1, "k1", 5, 1, 100, "p"), (2, "k1", 6, None, None, "z"), (3, "k2", 7, 3, 300, "q")]
    with ambiguous("x"):
        lj.fillna({"x": 0})
    assert rows(lj.dropDuplicates(["x"])) == rows(lj)


# -- 3. aliases ---------------------------------------------------------------------------------------

def test_aliased_sides_by_qualified_names(spark, ab):
    a, b, _ = ab
    j = a.alias("x").join(b.alias("y"), F.col("x.id") == F.col("y.id"))
    # PySpark 4:
    assert j.columns == ["id", "k", "x", "id", "x", "v"]
    assert result(j.select("x.id", "y.v")) == (["id", "v"], [(1, "p"), (3, "q")])
    assert result(j.select(a.id, b.v)) == (["id", "v"], [(1, "p"), (3, "q")])
    assert result(j.filter("y.x > 100").select("x.x", "y.x")) == (["x", "x"], [(7, 300)])
    assert result(j.filter(F.col("y.x") > 100).select(F.col("x.x"), F.col("y.x"))) == (["x", "x"], [(7, 300)])
    assert result(j.select("x.*")) == (["id", "k", "x"], [(1, "k1", 5), (3, "k2", 7)])
    assert result(j.select(F.col("y.*"))) == (["id", "x", "v"], [(1, 100, "p"), (3, 300, "q")])
    assert result(j.selectExpr("y.*")) == (["id", "x", "v"], [(1, 100, "p"), (3, 300, "q")])
    assert result(j.groupBy("y.v").agg(F.sum("x.x"))) == (["v", "sum(x)"], [("p", 5), ("q", 7)])
    assert result(j.selectExpr("x.id", "y.x + x.x AS s")) == (["id", "s"], [(1, 105), (3, 307)])
    assert result(j.selectExpr("x.id", "y.id")) == (["id", "id"], [(1, 1), (3, 3)])
    assert result(j.select("x.id", "y.id").select("y.id")) == (["id"], [(1,), (3,)])
    assert result(j.withColumn("z", F.lit(1)).select("y.id", "z")) == (["id", "z"], [(1, 1), (3, 1)])
    assert result(j.select(F.expr("x.x + y.x").alias("s"))) == (["s"], [(105,), (307,)])
    assert [tuple(r) for r in j.orderBy(F.col("y.x").desc()).collect()] == [(3, "k2", 7, 3, 300, "q"), (1, "k1", 5, 1, 100, "p")]
    with pytest.raises(AnalysisException, match=r"Reference `id` is ambiguous, could be: \[`x`.`id`, `y`.`id`\]"):
        j.select("id")
    # Without two columns of one name, SQL text reads the aliases too. PySpark 4:
    c = spark.createDataFrame([(1, "q"), (3, "z")], "code INT, w STRING")
    n = a.alias("x").join(c.alias("y"), F.col("x.id") == F.col("y.code"))
    assert result(n.filter("y.w = 'q'").select("x.k", "w")) == (["k", "w"], [("k1", "q")])
    assert result(n.selectExpr("x.k", "y.w", "x.x * 2 AS d")) == (["k", "w", "d"], [("k1", "q", 10), ("k2", "z", 14)])
    # A condition in SQL text names the aliases. PySpark 4:
    e = a.alias("l").join(a.alias("r"), F.expr("l.id = r.id")).selectExpr("l.x", "r.k")
    assert result(e) == (["x", "k"], [(5, "k1"), (6, "k1"), (7, "k2")])


def test_a_self_join_by_aliases(spark):
    t = spark.createDataFrame([(1, None, "root"), (2, 1, "c1"), (3, 1, "c2"), (4, 2, "g")], "id INT, parent INT, name STRING")
    s = t.alias("l").join(t.alias("r"), F.col("l.id") == F.col("r.parent"))
    # PySpark 4:
    assert result(s) == (["id", "parent", "name", "id", "parent", "name"],
                         [(1, None, "root", 2, 1, "c1"), (1, None, "root", 3, 1, "c2"), (2, 1, "c1", 4, 2, "g")])
    assert result(s.select(F.col("l.name").alias("parent"), F.col("r.name").alias("child"))) == (
        ["parent", "child"], [("c1", "g"), ("root", "c1"), ("root", "c2")])
    left = t.alias("l").join(t.alias("r"), F.col("l.id") == F.col("r.parent"), "left").select("l.id", "r.id")
    assert result(left) == (["id", "id"], [(1, 2), (1, 3), (2, 4), (3, None), (4, None)])
    assert result(t.alias("l").join(t.alias("r"), F.col("l.id") == F.col("r.parent"), "left_semi")) == (
        ["id", "parent", "name"], [(1, None, "root"), (2, 1, "c1")])
    assert result(t.alias("l").join(t.alias("r"), F.col("l.id") == F.col("r.parent"), "anti")) == (
        ["id", "parent", "name"], [(3, 1, "c2"), (4, 2, "g")])
    # PySpark 4 refuses a column of t itself, which both sides are: "Column name#.. are ambiguous".
    with pytest.raises(AnalysisException, match="ambiguous"):
        s.select(t.name)
    with pytest.raises(AnalysisException, match="ambiguous"):
        t.join(t, t.id == t.parent)
    # A join of t with a DataFrame made from t: PySpark 4 refuses t.id in the condition; Tributary
    # takes it as the side that t is, as the aliased program does. PySpark 4 (aliased):
    derived = t.filter("id > 1")
    expected = [(1, None, "root"), (2, 1, "c1")]
    assert rows(t.alias("l").join(derived.alias("r"), F.col("l.id") == F.col("r.parent"), "left_semi")) == expected
    assert rows(t.join(derived, t.id == derived.parent, "left_semi")) == expected


# -- 4. joins on names, chains, cross -------------------------------------------------------------

def test_joins_on_names_with_other_shared_columns(spark, ab):
    a, b, _ = ab
    # PySpark 4: the key once, the other shared columns twice.
    left = a.join(b, "id", "left")
    assert result(left) == (["id", "k", "x", "x", "v"], [(1, "k1", 5, 100, "p"), (2, "k1", 6, None, None), (3, "k2", 7, 300, "q")])
    assert result(left.select(b.x, a.x)) == (["x", "x"], [(100, 5), (300, 7), (None, 6)])
    with ambiguous("x"):
        left.select("x")
    assert result(a.join(b, "id").select(b.id, a.id)) == (["id", "id"], [(1, 1), (3, 3)])
    assert result(a.join(b, "id", "full")) == (
        ["id", "k", "x", "x", "v"], [(1, "k1", 5, 100, "p"), (2, "k1", 6, None, None), (3, "k2", 7, 300, "q"), (4, None, None, 400, "r")])
    assert result(a.join(b, "id", "right")) == (
        ["id", "k", "x", "x", "v"], [(1, "k1", 5, 100, "p"), (3, "k2", 7, 300, "q"), (4, None, None, 400, "r")])
    g = a.groupBy("k").agg(F.max("x").alias("mx"))
    assert result(a.join(g, "k").select(a.id, g.k, g.mx)) == (["id", "k", "mx"], [(1, "k1", 6), (2, "k1", 6), (3, "k2", 7)])
    # A side with two columns of the key's name: its first is the key.
    c = spark.createDataFrame([(1, "c1"), (3, "c3")], "id INT, v STRING")
    assert result(a.join(b, a.id == b.id).join(c, "id")) == (
        ["id", "k", "x", "id", "x", "v", "v"], [(1, "k1", 5, 1, 100, "p", "c1"), (3, "k2", 7, 3, 300, "q", "c3")])


def test_chained_joins_and_cross_joins(spark, ab):
    a, b, j = ab
    c = spark.createDataFrame([(1, "c1"), (3, "c3")], "id INT, v STRING")
    jj = j.join(c, a.id == c.id)
    # PySpark 4:
    assert jj.columns == ["id", "k", "x", "id", "x", "v", "id", "v"]
    assert result(jj.select(a.id, b.v, c.v)) == (["id", "v", "v"], [(1, "p", "c1"), (3, "q", "c3")])
    assert result(j.join(c, b.id == c.id).select(c.v, b.v)) == (["v", "v"], [("c1", "p"), ("c3", "q")])
    three = a.alias("p").join(b.alias("q"), F.col("p.id") == F.col("q.id")).join(b.alias("r"), F.col("q.x") == F.col("r.x"))
    assert three.columns == ["id", "k", "x", "id", "x", "v", "id", "x", "v"]
    assert result(three.select("p.id", "q.v", "r.v")) == (["id", "v", "v"], [(1, "p", "p"), (3, "q", "q")])
    assert a.crossJoin(b).columns == ["id", "k", "x", "id", "x", "v"]
    assert a.crossJoin(b).select(a.id, b.id).count() == 9
    # A cross join with a condition is the inner join.
    assert rows(a.join(b, a.id == b.id, "cross")) == [(1, "k1", 5, 1, 100, "p"), (3, "k2", 7, 3, 300, "q")]
    assert rows(a.join(b, "id", "cross")) == [(1, "k1", 5, 100, "p"), (3, "k2", 7, 300, "q")]
    assert result(a.join(b, a.id == b.id, "full")) == (
        ["id", "k", "x", "id", "x", "v"],
        [(1, "k1", 5, 1, 100, "p"), (2, "k1", 6, None, None, None), (3, "k2", 7, 3, 300, "q"), (None, None, None, 4, 400, "r")])
    assert result(a.join(b, a.id == b.id, "semi")) == (["id", "k", "x"], [(1, "k1", 5), (3, "k2", 7)])
    assert rows(a.join(b, [a.id == b.id, a.x < b.x])) == [(1, "k1", 5, 1, 100, "p"), (3, "k2", 7, 3, 300, "q")]


def test_a_replaced_column_is_not_the_old_one(ab):
    a, b, _ = ab
    # PySpark 4: [MISSING_ATTRIBUTES...] for a column that withColumn replaced; a column that a
    # step keeps stays resolvable.
    with pytest.raises(AnalysisException, match="MISSING_ATTRIBUTES"):
        a.withColumn("x", F.col("x") + 1).select(a.x)
    assert result(a.groupBy("k").count().select(a.k)) == (["k"], [("k1",), ("k2",)])
    assert result(a.select(a.x.alias("y"), "k").select(a.k)) == (["k"], [("k1",), ("k1",), ("k2",)])


# -- 4b. each side's key after a join on names ----------------------------------------------------

@pytest.fixture
def keyed(spark):
    a = spark.createDataFrame([(1, "x"), (2, "y")], "id INT, v STRING")
    b = spark.createDataFrame([(1, 10), (3, 30)], "id INT, w INT")
    c = spark.createDataFrame([(1, "c1"), (3, "c3")], "id INT, z STRING")
    return a, b, c


def test_each_sides_key_after_a_join_on_names(keyed):
    a, b, _ = keyed
    # PySpark 4: the key once (the left's, the right's, both merged for full), and each side's
    # own key through its DataFrame, NULL where that side has no row.
    for how in ("inner", "left", "right", "full"):
        j = a.join(b, "id", how)
        assert j.columns == ["id", "v", "w"]
        assert j.dtypes == [("id", "int"), ("v", "string"), ("w", "int")]
        assert [f.name for f in j.schema.fields] == ["id", "v", "w"]
        assert list(sorted(j.collect())[0].__fields__) == ["id", "v", "w"]
    inner, left, right, full = (a.join(b, "id", how) for how in ("inner", "left", "right", "full"))
    assert result(inner.select(a.id, b.id, "v", "w")) == (["id", "id", "v", "w"], [(1, 1, "x", 10)])
    assert result(left) == (["id", "v", "w"], [(1, "x", 10), (2, "y", None)])
    assert result(left.select(a.id, b.id, "v", "w")) == (["id", "id", "v", "w"], [(1, 1, "x", 10), (2, None, "y", None)])
    assert result(right) == (["id", "v", "w"], [(1, "x", 10), (3, None, 30)])
    assert result(right.select(a.id, b.id)) == (["id", "id"], [(1, 1), (None, 3)])
    assert result(full) == (["id", "v", "w"], [(1, "x", 10), (2, "y", None), (3, None, 30)])
    assert result(full.select(b.id, a.id)) == (["id", "id"], [(1, 1), (3, None), (None, 2)])
    assert result(full.select("id", b["id"], a["id"])) == (["id", "id", "id"], [(1, 1, 1), (2, None, 2), (3, 3, None)])
    assert result(full.select(full.id, F.col("id"))) == (["id", "id"], [(1, 1), (2, 2), (3, 3)])
    assert result(full.select((b.id + 1).alias("p"))) == (["p"], [(2,), (4,), (None,)])
    # Each side's columns, its key first.
    assert result(left.select(b["*"])) == (["id", "w"], [(1, 10), (None, None)])
    assert result(right.select(a["*"])) == (["id", "v"], [(1, "x"), (None, None)])
    assert result(full.select("*")) == (["id", "v", "w"], [(1, "x", 10), (2, "y", None), (3, None, 30)])


def test_a_sides_key_in_later_steps(keyed):
    a, b, c = keyed
    left, right, full = (a.join(b, "id", how) for how in ("left", "right", "full"))
    # PySpark 4:
    assert rows(left.filter(b.id.isNull())) == [(2, "y", None)]
    assert rows(right.filter(a.id.isNull())) == [(3, None, 30)]
    assert result(full.withColumn("bid", b.id)) == (
        ["id", "v", "w", "bid"], [(1, "x", 10, 1), (2, "y", None, None), (3, None, 30, 3)])
    assert result(full.groupBy(b.id).count()) == (["id", "count"], [(1, 1), (3, 1), (None, 1)])
    assert result(left.groupBy(b.id).agg(F.sum("w").alias("s"))) == (["id", "s"], [(1, 10), (None, None)])
    assert result(right.agg(F.max(b.id))) == (["max(id)"], [(3,)])
    assert [tuple(r) for r in full.sort(b.id.asc_nulls_last(), a.id.asc_nulls_last()).collect()] == [
        (1, "x", 10), (3, None, 30), (2, "y", None)]
    # Steps that keep the rows keep each side's key.
    assert result(left.filter("id > 0").select(b.id)) == (["id"], [(1,), (None,)])
    assert result(full.withColumn("z", F.lit(1)).select(b.id, "z")) == (["id", "z"], [(1, 1), (3, 1), (None, 1)])
    assert result(full.withColumn("id", F.lit(0)).select("id", b.id, a.id)) == (
        ["id", "id", "id"], [(0, 1, 1), (0, 3, None), (0, None, 2)])
    assert result(full.withColumnRenamed("id", "key").select("key", b.id)) == (["key", "id"], [(1, 1), (2, None), (3, 3)])
    assert result(left.select("v", "w").select(b.id)) == (["id"], [(1,), (None,)])
    assert result(full.fillna(0).select(b.id, "w")) == (["id", "w"], [(1, 10), (3, 30), (None, 0)])
    for step in (full.select("*"), full.orderBy("id"), full.distinct(), full.limit(10), full.dropDuplicates(["v"])):
        assert result(step.select(b.id)) == (["id"], [(1,), (3,), (None,)])
    # drop(b.id) drops b's key, which a left join does not show; a right join shows it.
    assert left.drop(b.id).columns == ["id", "v", "w"]
    assert result(right.drop(b.id)) == (["v", "w"], [("x", 10), (None, 30)])
    assert full.drop(a.id).columns == ["id", "v", "w"]
    assert result(full.drop("id")) == (["v", "w"], [("x", 10), ("y", None), (None, 30)])
    # Into another join.
    assert result(full.join(c, b.id == c.id, "left").select(full.id, b.id, c.id, "z")) == (
        ["id", "id", "id", "z"], [(1, 1, 1, "c1"), (2, None, None, None), (3, 3, 3, "c3")])
    assert result(left.join(c, "id", "left").select(b.id, c.id, "id")) == (["id", "id", "id"], [(1, 1, 1), (None, None, 2)])


def test_a_sides_key_by_alias_and_several_keys(spark, keyed):
    a, b, _ = keyed
    # PySpark 4:
    left = a.alias("l").join(b.alias("r"), "id", "left")
    assert result(left.select("l.id", "r.id")) == (["id", "id"], [(1, 1), (2, None)])
    assert result(left.select(F.col("r.id"), F.col("l.id"))) == (["id", "id"], [(1, 1), (None, 2)])
    assert result(left.select("r.*")) == (["id", "w"], [(1, 10), (None, None)])
    assert rows(left.filter("r.id IS NULL")) == [(2, "y", None)]
    full = a.alias("l").join(b.alias("r"), "id", "full")
    assert result(full.selectExpr("r.id", "l.id")) == (["id", "id"], [(1, 1), (3, None), (None, 2)])
    assert result(full.select("l.*")) == (["id", "v"], [(1, "x"), (2, "y"), (None, None)])
    assert result(full.alias("z").select("z.id")) == (["id"], [(1,), (2,), (3,)])
    a2 = spark.createDataFrame([(1, "k", 5), (2, "k", 6)], "id INT, k STRING, x INT")
    b2 = spark.createDataFrame([(1, "k", 50), (3, "k", 70)], "id INT, k STRING, y INT")
    j2 = a2.join(b2, ["id", "k"], "full")
    assert j2.columns == ["id", "k", "x", "y"]
    assert result(j2.select("id", "k", a2.id, a2.k, b2.id, b2.k)) == (
        ["id", "k", "id", "k", "id", "k"],
        [(1, "k", 1, "k", 1, "k"), (2, "k", 2, "k", None, None), (3, "k", None, None, 3, "k")])
    assert result(a2.join(b2, ["id", "k"], "left").select(b2.id, b2.k, "x", "y")) == (
        ["id", "k", "x", "y"], [(1, "k", 5, 50), (None, None, 6, None)])


def test_a_sides_key_is_not_shown_or_written(spark, keyed, tmp_path, capsys):
    a, b, _ = keyed
    full = a.join(b, "id", "full")
    # PySpark 4: only the columns shown, in show, toPandas, unions, views and files.
    full.orderBy("id").show()
    assert capsys.readouterr().out == (
        "+---+----+----+\n"
        "| id|   v|   w|\n"
        "+---+----+----+\n"
        "|  1|   x|  10|\n"
        "|  2|   y|NULL|\n"
        "|  3|NULL|  30|\n"
        "+---+----+----+\n"
        "\n"
    )
    assert list(full.toPandas().columns) == ["id", "v", "w"]
    assert result(full.union(full)) == (
        ["id", "v", "w"], [(1, "x", 10), (1, "x", 10), (2, "y", None), (2, "y", None), (3, None, 30), (3, None, 30)])
    assert full.count() == 3 and full.distinct().count() == 3
    full.write.parquet(str(tmp_path / "full"))
    assert result(spark.read.parquet(str(tmp_path / "full"))) == (["id", "v", "w"], [(1, "x", 10), (2, "y", None), (3, None, 30)])
    full.createOrReplaceTempView("joined")
    assert spark.sql("SELECT * FROM joined").columns == ["id", "v", "w"]
    # A union or an aggregation keeps no side's key: PySpark 4's [MISSING_ATTRIBUTES...] (after
    # the aggregation, Tributary's AnalysisException is the engine's "No field named id").
    with pytest.raises(AnalysisException, match="MISSING_ATTRIBUTES"):
        full.union(full).select(b.id).collect()
    with pytest.raises(AnalysisException, match="id"):
        full.groupBy("v").count().select(b.id).collect()


def test_a_sides_key_in_a_stream_joined_with_a_table_on_names(spark, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "1.json").write_text('{"id": 1, "x": 5}\n{"id": 2, "x": 7}\n')
    b = spark.createDataFrame([(1, 100), (3, 300)], "id INT, w INT")
    s = spark.readStream.schema("id INT, x INT").json(str(src))
    j = s.join(b, "id", "left")
    # PySpark 4:
    assert j.columns == ["id", "x", "w"]
    seen = []
    q = (j.select(s.id, b.id.alias("bid"), "w").writeStream.foreachBatch(lambda df, _: seen.append(result(df)))
         .option("checkpointLocation", str(tmp_path / "ck1")).trigger(availableNow=True).start())
    q.awaitTermination()
    assert seen == [(["id", "bid", "w"], [(1, 1, 100), (2, None, None)])]
    q = (j.filter(b.id.isNull()).writeStream.format("memory").queryName("unmatched")
         .option("checkpointLocation", str(tmp_path / "ck2")).trigger(availableNow=True).start())
    q.awaitTermination()
    assert result(spark.sql("SELECT * FROM unmatched")) == (["id", "x", "w"], [(2, 7, None)])


# -- 5. set operations -----------------------------------------------------------------------------

def test_set_operations_take_columns_by_position(ab):
    a, b, j = ab
    # PySpark 4:
    assert rows(j.union(j)) == sorted(rows(j) * 2, key=repr)
    assert rows(j.exceptAll(j.filter(a.id == 1))) == [(2, "k1", 6, None, None, None), (3, "k2", 7, 3, 300, "q")]
    assert rows(j.subtract(j.filter(a.id == 1))) == [(2, "k1", 6, None, None, None), (3, "k2", 7, 3, 300, "q")]
    assert rows(j.intersect(j)) == rows(j)
    assert j.union(j).columns == ["id", "k", "x", "id", "x", "v"]
    with pytest.raises(AnalysisException, match=r"\[COLUMN_ALREADY_EXISTS\] The column `id` already exists"):
        j.unionByName(j)


# -- 6. sinks ------------------------------------------------------------------------------------------

def test_writing_two_columns_of_one_name_is_refused_as_in_pyspark(spark, ab, tmp_path):
    a, b, j = ab
    # PySpark 4: AnalysisException [COLUMN_ALREADY_EXISTS] The column `id` already exists.
    for fmt in ("parquet", "json"):
        with pytest.raises(AnalysisException, match=r"\[COLUMN_ALREADY_EXISTS\] The column `id` already exists.*select"):
            j.write.format(fmt).save(str(tmp_path / fmt))
    with pytest.raises(AnalysisException, match=r"COLUMN_ALREADY_EXISTS"):
        j.write.saveAsTable("joined")
    j.select(a.id, b.v).write.parquet(str(tmp_path / "ok"))
    assert rows(spark.read.parquet(str(tmp_path / "ok"))) == [(1, "p"), (2, None), (3, "q")]
    # PySpark 4 registers the view; Tributary's engine cannot hold two columns of one name.
    with pytest.raises(PySparkNotImplementedError, match=r"two columns named `id`.*select or rename"):
        j.createOrReplaceTempView("joined")


def test_a_stream_joined_with_a_table_of_the_same_column_names(spark, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "1.json").write_text('{"id": 1, "x": 5}\n{"id": 3, "x": 7}\n')
    b = spark.createDataFrame([(1, 100, "p"), (3, 300, "q"), (4, 400, "r")], "id INT, x INT, v STRING")
    s = spark.readStream.schema("id INT, x INT").json(str(src))
    sj = s.join(b, s.id == b.id)
    # PySpark 4: ['id', 'x', 'id', 'x', 'v'], and each batch of foreachBatch the same.
    assert sj.columns == ["id", "x", "id", "x", "v"]
    seen = []
    q = (sj.writeStream.foreachBatch(lambda df, _: seen.append((df.columns, rows(df))))
         .option("checkpointLocation", str(tmp_path / "ck1")).trigger(availableNow=True).start())
    q.awaitTermination()
    assert seen == [(["id", "x", "id", "x", "v"], [(1, 5, 1, 100, "p"), (3, 7, 3, 300, "q")])]
    q = (sj.select(s.id, b.x.alias("bx"), s.x).writeStream.format("memory").queryName("picked")
         .option("checkpointLocation", str(tmp_path / "ck2")).trigger(availableNow=True).start())
    q.awaitTermination()
    assert result(spark.sql("SELECT * FROM picked")) == (["id", "bx", "x"], [(1, 100, 5), (3, 300, 7)])
    # PySpark 4 streams both columns to the memory sink; Tributary refuses, naming the fix.
    with pytest.raises(PySparkNotImplementedError, match=r"two columns named `id`.*select or rename"):
        sj.writeStream.format("memory").queryName("both").option("checkpointLocation", str(tmp_path / "ck3")).start()


# -- 7. without two columns of one name, nothing changes --------------------------------------------

def test_a_join_without_shared_names_shows_no_internal_names(spark, ab, tmp_path):
    a, _, _ = ab
    c = spark.createDataFrame([(1, "q"), (3, "z")], "code INT, w STRING")
    j = a.join(c, a.id == c.code)
    # PySpark 4:
    assert j.columns == ["id", "k", "x", "code", "w"]
    assert list(sorted(j.collect())[0].__fields__) == j.columns
    assert [f.name for f in j.schema.fields] == j.columns
    assert list(j.toPandas().columns) == j.columns
    assert rows(j) == [(1, "k1", 5, 1, "q"), (3, "k2", 7, 3, "z")]
    j.write.json(str(tmp_path / "j"))
    assert sorted(spark.read.json(str(tmp_path / "j")).columns) == ["code", "id", "k", "w", "x"]
    j.createOrReplaceTempView("plain")
    assert spark.sql("SELECT * FROM plain").columns == j.columns
    # A step that keeps one of two columns of a name gives it the name alone again. PySpark 4:
    kept = a.alias("x").join(a.alias("y"), F.col("x.id") == F.col("y.id")).selectExpr("y.x")
    assert result(kept) == (["x"], [(5,), (6,), (7,)])
    kept.write.parquet(str(tmp_path / "kept"))
    assert spark.read.parquet(str(tmp_path / "kept")).columns == ["x"]
