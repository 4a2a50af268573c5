//! The Delta sink in update mode (MERGE), CDC apply, schema enforcement and evolution, change
//! data feed on created tables, and auto-compaction, read back through DataFusion and the
//! Delta reader.

use std::path::Path;

use arrow::array::RecordBatch;
use tributary::prelude::*;

use crate::common::*;

async fn table_rows(path: &Path, sql_cols: &str) -> Vec<String> {
    let s = Session::new();
    let df = s.read().delta(path.to_str().unwrap()).await.unwrap();
    s.register("t", df).unwrap();
    rows(
        &s.sql(&format!("SELECT {sql_cols} FROM t"))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap(),
    )
}

async fn events(s: &Session, input: &Path, stream: bool) {
    let df = if stream {
        s.read_stream()
            .schema(timed_schema())
            .option("max_files_per_trigger", 1)
            .json(input.to_str().unwrap())
            .await
            .unwrap()
    } else {
        s.read()
            .schema(timed_schema())
            .json(input.to_str().unwrap())
            .await
            .unwrap()
    };
    s.register(
        "events",
        df.with_watermark("event_time", "1 minute").unwrap(),
    )
    .unwrap();
}

const UPDATE_SQL: &str = "SELECT region, count(*) AS n, sum(amount) AS total, max(id) AS last_id \
                          FROM events GROUP BY region";
const WINDOW_SQL: &str = "SELECT w['start'] AS ws, w['end'] AS we, region, count(*) AS n FROM \
                          (SELECT window(event_time, '1 minute') AS w, region FROM events) GROUP BY w, region";

async fn update_run(sql: &str, input: &Path, out: &Path, ckpt: &Path) -> tributary::Result<()> {
    let s = Session::new();
    events(&s, input, true).await;
    let q = s
        .sql(sql)
        .await?
        .write_stream()
        .format("delta")
        .output_mode(OutputMode::Update)
        .trigger(Trigger::AvailableNow)
        .option("checkpoint_location", ckpt.display())
        .start(out.to_str().unwrap())
        .await?;
    q.await_termination().await
}

#[tokio::test]
async fn update_mode_merges_each_epoch_into_a_live_table_that_equals_the_batch_answer() {
    for sql in [UPDATE_SQL, WINDOW_SQL] {
        let tmp = tempfile::tempdir().unwrap();
        let (input, out, ckpt) = (
            tmp.path().join("in"),
            tmp.path().join("out"),
            tmp.path().join("ck"),
        );
        let mut next = 0;
        for run in 0..3 {
            for f in 0..2 {
                write_timed_events(&input, &format!("f{run}{f}.json"), next, 20);
                next += 20;
            }
            update_run(sql, &input, &out, &ckpt).await.unwrap();
            if run == 1 {
                // A lost commit-log entry: the last epoch runs again and its MERGE is skipped.
                let dir = ckpt.join("commits");
                let last = std::fs::read_dir(&dir)
                    .unwrap()
                    .filter_map(|e| {
                        e.unwrap()
                            .file_name()
                            .into_string()
                            .unwrap()
                            .parse::<u64>()
                            .ok()
                    })
                    .max()
                    .unwrap();
                std::fs::remove_file(dir.join(last.to_string())).unwrap();
            }
        }
        let s = Session::new();
        events(&s, &input, false).await;
        let expected = rows(&s.sql(sql).await.unwrap().collect().await.unwrap());
        let got = table_rows(&out, "*").await;
        assert_eq!(got, expected, "{sql}");
        // Every epoch after the first is a MERGE in the table's history.
        let history = tributary::maintenance::history(
            &tributary::location::Location::resolve(out.to_str().unwrap()).unwrap(),
            None,
        )
        .await
        .unwrap();
        assert!(
            history.iter().any(|h| h["operation"] == "MERGE"),
            "{history:?}"
        );
    }
}

#[tokio::test]
async fn update_mode_needs_the_grouping_keys_in_the_output_or_merge_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    write_timed_events(&input, "a.json", 0, 10);
    // The grouping key `region` is not in the output: rows of two groups would collide.
    let err = update_run(
        "SELECT count(*) AS n FROM events GROUP BY region",
        &input,
        &tmp.path().join("o"),
        &tmp.path().join("c"),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("merge_keys") && err.contains("grouping keys"),
        "{err}"
    );
}

