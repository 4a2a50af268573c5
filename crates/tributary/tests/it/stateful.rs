//! Stateful streaming against the batch answer: windowed and plain aggregations in append,
//! update and complete modes, over random epoch splits with restarts that restore state.

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use tributary::prelude::*;
use tributary::StreamingQueryProgress;

use crate::common::*;

struct Case {
    sql: &'static str,
    mode: OutputMode,
    /// Number of leading key columns (for update mode: the latest row per key wins).
    keys: usize,
}

const CASES: &[Case] = &[
    // Tumbling windows through a subquery, with exact count(DISTINCT).
    Case {
        sql: "SELECT w['start'] AS ws, w['end'] AS we, region, count(*) AS n, sum(amount) AS total, \
              count(DISTINCT user_id) AS users \
              FROM (SELECT window(event_time, '1 minute') AS w, region, amount, user_id FROM events) \
              GROUP BY w, region",
        mode: OutputMode::Append,
        keys: 3,
    },
    // Sliding windows directly in GROUP BY, with min/max/avg and a HAVING above the state.
    Case {
        sql: "SELECT window(event_time, '2 minutes', '30 seconds')['start'] AS ws, region, count(*) AS n, \
              min(amount) AS lo, max(amount) AS hi, avg(amount) AS mean \
              FROM events GROUP BY window(event_time, '2 minutes', '30 seconds'), region \
              HAVING count(*) > 1",
        mode: OutputMode::Append,
        keys: 2,
    },
    // Grouping by the event-time column itself.
    Case {
        sql: "SELECT event_time, count(*) AS n, array_agg(id ORDER BY id) AS ids FROM events GROUP BY event_time",
        mode: OutputMode::Append,
        keys: 1,
    },
    // Update mode without windows.
    Case {
        sql: "SELECT region, count(*) AS n, sum(amount) AS total, count(DISTINCT user_id) AS users, \
              approx_distinct(user_id) AS approx FROM events GROUP BY region",
        mode: OutputMode::Update,
        keys: 1,
    },
    // Update mode with windows: rows behind the watermark are evicted, not emitted.
    Case {
        sql: "SELECT window(event_time, '1 minute') AS w, count(*) AS n, first_value(id ORDER BY id) AS first_id \
              FROM events GROUP BY window(event_time, '1 minute')",
        mode: OutputMode::Update,
        keys: 1,
    },
    // Session windows per region (sessions merge across epochs as late rows bridge them).
    Case {
        sql: "SELECT session_window(event_time, '20 seconds')['start'] AS s, \
              session_window(event_time, '20 seconds')['end'] AS e, region, count(*) AS n, sum(amount) AS total \
              FROM events GROUP BY session_window(event_time, '20 seconds'), region",
        mode: OutputMode::Append,
        keys: 3,
    },
    // Session windows with a per-row gap, in complete mode.
    Case {
        sql: "SELECT session_window(event_time, CASE WHEN region = 'emea' THEN '10 seconds' ELSE '40 seconds' END) AS w, \
              upper(region) AS r, count(*) AS n, max(id) AS last_id FROM events GROUP BY 1, 2",
        mode: OutputMode::Complete,
        keys: 2,
    },
    // SELECT DISTINCT on a stream: a deduplication on every column.
    Case {
        sql: "SELECT DISTINCT region, user_id % 5 AS bucket FROM events",
        mode: OutputMode::Append,
        keys: 2,
    },
    // A float key of -0.0 and 0.0 (different bits, equal values) is one key, as in the batch
    // (`+ 0.0` makes either one 0.0 above it: which of the two the key keeps is free).
    Case {
        sql: "SELECT region, z + 0.0 AS z FROM (SELECT DISTINCT region, \
              CASE WHEN id % 2 = 0 THEN CAST(0.0 AS DOUBLE) ELSE CAST(-0.0 AS DOUBLE) END AS z \
              FROM events)",
        mode: OutputMode::Append,
        keys: 2,
    },
    // Aggregates with an ORDER BY of their own: each epoch's rows are sorted as they ask
    // (nth_value keeps the first rows it sees).
    Case {
        sql: "SELECT region, nth_value(id, 2 ORDER BY amount, id) AS second, \
              first_value(id ORDER BY amount DESC, id) AS top, \
              array_agg(id ORDER BY id DESC) AS ids FROM events GROUP BY region",
        mode: OutputMode::Update,
        keys: 1,
    },
    // A struct key (grouped by its fields): a NULL struct and a struct of NULLs stay apart.
    Case {
        sql: "SELECT k['a'] AS a, k['b'] AS b, k IS NULL AS k_null, count(*) AS n FROM \
              (SELECT CASE WHEN user_id % 4 = 0 THEN NULL ELSE named_struct( \
                 'a', CASE WHEN user_id % 4 = 1 THEN NULL ELSE user_id % 3 END, \
                 'b', CASE WHEN user_id % 4 = 1 THEN NULL ELSE user_id % 2 END) END AS k \
               FROM events WHERE user_id IS NOT NULL) \
              GROUP BY k",
        mode: OutputMode::Complete,
        keys: 3,
    },
    // Complete mode, with a sort above the aggregation.
    Case {
        sql: "SELECT region, user_id % 3 AS bucket, count(*) AS n, max(event_time) AS last \
              FROM events WHERE user_id IS NOT NULL GROUP BY region, user_id % 3 ORDER BY n DESC",
        mode: OutputMode::Complete,
        keys: 2,
    },
];

