//! Sliding windows by panes: each row is aggregated once, into its pane; a stream keeps the
//! pane states and merges a window from its panes when it closes (or, on a checkpoint written
//! before, spreads the epoch's pane states over their windows); a row is late only when all
//! its windows are closed.

use tributary::prelude::*;

use crate::common::*;

/// How a test runs the sliding-window stream below.
#[derive(Clone, Copy, PartialEq)]
enum Run {
    /// One query instance.
    Once,
    /// A new query instance on the same checkpoint for each arrival of rows.
    Restarting,
    /// On a checkpoint written before states were kept by pane.
    OldCheckpoint,
}

/// 10-second windows every 4 seconds (panes of 2 seconds; a row is in two or three windows)
/// over three arrivals of rows: the first epoch's stateful progress, the emitted rows (by
/// window start), and the rows dropped behind the watermark.
async fn sliding_windows(run: Run) -> (serde_json::Value, Vec<String>, u64) {
    let tmp = tempfile::tempdir().unwrap();
    let checkpoint = tmp.path().join("ckpt");
    let (session, stream) = prices_session();
    let seen = Epochs::default();
    let df = session
        .sql(
            "SELECT CAST(w['start'] AS BIGINT) / 1000 AS start_s, count(*) AS n, sum(price) AS total
             FROM (SELECT window(ts, '10 seconds', '4 seconds') AS w, price FROM prices)
             GROUP BY w",
        )
        .await
        .unwrap();
    if run == Run::OldCheckpoint {
        // The first start writes the metadata; take out what later versions add to it.
        start_into(df.clone(), OutputMode::Append, &checkpoint, &seen)
            .await
            .stop()
            .await
            .unwrap();
        let path = checkpoint.join("metadata");
        let text = std::fs::read_to_string(&path).unwrap();
        let (version, json) = text.split_once('\n').unwrap();
        let mut meta: serde_json::Value = serde_json::from_str(json).unwrap();
        let conf = meta["conf"].as_object_mut().unwrap();
        // A new checkpoint also names how it places keys in partitions: by their values.
        assert_eq!(
            conf.get("state.partition_hash").and_then(|v| v.as_str()),
            Some("values_v1"),
            "{text}"
        );
        assert!(
            conf.remove("state.aggregate.pane_states").is_some(),
            "{text}"
        );
        std::fs::write(&path, format!("{version}\n{meta}")).unwrap();
        // The recorded shape then named the layout "panes" (a state per window).
        for shape in std::fs::read_dir(checkpoint.join("shapes")).unwrap() {
            let path = shape.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(text.contains("\"pane states\""), "{text}");
            std::fs::write(&path, text.replace("\"pane states\"", "\"panes\"")).unwrap();
        }
    }
    let arrivals = [
        prices_at(&[(1, 1), (2, 1), (3, 1), (5, 2), (21, 1)]),
        // The watermark is then at 21 s: every window of the row at 9 s has ended (at 10, 14
        // and 18 s), so it is dropped; the row at 13 s still counts in [12, 22), and only there.
        prices_at(&[(9, 7), (13, 3), (30, 4)]),
        prices_at(&[(100, 0)]),
    ];
    let mut first = None;
    let mut dropped = 0;
    let mut q = start_into(df.clone(), OutputMode::Append, &checkpoint, &seen).await;
    for rows in arrivals {
        if run == Run::Restarting && first.is_some() {
            q = start_into(df.clone(), OutputMode::Append, &checkpoint, &seen).await;
        }
        stream.push(rows).unwrap();
        q.process_all_available().await.unwrap();
        first.get_or_insert_with(|| q.recent_progress()[0].state_operators[0].clone());
        if run == Run::Restarting {
            q.stop().await.unwrap();
            dropped += dropped_by_watermark(&q);
        }
    }
    if run != Run::Restarting {
        q.stop().await.unwrap();
        dropped = dropped_by_watermark(&q);
    }
    let mut got: Vec<(i64, String)> = emitted_rows(&seen)
        .into_iter()
        .map(|r| (r.split('|').next().unwrap().parse().unwrap(), r))
        .collect();
    got.sort();
    (
        first.unwrap(),
        got.into_iter().map(|(_, r)| r).collect(),
        dropped,
    )
}

/// Each window once, with every row of it not behind the watermark; the row at 9 s dropped.
const SLIDING_ANSWER: [&str; 9] = [
    "-8|1|1", "-4|4|5", "0|4|5", "4|1|2", "12|2|4", "16|1|1", "20|1|1", "24|1|4", "28|1|4",
];

