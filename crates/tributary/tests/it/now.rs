//! `now()` and `current_timestamp()` in a stream: each epoch's planned time (Spark's
//! micro-batch timestamp), wherever the call sits in the query.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use datafusion::common::JoinType;
use datafusion::logical_expr::cast;
use tributary::clock::ManualClock;
use tributary::prelude::*;

use crate::common::*;

fn kv(keys: &[i64]) -> RecordBatch {
    kv_rows(keys, |k| format!("v{k}"))
}

/// A session on a manual clock, at 1,000,000 ms.
fn session_on_a_manual_clock() -> (Session, ManualClock) {
    let session = Session::new();
    let clock = ManualClock::new(1_000_000);
    session.set_clock(Arc::new(clock.clone()));
    (session, clock)
}

/// Run `df` into a memory sink in `mode` for two epochs a minute apart, `push` giving each its
/// rows; the sink's rows, sorted.
async fn two_epochs_a_minute_apart(
    session: &Session,
    clock: &ManualClock,
    df: DataFrame,
    mode: OutputMode,
    push: impl Fn(usize),
) -> Vec<String> {
    let q = df
        .write_stream()
        .format("memory")
        .output_mode(mode)
        .query_name("stamped")
        .trigger(Trigger::ProcessingTime(Duration::from_millis(10)))
        .start("")
        .await
        .unwrap();
    for epoch in 0..2 {
        if epoch == 1 {
            clock.advance(60_000);
        }
        push(epoch);
        q.process_all_available().await.unwrap();
    }
    q.stop().await.unwrap();
    let out = session
        .sql("SELECT * FROM stamped")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    sorted_rows(&out, "|")
}

/// `now()` in a stream is the epoch's planned time, as `current_timestamp()` is a micro-batch's
/// in Spark: each epoch has its own, and the plan with it cannot be prepared once.
#[tokio::test]
async fn now_in_a_stream_is_each_epochs_time() {
    let (session, clock) = session_on_a_manual_clock();
    let stream = MemoryStream::new("kv", kv_schema());
    let df = session
        .read_stream()
        .memory(&stream)
        .unwrap()
        .select(vec![col("k"), cast(now(), DataType::Int64).alias("at")])
        .unwrap();
    let rows = two_epochs_a_minute_apart(&session, &clock, df, OutputMode::Append, |e| {
        let keys: &[i64] = if e == 0 { &[1, 2] } else { &[3] };
        stream.push(kv(keys)).unwrap();
    })
    .await;
    // Timestamps of nanoseconds: the epochs' planned times, in ms.
    assert_eq!(
        rows,
        vec!["1|1000000000000", "2|1000000000000", "3|1060000000000"]
    );
}

#[tokio::test]
async fn now_inside_an_aggregation_is_each_epochs_time() {
    let (session, clock) = session_on_a_manual_clock();
    let stream = MemoryStream::new("kv", kv_schema());
    let df = session
        .read_stream()
        .memory(&stream)
        .unwrap()
        .aggregate(
            vec![col("k")],
            vec![
                max(cast(now(), DataType::Int64)).alias("at"),
                count(lit(1)).alias("n"),
            ],
        )
        .unwrap();
    let rows = two_epochs_a_minute_apart(&session, &clock, df, OutputMode::Update, |e| {
        let keys: &[i64] = if e == 0 { &[1, 2] } else { &[1] };
        stream.push(kv(keys)).unwrap();
    })
    .await;
    assert_eq!(
        rows,
        vec![
            "1|1000000000000|1",
            "1|1060000000000|2",
            "2|1000000000000|1",
        ]
    );
}

#[tokio::test]
async fn now_in_a_stream_stream_joins_condition_is_each_epochs_time() {
    let (session, clock) = session_on_a_manual_clock();
    let (left, right) = (
        MemoryStream::new("left", kv_schema()),
        MemoryStream::new("right", kv_schema()),
    );
    let now_ms = cast(now(), DataType::Int64) / lit(1_000_000i64);
    let df = session
        .read_stream()
        .memory(&left)
        .unwrap()
        .alias("l")
        .unwrap()
        .join_on(
            session
                .read_stream()
                .memory(&right)
                .unwrap()
                .alias("r")
                .unwrap(),
            JoinType::Inner,
            vec![col("l.k").eq(col("r.k")), now_ms.gt_eq(col("l.k"))],
        )
        .unwrap()
        .select(vec![col("l.k"), col("r.v")])
        .unwrap();
    let rows = two_epochs_a_minute_apart(&session, &clock, df, OutputMode::Append, |e| {
        // At 1,000,000 ms a key of 1,030,000 is in the future: no match. A minute later it is
        // not: the second right row meets the stored left one.
        if e == 0 {
            left.push(kv(&[1_030_000])).unwrap();
            right
                .push(kv_rows(&[1_030_000], |_| "early".into()))
                .unwrap();
        } else {
            right
                .push(kv_rows(&[1_030_000], |_| "late".into()))
                .unwrap();
        }
    })
    .await;
    assert_eq!(rows, vec!["1030000|late"]);
}

#[tokio::test]
async fn now_inside_a_sliding_windows_aggregate_is_the_time_of_the_epoch_that_read_the_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let (session, stream) = prices_session();
    let clock = ManualClock::new(1_000_000);
    session.set_clock(Arc::new(clock.clone()));
    let seen = Epochs::default();
    let df = session
        .sql(
            "SELECT CAST(w['start'] AS BIGINT) / 1000 AS start_s, count(*) AS n,
                    max(CAST(now() AS BIGINT)) / 1000 AS at_ms
             FROM (SELECT window(ts, '10 seconds', '4 seconds') AS w, price FROM prices)
             GROUP BY w",
        )
        .await
        .unwrap();
    let q = start_into(df, OutputMode::Append, &tmp.path().join("ckpt"), &seen).await;
    stream.push(prices_at(&[(1, 10), (3, 20)])).unwrap();
    q.process_all_available().await.unwrap();
    clock.advance(60_000);
    // Past the windows of the first rows: they close, with the first epoch's time.
    stream.push(prices_at(&[(30, 5)])).unwrap();
    q.process_all_available().await.unwrap();
    q.stop().await.unwrap();
    assert_eq!(
        emitted_rows(&seen),
        // The first window closes when the first rows' watermark (3 s) passes its end.
        vec![
            "-8|1|1000000".to_string(),
            "-4|2|1000000".to_string(),
            "0|2|1000000".to_string(),
        ]
    );
}