pub(crate) fn rows(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let opts = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for b in batches {
        let f: Vec<_> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).unwrap())
            .collect();
        for r in 0..b.num_rows() {
            out.push(f.iter().map(|f| f.value(r).to_string()).collect());
        }
    }
    out
}

async fn register(s: &Session, input: &Path, stream: bool, max_files: u64) {
    let df = if stream {
        s.read_stream()
            .schema(timed_schema())
            .option("max_files_per_trigger", max_files)
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
    let df = df.with_watermark("event_time", "1 minute").unwrap();
    s.register("events", df).unwrap();
}

async fn stream_run(
    case: &Case,
    input: &Path,
    ckpt: &Path,
    max_files: u64,
    flush: bool,
    seen: &Epochs,
) -> Vec<StreamingQueryProgress> {
    let s = Session::new();
    register(&s, input, true, max_files).await;
    let q = s
        .sql(case.sql)
        .await
        .unwrap()
        .write_stream()
        .output_mode(case.mode)
        .trigger(Trigger::AvailableNow)
        .option("checkpoint_location", ckpt.display())
        .option("flush_at_end", flush)
        .option("state_partitions", 3)
        .foreach_batch(keep_epochs(seen))
        .start("")
        .await
        .unwrap();
    q.await_termination().await.unwrap();
    q.recent_progress()
}

/// The stream's answer, from what each epoch delivered.
fn final_answer(case: &Case, seen: &Epochs) -> Vec<Vec<String>> {
    let epochs = seen.lock().unwrap();
    match case.mode {
        OutputMode::Append => epochs.values().flat_map(|b| rows(b)).collect(),
        OutputMode::Complete => epochs.values().last().map(|b| rows(b)).unwrap_or_default(),
        OutputMode::Update => {
            let mut latest: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
            for b in epochs.values() {
                for r in rows(b) {
                    latest.insert(r[..case.keys].to_vec(), r);
                }
            }
            latest.into_values().collect()
        }
    }
}

/// Forget that the last epoch committed: as if the process died after the sink's commit and
/// before the commit log's entry.
pub(crate) fn drop_last_commit(ckpt: &Path) {
    let dir = ckpt.join("commits");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.chars().all(|c| c.is_ascii_digit()))
        .collect();
    names.sort_by_key(|n| n.parse::<u64>().unwrap());
    if let Some(last) = names.last() {
        std::fs::remove_file(dir.join(last)).unwrap();
    }
}