#[tokio::test]
async fn a_sliding_window_keeps_a_state_per_pane_and_drops_a_row_only_when_all_its_windows_closed()
{
    let (first, got, dropped) = sliding_windows(Run::Once).await;
    let panes = &first["customMetrics"]["slidingWindowPanes"];
    assert_eq!(panes["paneMs"], 2000, "{first}");
    assert_eq!(panes["stateKeptBy"], "pane", "{first}");
    // Panes [0,2) [2,4) [4,6) [20,22) hold the five rows, and they are the state (their seven
    // windows, starting at -8, -4, 0, 4, 12, 16 and 20 seconds, are merged when they close).
    assert_eq!(panes["paneStates"], 4, "{first}");
    assert_eq!(first["numRowsTotal"], 4, "{first}");
    assert_eq!(dropped, 1, "the row at 9 s, once");
    assert_eq!(got, SLIDING_ANSWER);
}

#[tokio::test]
async fn pane_states_give_the_same_windows_when_the_query_restarts_between_arrivals() {
    let (first, got, dropped) = sliding_windows(Run::Restarting).await;
    assert_eq!(
        first["customMetrics"]["slidingWindowPanes"]["stateKeptBy"], "pane",
        "{first}"
    );
    assert_eq!(dropped, 1, "the row at 9 s, once");
    assert_eq!(got, SLIDING_ANSWER);
}

#[tokio::test]
async fn a_checkpoint_written_before_pane_states_keeps_a_state_per_window_with_the_same_answer() {
    let (first, got, dropped) = sliding_windows(Run::OldCheckpoint).await;
    let panes = &first["customMetrics"]["slidingWindowPanes"];
    assert_eq!(panes["stateKeptBy"], "window", "{first}");
    // The four panes are spread over their seven windows, which are the state.
    assert_eq!(panes["paneStates"], 4, "{first}");
    assert_eq!(panes["windowStates"], 7, "{first}");
    assert_eq!(first["numRowsTotal"], 7, "{first}");
    assert_eq!(dropped, 1, "the row at 9 s, once");
    assert_eq!(got, SLIDING_ANSWER);
}