#[tokio::test]
async fn a_null_group_is_a_key_like_any_other() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out, ckpt) = (
        tmp.path().join("in"),
        tmp.path().join("o"),
        tmp.path().join("c"),
    );
    let sql = "SELECT user_id, count(*) AS n FROM events GROUP BY user_id";
    for run in 0..2 {
        write_timed_events(&input, &format!("f{run}.json"), run * 40, 40);
        update_run(sql, &input, &out, &ckpt).await.unwrap();
    }
    let got = table_rows(&out, "*").await;
    assert!(
        got.iter().filter(|r| r.starts_with("NULL|")).count() == 1,
        "{got:?}"
    );
    let s = Session::new();
    events(&s, &input, false).await;
    assert_eq!(
        got,
        rows(&s.sql(sql).await.unwrap().collect().await.unwrap())
    );
}

async fn append_json(
    input: &Path,
    out: &Path,
    ckpt: &Path,
    schema: SchemaRef,
    opts: &[(&str, &str)],
) -> tributary::Result<()> {
    let s = Session::new();
    let mut w = s
        .read_stream()
        .schema(schema)
        .json(input.to_str().unwrap())
        .await?
        .write_stream()
        .format("delta")
        .trigger(Trigger::AvailableNow)
        .option("checkpoint_location", ckpt.display());
    for (k, v) in opts {
        w = w.option(k, v);
    }
    w.start(out.to_str().unwrap())
        .await?
        .await_termination()
        .await
}

#[tokio::test]
async fn schema_mismatch_names_the_columns_and_merge_schema_adds_them() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    let narrow = std::sync::Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, true)]));
    let wide = std::sync::Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("color", DataType::Utf8, true),
    ]));
    write_lines(&tmp.path().join("a"), "1.json", &["{\"id\":1}".into()]);
    append_json(
        &tmp.path().join("a"),
        &out,
        &tmp.path().join("c1"),
        narrow,
        &[],
    )
    .await
    .unwrap();
    write_lines(
        &tmp.path().join("b"),
        "1.json",
        &["{\"id\":2,\"color\":\"red\"}".into()],
    );
    let err = append_json(
        &tmp.path().join("b"),
        &out,
        &tmp.path().join("c2"),
        wide.clone(),
        &[],
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("'color'") && err.contains("merge_schema"),
        "{err}"
    );
    append_json(
        &tmp.path().join("b"),
        &out,
        &tmp.path().join("c3"),
        wide,
        &[("merge_schema", "true")],
    )
    .await
    .unwrap();
    assert_eq!(table_rows(&out, "id, color").await, vec!["1|NULL", "2|red"]);
}

#[tokio::test]
async fn partitioned_tables_with_change_data_feed_and_auto_compaction() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out) = (tmp.path().join("in"), tmp.path().join("o"));
    for f in 0..6 {
        write_events(&input, &format!("f{f}.json"), f * 10, 10);
    }
    let s = Session::new();
    s.read_stream()
        .schema(event_schema())
        .option("max_files_per_trigger", 1)
        .json(input.to_str().unwrap())
        .await
        .unwrap()
        .write_stream()
        .format("delta")
        .trigger(Trigger::AvailableNow)
        .option("checkpoint_location", tmp.path().join("c").display())
        .option("partition_by", "region")
        .option("enable_change_data_feed", "true")
        .option("auto_compact", "true")
        .option("auto_compact_min_files", "12")
        .start(out.to_str().unwrap())
        .await
        .unwrap()
        .await_termination()
        .await
        .unwrap();
    let loc = tributary::location::Location::resolve(out.to_str().unwrap()).unwrap();
    let d = tributary::maintenance::describe(&loc).await.unwrap();
    assert_eq!(d.partition_columns, vec!["region"]);
    assert_eq!(
        d.properties
            .get("delta.enableChangeDataFeed")
            .map(String::as_str),
        Some("true")
    );
    // 6 epochs x 5 regions = 30 files without compaction; compaction ran once 12 were small.
    assert!(d.num_files < 30, "{d:?}");
    let history = tributary::maintenance::history(&loc, None).await.unwrap();
    assert!(
        history.iter().any(|h| h["operation"] == "OPTIMIZE"),
        "{history:?}"
    );
    assert_eq!(
        ids(&read_delta(&out).await, "id"),
        (0..60).collect::<Vec<_>>()
    );
    // A Delta stream over it still sees each row once: compaction is not new data.
    let s = Session::new();
    let got = s
        .read_stream()
        .format("delta")
        .option("read_change_feed", "true")
        .option("starting_version", "0")
        .load(out.to_str().unwrap())
        .await
        .unwrap()
        .write_stream()
        .format("memory")
        .query_name("feed")
        .trigger(Trigger::AvailableNow)
        .start("")
        .await
        .unwrap();
    got.await_termination().await.unwrap();
    let feed = s
        .sql("SELECT id FROM feed")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(ids(&feed, "id"), (0..60).collect::<Vec<_>>());
}