#[tokio::test]
async fn stateful_stream_equals_batch_over_random_splits_and_restarts() {
    let mut rng = Lcg(0x5eed);
    for (ci, case) in CASES.iter().enumerate() {
        for round in 0..3 {
            let tmp = tempfile::tempdir().unwrap();
            let (input, ckpt) = (tmp.path().join("in"), tmp.path().join("ckpt"));
            let files = 3 + rng.next(5) as i64;
            let max_files = 1 + rng.next(2);
            // Files arrive in `runs` groups; the query restarts (restoring its state) between
            // groups, sometimes after losing its last commit-log entry.
            let runs = 1 + rng.next(3);
            let seen: Epochs = Default::default();
            let mut progress = Vec::new();
            let mut next_id = 0;
            let mut lost_commits = 0;
            for run in 0..runs {
                let first = files * run as i64 / runs as i64;
                let end = files * (run as i64 + 1) / runs as i64;
                for f in first..end {
                    let n = 5 + rng.next(30) as i64;
                    write_timed_events(&input, &format!("f{f:02}.json"), next_id, n);
                    next_id += n;
                }
                let last = run + 1 == runs;
                progress.extend(stream_run(case, &input, &ckpt, max_files, last, &seen).await);
                if !last && rng.next(2) == 0 {
                    drop_last_commit(&ckpt);
                    lost_commits += 1;
                }
            }
            let last = progress
                .last()
                .unwrap_or_else(|| panic!("case {ci} round {round}: no progress"));
            assert_eq!(last.state_operators.len(), 1, "case {ci}: {}", last.json());
            assert!(last.event_time.contains_key("watermark"), "{}", last.json());
            if case.mode == OutputMode::Append && !case.sql.contains("DISTINCT region") {
                // Windows close while the stream runs, not only at the final flush.
                let epochs_with_output = seen
                    .lock()
                    .unwrap()
                    .values()
                    .filter(|b| b.iter().any(|b| b.num_rows() > 0))
                    .count();
                assert!(
                    epochs_with_output >= 2 || progress.len() < 3,
                    "case {ci}: output in {epochs_with_output} of {} epochs",
                    progress.len()
                );
            }
            let mut streamed = final_answer(case, &seen);
            let s = Session::new();
            register(&s, &input, false, 0).await;
            let batch = s.sql(case.sql).await.unwrap().collect().await.unwrap();
            let mut expected = rows(&batch);
            expected.sort();
            streamed.sort();
            assert!(!expected.is_empty(), "case {ci} has rows");
            assert_eq!(
                streamed, expected,
                "case {ci} round {round} (max_files {max_files}, runs {runs}, lost commits {lost_commits})"
            );
        }
    }
}

fn at(hms: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(&format!("2026-11-21T{hms}Z"))
        .unwrap()
        .to_utc()
}

