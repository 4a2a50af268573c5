//! One test per defect found by trying the product as a new user would (issue 11): each failed
//! before its fix.

use std::path::Path;

use arrow::array::RecordBatch;
use tributary::prelude::*;

use crate::common::*;

async fn delta_rows(path: &Path, sql: &str) -> Vec<String> {
    let s = Session::new();
    let df = s.read().delta(path.to_str().unwrap()).await.unwrap();
    s.register("t", df).unwrap();
    sorted_rows(&s.sql(sql).await.unwrap().collect().await.unwrap(), "|")
}

async fn delta_version_rows(path: &Path, version: i64, sql: &str) -> Vec<String> {
    let s = Session::new();
    let df = s
        .read()
        .option("version_as_of", version)
        .delta(path.to_str().unwrap())
        .await
        .unwrap();
    s.register("t", df).unwrap();
    sorted_rows(&s.sql(sql).await.unwrap().collect().await.unwrap(), "|")
}

async fn register_events(s: &Session, input: &Path, stream: bool, watermark: bool) {
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
    let df = if watermark {
        df.with_watermark("event_time", "1 minute").unwrap()
    } else {
        df
    };
    s.register("events", df).unwrap();
}

async fn batch(sql: &str, input: &Path, watermark: bool) -> Vec<RecordBatch> {
    let s = Session::new();
    register_events(&s, input, false, watermark).await;
    s.sql(sql).await.unwrap().collect().await.unwrap()
}

async fn stream_to_delta(
    sql: &str,
    input: &Path,
    out: &Path,
    ckpt: &Path,
    mode: OutputMode,
    watermark: bool,
) -> tributary::Result<()> {
    let s = Session::new();
    register_events(&s, input, true, watermark).await;
    s.sql(sql)
        .await?
        .write_stream()
        .format("delta")
        .output_mode(mode)
        .trigger(Trigger::AvailableNow)
        .option("checkpoint_location", ckpt.display())
        .option("flush_at_end", "true")
        .start(out.to_str().unwrap())
        .await?
        .await_termination()
        .await
}

const GLOBAL: &str = "SELECT count(*) AS n, sum(amount) AS total, min(event_time) AS first, \
     max(event_time) AS last, count(DISTINCT user_id) AS users, avg(amount) AS mean FROM events";

/// Defect 1: an aggregation without GROUP BY, the first example of Spark's guide, gave a row of
/// zeros in complete mode and one row per state partition in update mode.
#[tokio::test]
async fn a_global_aggregation_keeps_one_row_of_running_totals_in_complete_and_update_mode() {
    for mode in [OutputMode::Complete, OutputMode::Update] {
        let tmp = tempfile::tempdir().unwrap();
        let (input, out, ckpt) = (
            tmp.path().join("in"),
            tmp.path().join("out"),
            tmp.path().join("ckpt"),
        );
        for f in 0..3 {
            write_timed_events(&input, &format!("f{f}.json"), f * 10, 10);
        }
        stream_to_delta(GLOBAL, &input, &out, &ckpt, mode, false)
            .await
            .unwrap();
        let cols = "n, total, first, last, users, mean";
        let want = sorted_rows(&batch(GLOBAL, &input, false).await, "|");
        assert_eq!(want.len(), 1);
        assert_eq!(
            delta_rows(&out, &format!("SELECT {cols} FROM t")).await,
            want,
            "{mode}"
        );
        // Every epoch's version holds the running count of the rows read so far.
        let latest = delta_rows(&out, "SELECT 1 FROM t").await.len();
        assert_eq!(latest, 1);
        for (version, n) in [(0, 10), (1, 20), (2, 30)] {
            assert_eq!(
                delta_version_rows(&out, version, "SELECT n FROM t").await,
                vec![n.to_string()],
                "{mode}: version {version}"
            );
        }
        // A restart with more data: still one row, with the new totals.
        write_timed_events(&input, "f3.json", 30, 10);
        stream_to_delta(GLOBAL, &input, &out, &ckpt, mode, false)
            .await
            .unwrap();
        let want = sorted_rows(&batch(GLOBAL, &input, false).await, "|");
        assert_eq!(
            delta_rows(&out, &format!("SELECT {cols} FROM t")).await,
            want,
            "{mode} after a restart"
        );
    }
}

