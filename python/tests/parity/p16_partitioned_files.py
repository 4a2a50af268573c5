"""Hive-style partition folders: `partitionBy` writes `col=value/` folders (NULL and '' as
`__HIVE_DEFAULT_PARTITION__`, characters such as '/' escaped) whose files leave those columns
out, and a read without a schema discovers them again as columns after the files' own, typed
as Spark infers them (an int, a date, text). A read with a schema takes the folder's value for
a declared column of that name."""
from pyspark.sql import SparkSession, functions as F


def run(spark, data, work):
    df = spark.createDataFrame(
        [(1, "emea", "2026-11-21", 7, 1.5), (2, "a/b", "2026-11-21", 7, 2.5), (3, None, "2026-11-22", 8, 3.5),
         (4, "", "2026-11-22", 8, 4.5), (5, "emea", "2026-11-22", 7, 5.5)],
        "id BIGINT, region STRING, day STRING, year INT, amount DOUBLE",
    )
    df.write.partitionBy("year", "day", "region").parquet(f"{work}/pq")
    back = spark.read.parquet(f"{work}/pq")
    declared = spark.read.schema("id BIGINT, amount DOUBLE, region STRING, year BIGINT").parquet(f"{work}/pq")
    df.write.partitionBy("region").json(f"{work}/js")
    js = spark.read.json(f"{work}/js")
    out = back.select(
        F.lit("inferred").alias("how"), "id", "amount", "region",
        F.col("day").cast("string").alias("day"), "year",
        F.lit(", ".join(f"{f.name}:{f.dataType.simpleString()}" for f in back.schema.fields)).alias("schema"),
    )
    out = out.unionByName(declared.select(
        F.lit("declared").alias("how"), "id", "amount", "region", F.lit(None).cast("string").alias("day"),
        F.col("year").cast("int").alias("year"),
        # Spark also appends the undeclared folder column `day`; a declared schema is kept here.
        F.lit(None).cast("string").alias("schema"),
    ))
    out = out.unionByName(js.select(
        F.lit("json").alias("how"), "id", "amount", "region", F.col("day").cast("string").alias("day"),
        F.col("year").cast("int").alias("year"),
        F.lit(", ".join(f"{f.name}:{f.dataType.simpleString()}" for f in js.schema.fields)).alias("schema"),
    ))
    return out.collect()
