//! Stream versus batch: for a set of queries and data, the stream's output over random epoch
//! splits, with a restart at a random epoch, equals the batch output.

use tributary::prelude::*;
use tributary::{compare_batches, Comparison};

use crate::common::*;

const QUERIES: &[&str] = &[
    "SELECT id, user_id, lower(region) AS region, amount * 2 AS double_amount FROM events WHERE user_id IS NOT NULL",
    "SELECT id, CAST(amount AS INT) AS whole, concat(region, '-', CAST(user_id AS VARCHAR)) AS k FROM events WHERE amount > 20",
    "SELECT id, unnest(string_to_array(tags, ',')) AS tag FROM events",
    "SELECT e.id, r.country FROM events e LEFT JOIN regions r ON lower(e.region) = r.region",
    "SELECT e.id, r.country FROM events e JOIN regions r ON lower(e.region) = r.region WHERE e.id % 2 = 0",
    "SELECT id, CASE WHEN amount > 50 THEN 'big' ELSE 'small' END AS size, abs(amount - 50) AS d FROM events",
];

async fn batch_answer(
    sql: &str,
    input: &std::path::Path,
    csv: &std::path::Path,
) -> Vec<arrow::array::RecordBatch> {
    let s = Session::new();
    s.register(
        "events",
        s.read()
            .schema(event_schema())
            .json(input.to_str().unwrap())
            .await
            .unwrap(),
    )
    .unwrap();
    s.register(
        "regions",
        s.read().csv(csv.to_str().unwrap()).await.unwrap(),
    )
    .unwrap();
    s.sql(sql).await.unwrap().collect().await.unwrap()
}

async fn stream_run(
    sql: &str,
    input: &std::path::Path,
    csv: &std::path::Path,
    out: &std::path::Path,
    ckpt: &std::path::Path,
    max_files: u64,
    trigger: Trigger,
) -> usize {
    let s = Session::new();
    let events = s
        .read_stream()
        .schema(event_schema())
        .option("max_files_per_trigger", max_files)
        .json(input.to_str().unwrap())
        .await
        .unwrap();
    s.register("events", events).unwrap();
    s.register(
        "regions",
        s.read().csv(csv.to_str().unwrap()).await.unwrap(),
    )
    .unwrap();
    let q = s
        .sql(sql)
        .await
        .unwrap()
        .write_stream()
        .format("parquet")
        .trigger(trigger)
        .option("checkpoint_location", ckpt.display())
        .start(out.to_str().unwrap())
        .await
        .unwrap();
    q.await_termination().await.unwrap();
    q.recent_progress().len()
}

#[tokio::test]
async fn stream_equals_batch_over_random_epoch_splits_and_restarts() {
    let mut rng = Lcg(0x7ab);
    for (qi, sql) in QUERIES.iter().enumerate() {
        for round in 0..2 {
            let tmp = tempfile::tempdir().unwrap();
            let (input, out, ckpt) = (
                tmp.path().join("in"),
                tmp.path().join("out"),
                tmp.path().join("ckpt"),
            );
            let csv = regions_csv(&tmp.path().join("dim"));
            let files = 3 + rng.next(6) as i64;
            let mut next_id = 0;
            for f in 0..files {
                let n = 1 + rng.next(15) as i64;
                write_events(&input, &format!("f{f:02}.json"), next_id, n);
                next_id += n;
            }
            let max_files = 1 + rng.next(3);
            // A restart at a random epoch: run a few `Once` epochs, then finish with AvailableNow.
            let stops = rng.next(3);
            for _ in 0..stops {
                stream_run(sql, &input, &csv, &out, &ckpt, max_files, Trigger::Once).await;
            }
            stream_run(
                sql,
                &input,
                &csv,
                &out,
                &ckpt,
                max_files,
                Trigger::AvailableNow,
            )
            .await;
            let streamed = Session::new()
                .read()
                .parquet(out.to_str().unwrap())
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
            let batch = batch_answer(sql, &input, &csv).await;
            match compare_batches(&batch, &streamed).unwrap() {
                Comparison::Identical { rows } => {
                    assert!(rows > 0 || qi == 4, "query {qi} produced rows")
                }
                other => panic!(
                    "query {qi} round {round} (max_files {max_files}, restarts {stops}): {other:?}"
                ),
            }
        }
    }
}