fn change_schema() -> SchemaRef {
    std::sync::Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("seq", DataType::Int64, true),
        Field::new("op", DataType::Utf8, true),
    ]))
}

fn change(id: i64, name: &str, seq: i64, op: &str) -> String {
    format!("{{\"id\":{id},\"name\":\"{name}\",\"seq\":{seq},\"op\":\"{op}\"}}")
}

async fn apply_changes(input: &Path, out: &Path, ckpt: &Path) -> tributary::Result<()> {
    let s = Session::new();
    s.read_stream()
        .schema(change_schema())
        .option("max_files_per_trigger", 1)
        .json(input.to_str().unwrap())
        .await?
        .write_stream()
        .format("delta")
        .trigger(Trigger::AvailableNow)
        .option("checkpoint_location", ckpt.display())
        .option("cdc_keys", "id")
        .option("cdc_sequence", "seq")
        .option("cdc_operation", "op")
        .start(out.to_str().unwrap())
        .await?
        .await_termination()
        .await
}

#[tokio::test]
async fn cdc_apply_resolves_out_of_order_changes_and_deletes_by_sequence() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out, ckpt) = (
        tmp.path().join("in"),
        tmp.path().join("o"),
        tmp.path().join("c"),
    );
    // Epoch 0: inserts, and an update of id 2 that arrives before its insert.
    write_lines(
        &input,
        "0.json",
        &[
            change(1, "a", 1, "insert"),
            change(2, "b2", 5, "update"),
            change(2, "b", 2, "insert"),
            change(3, "c", 3, "insert"),
            change(4, "d", 4, "insert"),
        ],
    );
    // Epoch 1: delete 3; an older update of 1 (ignored); a newer update of 4.
    write_lines(
        &input,
        "1.json",
        &[
            change(3, "c", 10, "delete"),
            change(1, "a-old", 0, "update"),
            change(4, "d2", 11, "u"),
        ],
    );
    apply_changes(&input, &out, &ckpt).await.unwrap();
    assert_eq!(
        table_rows(&out, "id, name, seq").await,
        vec!["1|a|1", "2|b2|5", "4|d2|11"]
    );
    // Epoch 2: an update of 3 older than its delete must not bring it back; a newer insert
    // of 5 then its delete in the same epoch leaves nothing; a re-insert of 3 after the
    // delete does come back.
    write_lines(
        &input,
        "2.json",
        &[
            change(3, "c-late", 7, "update"),
            change(5, "e", 20, "insert"),
            change(5, "e", 21, "delete"),
        ],
    );
    apply_changes(&input, &out, &ckpt).await.unwrap();
    assert_eq!(
        table_rows(&out, "id, name, seq").await,
        vec!["1|a|1", "2|b2|5", "4|d2|11"]
    );
    write_lines(&input, "3.json", &[change(3, "c-again", 30, "insert")]);
    apply_changes(&input, &out, &ckpt).await.unwrap();
    assert_eq!(
        table_rows(&out, "id, name, seq").await,
        vec!["1|a|1", "2|b2|5", "3|c-again|30", "4|d2|11"]
    );
    // The op column is not written.
    assert_eq!(table_rows(&out, "*").await.len(), 4);
}

