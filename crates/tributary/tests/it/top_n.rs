//! Streaming Top-N: `ROW_NUMBER() OVER (PARTITION BY k ORDER BY x) <= N` keeps the best N rows
//! of each key across epochs and restarts, and emits only the rank slots an epoch changed.

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch};
use tributary::prelude::*;

use crate::common::*;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("price", DataType::Int64, false),
        Field::new("t", DataType::Int64, false),
    ]))
}

fn bids(rows: &[(i64, i64, i64)]) -> RecordBatch {
    let col = |f: fn(&(i64, i64, i64)) -> i64| {
        Arc::new(Int64Array::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    RecordBatch::try_new(schema(), vec![col(|r| r.0), col(|r| r.1), col(|r| r.2)]).unwrap()
}

const TOP_TWO: &str = "SELECT k, price, t, rn FROM (
    SELECT *, row_number() OVER (PARTITION BY k ORDER BY price DESC) AS rn FROM bids
) WHERE rn <= 2";

/// Run one available-now query over `stream` on `ckpt`; returns each epoch's emitted rows.
async fn run(
    stream: &MemoryStream,
    ckpt: &std::path::Path,
    mode: OutputMode,
) -> tributary::Result<Vec<Vec<String>>> {
    let session = Session::new();
    session.register("bids", session.read_stream().memory(stream)?)?;
    let seen = Epochs::default();
    let q = session
        .sql(TOP_TWO)
        .await?
        .write_stream()
        .output_mode(mode)
        .option("checkpoint_location", ckpt.to_str().unwrap())
        .trigger(Trigger::AvailableNow)
        .foreach_batch(keep_epochs(&seen))
        .start("")
        .await?;
    q.await_termination().await?;
    let epochs = seen.lock().unwrap();
    Ok(epochs.values().map(|b| sorted_rows(b, "|")).collect())
}

#[tokio::test]
async fn each_epoch_emits_the_rank_slots_it_changed_across_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let ckpt = tmp.path().join("ckpt");
    let stream = MemoryStream::new("bids", schema());
    stream
        .push(bids(&[(1, 10, 1), (1, 30, 2), (2, 5, 3)]))
        .unwrap();
    assert_eq!(
        run(&stream, &ckpt, OutputMode::Update).await.unwrap(),
        vec![vec!["1|10|1|2", "1|30|2|1", "2|5|3|1"]]
    );
    // 20 takes the second slot of key 1 from 10; the first slot does not change.
    stream.push(bids(&[(1, 20, 4)])).unwrap();
    assert_eq!(
        run(&stream, &ckpt, OutputMode::Update).await.unwrap(),
        vec![vec!["1|20|4|2"]]
    );
    // After a restart: 40 takes the first slot and 30 moves down; 25 does not make the top
    // two; an equal price ranks after the row that held it first; a new key gets its first slot.
    stream
        .push(bids(&[(1, 40, 5), (1, 25, 6), (2, 5, 7), (3, 1, 8)]))
        .unwrap();
    assert_eq!(
        run(&stream, &ckpt, OutputMode::Update).await.unwrap(),
        vec![vec!["1|30|2|2", "1|40|5|1", "2|5|7|2", "3|1|8|1"]]
    );
}

#[tokio::test]
async fn a_top_n_in_append_mode_is_refused_with_the_mode_that_works() {
    let tmp = tempfile::tempdir().unwrap();
    let stream = MemoryStream::new("bids", schema());
    stream.push(bids(&[(1, 10, 1)])).unwrap();
    let err = run(&stream, &tmp.path().join("ckpt"), OutputMode::Append)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("replaces rows it already emitted"), "{err}");
}

#[tokio::test]
async fn a_top_n_without_partition_by_ranks_the_whole_stream() {
    let tmp = tempfile::tempdir().unwrap();
    let stream = MemoryStream::new("bids", schema());
    let session = Session::new();
    session
        .register("bids", session.read_stream().memory(&stream).unwrap())
        .unwrap();
    let seen = Epochs::default();
    let q = session
        .sql("SELECT price, rn FROM (SELECT price, row_number() OVER (ORDER BY price DESC) AS rn FROM bids) WHERE rn <= 2")
        .await
        .unwrap();
    let q = start_into(q, OutputMode::Update, &tmp.path().join("ckpt"), &seen).await;
    stream
        .push(bids(&[(1, 10, 1), (2, 30, 2), (3, 20, 3)]))
        .unwrap();
    q.process_all_available().await.unwrap();
    stream.push(bids(&[(4, 25, 4), (5, 5, 5)])).unwrap();
    q.process_all_available().await.unwrap();
    q.stop().await.unwrap();
    let epochs: Vec<Vec<String>> = seen
        .lock()
        .unwrap()
        .values()
        .map(|b| sorted_rows(b, "|"))
        .filter(|rows| !rows.is_empty())
        .collect();
    assert_eq!(epochs, vec![vec!["20|2", "30|1"], vec!["25|2"]]);
}

#[tokio::test]
async fn an_update_sink_needs_every_partition_column_even_with_one_row_per_key() {
    let tmp = tempfile::tempdir().unwrap();
    let stream = MemoryStream::new("bids", schema());
    let session = Session::new();
    session
        .register("bids", session.read_stream().memory(&stream).unwrap())
        .unwrap();
    // PARTITION BY k, t but the output has k and the rank only: rows of different t would
    // overwrite each other in the table.
    let err = session
        .sql("SELECT k, rn, price FROM (SELECT *, row_number() OVER (PARTITION BY k, t ORDER BY price) AS rn FROM bids) WHERE rn = 1")
        .await
        .unwrap()
        .write_stream()
        .format("delta")
        .output_mode(OutputMode::Update)
        .option("checkpoint_location", tmp.path().join("ckpt").to_str().unwrap())
        .start(tmp.path().join("out").to_str().unwrap())
        .await;
    let err = match err {
        Ok(_) => panic!("the query started"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("1 of the 2 grouping keys are not in the query's output"),
        "{err}"
    );
}

#[tokio::test]
async fn a_windowed_top_n_in_append_mode_emits_each_closed_window_once_and_drops_late_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let (session, stream) = prices_session();
    let seen = Epochs::default();
    let df = session
        .sql(
            "SELECT CAST(w['start'] AS BIGINT) / 1000 AS start_s, price, rn FROM (
                SELECT w, price, row_number() OVER (PARTITION BY w ORDER BY price DESC) AS rn
                FROM (SELECT window(ts, '1 minute') AS w, price FROM prices)
             ) WHERE rn <= 2",
        )
        .await
        .unwrap();
    let q = start_into(df, OutputMode::Append, &tmp.path().join("ckpt"), &seen).await;
    // Window [0, 60 s): 10, 30, 20; window [60 s, 120 s): 5. Then a row at 130 s moves the
    // watermark past the first window, and a row of the first window comes late.
    stream
        .push(prices_at(&[(1, 10), (2, 30), (3, 20), (61, 5)]))
        .unwrap();
    q.process_all_available().await.unwrap();
    stream.push(prices_at(&[(130, 1)])).unwrap();
    q.process_all_available().await.unwrap();
    stream.push(prices_at(&[(4, 99), (131, 2)])).unwrap();
    q.process_all_available().await.unwrap();
    q.stop().await.unwrap();
    let emitted = emitted_rows(&seen);
    // The first window's final top two, once; its late 99 is not among them. The second
    // window closes when the watermark passes 120 s (after the row at 130 s).
    assert_eq!(emitted, vec!["0|20|2", "0|30|1", "60|5|1"]);
    assert_eq!(dropped_by_watermark(&q), 1);
}
