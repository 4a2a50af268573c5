//! `tributary-bench write [ROWS]`: the same Arrow batches (the peers benchmark's events,
//! decoded) written into a new Delta table by deltalake's own writer and by Tributary, as a
//! batch (`df.write().format("delta")`) and as a stream of one epoch (a memory stream, trigger
//! AvailableNow, checkpoint and commit log included); and into Parquet by the parquet crate's
//! `ArrowWriter` (with the same ZSTD compression) and by Tributary's files sink (batch). Prints each one's best of three runs
//! and the ratios to the library's own writer.

use std::time::Instant;

use arrow::array::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use tributary::prelude::*;
use tributary::MemoryStream;

/// The events of `decode.rs`, decoded into batches of 8,192 rows.
fn batches(rows: usize) -> anyhow::Result<(SchemaRef, Vec<RecordBatch>)> {
    let schema = crate::decode::schema();
    let data = crate::decode::events(rows);
    let batches = arrow::json::ReaderBuilder::new(schema.clone())
        .with_batch_size(8192)
        .build(std::io::Cursor::new(data))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok((schema, batches))
}

async fn deltalake_alone(dir: &std::path::Path, batches: &[RecordBatch]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let url = url_of(dir)?;
    let table = deltalake::DeltaTableBuilder::from_url(url)?.build()?;
    table.write(batches.to_vec()).await?;
    Ok(())
}

fn url_of(dir: &std::path::Path) -> anyhow::Result<url::Url> {
    url::Url::from_directory_path(dir).map_err(|()| anyhow::anyhow!("{} is no path", dir.display()))
}

async fn tributary_batch(
    dir: &std::path::Path,
    format: &str,
    batches: &[RecordBatch],
) -> anyhow::Result<()> {
    let session = Session::new();
    let df = session.context().read_batches(batches.to_vec())?;
    df.write()
        .format(format)
        .save(dir.to_str().unwrap())
        .await?;
    Ok(())
}

async fn tributary_stream(
    dir: &std::path::Path,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> anyhow::Result<()> {
    let session = Session::new();
    let stream = MemoryStream::new("events", schema.clone());
    for b in batches {
        stream.push(b.clone())?;
    }
    let q = session
        .read_stream()
        .memory(&stream)?
        .write_stream()
        .format("delta")
        .trigger(Trigger::AvailableNow)
        .option("checkpoint_location", dir.join("_checkpoint").display())
        .start(dir.join("table").to_str().unwrap())
        .await?;
    q.await_termination().await?;
    Ok(())
}

fn parquet_alone(
    dir: &std::path::Path,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let file = std::fs::File::create(dir.join("part-0.parquet"))?;
    // The compression Tributary's files sink writes with.
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(props))?;
    for b in batches {
        writer.write(b)?;
    }
    writer.close()?;
    Ok(())
}

/// Rows of the Delta table or Parquet folder at `dir`, read back by Tributary.
async fn rows_in(dir: &std::path::Path, format: &str) -> anyhow::Result<usize> {
    let session = Session::new();
    let df = session
        .read()
        .format(format)
        .load(dir.to_str().unwrap())
        .await?;
    Ok(df.count().await?)
}

#[derive(Clone, Copy)]
enum Writer {
    Deltalake,
    Batch,
    Stream,
    Parquet,
}

/// Each writer, its name in the table and its format; the library's own writer of a format
/// comes first (the ratios are against it).
const WRITERS: [(Writer, &str, &str); 5] = [
    (Writer::Deltalake, "deltalake write", "delta"),
    (Writer::Batch, "tributary batch", "delta"),
    (Writer::Stream, "tributary stream, one epoch", "delta"),
    (Writer::Parquet, "parquet ArrowWriter", "parquet"),
    (Writer::Batch, "tributary batch", "parquet"),
];

pub(crate) async fn run(rows: usize) -> anyhow::Result<()> {
    let (schema, batches) = batches(rows)?;
    let tmp = tempfile::tempdir()?;
    let mut runs = 0;
    let mut fresh = |name: &str| {
        runs += 1;
        tmp.path().join(format!("{name}-{runs}"))
    };
    let mut results: Vec<(&str, &str, f64)> = Vec::new();
    for _ in 0..3 {
        let mut time = |engine, format, secs: f64| match results
            .iter_mut()
            .find(|r| r.0 == engine && r.1 == format)
        {
            Some(r) => r.2 = r.2.min(secs),
            None => results.push((engine, format, secs)),
        };
        for (writer, name, format) in WRITERS {
            let dir = fresh(format);
            let t = Instant::now();
            let table = match writer {
                Writer::Deltalake => {
                    deltalake_alone(&dir, &batches).await?;
                    dir
                }
                Writer::Batch => {
                    tributary_batch(&dir, format, &batches).await?;
                    dir
                }
                Writer::Stream => {
                    tributary_stream(&dir, &schema, &batches).await?;
                    dir.join("table")
                }
                Writer::Parquet => {
                    parquet_alone(&dir, &schema, &batches)?;
                    dir
                }
            };
            time(name, format, t.elapsed().as_secs_f64());
            anyhow::ensure!(
                rows_in(&table, format).await? == rows,
                "{name} ({format}) wrote every row"
            );
        }
    }
    println!(
        "write benchmark: {rows} rows in {} batches, best of 3 runs each, {} cores",
        batches.len(),
        std::thread::available_parallelism()?.get()
    );
    for format in ["delta", "parquet"] {
        let base = results
            .iter()
            .find(|r| r.1 == format)
            .map(|r| r.2)
            .expect("the library's own writer ran");
        for (engine, _, secs) in results.iter().filter(|r| r.1 == format) {
            println!(
                "  {format:<8} {engine:<28}: {secs:>6.3} s  {:>10.0} rows/s  {:.2}x of the library's time",
                rows as f64 / secs,
                secs / base
            );
        }
    }
    Ok(())
}