/// Defect 2: list columns written to Delta by a stream failed at the second epoch with rows
/// (`List(Int64)` against the table's `List(Int64, field: 'element')`, and `List(Utf8View)`).
#[tokio::test]
async fn list_columns_are_written_to_delta_epoch_after_epoch() {
    let queries = [
        (
            "SELECT w['start'] AS ws, region, array_agg(id ORDER BY id) AS ids, \
             array_agg(DISTINCT region) AS regions FROM (SELECT window(event_time, '1 minute') \
             AS w, region, id FROM events) GROUP BY w, region",
            true,
        ),
        (
            "SELECT id, make_array(id, user_id) AS pair, string_to_array(region, 'e') AS parts, \
             named_struct('r', region, 'ids', make_array(id)) AS s FROM events",
            false,
        ),
    ];
    for (sql, watermark) in queries {
        let tmp = tempfile::tempdir().unwrap();
        let (input, out, ckpt) = (
            tmp.path().join("in"),
            tmp.path().join("out"),
            tmp.path().join("ckpt"),
        );
        for f in 0..4 {
            write_timed_events(&input, &format!("f{f}.json"), f * 15, 15);
        }
        stream_to_delta(sql, &input, &out, &ckpt, OutputMode::Append, watermark)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let s = Session::new();
        let streamed = s
            .read()
            .delta(out.to_str().unwrap())
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let want = batch(sql, &input, watermark).await;
        assert_eq!(
            tributary::compare_batches(&want, &streamed).unwrap(),
            tributary::Comparison::Identical {
                rows: want.iter().map(|b| b.num_rows()).sum()
            },
            "{sql}"
        );
    }
}

fn tenant_change(tenant: &str, id: i64, name: &str, seq: i64, op: &str) -> String {
    format!(
        "{{\"tenant\":\"{tenant}\",\"id\":{id},\"name\":\"{name}\",\"seq\":{seq},\"op\":\"{op}\"}}"
    )
}

async fn apply_tenant_changes(input: &Path, out: &Path, ckpt: &Path) -> tributary::Result<()> {
    let schema = std::sync::Arc::new(Schema::new(vec![
        Field::new("tenant", DataType::Utf8, true),
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("seq", DataType::Int64, true),
        Field::new("op", DataType::Utf8, true),
    ]));
    let s = Session::new();
    s.read_stream()
        .schema(schema)
        .option("max_files_per_trigger", 1)
        .json(input.to_str().unwrap())
        .await?
        .write_stream()
        .format("delta")
        .trigger(Trigger::AvailableNow)
        .option("checkpoint_location", ckpt.display())
        .option("cdc_keys", "tenant,id")
        .option("cdc_sequence", "seq")
        .option("cdc_operation", "op")
        .start(out.to_str().unwrap())
        .await?
        .await_termination()
        .await
}

/// Defect 3: CDC apply with a composite key died at the first epoch after one that recorded
/// a delete (the tombstone join was SQL text with an unparenthesised `IS NOT DISTINCT FROM`).
#[tokio::test]
async fn cdc_apply_with_a_composite_key_keeps_going_after_a_delete() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out, ckpt) = (
        tmp.path().join("in"),
        tmp.path().join("o"),
        tmp.path().join("c"),
    );
    write_lines(
        &input,
        "0.json",
        &[
            tenant_change("a", 1, "a1", 1, "insert"),
            tenant_change("b", 1, "b1", 2, "insert"),
            tenant_change("a", 2, "a2", 3, "insert"),
        ],
    );
    write_lines(
        &input,
        "1.json",
        &[tenant_change("a", 1, "a1", 10, "delete")],
    );
    write_lines(
        &input,
        "2.json",
        &[
            tenant_change("b", 1, "b1-new", 11, "update"),
            // Older than the delete of (a, 1): must not bring it back.
            tenant_change("a", 1, "a1-late", 5, "update"),
        ],
    );
    write_lines(
        &input,
        "3.json",
        &[tenant_change("a", 1, "a1-again", 20, "insert")],
    );
    apply_tenant_changes(&input, &out, &ckpt).await.unwrap();
    assert_eq!(
        delta_rows(&out, "SELECT tenant, id, name, seq FROM t").await,
        vec!["a|1|a1-again|20", "a|2|a2|3", "b|1|b1-new|11"]
    );
    // A restart goes on from there.
    write_lines(&input, "4.json", &[tenant_change("a", 2, "a2", 30, "d")]);
    apply_tenant_changes(&input, &out, &ckpt).await.unwrap();
    assert_eq!(
        delta_rows(&out, "SELECT tenant, id, name, seq FROM t").await,
        vec!["a|1|a1-again|20", "b|1|b1-new|11"]
    );
}

