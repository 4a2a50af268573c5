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
    assert!(err.contains("Top-N") && err.contains("'update'"), "{err}");
}