#[tokio::test]
async fn cdc_apply_reads_debezium_envelopes() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out) = (tmp.path().join("in"), tmp.path().join("o"));
    let row = DataType::Struct(
        vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
        ]
        .into(),
    );
    let schema = std::sync::Arc::new(Schema::new(vec![
        Field::new("op", DataType::Utf8, true),
        Field::new("before", row.clone(), true),
        Field::new("after", row, true),
        Field::new("ts_ms", DataType::Int64, true),
    ]));
    write_lines(
        &input,
        "0.json",
        &[
            r#"{"op":"c","before":null,"after":{"id":1,"name":"a"},"ts_ms":1}"#.into(),
            r#"{"op":"r","before":null,"after":{"id":2,"name":"b"},"ts_ms":2}"#.into(),
            r#"{"op":"u","before":{"id":1,"name":"a"},"after":{"id":1,"name":"a2"},"ts_ms":3}"#
                .into(),
            r#"{"op":"d","before":{"id":2,"name":"b"},"after":null,"ts_ms":4}"#.into(),
            r#"{"op":"c","before":null,"after":{"id":3,"name":"c"},"ts_ms":5}"#.into(),
        ],
    );
    let s = Session::new();
    s.read_stream()
        .schema(schema)
        .json(input.to_str().unwrap())
        .await
        .unwrap()
        .write_stream()
        .format("delta")
        .trigger(Trigger::AvailableNow)
        .option("checkpoint_location", tmp.path().join("c").display())
        .option("cdc_keys", "id")
        .option("cdc_sequence", "ts_ms")
        .option("cdc_format", "debezium")
        .start(out.to_str().unwrap())
        .await
        .unwrap()
        .await_termination()
        .await
        .unwrap();
    assert_eq!(
        table_rows(&out, "id, name, ts_ms").await,
        vec!["1|a2|3", "3|c|5"]
    );
}

#[tokio::test]
async fn cdc_options_are_checked_with_directions() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    write_lines(&input, "0.json", &[change(1, "a", 1, "insert")]);
    let s = Session::new();
    let err = s
        .read_stream()
        .schema(change_schema())
        .json(input.to_str().unwrap())
        .await
        .unwrap()
        .write_stream()
        .format("delta")
        .trigger(Trigger::AvailableNow)
        .option("checkpoint_location", tmp.path().join("c").display())
        .option("cdc_keys", "id")
        .start(tmp.path().join("o").to_str().unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("cdc_sequence"), "{err}");
    let s = Session::new();
    let q = s
        .read_stream()
        .schema(change_schema())
        .json(input.to_str().unwrap())
        .await
        .unwrap()
        .write_stream()
        .format("delta")
        .trigger(Trigger::AvailableNow)
        .option("checkpoint_location", tmp.path().join("c2").display())
        .option("cdc_keys", "key")
        .option("cdc_sequence", "seq")
        .start(tmp.path().join("o").to_str().unwrap())
        .await
        .unwrap();
    let err = q.await_termination().await.unwrap_err().to_string();
    assert!(err.contains("cdc_keys") && err.contains("'key'"), "{err}");
}

fn rows(batches: &[RecordBatch]) -> Vec<String> {
    sorted_rows(batches, "|")
}

/// A batch whose query fails while its rows stream into Delta is reported as the query's
/// failure (delta-rs passes it on as a generic error of the write), and commits nothing.
#[tokio::test]
async fn a_failing_batch_query_into_delta_is_reported_as_the_querys_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let s = Session::new();
    let err = s
        .sql("SELECT CAST(CASE WHEN value < 3 THEN '1' ELSE 'x' END AS INT) AS n FROM generate_series(1, 5)")
        .await
        .unwrap()
        .write()
        .format("delta")
        .save(out.to_str().unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("[CAST_INVALID_INPUT] Cannot cast string 'x'")
            && err.contains("running the query written to Delta table")
            && !err.contains("DeltaTable error"),
        "{err}"
    );
    assert!(!out
        .join("_delta_log")
        .join("00000000000000000000.json")
        .exists());
}