async fn append_to(table: &Path, input: &Path) {
    let s = Session::new();
    s.read()
        .schema(timed_schema())
        .json(input.to_str().unwrap())
        .await
        .unwrap()
        .write()
        .format("delta")
        .mode(SaveMode::Append)
        .save(table.to_str().unwrap())
        .await
        .unwrap();
}

async fn copy_stream(table: &Path, out: &Path, ckpt: &Path, trigger: Trigger) {
    let s = Session::new();
    s.read_stream()
        .option("max_files_per_trigger", 2)
        .delta(table.to_str().unwrap())
        .await
        .unwrap()
        .write_stream()
        .format("delta")
        .trigger(trigger)
        .option("checkpoint_location", ckpt.display())
        .start(out.to_str().unwrap())
        .await
        .unwrap()
        .await_termination()
        .await
        .unwrap();
}

/// Defect 4: a Delta stream whose source table was compacted (`dataChange=false`) failed with
/// "File selection contains N missing files" and stayed stuck.
#[tokio::test]
async fn a_delta_stream_reads_on_through_a_compaction_of_its_source() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, out, ckpt) = (
        tmp.path().join("src"),
        tmp.path().join("out"),
        tmp.path().join("ckpt"),
    );
    let json = tmp.path().join("json");
    write_timed_events(&json.join("0"), "e.json", 0, 5);
    append_to(&src, &json.join("0")).await;
    copy_stream(&src, &out, &ckpt, Trigger::AvailableNow).await;
    // Three more commits, then a compaction that removes every file added so far, then one more.
    for f in 1..4 {
        write_timed_events(&json.join(f.to_string()), "e.json", f * 5, 5);
        append_to(&src, &json.join(f.to_string())).await;
    }
    let report = tributary::maintenance::optimize(
        &tributary::location::Location::resolve(src.to_str().unwrap()).unwrap(),
        None,
    )
    .await
    .unwrap();
    assert!(report.files_removed >= 4, "{report:?}");
    write_timed_events(&json.join("4"), "e.json", 20, 5);
    append_to(&src, &json.join("4")).await;
    copy_stream(&src, &out, &ckpt, Trigger::AvailableNow).await;
    let got = ids(&read_delta(&out).await, "id");
    assert_eq!(got, (0..25).collect::<Vec<i64>>());
}

/// Defect 5: after a restart during the backfill, commits added to the archive since the first
/// start were read too; the archive's end is fixed in the checkpoint at the first start.
#[tokio::test]
async fn a_backfill_reads_the_archive_as_it_was_at_the_first_start() {
    let tmp = tempfile::tempdir().unwrap();
    let (archive, live, out, ckpt) = (
        tmp.path().join("archive"),
        tmp.path().join("live"),
        tmp.path().join("out"),
        tmp.path().join("ckpt"),
    );
    // The archive: ids 0..30 in three files; the boundary is far in the future, so every
    // archive row is before it and the live source contributes nothing.
    for f in 0..3 {
        write_timed_events(&archive, &format!("a{f}.json"), f * 10, 10);
    }
    std::fs::create_dir_all(&live).unwrap();
    let start = |trigger: Trigger| {
        let (archive, live, out, ckpt) = (archive.clone(), live.clone(), out.clone(), ckpt.clone());
        async move {
            let s = Session::new();
            s.read_stream()
                .schema(timed_schema())
                .option("max_files_per_trigger", 1)
                .option("backfill_path", archive.display())
                .option("backfill_format", "json")
                .option("backfill_boundary_column", "event_time")
                .option("backfill_boundary", "2100-01-01T00:00:00")
                .option("backfill_option.max_files_per_trigger", 1)
                .json(live.to_str().unwrap())
                .await
                .unwrap()
                .write_stream()
                .format("delta")
                .trigger(trigger)
                .option("checkpoint_location", ckpt.display())
                .start(out.to_str().unwrap())
                .await
                .unwrap()
        }
    };
    // One epoch of the backfill (an hour between epochs), then the process "restarts".
    let q = start(Trigger::ProcessingTime(std::time::Duration::from_secs(
        3600,
    )))
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while q.recent_progress().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no epoch ran");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    q.stop().await.unwrap();
    assert_eq!(
        ids(&read_delta(&out).await, "id"),
        (0..10).collect::<Vec<i64>>()
    );
    // A file lands in the archive after the first start: the backfill must not read it.
    write_timed_events(&archive, "a3.json", 30, 10);
    let q = start(Trigger::AvailableNow).await;
    q.await_termination().await.unwrap();
    assert_eq!(
        ids(&read_delta(&out).await, "id"),
        (0..30).collect::<Vec<i64>>()
    );
}

