//! Stream-stream joins against the batch answer: inner, left outer and left semi joins of ad
//! impressions and clicks with a time-range condition, over several epochs and a restart.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use tributary::prelude::*;

use crate::common::*;

fn schema(time: &str) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("ad", DataType::Int64, true),
        Field::new(time, DataType::Timestamp(TimeUnit::Nanosecond, None), true),
    ]))
}

fn at(secs: i64) -> String {
    let base = chrono::DateTime::parse_from_rfc3339("2026-11-21T10:00:00Z")
        .unwrap()
        .to_utc();
    (base + chrono::Duration::seconds(secs)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Impressions every 10 s (out of order by up to 5 s); a click for two impressions in three,
/// 0 to 89 s after it (so some clicks are too late to match); an impression and a click
/// without a time in each file.
fn write_files(dir: &Path, file: i64, per_file: i64) {
    let mut imps = Vec::new();
    let mut clicks = Vec::new();
    for i in file * per_file..(file + 1) * per_file {
        let t = i * 10 + (i * 7) % 11 - 5;
        imps.push(format!(
            "{{\"id\":{i},\"ad\":{},\"imp_time\":\"{}\"}}",
            i % 7,
            at(t)
        ));
        if i % 3 != 0 {
            clicks.push(format!(
                "{{\"id\":{},\"ad\":{},\"click_time\":\"{}\"}}",
                1000 + i,
                i % 7,
                at(t + (i * 13) % 90)
            ));
        }
    }
    // A row of each side without a time: it can never meet the time range, so an outer
    // side emits it with NULLs (as the batch does) and no side keeps it.
    imps.push(format!(
        "{{\"id\":{},\"ad\":{},\"imp_time\":null}}",
        500 + file,
        file % 7
    ));
    clicks.push(format!(
        "{{\"id\":{},\"ad\":{},\"click_time\":null}}",
        1500 + file,
        file % 7
    ));
    write_lines(&dir.join("imps"), &format!("f{file:02}.json"), &imps);
    // Clicks arrive a file (an epoch) later than their impressions: they join buffered rows.
    if file == 0 {
        let nothing = format!("{{\"id\":999,\"ad\":99,\"click_time\":\"{}\"}}", at(0));
        write_lines(&dir.join("clicks"), "f00.json", &[nothing]);
    }
    write_lines(
        &dir.join("clicks"),
        &format!("f{:02}.json", file + 1),
        &clicks,
    );
}

async fn register(s: &Session, dir: &Path, stream: bool) {
    for (name, time) in [("imps", "imp_time"), ("clicks", "click_time")] {
        let path = dir.join(name);
        let df = if stream {
            s.read_stream()
                .schema(schema(time))
                .option("max_files_per_trigger", 1)
                .json(path.to_str().unwrap())
                .await
                .unwrap()
        } else {
            s.read()
                .schema(schema(time))
                .json(path.to_str().unwrap())
                .await
                .unwrap()
        };
        s.register(name, df.with_watermark(time, "30 seconds").unwrap())
            .unwrap();
    }
}

const QUERIES: &[&str] = &[
    "SELECT i.id, i.ad, c.id AS click FROM imps i JOIN clicks c ON i.ad = c.ad \
     AND c.click_time BETWEEN i.imp_time AND i.imp_time + INTERVAL '1 minute'",
    "SELECT i.id, i.ad, c.id AS click FROM imps i LEFT JOIN clicks c ON i.ad = c.ad \
     AND c.click_time >= i.imp_time AND c.click_time <= i.imp_time + INTERVAL '1 minute'",
    "SELECT i.id, i.ad FROM imps i LEFT SEMI JOIN clicks c ON i.ad = c.ad \
     AND c.click_time BETWEEN i.imp_time AND i.imp_time + INTERVAL '1 minute'",
    "SELECT i.id, c.id AS click, c.ad FROM imps i RIGHT JOIN clicks c ON i.ad = c.ad \
     AND c.click_time BETWEEN i.imp_time AND i.imp_time + INTERVAL '1 minute'",
    "SELECT i.id, c.id AS click FROM imps i FULL JOIN clicks c ON i.ad = c.ad \
     AND i.imp_time BETWEEN c.click_time - INTERVAL '1 minute' AND c.click_time",
];

#[tokio::test]
async fn stream_stream_joins_equal_the_batch_and_keep_bounded_state() {
    for (qi, sql) in QUERIES.iter().enumerate() {
        let tmp = tempfile::tempdir().unwrap();
        let ckpt = tmp.path().join("ckpt");
        let seen: Arc<Mutex<BTreeMap<u64, Vec<RecordBatch>>>> = Default::default();
        let mut progress = Vec::new();
        for run in 0..2 {
            for f in run * 4..run * 4 + 4 {
                write_files(tmp.path(), f, 12);
            }
            let s = Session::new();
            register(&s, tmp.path(), true).await;
            let q = s
                .sql(sql)
                .await
                .unwrap()
                .write_stream()
                .trigger(Trigger::AvailableNow)
                .option("checkpoint_location", ckpt.display())
                .option("flush_at_end", run == 1)
                .foreach_batch(keep_epochs(&seen))
                .start("")
                .await
                .unwrap();
            q.await_termination().await.unwrap();
            progress.extend(q.recent_progress());
        }
        let streamed = rows(
            &seen
                .lock()
                .unwrap()
                .values()
                .flatten()
                .cloned()
                .collect::<Vec<_>>(),
        );
        let s = Session::new();
        register(&s, tmp.path(), false).await;
        let batch = rows(&s.sql(sql).await.unwrap().collect().await.unwrap());
        assert!(batch.len() > 20, "query {qi}: {} rows", batch.len());
        assert_eq!(streamed, batch, "query {qi}");
        // The state is evicted behind the watermark: it never holds most of the 96 + 64 rows.
        let most = progress
            .iter()
            .map(|p| p.state_operators[0]["numRowsTotal"].as_u64().unwrap())
            .max()
            .unwrap();
        assert!(most < 100, "query {qi}: state up to {most} rows");
    }
}

/// Run the inner join of [`QUERIES`] over files `files` into `seen`, with `options`; returns the
/// progress records.
async fn run_inner_join(
    dir: &Path,
    files: std::ops::Range<i64>,
    options: &[(&str, String)],
    seen: &Arc<Mutex<BTreeMap<u64, Vec<RecordBatch>>>>,
) -> Vec<tributary::StreamingQueryProgress> {
    for f in files {
        write_files(dir, f, 12);
    }
    let s = Session::new();
    register(&s, dir, true).await;
    let mut w = s
        .sql(QUERIES[0])
        .await
        .unwrap()
        .write_stream()
        .trigger(Trigger::AvailableNow);
    for (k, v) in options {
        w = w.option(k, v);
    }
    let q = w.foreach_batch(keep_epochs(seen)).start("").await.unwrap();
    q.await_termination().await.unwrap();
    q.recent_progress()
}

async fn inner_join_batch(dir: &Path) -> Vec<String> {
    let s = Session::new();
    register(&s, dir, false).await;
    rows(&s.sql(QUERIES[0]).await.unwrap().collect().await.unwrap())
}

fn all_rows(seen: &Arc<Mutex<BTreeMap<u64, Vec<RecordBatch>>>>) -> Vec<String> {
    let seen = seen.lock().unwrap();
    rows(&seen.values().flatten().cloned().collect::<Vec<_>>())
}

#[tokio::test]
async fn join_state_is_partitioned_by_key_and_old_checkpoints_keep_one_partition() {
    // A new checkpoint: each side's state in `state_partitions` stores, split by join key.
    let tmp = tempfile::tempdir().unwrap();
    let ckpt = tmp.path().join("ckpt");
    let seen = Arc::default();
    let opts = [
        ("checkpoint_location", ckpt.display().to_string()),
        ("state_partitions", "3".to_string()),
    ];
    let progress = run_inner_join(tmp.path(), 0..6, &opts, &seen).await;
    let op = &progress.last().unwrap().state_operators[0];
    assert_eq!(op["numStateStoreInstances"], 6, "{op}");
    let custom = &op["customMetrics"];
    let stored = custom["leftRows"].as_u64().unwrap() + custom["rightRows"].as_u64().unwrap();
    assert_eq!(op["numRowsTotal"].as_u64().unwrap(), stored, "{op}");
    // Seven ads over three partitions: the rows of each side are spread over its stores by
    // the join key (`ON i.ad = c.ad`, which SQL writes as part of the condition).
    let rows = state_rows_per_store(&ckpt, 6);
    for side in 0..2 {
        let holding = (side..6).step_by(2).filter(|p| rows[*p] > 0).count();
        assert!(holding > 1, "side {side}: rows per store {rows:?}");
    }
    assert_eq!(all_rows(&seen), inner_join_batch(tmp.path()).await);

    // A checkpoint from before joins were partitioned: one store per side under state/<op>/0
    // and /1, and metadata without the join's partition count. It restores and keeps going.
    let tmp = tempfile::tempdir().unwrap();
    let ckpt = tmp.path().join("ckpt");
    let seen = Arc::default();
    let opts = [
        ("checkpoint_location", ckpt.display().to_string()),
        ("state_partitions", "1".to_string()),
    ];
    run_inner_join(tmp.path(), 0..3, &opts, &seen).await;
    edit_conf(&ckpt, |conf| {
        assert!(conf.remove("state.join.partitions").is_some(), "{conf:?}");
        conf.insert("state.partitions".into(), "4".into());
    });
    let opts = [("checkpoint_location", ckpt.display().to_string())];
    let progress = run_inner_join(tmp.path(), 3..7, &opts, &seen).await;
    let op = &progress.last().unwrap().state_operators[0];
    assert_eq!(op["numStateStoreInstances"], 2, "{op}");
    assert_eq!(all_rows(&seen), inner_join_batch(tmp.path()).await);
}

#[tokio::test]
async fn join_state_written_without_join_keys_keeps_its_layout() {
    // A checkpoint of a release that kept an SQL join's state in one group (its metadata has
    // no `state.join.equi_keys`): its rows stay where they were written, in one store per
    // side, and restores keep finding them.
    let tmp = tempfile::tempdir().unwrap();
    let ckpt = tmp.path().join("ckpt");
    let seen = Arc::default();
    let opts = [
        ("checkpoint_location", ckpt.display().to_string()),
        ("state_partitions", "3".to_string()),
    ];
    run_inner_join(tmp.path(), 0..1, &opts, &seen).await;
    edit_conf(&ckpt, |conf| {
        assert!(conf.remove("state.join.equi_keys").is_some(), "{conf:?}");
    });
    // Start over under the rewritten metadata (no state, offsets or source logs yet), then
    // restart halfway.
    start_over(&ckpt);
    seen.lock().unwrap().clear();
    run_inner_join(tmp.path(), 1..3, &opts, &seen).await;
    let progress = run_inner_join(tmp.path(), 3..6, &opts, &seen).await;
    assert_eq!(all_rows(&seen), inner_join_batch(tmp.path()).await);
    let rows = state_rows_per_store(&ckpt, 6);
    for side in 0..2 {
        let holding = (side..6).step_by(2).filter(|p| rows[*p] > 0).count();
        assert_eq!(holding, 1, "side {side}: rows per store {rows:?}");
    }
    // Without keys, an epoch reads the other side's whole state: every stored left row, as
    // long as new clicks come.
    let read: u64 = progress
        .iter()
        .map(|p| {
            p.state_operators[0]["customMetrics"]["leftRowsRead"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert!(read > 0, "{progress:?}");
}

#[tokio::test]
async fn a_join_on_is_not_distinct_from_matches_null_keys_as_the_batch_does() {
    // A third of the ads are NULL; `IS NOT DISTINCT FROM` matches NULL with NULL, and the
    // join keys kept in state must too.
    let tmp = tempfile::tempdir().unwrap();
    let ad = |i: i64| {
        if i % 3 == 0 {
            "null".to_string()
        } else {
            (i % 5).to_string()
        }
    };
    for f in 0..3i64 {
        let (mut imps, mut clicks) = (Vec::new(), Vec::new());
        for i in f * 8..(f + 1) * 8 {
            let line = |id: i64, name: &str, t: i64| {
                format!("{{\"id\":{id},\"ad\":{},\"{name}\":\"{}\"}}", ad(i), at(t))
            };
            imps.push(line(i, "imp_time", i * 10));
            clicks.push(line(1000 + i, "click_time", i * 10 + 5));
        }
        write_lines(&tmp.path().join("imps"), &format!("f{f:02}.json"), &imps);
        write_lines(
            &tmp.path().join("clicks"),
            &format!("f{f:02}.json"),
            &clicks,
        );
    }
    let sql = "SELECT i.id, i.ad, c.id AS click FROM imps i JOIN clicks c \
               ON (i.ad IS NOT DISTINCT FROM c.ad) \
               AND c.click_time BETWEEN i.imp_time AND i.imp_time + INTERVAL '1 minute'";
    let s = Session::new();
    register(&s, tmp.path(), true).await;
    let seen = Arc::default();
    let q = s
        .sql(sql)
        .await
        .unwrap()
        .write_stream()
        .trigger(Trigger::AvailableNow)
        .option("checkpoint_location", tmp.path().join("ckpt").display())
        .foreach_batch(keep_epochs(&seen))
        .start("")
        .await
        .unwrap();
    q.await_termination().await.unwrap();
    let s = Session::new();
    register(&s, tmp.path(), false).await;
    let batch = rows(&s.sql(sql).await.unwrap().collect().await.unwrap());
    assert!(
        batch.iter().any(|r| r.contains(" | NULL | ")),
        "the batch matches NULL ads: {batch:?}"
    );
    assert_eq!(all_rows(&seen), batch);
}

/// Rewrite the `conf` of a checkpoint's metadata, as an older release would have written it.
fn edit_conf(ckpt: &Path, edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>)) {
    let meta = ckpt.join("metadata");
    let text = std::fs::read_to_string(&meta).unwrap();
    let (version, json) = text.split_once('\n').unwrap();
    let mut value: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    edit(value["conf"].as_object_mut().unwrap());
    std::fs::write(&meta, format!("{version}\n{value}\n")).unwrap();
}

/// Forget what a checkpoint ran (state, offsets, commits, source logs, recorded shapes), keeping
/// its metadata:
/// the next start runs the query from the beginning under that metadata.
fn start_over(ckpt: &Path) {
    for d in ["state", "offsets", "commits", "sources", "shapes"] {
        if ckpt.join(d).exists() {
            std::fs::remove_dir_all(ckpt.join(d)).unwrap();
        }
    }
}

/// The rows each of the first `stores` stores of operator 0 upserted, over all its changelogs.
fn state_rows_per_store(ckpt: &Path, stores: usize) -> Vec<usize> {
    (0..stores)
        .map(|p| {
            let Ok(dir) = std::fs::read_dir(ckpt.join(format!("state/0/{p}"))) else {
                return 0;
            };
            let mut n = 0;
            for f in dir.flatten() {
                if f.path().extension().is_some_and(|e| e == "delta") {
                    let file = std::fs::File::open(f.path()).unwrap();
                    for b in arrow::ipc::reader::FileReader::try_new(file, None).unwrap() {
                        let b = b.unwrap();
                        let removed = arrow::array::AsArray::as_boolean(b.column(0));
                        n += removed.false_count();
                    }
                }
            }
            n
        })
        .collect()
}

/// The columns of the left side's state files (every `.delta` under `state/0/<even>`).
fn left_state_columns(ckpt: &Path) -> Vec<String> {
    let mut names = std::collections::BTreeSet::new();
    for p in (0..8).step_by(2) {
        let Ok(dir) = std::fs::read_dir(ckpt.join(format!("state/0/{p}"))) else {
            continue;
        };
        for f in dir.flatten() {
            if f.path().extension().is_some_and(|e| e == "delta") {
                let file = std::fs::File::open(f.path()).unwrap();
                let reader = arrow::ipc::reader::FileReader::try_new(file, None).unwrap();
                for field in reader.schema().fields() {
                    names.insert(field.name().clone());
                }
            }
        }
    }
    names.into_iter().collect()
}

#[tokio::test]
async fn join_state_keeps_only_the_columns_the_query_reads() {
    // `i.id` is not read: a new checkpoint's left state has no room for it.
    let query = "SELECT i.ad, c.id AS click FROM imps i JOIN clicks c ON i.ad = c.ad \
         AND c.click_time BETWEEN i.imp_time AND i.imp_time + INTERVAL '1 minute'";
    let run = |dir: std::path::PathBuf, files: std::ops::Range<i64>| async move {
        for f in files {
            write_files(&dir, f, 12);
        }
        let s = Session::new();
        register(&s, &dir, true).await;
        let q = s
            .sql(query)
            .await
            .unwrap()
            .write_stream()
            .trigger(Trigger::AvailableNow)
            .option("checkpoint_location", dir.join("ckpt").display())
            .format("memory")
            .query_name("pruned")
            .start("")
            .await
            .unwrap();
        q.await_termination().await.unwrap();
        let got = rows(
            &s.sql("SELECT * FROM pruned")
                .await
                .unwrap()
                .collect()
                .await
                .unwrap(),
        );
        let batch = Session::new();
        register(&batch, &dir, false).await;
        let want = rows(&batch.sql(query).await.unwrap().collect().await.unwrap());
        (got, want)
    };
    let tmp = tempfile::tempdir().unwrap();
    let (got, want) = run(tmp.path().to_path_buf(), 0..4).await;
    assert_eq!(got, want);
    let cols = left_state_columns(&tmp.path().join("ckpt"));
    assert!(cols.iter().any(|c| c == "imp_time"), "{cols:?}");
    assert!(!cols.iter().any(|c| c == "id"), "{cols:?}");

    // A checkpoint whose metadata does not say its state is pruned (written before) keeps
    // every column, and restores.
    let tmp = tempfile::tempdir().unwrap();
    let ckpt = tmp.path().join("ckpt");
    let first = run(tmp.path().to_path_buf(), 0..1).await;
    assert_eq!(first.0, first.1);
    edit_conf(&ckpt, |conf| {
        assert!(conf.remove("state.pruned_columns").is_some(), "{conf:?}");
    });
    // Its state so far is pruned: start the query over (no state, offsets or source logs)
    // under the rewritten metadata, which then runs as an old query did.
    start_over(&ckpt);
    let (got, want) = run(tmp.path().to_path_buf(), 1..4).await;
    assert_eq!(got, want);
    let cols = left_state_columns(&ckpt);
    assert!(cols.iter().any(|c| c == "id"), "{cols:?}");
}

#[tokio::test]
async fn an_outer_join_without_a_time_range_is_refused_with_directions() {
    let tmp = tempfile::tempdir().unwrap();
    write_files(tmp.path(), 0, 3);
    let s = Session::new();
    register(&s, tmp.path(), true).await;
    let err = s
        .sql("SELECT i.id, c.id FROM imps i LEFT JOIN clicks c ON i.ad = c.ad")
        .await
        .unwrap()
        .write_stream()
        .format("memory")
        .query_name("x")
        .start("")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("time-range condition") && err.contains("Left"),
        "{err}"
    );
}

fn rows(batches: &[RecordBatch]) -> Vec<String> {
    sorted_rows(batches, " | ")
}
