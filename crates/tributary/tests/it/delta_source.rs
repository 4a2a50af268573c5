//! Delta as a streaming source, and batch time travel, against real Delta tables.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use deltalake::DeltaTable;
use tributary::prelude::*;

use crate::common::ids;

fn kv_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
    ]))
}

fn kv(ids: std::ops::Range<i64>) -> RecordBatch {
    let names: Vec<String> = ids.clone().map(|i| format!("n{i}")).collect();
    RecordBatch::try_new(
        kv_schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(ids)),
            Arc::new(StringArray::from(names)),
        ],
    )
    .unwrap()
}

async fn table(path: &Path) -> DeltaTable {
    std::fs::create_dir_all(path).unwrap();
    let url = url::Url::from_directory_path(path).unwrap();
    DeltaTable::try_from_url(url).await.unwrap()
}

/// Append one commit with the rows `ids` (one file).
async fn append(path: &Path, rows: std::ops::Range<i64>) -> DeltaTable {
    table(path).await.write(vec![kv(rows)]).await.unwrap()
}

async fn append_cdf(path: &Path, rows: std::ops::Range<i64>) -> DeltaTable {
    table(path)
        .await
        .write(vec![kv(rows)])
        .with_configuration([("delta.enableChangeDataFeed", Some("true"))])
        .await
        .unwrap()
}

/// Run a Delta stream into a memory table `name` once with `trigger`, with a checkpoint.
async fn run(
    path: &Path,
    checkpoint: &Path,
    name: &str,
    options: &[(&str, &str)],
    trigger: Trigger,
) -> tributary::Result<(Session, Vec<tributary::StreamingQueryProgress>)> {
    let session = Session::new();
    let mut reader = session.read_stream().format("delta");
    for (k, v) in options {
        reader = reader.option(k, v);
    }
    let q = reader
        .load(path.to_str().unwrap())
        .await?
        .write_stream()
        .format("memory")
        .query_name(name)
        .option("checkpoint_location", checkpoint.to_str().unwrap())
        .trigger(trigger)
        .start("")
        .await?;
    q.await_termination().await?;
    Ok((session, q.recent_progress()))
}

async fn rows(session: &Session, sql: &str) -> Vec<RecordBatch> {
    session.sql(sql).await.unwrap().collect().await.unwrap()
}

#[tokio::test]
async fn snapshot_first_then_each_new_commit_exactly_once_across_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let (t, cp) = (tmp.path().join("t"), tmp.path().join("cp"));
    for i in 0..3 {
        append(&t, i * 10..i * 10 + 10).await;
    }
    // The snapshot (3 files) split by max_files_per_trigger.
    let (s, p) = run(
        &t,
        &cp,
        "o",
        &[("max_files_per_trigger", "2")],
        Trigger::AvailableNow,
    )
    .await
    .unwrap();
    assert_eq!(p.len(), 2, "3 snapshot files at 2 per epoch");
    assert_eq!(p.iter().map(|p| p.num_input_rows).sum::<u64>(), 30);
    assert_eq!(
        ids(&rows(&s, "SELECT id FROM o").await, "id"),
        (0..30).collect::<Vec<_>>()
    );
    // New commits after the snapshot: only they are read on restart.
    append(&t, 30..35).await;
    append(&t, 35..40).await;
    let (s, p) = run(&t, &cp, "o", &[], Trigger::AvailableNow).await.unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(
        ids(&rows(&s, "SELECT id FROM o").await, "id"),
        (30..40).collect::<Vec<_>>()
    );
    // Nothing new: no epoch.
    let (_, p) = run(&t, &cp, "o", &[], Trigger::AvailableNow).await.unwrap();
    assert!(p.is_empty(), "{p:?}");
    let offsets = std::fs::read_to_string(cp.join("offsets/2")).unwrap();
    assert!(offsets.contains("reservoirVersion"), "{offsets}");
}

#[tokio::test]
async fn starting_version_and_latest_skip_the_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().join("t");
    for i in 0..4 {
        append(&t, i * 10..i * 10 + 10).await;
    }
    let (s, _) = run(
        &t,
        &tmp.path().join("cp1"),
        "a",
        &[("starting_version", "2")],
        Trigger::AvailableNow,
    )
    .await
    .unwrap();
    assert_eq!(
        ids(&rows(&s, "SELECT id FROM a").await, "id"),
        (20..40).collect::<Vec<_>>()
    );
    let cp = tmp.path().join("cp2");
    let (_, p) = run(
        &t,
        &cp,
        "b",
        &[("starting_version", "latest")],
        Trigger::AvailableNow,
    )
    .await
    .unwrap();
    assert!(p.is_empty());
    append(&t, 40..45).await;
    let (s, _) = run(
        &t,
        &cp,
        "b",
        &[("starting_version", "latest")],
        Trigger::AvailableNow,
    )
    .await
    .unwrap();
    assert_eq!(
        ids(&rows(&s, "SELECT id FROM b").await, "id"),
        (40..45).collect::<Vec<_>>()
    );
    // A starting time after every commit reads only what comes later.
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let (_, p) = run(
        &t,
        &tmp.path().join("cp3"),
        "c",
        &[("starting_timestamp", &later)],
        Trigger::AvailableNow,
    )
    .await
    .unwrap();
    assert!(p.is_empty());
    let (s, _) = run(
        &t,
        &tmp.path().join("cp4"),
        "d",
        &[("starting_timestamp", "2000-01-01")],
        Trigger::AvailableNow,
    )
    .await
    .unwrap();
    assert_eq!(
        ids(&rows(&s, "SELECT id FROM d").await, "id"),
        (0..45).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn deletes_stop_the_stream_unless_the_user_says_how_to_treat_them() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().join("t");
    append(&t, 0..10).await;
    let cp = tmp.path().join("cp");
    run(&t, &cp, "o", &[], Trigger::AvailableNow).await.unwrap();
    // A delete that rewrites a file, then an append.
    let (table, _) = table(&t)
        .await
        .delete()
        .with_predicate("id < 3")
        .await
        .unwrap();
    assert_eq!(table.version(), Some(1));
    append(&t, 10..12).await;
    let err = run(&t, &cp, "o", &[], Trigger::AvailableNow)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("version 1") && msg.contains("ignore_changes"),
        "{msg}"
    );
    // skip_change_commits: the delete commit is skipped, the append read.
    let (s, _) = run(
        &t,
        &cp,
        "o",
        &[("skip_change_commits", "true")],
        Trigger::AvailableNow,
    )
    .await
    .unwrap();
    assert_eq!(ids(&rows(&s, "SELECT id FROM o").await, "id"), vec![10, 11]);
    // ignore_changes from the start: the rewritten file (ids 3..10) comes again.
    let (s, _) = run(
        &t,
        &tmp.path().join("cp2"),
        "p",
        &[("starting_version", "1"), ("ignore_changes", "true")],
        Trigger::AvailableNow,
    )
    .await
    .unwrap();
    assert_eq!(
        ids(&rows(&s, "SELECT id FROM p").await, "id"),
        vec![3, 4, 5, 6, 7, 8, 9, 10, 11]
    );
}