/// In a batch, the aggregation of a sliding window runs over panes (the plan shows the merge
/// of pane states into windows), with the answer the per-row windows give: exact distinct counts merge their
/// pane sets, and a row without an event time has one NULL window.
#[tokio::test]
async fn a_batch_aggregates_a_sliding_window_by_panes_with_the_same_answer() {
    use arrow::array::{Int64Array, RecordBatch, TimestampMillisecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use std::sync::Arc;
    let session = Session::new();
    let schema = Arc::new(Schema::new(vec![
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        Field::new("price", DataType::Int64, false),
    ]));
    let rows = [
        (Some(1), 1),
        (Some(2), 1),
        (Some(3), 2),
        (Some(5), 2),
        (Some(21), 1),
        (None, 5),
    ];
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(TimestampMillisecondArray::from(
                rows.iter()
                    .map(|r| r.0.map(|s| s * 1000))
                    .collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap();
    session.context().register_batch("prices", batch).unwrap();
    let df = session
        .sql(
            "SELECT CAST(w['start'] AS BIGINT) / 1000 AS start_s, count(*) AS n,
                    count(DISTINCT price) AS prices
             FROM (SELECT window(ts, '10 seconds', '4 seconds') AS w, price FROM prices)
             GROUP BY w",
        )
        .await
        .unwrap();
    let plan = df.clone().create_physical_plan().await.unwrap();
    let shown = datafusion::physical_plan::displayable(plan.as_ref())
        .indent(true)
        .to_string();
    assert!(shown.contains("PaneMergeExec"), "{shown}");
    assert!(!shown.contains("UnnestExec"), "{shown}");
    let out = df.collect().await.unwrap();
    assert_eq!(
        sorted_rows(&out, "|"),
        // The row without a time has no window (as in Spark).
        vec!["-4|4|2", "-8|1|1", "0|4|2", "12|1|1", "16|1|1", "20|1|1", "4|1|1"]
    );
    // A filter that reads the window keeps the per-row windows: the same answer.
    let per_row = session
        .sql(
            "SELECT CAST(w['start'] AS BIGINT) / 1000 AS start_s, count(*) AS n,
                    count(DISTINCT price) AS prices
             FROM (SELECT window(ts, '10 seconds', '4 seconds') AS w, price FROM prices)
             WHERE w IS NULL OR w['start'] IS NOT NULL
             GROUP BY w",
        )
        .await
        .unwrap();
    let plan = per_row.clone().create_physical_plan().await.unwrap();
    let shown = datafusion::physical_plan::displayable(plan.as_ref())
        .indent(true)
        .to_string();
    assert!(!shown.contains("PaneMergeExec"), "{shown}");
    assert_eq!(
        sorted_rows(&per_row.collect().await.unwrap(), "|"),
        sorted_rows(&out, "|")
    );
}

/// The sum of a metric over a plan's operators named `name`.
fn metric_of(plan: &dyn datafusion::physical_plan::ExecutionPlan, name: &str) -> usize {
    let own = if plan.name() == name {
        plan.metrics().and_then(|m| m.spill_count()).unwrap_or(0)
    } else {
        0
    };
    own + plan
        .children()
        .into_iter()
        .map(|c| metric_of(c.as_ref(), name))
        .sum::<usize>()
}

/// A batch's pane states arriving out of time order, merged into their windows in memory and,
/// held to a small memory limit, from sorted runs on disk: both give the answer of the plan that
/// puts every row in each of its windows (many keys, NULL times, an uneven slide).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_merges_out_of_order_panes_from_memory_and_from_disk_with_the_per_row_answer() {
    use tributary::memory::MemoryLimit;
    let query = |filter: &str| {
        format!(
            "SELECT CAST(w['start'] AS BIGINT) AS s, CAST(w['end'] AS BIGINT) AS e, k,
                    count(*) AS n, count(DISTINCT u) AS users, sum(u) AS total
             FROM (SELECT window(ts, '5 minutes', '2 minutes') AS w, k, u FROM (
                     SELECT CASE WHEN value % 997 = 0 THEN NULL
                                 ELSE to_timestamp_millis(((value * 7919) % 200003) * 1500) END AS ts,
                            value % 13 AS k, (value * 31) % 5003 AS u
                     FROM generate_series(1, 400000)))
             {filter}
             GROUP BY w, k"
        )
    };
    let per_row = Session::new();
    let want = per_row
        .sql(&query("WHERE w IS NULL OR w['start'] IS NOT NULL"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let want = sorted_rows(&want, "|");
    assert!(want.len() > 10_000, "{}", want.len());
    for limit in [MemoryLimit::Unbounded, MemoryLimit::Bytes(6 << 20)] {
        let session = Session::new();
        session.set_memory_limit(limit).unwrap();
        let df = session.sql(&query("")).await.unwrap();
        let plan = df.create_physical_plan().await.unwrap();
        let got = datafusion::physical_plan::collect(plan.clone(), session.context().task_ctx())
            .await
            .unwrap();
        assert_eq!(sorted_rows(&got, "|"), want, "{limit:?}");
        let spills = metric_of(plan.as_ref(), "PaneMergeExec");
        if limit == MemoryLimit::Unbounded {
            assert_eq!(spills, 0);
        } else {
            assert!(spills > 1, "the merge wrote {spills} runs under {limit:?}");
        }
    }
}

/// Fewer keys than partitions: a partition of the merge gets no pane at all, and a distinct or
/// ordered aggregate (whose state is a list) must still give the per-row answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_sliding_windows_with_fewer_keys_than_partitions_merges_every_aggregate() {
    let query = |filter: &str| {
        format!(
            "SELECT CAST(w['start'] AS BIGINT) AS s, k, count(*) AS n, count(DISTINCT u) AS users,
                    array_agg(DISTINCT u ORDER BY u) AS us, string_agg(CAST(u AS VARCHAR), ',' ORDER BY u) AS listed
             FROM (SELECT window(ts, '5 minutes', '1 minute') AS w, k, u FROM (
                     SELECT to_timestamp_millis(value * 60000) AS ts, 'eu' AS k, value % 2 AS u
                     FROM generate_series(1, 2)))
             {filter}
             GROUP BY w, k"
        )
    };
    let session = Session::new();
    let want = session
        .sql(&query("WHERE w IS NULL OR w['start'] IS NOT NULL"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let want = sorted_rows(&want, "|");
    assert_eq!(want.len(), 6, "{want:?}");
    let got = session
        .sql(&query(""))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(sorted_rows(&got, "|"), want);
}