#[tokio::test]
async fn sql_order_by_puts_nulls_where_spark_does() {
    let s = Session::new();
    let order = |sql: &'static str| {
        let s = &s;
        async move {
            let rows = s.sql(sql).await.unwrap().collect().await.unwrap();
            arrow::util::pretty::pretty_format_batches(&rows)
                .unwrap()
                .to_string()
                .lines()
                .skip(3)
                .filter(|l| !l.starts_with('+'))
                .map(|l| l.trim_matches(|c| c == '|' || c == ' ').to_string())
                .collect::<Vec<_>>()
        }
    };
    let values = "SELECT v FROM (VALUES (1), (NULL), (2)) AS t(v)";
    assert_eq!(
        order("SELECT v FROM (VALUES (1), (NULL), (2)) AS t(v) ORDER BY v").await,
        ["", "1", "2"],
        "{values} ASC"
    );
    assert_eq!(
        order("SELECT v FROM (VALUES (1), (NULL), (2)) AS t(v) ORDER BY v DESC").await,
        ["2", "1", ""]
    );
    assert_eq!(
        order("SELECT v FROM (VALUES (1), (NULL), (2)) AS t(v) ORDER BY v DESC NULLS FIRST").await,
        ["", "2", "1"]
    );
    // A window function's ORDER BY too: row_number() over v DESC numbers NULL last.
    assert_eq!(
        order(
            "SELECT n FROM (SELECT v, row_number() OVER (ORDER BY v DESC) AS n \
             FROM (VALUES (1), (NULL), (2)) AS t(v)) WHERE v IS NULL"
        )
        .await,
        ["3"]
    );
}

#[tokio::test]
async fn a_sorted_subquery_or_view_keeps_its_order_for_what_reads_it() {
    let s = Session::new();
    let ids = |sql: String| {
        let s = s.clone();
        async move {
            let rows = s.sql(&sql).await.unwrap().collect().await.unwrap();
            // In the order the rows come (`ids` would sort them).
            rows.iter()
                .flat_map(|b| {
                    let c = b.column(b.schema().index_of("id").unwrap());
                    let c = arrow::compute::cast(c, &DataType::Int64).unwrap();
                    c.as_any()
                        .downcast_ref::<arrow::array::Int64Array>()
                        .unwrap()
                        .values()
                        .to_vec()
                })
                .collect::<Vec<i64>>()
        }
    };
    let values = "(VALUES (0, 0), (1, 7), (2, 4), (3, 1), (4, 8), (5, 5)) AS t(id, sal)";
    assert_eq!(
        ids(format!(
            "SELECT id FROM (SELECT * FROM {values} ORDER BY sal DESC)"
        ))
        .await,
        [4, 1, 5, 2, 3, 0]
    );
    assert_eq!(
        ids(format!(
            "SELECT id FROM (SELECT * FROM {values} ORDER BY sal DESC) LIMIT 3"
        ))
        .await,
        [4, 1, 5]
    );
    // A sorted DataFrame registered as a view (how the Python API plans each step).
    let sorted = s
        .sql(&format!("SELECT * FROM {values} ORDER BY sal DESC"))
        .await
        .unwrap();
    s.register("sorted_emp", sorted).unwrap();
    assert_eq!(
        ids("SELECT id, sal + 1 AS s1 FROM sorted_emp".to_string()).await,
        [4, 1, 5, 2, 3, 0]
    );
}