#[tokio::test]
async fn late_rows_are_dropped_counted_and_kept_aside_and_a_window_ending_at_the_watermark_closes()
{
    // Spark's rule since 3.4: a row is late when it is behind the watermark of the *previous*
    // epoch; state closes behind the epoch's own.
    let tmp = tempfile::tempdir().unwrap();
    let (input, ckpt, late) = (
        tmp.path().join("in"),
        tmp.path().join("ckpt"),
        tmp.path().join("late"),
    );
    // Epoch 0: one event per 30 s from 10:00:00 to 10:05:00; the watermark becomes 10:04:00.
    let first: Vec<String> = (0..=10)
        .map(|i| timed_line_at(i, at("10:00:00") + chrono::Duration::seconds(30 * i)))
        .collect();
    write_lines(&input, "a.json", &first);
    // Epoch 1 runs with the watermark 10:04 after an epoch at 0: its events behind 10:04 still
    // count, in windows that close at once.
    write_lines(
        &input,
        "b.json",
        &[
            timed_line_at(100, at("10:02:30")),
            timed_line_at(101, at("10:03:59.999")),
            timed_line_at(102, at("10:04:00")),
        ],
    );
    // Epoch 2 runs after one at 10:04: these are late (their windows ended at or before it).
    write_lines(
        &input,
        "c.json",
        &[
            timed_line_at(103, at("10:02:45")),
            timed_line_at(104, at("10:03:30")),
            timed_line_at(105, at("10:04:10")),
        ],
    );
    let s = Session::new();
    let events = s
        .read_stream()
        .schema(timed_schema())
        .option("max_files_per_trigger", 1)
        .json(input.to_str().unwrap())
        .await
        .unwrap()
        .with_watermark("event_time", "1 minute")
        .unwrap();
    let seen: Epochs = Default::default();
    let q = events
        .aggregate(
            vec![window(col("event_time"), "1 minute").alias("w")],
            vec![count(col("id")).alias("n"), max(col("id")).alias("max_id")],
        )
        .unwrap()
        .select(vec![
            get_field(col("w"), "start").alias("start"),
            col("n"),
            col("max_id"),
        ])
        .unwrap()
        .write_stream()
        .trigger(Trigger::AvailableNow)
        .option("checkpoint_location", ckpt.display())
        .option("late_rows_path", late.display())
        .option("flush_at_end", true)
        .foreach_batch(keep_epochs(&seen))
        .start("")
        .await
        .unwrap();
    q.await_termination().await.unwrap();
    let progress = q.recent_progress();
    let (epoch1, epoch2) = (&progress[1], &progress[2]);
    assert_eq!(
        epoch1.state_operators[0]["numRowsDroppedByWatermark"],
        0,
        "{}",
        epoch1.json()
    );
    assert_eq!(epoch1.event_time["watermark"], "2026-11-21T10:04:00.000Z");
    assert_eq!(
        epoch2.state_operators[0]["numRowsDroppedByWatermark"],
        2,
        "{}",
        epoch2.json()
    );
    assert!(
        epoch2.summary().contains(", 2 late rows dropped"),
        "{}",
        epoch2.summary()
    );
    // The late rows are kept aside, as JSON lines named by epoch.
    assert!(!late.join("epoch-000001.json").exists());
    let kept = std::fs::read_to_string(late.join("epoch-000002.json")).unwrap();
    assert_eq!(kept.lines().count(), 2, "{kept}");
    assert!(
        kept.contains("\"id\":103") && kept.contains("\"id\":104"),
        "{kept}"
    );
    // Windows ending at or before the watermark (10:04) were emitted by epoch 1, with epoch 1's
    // rows and without epoch 2's late ones; the window [10:04, 10:05) closes at the end.
    let epochs = seen.lock().unwrap();
    let out: Vec<Vec<String>> = epochs.values().flat_map(|b| rows(b)).collect();
    let find = |start: &str| {
        out.iter()
            .find(|r| r[0] == format!("2026-11-21T{start}"))
            .cloned()
            .unwrap_or_else(|| panic!("no window at {start}: {out:?}"))
    };
    assert_eq!(find("10:02:00")[1..], ["3", "100"]);
    assert_eq!(find("10:03:00")[1..], ["3", "101"]);
    assert_eq!(find("10:04:00")[1..], ["4", "105"]);
    let emitted_by_1 = rows(&epochs[&1]);
    assert!(
        emitted_by_1.iter().any(|r| r[0] == "2026-11-21T10:03:00"),
        "the window ending exactly at the watermark closes in epoch 1: {emitted_by_1:?}"
    );
}

