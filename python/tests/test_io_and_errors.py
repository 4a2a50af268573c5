"""Reading and writing files and Delta tables; errors that name the problem and the fix."""

import pytest

from tributary import errors
from tributary.sql import functions as F
from tributary.sql.types import _parse_ddl, ArrayType, DecimalType, StringType

from conftest import EVENTS, write_events


def test_json_parquet_and_delta_round_trips(spark, tmp_path):
    write_events(tmp_path / "in", "a.json", 0, 20)
    df = spark.read.schema(EVENTS).json(str(tmp_path / "in"))
    assert df.count() == 20
    df.write.parquet(str(tmp_path / "pq"))
    assert spark.read.parquet(str(tmp_path / "pq")).count() == 20
    df.write.format("delta").mode("overwrite").save(str(tmp_path / "d"))
    df.filter("id < 5").write.format("delta").mode("append").save(str(tmp_path / "d"))
    assert spark.read.format("delta").load(str(tmp_path / "d")).count() == 25
    with pytest.raises(errors.TributaryException):
        df.write.format("delta").save(str(tmp_path / "d"))  # errorifexists, as in Spark


def test_partitioned_writes_make_hive_folders_that_reads_discover(spark, tmp_path):
    df = spark.createDataFrame([(1, "a"), (2, "b"), (3, None)], "id BIGINT, region STRING")
    df.write.partitionBy("region").parquet(str(tmp_path / "pq"))
    assert sorted(p.name for p in (tmp_path / "pq").iterdir() if not p.name.startswith("_")) == [
        "region=__HIVE_DEFAULT_PARTITION__", "region=a", "region=b"]
    back = spark.read.parquet(str(tmp_path / "pq"))
    assert back.columns == ["id", "region"]
    assert sorted((r.id, r.region) for r in back.collect()) == [(1, "a"), (2, "b"), (3, None)]
    with pytest.raises(errors.TributaryException, match="no column 'regoin'"):
        df.write.partitionBy("regoin").json(str(tmp_path / "js"))
    # Delta keeps its partitioning.
    df.write.partitionBy("region").format("delta").save(str(tmp_path / "d"))
    assert (tmp_path / "d" / "region=a").is_dir()
    assert spark.read.format("delta").load(str(tmp_path / "d")).count() == 3


def test_a_stream_writes_partition_folders(spark, tmp_path):
    write_events(tmp_path / "in", "a.json", 0, 6)
    events = spark.readStream.schema(EVENTS).json(str(tmp_path / "in"))
    q = (events.writeStream.format("json").partitionBy("user")
         .option("checkpointLocation", str(tmp_path / "ck")).trigger(availableNow=True)
         .start(str(tmp_path / "out")))
    q.awaitTermination()
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith("_")) == [
        "user=u0", "user=u1", "user=u2"]
    back = spark.read.schema(EVENTS).json(str(tmp_path / "out"))
    assert sorted((r.id, r.user) for r in back.collect()) == [(i, f"u{i % 3}") for i in range(6)]
    with pytest.raises(errors.PySparkNotImplementedError, match="partitionBy with format 'console'"):
        events.writeStream.format("console").partitionBy("user").start()


def test_compressed_json_and_csv_are_read_by_their_extension(spark, tmp_path):
    import gzip
    (tmp_path / "j").mkdir()
    (tmp_path / "j" / "a.json.gz").write_bytes(gzip.compress(b'{"id": 1}\n{"id": 2}\n'))
    assert sorted(r.id for r in spark.read.json(str(tmp_path / "j")).collect()) == [1, 2]
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "a.csv.gz").write_bytes(gzip.compress(b"id,name\n7,x\n"))
    rows = spark.read.option("header", True).option("inferSchema", True).csv(str(tmp_path / "c")).collect()
    assert [(r.id, r.name) for r in rows] == [(7, "x")]


def test_tables_by_name_live_under_the_warehouse(spark, tmp_path):
    spark.conf.set("spark.sql.warehouse.dir", str(tmp_path / "wh"))
    spark.createDataFrame([(1,)], "id BIGINT").write.saveAsTable("t1")
    assert (tmp_path / "wh" / "t1" / "_delta_log").is_dir()
    assert spark.table("t1").count() == 1


