//! `tributary-bench delta [COMMITS] [ROWS_PER_COMMIT]`: appending to Delta one commit per
//! epoch (each epoch one second of a steady event stream), commit latency, file count before
//! and after `optimize`; then MERGE throughput of an update-mode aggregation.

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use tributary::location::Location;
use tributary::prelude::*;
use tributary::{maintenance, MemoryStream, StreamingQuery};

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("key", DataType::Int64, false),
        Field::new("region", DataType::Utf8, false),
        Field::new("amount", DataType::Float64, false),
    ]))
}

fn batch(first: i64, rows: usize, keys: i64) -> RecordBatch {
    let ids: Vec<i64> = (first..first + rows as i64).collect();
    let regions = ["emea", "amer", "apac", "latam"];
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(ids.iter().copied())),
            Arc::new(Int64Array::from_iter_values(
                ids.iter().map(|i| (i * 7919) % keys),
            )),
            Arc::new(StringArray::from_iter_values(
                ids.iter().map(|i| regions[(i % 4) as usize]),
            )),
            Arc::new(Float64Array::from_iter_values(
                ids.iter().map(|i| (i % 100) as f64 + 0.5),
            )),
        ],
    )
    .expect("batch")
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Push one batch per epoch and wait for each epoch; the `addBatch` (sink commit) times, and
/// the sum of the epochs' whole times (without the trigger's idle wait between epochs).
async fn drive(
    stream: &MemoryStream,
    q: &StreamingQuery,
    epochs: usize,
    rows: usize,
    keys: i64,
) -> anyhow::Result<(Vec<u64>, u64)> {
    let mut commit_ms = Vec::with_capacity(epochs);
    let mut epoch_ms = 0;
    for e in 0..epochs {
        stream.push(batch((e * rows) as i64, rows, keys))?;
        loop {
            if let Some(p) = q.last_progress() {
                if p.batch_id == e as u64 {
                    commit_ms.push(p.duration_ms.get("addBatch").copied().unwrap_or(0));
                    epoch_ms += p.duration_ms.get("triggerExecution").copied().unwrap_or(0);
                    break;
                }
            }
            anyhow::ensure!(
                q.exception().is_none(),
                "stream failed: {:?}",
                q.exception()
            );
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }
    q.stop().await?;
    Ok((commit_ms, epoch_ms))
}

pub(crate) async fn run(commits: usize, rows: usize) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    // 1. Appends: one commit per epoch.
    let session = Session::new();
    let stream = MemoryStream::new("events", schema());
    let out = tmp.path().join("append");
    let q = session
        .read_stream()
        .memory(&stream)?
        .write_stream()
        .format("delta")
        .option("checkpoint_location", tmp.path().join("ck1").display())
        .start(out.to_str().unwrap())
        .await?;
    let t = Instant::now();
    let (mut commit_ms, epoch_ms) = drive(&stream, &q, commits, rows, 1_000_000).await?;
    let secs = t.elapsed().as_secs_f64();
    commit_ms.sort_unstable();
    let location = Location::resolve(out.to_str().unwrap())?;
    let before = maintenance::describe(&location).await?;
    let t = Instant::now();
    let report = maintenance::optimize(&location, None).await?;
    let optimize_secs = t.elapsed().as_secs_f64();
    println!(
        "delta append: {commits} commits x {rows} rows, {} cores",
        std::thread::available_parallelism()?.get()
    );
    println!(
        "  throughput          : {:>12.0} rows/s of epoch time ({:.1} s in epochs, {secs:.1} s wall with the trigger's idle polls)",
        (commits * rows) as f64 / (epoch_ms as f64 / 1000.0),
        epoch_ms as f64 / 1000.0
    );
    println!(
        "  commit latency (ms) : p50 {}  p99 {}  max {}",
        percentile(&commit_ms, 0.5),
        percentile(&commit_ms, 0.99),
        commit_ms.last().copied().unwrap_or(0)
    );
    println!(
        "  files               : {} before optimize, {} after ({:.1} s, version {:?})",
        before.num_files, report.files_after, optimize_secs, report.version
    );
    // 2. MERGE: an update-mode aggregation over 100K keys into a live table.
    let session = Session::new();
    let stream = MemoryStream::new("events", schema());
    session.register("events", session.read_stream().memory(&stream)?)?;
    let merges = (commits / 10).max(10);
    let merge_rows = rows * 10;
    let keys = 100_000;
    let q = session
        .sql("SELECT key, count(*) AS n, sum(amount) AS total FROM events GROUP BY key")
        .await?
        .write_stream()
        .format("delta")
        .output_mode(OutputMode::Update)
        .option("checkpoint_location", tmp.path().join("ck2").display())
        .start(tmp.path().join("merge").to_str().unwrap())
        .await?;
    let t = Instant::now();
    let (mut merge_ms, epoch_ms) = drive(&stream, &q, merges, merge_rows, keys).await?;
    let secs = t.elapsed().as_secs_f64();
    merge_ms.sort_unstable();
    // The live table must hold every key with every row counted once.
    let check = Session::new();
    check.register(
        "live",
        check
            .read()
            .delta(tmp.path().join("merge").to_str().unwrap())
            .await?,
    )?;
    let totals = check
        .sql("SELECT count(*) AS keys, CAST(sum(n) AS BIGINT) AS rows FROM live")
        .await?
        .collect()
        .await?;
    let history = maintenance::history(
        &Location::resolve(tmp.path().join("merge").to_str().unwrap())?,
        Some(3),
    )
    .await?;
    println!("delta merge (update mode, {keys} keys): {merges} epochs x {merge_rows} rows");
    println!(
        "  live table          : {}  last commit {}",
        arrow::util::pretty::pretty_format_batches(&totals)?
            .to_string()
            .lines()
            .nth(3)
            .unwrap_or_default(),
        history
            .first()
            .and_then(|h| h.get("operationMetrics"))
            .map(|m| m.to_string())
            .unwrap_or_default()
    );
    println!(
        "  throughput          : {:>12.0} input rows/s of epoch time ({:.1} s in epochs, {secs:.1} s wall)",
        (merges * merge_rows) as f64 / (epoch_ms as f64 / 1000.0),
        epoch_ms as f64 / 1000.0
    );
    println!(
        "  MERGE latency (ms)  : p50 {}  p99 {}",
        percentile(&merge_ms, 0.5),
        percentile(&merge_ms, 0.99)
    );
    Ok(())
}