#[tokio::test]
async fn drop_duplicates_on_a_stream_equals_the_batch_and_forgets_keys_behind_the_watermark() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    // Ten files; each re-delivers a few events of the file before (same id and event time) and
    // re-sends some ids with an event time 20 s later (within the 1 minute delay).
    let mut all = Vec::new();
    for f in 0..10i64 {
        let mut lines: Vec<String> = (f * 20..f * 20 + 20).map(timed_line).collect();
        if f > 0 {
            for id in (f * 20 - 5)..(f * 20) {
                lines.push(timed_line(id));
                lines.push(timed_line_at(
                    id,
                    event_time_of(id) + chrono::Duration::seconds(20),
                ));
            }
        }
        write_lines(&input, &format!("f{f:02}.json"), &lines);
        all.extend(lines);
    }
    for (variant, cols) in [("exact", vec!["id", "event_time"]), ("within", vec!["id"])] {
        let run = |stream: bool, ckpt: std::path::PathBuf| {
            let input = input.clone();
            let cols = cols.clone();
            async move {
                let s = Session::new();
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
                let df = df.with_watermark("event_time", "1 minute").unwrap();
                let df = if variant == "exact" {
                    df.drop_duplicates(&cols).unwrap()
                } else {
                    df.drop_duplicates_within_watermark(&cols).unwrap()
                };
                if !stream {
                    return (rows(&df.collect().await.unwrap()), Vec::new());
                }
                let seen: Epochs = Default::default();
                let q = df
                    .write_stream()
                    .trigger(Trigger::AvailableNow)
                    .option("checkpoint_location", ckpt.display())
                    .foreach_batch(keep_epochs(&seen))
                    .start("")
                    .await
                    .unwrap();
                q.await_termination().await.unwrap();
                let out = seen
                    .lock()
                    .unwrap()
                    .values()
                    .flat_map(|b| rows(b))
                    .collect();
                (out, q.recent_progress())
            }
        };
        let (mut streamed, progress) = run(true, tmp.path().join(format!("ckpt-{variant}"))).await;
        let (mut batch, _) = run(false, tmp.path().join("unused")).await;
        streamed.sort();
        batch.sort();
        assert_eq!(
            streamed.len(),
            if variant == "exact" { 245 } else { 200 },
            "{variant}"
        );
        assert_eq!(streamed, batch, "{variant}");
        // State is bounded: keys behind the watermark are forgotten.
        let last = &progress.last().unwrap().state_operators[0];
        assert!(
            last["numRowsRemoved"].as_u64().unwrap() > 0
                || progress
                    .iter()
                    .any(|p| p.state_operators[0]["numRowsRemoved"].as_u64().unwrap() > 0),
            "{variant}: {last}"
        );
        assert!(
            last["numRowsTotal"].as_u64().unwrap() < 100,
            "{variant}: {last}"
        );
        assert!(
            progress
                .iter()
                .map(
                    |p| p.state_operators[0]["customMetrics"]["numDroppedDuplicateRows"]
                        .as_u64()
                        .unwrap()
                )
                .sum::<u64>()
                > 0
        );
    }
}

#[tokio::test]
async fn an_idle_source_lets_the_watermark_move_and_windows_close() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let lines: Vec<String> = (0..5)
        .map(|i| {
            timed_line_at(
                i,
                at("10:00:00") + chrono::Duration::milliseconds(100 + 200 * i),
            )
        })
        .collect();
    write_lines(&input, "a.json", &lines);
    let s = Session::new();
    let mut queries = Vec::new();
    for (name, idle) in [("idle", Some("200ms")), ("control", None)] {
        let df = s
            .read_stream()
            .schema(timed_schema())
            .json(input.to_str().unwrap())
            .await
            .unwrap()
            .with_watermark("event_time", "1 second")
            .unwrap()
            .aggregate(
                vec![window(col("event_time"), "1 second").alias("w")],
                vec![count(col("id")).alias("n")],
            )
            .unwrap();
        let mut w =
            df.write_stream()
                .format("memory")
                .query_name(name)
                .trigger(Trigger::ProcessingTime(std::time::Duration::from_millis(
                    50,
                )));
        if let Some(t) = idle {
            w = w.option("watermark_idle_timeout", t);
        }
        queries.push(w.start("").await.unwrap());
    }
    // The last event is at 10:00:00.900, so the watermark stops at 09:59:59.900 and the window
    // [10:00:00, 10:00:01) stays open, unless the idle source lets event time move on.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let n = s.table("idle").await.unwrap().count().await.unwrap();
        if n == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the window never closed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let row = rows(&s.table("idle").await.unwrap().collect().await.unwrap());
    assert_eq!(row[0][1], "5");
    assert_eq!(s.table("control").await.unwrap().count().await.unwrap(), 0);
    for q in queries {
        q.stop().await.unwrap();
    }
}