/// A change without a sequence is older than every change with one: inside an epoch it does
/// not beat a sequenced change of its key, and a row it wrote gives way to the next change of
/// its key (before, NULL sorted first and a NULL in the table refused every later change).
#[tokio::test]
async fn cdc_apply_takes_a_change_without_a_sequence_as_the_oldest() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out, ckpt) = (
        tmp.path().join("in"),
        tmp.path().join("o"),
        tmp.path().join("c"),
    );
    let unsequenced =
        |id: i64, name: &str| format!("{{\"id\":{id},\"name\":\"{name}\",\"op\":\"insert\"}}");
    write_lines(
        &input,
        "0.json",
        &[
            unsequenced(5, "e"),
            unsequenced(6, "f"),
            change(6, "f2", 3, "update"),
        ],
    );
    apply_changes(&input, &out, &ckpt).await.unwrap();
    assert_eq!(
        table_rows(&out, "id, name, seq").await,
        vec!["5|e|NULL", "6|f2|3"]
    );
    write_lines(
        &input,
        "1.json",
        &[
            change(5, "e2", 7, "update"),
            unsequenced(6, "f-late"),
            unsequenced(8, "h"),
        ],
    );
    apply_changes(&input, &out, &ckpt).await.unwrap();
    assert_eq!(
        table_rows(&out, "id, name, seq").await,
        vec!["5|e2|7", "6|f2|3", "8|h|NULL"]
    );
    // A row without a sequence gives way to the next change of its key, sequenced or not.
    write_lines(&input, "2.json", &[unsequenced(8, "h2")]);
    apply_changes(&input, &out, &ckpt).await.unwrap();
    assert_eq!(
        table_rows(&out, "id, name, seq").await,
        vec!["5|e2|7", "6|f2|3", "8|h2|NULL"]
    );
}

#[tokio::test]
async fn partitioning_by_a_column_the_rows_lack_names_the_columns_there_are() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    write_events(&input, "a.json", 0, 3);
    let s = Session::new();
    let df = s
        .read()
        .schema(event_schema())
        .json(input.to_str().unwrap())
        .await
        .unwrap();
    let err = df
        .write()
        .format("delta")
        .partition_by(["regoin"])
        .save(tmp.path().join("o").to_str().unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no column 'regoin' to partition by") && err.contains("region"),
        "{err}"
    );
    // As a stream too (the query stops at its first epoch, before writing anything).
    let started = s
        .read_stream()
        .schema(event_schema())
        .json(input.to_str().unwrap())
        .await
        .unwrap()
        .write_stream()
        .format("delta")
        .trigger(Trigger::AvailableNow)
        .option("checkpoint_location", tmp.path().join("c").display())
        .option("partition_by", "regoin")
        .start(tmp.path().join("s").to_str().unwrap())
        .await;
    let err = match started {
        Err(e) => e.to_string(),
        Ok(q) => q.await_termination().await.unwrap_err().to_string(),
    };
    assert!(err.contains("no column 'regoin' to partition by"), "{err}");
}

#[tokio::test]
async fn a_value_too_wide_for_the_tables_column_is_an_error_naming_it_never_null() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    let s = Session::new();
    // The table's column is INT (and FLOAT); the query's are BIGINT (and DOUBLE).
    s.sql("SELECT CAST(7 AS INT) AS n, CAST(1.5 AS FLOAT) AS f")
        .await
        .unwrap()
        .write()
        .format("delta")
        .save(out.to_str().unwrap())
        .await
        .unwrap();
    let append = |sql: &'static str| {
        let (s, out) = (s.clone(), out.clone());
        async move {
            s.sql(sql)
                .await?
                .write()
                .format("delta")
                .mode(SaveMode::Append)
                .save(out.to_str().unwrap())
                .await
        }
    };
    let err = append("SELECT CAST(3000000000 AS BIGINT) AS n, CAST(2.5 AS DOUBLE) AS f")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("column 'n': a value does not fit the table's type INT"),
        "{err}"
    );
    let err = append("SELECT CAST(8 AS BIGINT) AS n, CAST(1e300 AS DOUBLE) AS f")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("column 'f'"), "{err}");
    // Values that fit are written, narrowed.
    append("SELECT CAST(9 AS BIGINT) AS n, CAST(0.5 AS DOUBLE) AS f")
        .await
        .unwrap();
    assert_eq!(
        table_rows(&out, "n, f").await,
        vec!["7|1.5".to_string(), "9|0.5".to_string()]
    );
}