def test_ddl_types():
    st = _parse_ddl("id BIGINT NOT NULL, tags ARRAY<STRING>, price DECIMAL(10,2), `odd name` string")
    assert st.names == ["id", "tags", "price", "odd name"]
    assert not st["id"].nullable and st["tags"].dataType == ArrayType(StringType())
    assert st["price"].dataType == DecimalType(10, 2)
    assert st.simpleString() == "struct<id:bigint,tags:array<string>,price:decimal(10,2),odd name:string>"
    with pytest.raises(ValueError, match="not a Spark data type"):
        _parse_ddl("id BIGNUM")


def test_a_missing_column_is_an_analysis_exception(spark):
    df = spark.createDataFrame([(1,)], "id BIGINT")
    with pytest.raises(errors.AnalysisException, match="nope"):
        df.select("nope")


def test_a_misspelled_option_is_an_error(spark, tmp_path):
    write_events(tmp_path / "in", "a.json", 0, 1)
    with pytest.raises(errors.TributaryException, match="maxFilesPerTrigerr|maxfilespertrigerr"):
        spark.readStream.schema(EVENTS).option("maxFilesPerTrigerr", 1).json(str(tmp_path / "in"))


def test_unsupported_calls_name_the_alternative(spark):
    with pytest.raises(errors.PySparkNotImplementedError, match="foreachBatch"):
        spark.createDataFrame([(1,)], "id BIGINT").groupBy("id").applyInPandas(None, None)
    with pytest.raises(NotImplementedError, match="not supported by Tributary"):
        spark.createDataFrame([(1,)], "id BIGINT").groupBy("id").pivot("id")


def test_streaming_dataframes_cannot_be_collected(spark, tmp_path):
    write_events(tmp_path / "in", "a.json", 0, 1)
    s = spark.readStream.schema(EVENTS).json(str(tmp_path / "in"))
    assert s.isStreaming
    with pytest.raises(errors.AnalysisException, match="writeStream"):
        s.collect()


def test_a_column_has_no_truth_value():
    with pytest.raises(ValueError, match="'&' for 'and'"):
        bool(F.col("a") > 1)


def test_the_memory_limit_is_a_session_setting(spark):
    try:
        # Local mode's driver memory is what the engine's plans may hold.
        spark.conf.set("spark.driver.memory", "24m")
        assert spark.conf.get("memory_limit") == "24m"
        rows = spark.sql(
            "SELECT k % 1000 AS g, count(DISTINCT k) AS d FROM "
            "(SELECT (value * 7919) % 1000003 AS k FROM generate_series(1, 300000)) GROUP BY k % 1000"
        ).collect()
        assert len(rows) == 1000 and sum(r.d for r in rows) == 300000
        with pytest.raises(errors.IllegalArgumentException, match="512m"):
            spark.conf.set("memory_limit", "lots")
    finally:
        spark.conf.set("memory_limit", "50%")


def test_csv_has_no_header_unless_told_and_names_its_columns_as_spark(spark, tmp_path):
    d = tmp_path / "c"
    d.mkdir()
    (d / "a.csv").write_text("1,x\n2,y\n")
    df = spark.read.csv(str(d))
    assert df.columns == ["_c0", "_c1"]
    # Strings as written, unless inferSchema is true.
    assert sorted(tuple(r) for r in df.collect()) == [("1", "x"), ("2", "y")]
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "b.csv").write_text("007,1.50\n")
    assert [tuple(r) for r in spark.read.csv(str(raw)).collect()] == [("007", "1.50")]
    assert spark.read.csv(str(raw), header=False).columns == ["_c0", "_c1"]
    inferred = spark.read.option("inferSchema", True).csv(str(d))
    assert sorted(tuple(r) for r in inferred.collect()) == [(1, "x"), (2, "y")]
    named = spark.read.csv(str(d), header=True)
    assert named.columns == ["1", "x"] and named.count() == 1


def test_reading_a_path_that_does_not_exist_is_an_error(spark, tmp_path):
    from tributary.errors import AnalysisException

    with pytest.raises(AnalysisException, match="PATH_NOT_FOUND"):
        spark.read.schema("a INT").json(str(tmp_path / "nope"))