#[tokio::test]
async fn complete_mode_into_delta_replaces_the_table_each_epoch_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out, ckpt) = (
        tmp.path().join("in"),
        tmp.path().join("out"),
        tmp.path().join("ckpt"),
    );
    let sql = "SELECT region, count(*) AS n, sum(amount) AS total FROM events GROUP BY region";
    for run in 0..2 {
        for f in run * 3..run * 3 + 3 {
            write_timed_events(&input, &format!("f{f:02}.json"), f as i64 * 20, 20);
        }
        let s = Session::new();
        register(&s, &input, true, 1).await;
        let q = s
            .sql(sql)
            .await
            .unwrap()
            .write_stream()
            .format("delta")
            .output_mode(OutputMode::Complete)
            .trigger(Trigger::AvailableNow)
            .option("checkpoint_location", ckpt.display())
            .start(out.to_str().unwrap())
            .await
            .unwrap();
        q.await_termination().await.unwrap();
        assert!(q.recent_progress().len() >= 3);
        if run == 0 {
            // The last epoch committed to Delta but not to the log: it runs again, and the
            // table's txn marker makes it a no-op.
            drop_last_commit(&ckpt);
        }
    }
    let streamed = rows(&read_delta(&out).await);
    let s = Session::new();
    register(&s, &input, false, 0).await;
    let mut batch = rows(&s.sql(sql).await.unwrap().collect().await.unwrap());
    let mut streamed = streamed;
    streamed.sort();
    batch.sort();
    assert_eq!(streamed, batch);
    assert_eq!(streamed.len(), 3);
}

/// With `live_state` on, a keyed aggregation's live view carries the names the query gives its
/// columns, holds each group's current values as of the last epoch, and answers a key lookup.
#[tokio::test]
async fn an_aggregations_live_view_is_named_by_the_query_and_follows_each_epoch() {
    use std::sync::Arc;

    use arrow::array::{AsArray, Int64Array};
    use arrow::datatypes::Int64Type;
    use datafusion::common::ScalarValue;

    let tmp = tempfile::tempdir().unwrap();
    let s = Session::new();
    s.set_conf(tributary::state::LIVE_STATE_CONF, "true");
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Int64, false),
    ]));
    let stream = tributary::MemoryStream::new("events", schema.clone());
    s.register("events", s.read_stream().memory(&stream).unwrap())
        .unwrap();
    let push = |k: Vec<i64>, v: Vec<i64>| {
        stream
            .push(
                RecordBatch::try_new(
                    schema.clone(),
                    vec![Arc::new(Int64Array::from(k)), Arc::new(Int64Array::from(v))],
                )
                .unwrap(),
            )
            .unwrap();
    };
    push(vec![1, 2, 1], vec![10, 20, 30]);
    let q = s
        .sql("SELECT k, count(*) AS n, sum(v) AS total FROM events GROUP BY k")
        .await
        .unwrap()
        .write_stream()
        .output_mode(OutputMode::Update)
        .query_name("sums")
        .option("checkpoint_location", tmp.path().join("ckpt").display())
        .foreach_batch(|_, _| async { Ok(()) })
        .start("")
        .await
        .unwrap();
    q.process_all_available().await.unwrap();
    let view = q.live_state().pop().unwrap();
    assert_eq!(view.name(), "sums_state");
    let names: Vec<String> = view
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, vec!["k", "n", "total"]);
    assert_eq!(view.key_len(), 1);
    let values = |view: &tributary::state::LiveState| {
        let (_, b) = view.snapshot();
        let mut out: Vec<(i64, i64, i64)> = (0..b.num_rows())
            .map(|i| {
                (
                    b.column(0).as_primitive::<Int64Type>().value(i),
                    b.column(1).as_primitive::<Int64Type>().value(i),
                    b.column(2).as_primitive::<Int64Type>().value(i),
                )
            })
            .collect();
        out.sort();
        out
    };
    assert_eq!(values(&view), vec![(1, 2, 40), (2, 1, 20)]);
    push(vec![2, 3], vec![5, 7]);
    q.process_all_available().await.unwrap();
    assert_eq!(values(&view), vec![(1, 2, 40), (2, 2, 25), (3, 1, 7)]);
    assert_eq!(view.epoch(), Some(q.last_progress().unwrap().batch_id));
    let row = view
        .lookup(&[ScalarValue::Int64(Some(2))])
        .unwrap()
        .unwrap();
    assert_eq!(row.column(2).as_primitive::<Int64Type>().value(0), 25);
    q.stop().await.unwrap();
}