#[tokio::test]
async fn compaction_is_not_read_again() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().join("t");
    for i in 0..4 {
        append(&t, i * 5..i * 5 + 5).await;
    }
    let cp = tmp.path().join("cp");
    run(&t, &cp, "o", &[], Trigger::AvailableNow).await.unwrap();
    let (_, metrics) = table(&t).await.optimize().await.unwrap();
    assert_eq!(metrics.num_files_removed, 4);
    append(&t, 20..22).await;
    let (s, _) = run(&t, &cp, "o", &[], Trigger::AvailableNow).await.unwrap();
    assert_eq!(ids(&rows(&s, "SELECT id FROM o").await, "id"), vec![20, 21]);
}

#[tokio::test]
async fn the_change_data_feed_streams_inserts_updates_and_deletes() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().join("t");
    append_cdf(&t, 0..5).await; // v0
    table(&t)
        .await
        .delete()
        .with_predicate("id = 1")
        .await
        .unwrap(); // v1
    table(&t)
        .await
        .update()
        .with_predicate("id = 2")
        .with_update("name", "'changed'")
        .await
        .unwrap(); // v2
    let cp = tmp.path().join("cp");
    let (s, _) = run(
        &t,
        &cp,
        "c",
        &[("read_change_feed", "true"), ("starting_version", "0")],
        Trigger::AvailableNow,
    )
    .await
    .unwrap();
    let out = rows(
        &s,
        "SELECT id, name, _change_type AS t, CAST(_commit_version AS BIGINT) AS v FROM c ORDER BY v, id, t",
    )
    .await;
    let text = arrow::util::pretty::pretty_format_batches(&out)
        .unwrap()
        .to_string();
    assert!(
        text.contains("| 1  | n1      | delete           | 1 |"),
        "{text}"
    );
    assert!(
        text.contains("| 2  | changed | update_postimage | 2 |"),
        "{text}"
    );
    assert!(
        text.contains("| 2  | n2      | update_preimage  | 2 |"),
        "{text}"
    );
    assert_eq!(out.iter().map(|b| b.num_rows()).sum::<usize>(), 8, "{text}");
    // Without a starting version the snapshot arrives as inserts.
    let (s, _) = run(
        &t,
        &tmp.path().join("cp2"),
        "d",
        &[("read_change_feed", "true")],
        Trigger::AvailableNow,
    )
    .await
    .unwrap();
    let out = rows(
        &s,
        "SELECT DISTINCT _change_type, CAST(_commit_version AS BIGINT) AS v FROM d",
    )
    .await;
    let text = arrow::util::pretty::pretty_format_batches(&out)
        .unwrap()
        .to_string();
    assert!(text.contains("insert") && text.contains("| 2 |"), "{text}");
    assert_eq!(
        ids(&rows(&s, "SELECT id FROM d").await, "id"),
        vec![0, 2, 3, 4]
    );
}

#[tokio::test]
async fn batch_reads_travel_to_earlier_versions_and_times() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().join("t");
    append(&t, 0..3).await;
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let between = chrono::Utc::now().to_rfc3339();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    append(&t, 3..6).await;
    let session = Session::new();
    let read = |opt: &'static str, v: String| {
        let session = session.clone();
        let t = t.clone();
        async move {
            session
                .read()
                .format("delta")
                .option(opt, v)
                .load(t.to_str().unwrap())
                .await?
                .collect()
                .await
                .map_err(tributary::TributaryError::from)
        }
    };
    assert_eq!(
        ids(&read("version_as_of", "0".into()).await.unwrap(), "id"),
        vec![0, 1, 2]
    );
    assert_eq!(
        ids(&read("version_as_of", "1".into()).await.unwrap(), "id"),
        (0..6).collect::<Vec<_>>()
    );
    assert_eq!(
        ids(&read("timestamp_as_of", between).await.unwrap(), "id"),
        vec![0, 1, 2]
    );
    let err = read("timestamp_as_of", "1990-01-01".into())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("timestamp_as_of"), "{err}");
    let err = read("version_as_of", "9".into()).await.unwrap_err();
    assert!(
        err.to_string().contains("version 9 of")
            && err.to_string().contains("its latest version is 1"),
        "{err}"
    );
    // A negative version is an error, not version 0.
    let err = read("version_as_of", "-1".into()).await.unwrap_err();
    assert!(err.to_string().contains("version_as_of"), "{err}");
}
