//! `tributary-bench epochs [EPOCHS] [ROWS_PER_EPOCH ...]`: what an epoch costs that does not
//! scale with its rows. Two queries on local disk read one JSON file per epoch
//! (`max_files_per_trigger` 1): a projection into Delta, and the peers benchmark's tumbling job
//! (1-minute windows per region, count and sum, a 10-minute watermark, append mode) into
//! Parquet. For each size of epoch it prints the median of each part of the query's own
//! progress (`durationMs`, Spark's names; `state` is the operators' `commitTimeMs`), so that the
//! parts that stay the same from 1,000 to 100,000 rows an epoch show as the fixed cost.

use std::time::Instant;

use tributary::prelude::*;

use crate::decode::schema;
use crate::storage::{median, part_median};

const PARTS: [&str; 6] = [
    "latestOffset",
    "walCommit",
    "getBatch",
    "queryPlanning",
    "addBatch",
    "commitOffsets",
];

/// The events of `decode.rs`, one file of `rows` per epoch, in event-time order.
fn write_files(dir: &std::path::Path, epochs: usize, rows: usize) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let all = crate::decode::events(epochs * rows);
    let mut lines = all.split_inclusive(|b| *b == b'\n');
    for e in 0..epochs {
        let file: Vec<u8> = lines.by_ref().take(rows).flatten().copied().collect();
        std::fs::write(dir.join(format!("part-{e:05}.json")), file)?;
    }
    Ok(())
}

async fn measure(
    dir: &std::path::Path,
    query: &str,
    epochs: usize,
    rows: usize,
) -> anyhow::Result<()> {
    let session = Session::new();
    let events = session
        .read_stream()
        .schema(schema())
        .option("max_files_per_trigger", 1)
        .json(dir.join("in").to_str().expect("a UTF-8 path"))
        .await?
        .with_watermark("event_time", "10 minutes")?;
    session.register("events", events)?;
    let (sql, format) = match query {
        "projection" => (
            "SELECT event_time, user_id, lower(region) AS region, amount FROM events",
            "delta",
        ),
        _ => (
            "SELECT w['start'] AS window_start, region, count(*) AS events, sum(amount) AS revenue \
             FROM (SELECT window(event_time, '1 minute') AS w, region, amount FROM events) \
             GROUP BY w, region",
            "parquet",
        ),
    };
    let start = Instant::now();
    let q = session
        .sql(sql)
        .await?
        .write_stream()
        .format(format)
        .trigger(Trigger::AvailableNow)
        .option(
            "checkpoint_location",
            dir.join(format!("ck-{query}")).display(),
        )
        .start(
            dir.join(format!("out-{query}"))
                .to_str()
                .expect("a UTF-8 path"),
        )
        .await?;
    q.await_termination().await?;
    let secs = start.elapsed().as_secs_f64();
    let progress = q.recent_progress();
    anyhow::ensure!(
        progress.iter().map(|p| p.num_input_rows).sum::<u64>() == (epochs * rows) as u64,
        "every row was read"
    );
    let part = |name: &str| part_median(&progress, name);
    let state = median(
        progress
            .iter()
            .map(|p| {
                p.state_operators
                    .iter()
                    .filter_map(|o| o["commitTimeMs"].as_u64())
                    .sum()
            })
            .collect(),
    );
    let parts: Vec<String> = PARTS.iter().map(|p| part(p).to_string()).collect();
    println!(
        "| {query} | {rows} | {} | {} | {state} | {} | {:.0} |",
        progress.len(),
        parts.join(" | "),
        part("triggerExecution"),
        secs * 1e9 / (epochs * rows) as f64,
    );
    Ok(())
}

pub(crate) async fn run(epochs: usize, sizes: &[usize]) -> anyhow::Result<()> {
    println!(
        "epochs benchmark: {epochs} epochs of one JSON file each, local disk; medians in ms; {} cores",
        std::thread::available_parallelism()?.get()
    );
    println!(
        "| query | rows/epoch | epochs | {} | state | epoch | ns/row overall |",
        PARTS.join(" | ")
    );
    println!(
        "|---|---:|---:|{}---:|---:|---:|",
        "---:|".repeat(PARTS.len())
    );
    for &rows in sizes {
        for query in ["projection", "tumbling"] {
            let tmp = tempfile::tempdir()?;
            write_files(&tmp.path().join("in"), epochs, rows)?;
            measure(tmp.path(), query, epochs, rows).await?;
        }
    }
    Ok(())
}
