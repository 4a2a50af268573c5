//! Sliding windows by panes: each row is aggregated once, into its pane, and the epoch's pane
//! states are spread over their windows; a row is late only when all its windows are closed.

use tributary::prelude::*;

use crate::common::*;

#[tokio::test]
async fn a_sliding_window_aggregates_each_row_once_into_its_pane_and_drops_a_row_only_when_all_its_windows_closed(
) {
    let tmp = tempfile::tempdir().unwrap();
    let (session, stream) = prices_session();
    let seen = Epochs::default();
    // 10-second windows every 4 seconds: panes of 2 seconds; a row is in two or three windows.
    let df = session
        .sql(
            "SELECT CAST(w['start'] AS BIGINT) / 1000 AS start_s, count(*) AS n, sum(price) AS total
             FROM (SELECT window(ts, '10 seconds', '4 seconds') AS w, price FROM prices)
             GROUP BY w",
        )
        .await
        .unwrap();
    let q = start_into(df, OutputMode::Append, &tmp.path().join("ckpt"), &seen).await;
    stream
        .push(prices_at(&[(1, 1), (2, 1), (3, 1), (5, 2), (21, 1)]))
        .unwrap();
    q.process_all_available().await.unwrap();
    let first = q.recent_progress()[0].state_operators[0].clone();
    let panes = &first["customMetrics"]["slidingWindowPanes"];
    assert_eq!(panes["paneMs"], 2000, "{first}");
    // Panes [0,2) [2,4) [4,6) [20,22) hold the five rows; their windows start at -8, -4, 0,
    // 4, 12, 16 and 20 seconds.
    assert_eq!(panes["paneStates"], 4, "{first}");
    assert_eq!(panes["windowStates"], 7, "{first}");
    // The watermark is at 21 s: every window of the row at 9 s has ended (at 10, 14 and 18 s),
    // so it is dropped; the row at 13 s still counts in [12, 22), and only there.
    stream.push(prices_at(&[(9, 7), (13, 3), (30, 4)])).unwrap();
    q.process_all_available().await.unwrap();
    stream.push(prices_at(&[(100, 0)])).unwrap();
    q.process_all_available().await.unwrap();
    q.stop().await.unwrap();
    assert_eq!(dropped_by_watermark(&q), 1, "the row at 9 s, once");
    let mut got: Vec<(i64, String)> = emitted_rows(&seen)
        .into_iter()
        .map(|r| (r.split('|').next().unwrap().parse().unwrap(), r))
        .collect();
    got.sort();
    let got: Vec<String> = got.into_iter().map(|(_, r)| r).collect();
    assert_eq!(
        got,
        vec![
            "-8|1|1", "-4|4|5", "0|4|5", "4|1|2", "12|2|4", "16|1|1", "20|1|1", "24|1|4", "28|1|4"
        ]
    );
}

/// In a batch, the aggregation of a sliding window runs over panes (the plan shows the spread
/// of pane states), with the answer the per-row windows give: exact distinct counts merge their
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
    assert!(shown.contains("PaneSpreadExec"), "{shown}");
    assert!(!shown.contains("UnnestExec"), "{shown}");
    let out = df.collect().await.unwrap();
    assert_eq!(
        sorted_rows(&out, "|"),
        vec!["-4|4|2", "-8|1|1", "0|4|2", "12|1|1", "16|1|1", "20|1|1", "4|1|1", "NULL|1|1"]
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
    assert!(!shown.contains("PaneSpreadExec"), "{shown}");
    assert_eq!(
        sorted_rows(&per_row.collect().await.unwrap(), "|"),
        sorted_rows(&out, "|")
    );
}
