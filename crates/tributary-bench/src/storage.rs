//! `tributary-bench storage [EPOCHS] [ROWS_PER_EPOCH]`: the same streaming query — JSON files in,
//! Delta out, checkpoint beside it — with every location on local disk, in an S3-compatible
//! server (moto) and in Azurite, each started on 127.0.0.1 by `scripts/storage_servers.sh`.
//! Prints epochs per second and the median time of each part of an epoch (listing the new
//! files, the write-ahead offsets, running and committing to Delta, the commit record).

use std::time::Instant;

use tributary::location::Location;
use tributary::prelude::*;
use tributary::storage::StorageOptions;

#[path = "../../tributary/tests/support/storage_server.rs"]
mod storage_server;
use storage_server::{Kind, StorageServer};

fn schema() -> SchemaRef {
    std::sync::Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("region", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
    ]))
}

fn file(epoch: usize, rows: usize) -> String {
    (0..rows)
        .map(|i| {
            let id = epoch * rows + i;
            format!(
                "{{\"id\":{id},\"region\":\"r{}\",\"amount\":{}.5}}\n",
                id % 7,
                id % 100
            )
        })
        .collect()
}

pub(crate) fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// The median of one `durationMs` part over a query's epochs.
pub(crate) fn part_median(progress: &[tributary::StreamingQueryProgress], name: &str) -> u64 {
    median(
        progress
            .iter()
            .filter_map(|p| p.duration_ms.get(name).copied())
            .collect(),
    )
}

/// One run: upload the files, stream them one per epoch into Delta; (epochs/s, medians).
async fn measure(
    label: &str,
    root: &str,
    options: &[(String, String)],
    epochs: usize,
    rows: usize,
) -> anyhow::Result<()> {
    let mut store = StorageOptions::new();
    for (k, v) in options {
        store.set(k, v)?;
    }
    let input = Location::resolve_with(&format!("{root}/in"), &store)?;
    input.ensure_dir()?;
    for e in 0..epochs {
        input
            .write(&format!("part-{e:05}.json"), file(e, rows).into_bytes())
            .await?;
    }
    let session = Session::new();
    for (k, v) in options {
        session.set_storage_option(k, v)?;
    }
    let start = Instant::now();
    let q = session
        .read_stream()
        .schema(schema())
        .option("max_files_per_trigger", 1)
        .json(&format!("{root}/in"))
        .await?
        .write_stream()
        .format("delta")
        .trigger(Trigger::AvailableNow)
        .option("checkpoint_location", format!("{root}/ck"))
        .start(&format!("{root}/out"))
        .await?;
    q.await_termination().await?;
    let secs = start.elapsed().as_secs_f64();
    let progress = q.recent_progress();
    let part = |name: &str| part_median(&progress, name);
    println!(
        "| {label} | {epochs} | {:.1} | {} | {} | {} | {} | {} |",
        epochs as f64 / secs,
        part("latestOffset"),
        part("walCommit"),
        part("addBatch"),
        part("commitOffsets"),
        part("triggerExecution"),
    );
    Ok(())
}

/// The benchmark over local disk, moto and Azurite.
pub(crate) async fn run(epochs: usize, rows: usize) -> anyhow::Result<()> {
    println!(
        "storage benchmark: {epochs} epochs of {rows} JSON rows (one file each), JSON -> Delta, \
         checkpoint in the same store; {} cores",
        std::thread::available_parallelism()?.get()
    );
    println!("| store | epochs | epochs/s | list ms | offsets ms | run + Delta commit ms | commit record ms | epoch ms |");
    println!("|---|---|---|---|---|---|---|---|");
    let tmp = tempfile::tempdir()?;
    measure(
        "local disk",
        tmp.path().to_str().expect("a UTF-8 path"),
        &[],
        epochs,
        rows,
    )
    .await?;
    for kind in Kind::ALL {
        // Servers are started here, off the tokio workers (they wait with a deadline).
        let server = tokio::task::spawn_blocking(move || StorageServer::start(kind)).await?;
        let label = match kind {
            Kind::S3 => "S3 (moto server)",
            Kind::Azure => "Azure (Azurite)",
            Kind::Gcs => unreachable!("not among the servers that take writes"),
        };
        measure(label, &server.url("bench"), &server.options(), epochs, rows).await?;
        tokio::task::spawn_blocking(move || drop(server)).await?;
    }
    Ok(())
}
