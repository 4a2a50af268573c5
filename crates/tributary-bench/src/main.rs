//! End-to-end benchmarks. `cargo run --release -p tributary-bench -- etl [ROWS]`
//!
//! `etl`: the ETL example's query (filter, lower-case, left join with a static CSV) over ROWS
//! JSON events in 20 files, measured three ways in one run: Tributary as a stream
//! (AvailableNow, JSON files to Delta), Tributary as a batch (to Delta), and plain DataFusion
//! running the same SQL over the same files (collected, no sink). Prints rows/s and ratios.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use datafusion::prelude::{JsonReadOptions, SessionContext};
use tributary::prelude::*;

const QUERY: &str = "SELECT e.event_time, e.user_id, e.region, r.country, r.tier, e.page, e.amount
FROM (SELECT event_time, user_id, lower(region) AS region, page, amount FROM events WHERE user_id IS NOT NULL) e
LEFT JOIN regions r ON e.region = r.region";

fn schema() -> SchemaRef {
    std::sync::Arc::new(Schema::new(vec![
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Nanosecond, None),
            true,
        ),
        Field::new("user_id", DataType::Int64, true),
        Field::new("region", DataType::Utf8, true),
        Field::new("page", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
    ]))
}

fn generate(dir: &Path, rows: usize, files: usize) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir.join("events"))?;
    let regions = ["EMEA", "amer", "Apac", "LATAM", "moon"];
    let per = rows.div_ceil(files);
    for f in 0..files {
        let mut w = std::io::BufWriter::new(std::fs::File::create(
            dir.join(format!("events/part-{f:03}.json")),
        )?);
        for i in f * per..((f + 1) * per).min(rows) {
            writeln!(
                w,
                "{{\"event_time\":\"2026-11-21T{:02}:{:02}:{:02}.{:03}Z\",\"user_id\":{},\"region\":\"{}\",\"page\":\"/p/{}\",\"amount\":{}.25}}",
                (i / 3_600_000) % 24,
                (i / 60_000) % 60,
                (i / 1000) % 60,
                i % 1000,
                if i % 50 == 0 { "null".to_string() } else { (i % 100_000).to_string() },
                regions[i % 5],
                i % 20,
                i % 500
            )?;
        }
    }
    std::fs::write(
        dir.join("regions.csv"),
        "region,country,tier\nemea,Germany,gold\namer,United States,gold\napac,Japan,silver\nlatam,Brazil,bronze\n",
    )?;
    Ok(())
}

async fn tributary_run(dir: &Path, streaming: bool) -> anyhow::Result<f64> {
    let session = Session::new();
    let events_path = dir.join("events");
    let events = if streaming {
        session
            .read_stream()
            .schema(schema())
            .json(events_path.to_str().unwrap())
            .await?
    } else {
        session
            .read()
            .schema(schema())
            .json(events_path.to_str().unwrap())
            .await?
    };
    session.register("events", events)?;
    session.register(
        "regions",
        session
            .read()
            .csv(dir.join("regions.csv").to_str().unwrap())
            .await?,
    )?;
    let df = session.sql(QUERY).await?;
    let out = dir.join(if streaming { "out-stream" } else { "out-batch" });
    let _ = std::fs::remove_dir_all(&out);
    let t = Instant::now();
    if streaming {
        let q = df
            .write_stream()
            .format("delta")
            .trigger(Trigger::AvailableNow)
            .option("checkpoint_location", dir.join("ckpt").display())
            .start(out.to_str().unwrap())
            .await?;
        q.await_termination().await?;
    } else {
        df.write()
            .format("delta")
            .save(out.to_str().unwrap())
            .await?;
    }
    Ok(t.elapsed().as_secs_f64())
}

async fn datafusion_run(dir: &Path) -> anyhow::Result<f64> {
    let ctx = SessionContext::new();
    let s = schema();
    let opts = JsonReadOptions::default()
        .schema(&s)
        .file_extension(".json");
    ctx.register_json("events", dir.join("events").to_str().unwrap(), opts)
        .await?;
    ctx.register_csv(
        "regions",
        dir.join("regions.csv").to_str().unwrap(),
        Default::default(),
    )
    .await?;
    let t = Instant::now();
    let n: usize = ctx
        .sql(QUERY)
        .await?
        .collect()
        .await?
        .iter()
        .map(|b| b.num_rows())
        .sum();
    anyhow::ensure!(n > 0, "DataFusion produced no rows");
    Ok(t.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let what = args.get(1).map(String::as_str).unwrap_or("etl");
    anyhow::ensure!(
        what == "etl",
        "unknown benchmark '{what}': try `etl [ROWS]`"
    );
    let rows: usize = args
        .get(2)
        .map(|r| r.parse())
        .transpose()
        .context("ROWS")?
        .unwrap_or(1_000_000);
    let tmp = tempfile::tempdir()?;
    generate(tmp.path(), rows, 20)?;
    let df = datafusion_run(tmp.path()).await?;
    let batch = tributary_run(tmp.path(), false).await?;
    let stream = tributary_run(tmp.path(), true).await?;
    let rate = |s: f64| rows as f64 / s;
    println!(
        "etl benchmark: {rows} JSON events in 20 files, {} cores",
        std::thread::available_parallelism()?.get()
    );
    println!(
        "  datafusion (collect, no sink) : {:>12.0} rows/s  ({df:.2} s)",
        rate(df)
    );
    println!("  tributary batch  -> Delta     : {:>12.0} rows/s  ({batch:.2} s)  {:.2}x of DataFusion's time", rate(batch), batch / df);
    println!("  tributary stream -> Delta     : {:>12.0} rows/s  ({stream:.2} s)  {:.2}x of DataFusion's time", rate(stream), stream / df);
    Ok(())
}
