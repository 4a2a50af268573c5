//! End-to-end benchmarks. `cargo run --release -p tributary-bench -- etl|visitors|kafka [ROWS]`
//!
//! `etl`: the ETL example's query (filter, lower-case, left join with a static CSV) over ROWS
//! JSON events in 20 files, measured three ways in one run: Tributary as a stream
//! (AvailableNow, JSON files to Delta), Tributary as a batch (to Delta), and plain DataFusion
//! running the same SQL over the same files (collected, no sink). Prints rows/s and ratios.
//!
//! `visitors`: the visitors-by-region job (5-minute windows sliding by 1 minute, watermark 10
//! minutes, count, exact distinct visitors, revenue) over ROWS JSON events, as a batch and as a
//! stream with a 1 s processing-time trigger (about 1M events per epoch), both into Delta.
//! Prints events/s, epoch durations, and state rows and memory.
//!
//! `decode [ROWS]`: JSON lines decoded on one thread, Tributary's strict decoder against plain
//! arrow-json; see `decode.rs`.
//!
//! `ansi [ROWS]`: Spark's ANSI evaluation (checked arithmetic, guarded `AND`) against plain
//! DataFusion on the same rows; see `ansi.rs`.
//!
//! `write [ROWS]`: the same batches into Delta and Parquet, Tributary against deltalake's and
//! the parquet crate's own writers; see `write.rs`.
//!
//! `epochs [EPOCHS] [ROWS_PER_EPOCH ...]`: the parts of an epoch at each size, to find its fixed
//! cost; see `epochs.rs`.
//!
//! `soak`: see `soak.rs`.
//!
//! `kills`: see `kills.rs` (and `kills/kafka.rs`).
//!
//! `nexmark [EVENTS] [qN ...]`: see `nexmark.rs`.
//!
//! `latency [SECONDS] [RATE ...]`: Kafka to Kafka latency in real-time and micro-batch mode;
//! see `latency.rs`.
//!
//! `kafka`: ROWS JSON events produced to a topic of librdkafka's mock broker (about 20,000 per
//! partition: the mock keeps at most 5 MB per partition), then
//! consumed twice: plain librdkafka (a `BaseConsumer` counting messages) and Tributary reading the
//! topic with the events' schema (consume + vectorised JSON decode into Arrow). Prints both rates
//! and their ratio.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod ansi;
mod decode;
mod delta;
mod epochs;
mod kills;
mod latency;
mod nexmark;
mod serve;
mod soak;
mod state;
mod storage;
mod write;

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

const VISITORS: &str = "SELECT w['start'] AS window_start, w['end'] AS window_end, region,
    count(*) AS events, count(DISTINCT user_id) AS visitors, sum(amount) AS revenue
FROM (SELECT window(event_time, '5 minutes', '1 minute') AS w, lower(region) AS region, user_id, amount FROM events)
GROUP BY w, region";

/// Events for `visitors`: 10,000 per second of event time, ids of 100,000 users.
fn generate_visitors(dir: &Path, rows: usize, files: usize) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir.join("events"))?;
    let regions = ["EMEA", "amer", "Apac", "LATAM", "moon"];
    let per = rows.div_ceil(files);
    for f in 0..files {
        let mut w = std::io::BufWriter::new(std::fs::File::create(
            dir.join(format!("events/part-{f:04}.json")),
        )?);
        for i in f * per..((f + 1) * per).min(rows) {
            let ms = i / 10;
            writeln!(
                w,
                "{{\"event_time\":\"2026-11-21T{:02}:{:02}:{:02}.{:03}Z\",\"user_id\":{},\"region\":\"{}\",\"page\":\"/p/{}\",\"amount\":{}.25}}",
                (ms / 3_600_000) % 24,
                (ms / 60_000) % 60,
                (ms / 1000) % 60,
                ms % 1000,
                (i * 7919) % 100_000,
                regions[i % 5],
                i % 20,
                i % 500
            )?;
        }
    }
    Ok(())
}

async fn visitors_session(dir: &Path, streaming: bool) -> anyhow::Result<(Session, DataFrame)> {
    let session = Session::new();
    let path = dir.join("events");
    let events = if streaming {
        session
            .read_stream()
            .schema(schema())
            .option("max_files_per_trigger", 10)
            .json(path.to_str().unwrap())
            .await?
    } else {
        session
            .read()
            .schema(schema())
            .json(path.to_str().unwrap())
            .await?
    };
    session.register("events", events.with_watermark("event_time", "10 minutes")?)?;
    let df = session.sql(VISITORS).await?;
    Ok((session, df))
}

async fn visitors(rows: usize) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let files = 100;
    generate_visitors(tmp.path(), rows, files)?;
    let batch_out = tmp.path().join("batch");
    let t = Instant::now();
    let (_batch_session, df) = visitors_session(tmp.path(), false).await?;
    let summary = df
        .write()
        .format("delta")
        .save(batch_out.to_str().unwrap())
        .await?;
    let batch = t.elapsed().as_secs_f64();
    let (_stream_session, df) = visitors_session(tmp.path(), true).await?;
    let q = df
        .write_stream()
        .format("delta")
        .trigger(Trigger::ProcessingTime(std::time::Duration::from_secs(1)))
        .option("checkpoint_location", tmp.path().join("ckpt").display())
        .start(tmp.path().join("stream").to_str().unwrap())
        .await?;
    let t = Instant::now();
    // Until every event went through (then one more epoch may close windows).
    loop {
        let seen: u64 = q.recent_progress().iter().map(|p| p.num_input_rows).sum();
        if seen >= rows as u64 {
            break;
        }
        anyhow::ensure!(
            q.exception().is_none(),
            "stream failed: {:?}",
            q.exception()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let stream = t.elapsed().as_secs_f64();
    q.stop().await?;
    let progress: Vec<_> = q
        .recent_progress()
        .into_iter()
        .filter(|p| p.num_input_rows > 0)
        .collect();
    let durations: Vec<u64> = progress
        .iter()
        .map(|p| p.duration_ms.get("triggerExecution").copied().unwrap_or(0))
        .collect();
    let max_state = progress
        .iter()
        .filter_map(|p| p.state_operators.first())
        .map(|s| {
            (
                s["numRowsTotal"].as_u64().unwrap_or(0),
                s["memoryUsedBytes"].as_u64().unwrap_or(0),
            )
        })
        .max()
        .unwrap_or((0, 0));
    println!(
        "visitors benchmark: {rows} JSON events in {files} files, {} cores",
        std::thread::available_parallelism()?.get()
    );
    println!(
        "  batch  -> Delta : {:>10.0} events/s  ({batch:.2} s, {} window rows)",
        rows as f64 / batch,
        summary.rows
    );
    println!(
        "  stream -> Delta : {:>10.0} events/s  ({stream:.2} s, {} epochs of ~{} events, 1 s trigger)",
        rows as f64 / stream,
        progress.len(),
        rows / progress.len().max(1)
    );
    let busy: u64 = durations.iter().sum();
    println!(
        "  stream epochs   : {:>10.0} events/s of epoch time (processedRowsPerSecond over all epochs)",
        rows as f64 / (busy.max(1) as f64 / 1000.0)
    );
    println!(
        "  epoch duration  : avg {:.0} ms, max {} ms;  state: up to {} rows, {:.1} MiB",
        durations.iter().sum::<u64>() as f64 / durations.len().max(1) as f64,
        durations.iter().max().unwrap_or(&0),
        max_state.0,
        max_state.1 as f64 / (1024.0 * 1024.0)
    );
    Ok(())
}

/// Send `rec`, waiting while the producer's queue is full.
pub(crate) fn send_waiting(
    producer: &rdkafka::producer::BaseProducer,
    mut rec: rdkafka::producer::BaseRecord<'_, (), str>,
) {
    loop {
        match producer.send(rec) {
            Ok(()) => return,
            Err((_, r)) => {
                producer.poll(std::time::Duration::from_millis(1));
                rec = r;
            }
        }
    }
}

async fn kafka(rows: usize) -> anyhow::Result<()> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    use rdkafka::ClientConfig;
    // The mock broker keeps at most 5 MB (or 100,000 message sets) per partition, so a larger
    // run uses more partitions: about 20,000 messages each.
    let partitions = (rows / 20_000).max(4) as i32;
    let cluster = rdkafka::mocking::MockCluster::new(1)?;
    cluster.create_topic("events", partitions, 1)?;
    let bootstrap = cluster.bootstrap_servers();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("linger.ms", "5")
        .create()?;
    let t = Instant::now();
    for i in 0..rows {
        let v = format!(
            "{{\"event_time\":\"2026-11-21T10:{:02}:{:02}.{:03}Z\",\"user_id\":{},\"region\":\"r{}\",\"page\":\"/p/{}\",\"amount\":{}.25}}",
            (i / 60_000) % 60,
            (i / 1000) % 60,
            i % 1000,
            i % 100_000,
            i % 5,
            i % 20,
            i % 500
        );
        send_waiting(
            &producer,
            BaseRecord::to("events")
                .payload(v.as_str())
                .partition((i % partitions as usize) as i32),
        );
    }
    producer.flush(std::time::Duration::from_secs(120))?;
    let produce = t.elapsed().as_secs_f64();
    // Plain librdkafka: read every message once.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "bench")
        .set("enable.partition.eof", "true")
        .create()?;
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset("events", p, rdkafka::Offset::Beginning)?;
    }
    let t = Instant::now();
    consumer.assign(&tpl)?;
    let (mut n, mut eof, mut bytes) = (0usize, 0, 0usize);
    while eof < partitions {
        match consumer.poll(std::time::Duration::from_millis(100)) {
            Some(Ok(m)) => {
                n += 1;
                bytes += rdkafka::Message::payload(&m).map_or(0, |p| p.len());
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => eof += 1,
            _ => {}
        }
    }
    let plain = t.elapsed().as_secs_f64();
    anyhow::ensure!(n == rows, "librdkafka read {n} of {rows} messages");
    // Tributary: the topic read with the events' schema, decoded into Arrow.
    let session = Session::new();
    let t = Instant::now();
    let decoded: usize = session
        .read()
        .format("kafka")
        .option("kafka.bootstrap.servers", &bootstrap)
        .option("subscribe", "events")
        .schema(schema())
        .load("")
        .await?
        .collect()
        .await?
        .iter()
        .map(|b| b.num_rows())
        .sum();
    let ours = t.elapsed().as_secs_f64();
    anyhow::ensure!(
        decoded == rows,
        "Tributary decoded {decoded} of {rows} records"
    );
    println!(
        "kafka benchmark: {rows} JSON messages ({:.0} bytes each) in {partitions} partitions of librdkafka's mock broker, {} cores",
        bytes as f64 / rows as f64,
        std::thread::available_parallelism()?.get()
    );
    println!(
        "  produce (BaseProducer)          : {:>10.0} msg/s",
        rows as f64 / produce
    );
    println!(
        "  librdkafka consume, count only  : {:>10.0} msg/s  ({plain:.2} s)",
        rows as f64 / plain
    );
    println!(
        "  tributary consume + JSON decode : {:>10.0} rows/s ({ours:.2} s)  {:.2}x of librdkafka's time",
        rows as f64 / ours,
        ours / plain
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let what = args.get(1).map(String::as_str).unwrap_or("etl");
    match what {
        "kills-child" => return kills::child(&args[2..]).await,
        "storage" => {
            let epochs = args
                .get(2)
                .map_or(Ok(100), |s| s.parse())
                .context("EPOCHS")?;
            let rows = args
                .get(3)
                .map_or(Ok(1000), |s| s.parse())
                .context("ROWS_PER_EPOCH")?;
            return storage::run(epochs, rows).await;
        }
        "kills" => {
            let kills = args
                .get(2)
                .map_or(Ok(100), |s| s.parse())
                .context("KILLS")?;
            let files = args
                .get(3)
                .map_or(Ok(200), |s| s.parse())
                .context("FILES")?;
            return kills::run(kills, files, &args[4.min(args.len())..]).await;
        }
        "state" => {
            let keys = args
                .get(2)
                .map_or(Ok(100_000_000), |s| s.parse())
                .context("KEYS")?;
            return state::run(
                keys,
                args.get(3).map_or("dedup", String::as_str),
                args.get(4).map_or("1g", String::as_str),
            )
            .await;
        }
        "latency" => return latency::run(&args[2.min(args.len())..]).await,
        "epochs" => {
            let epochs = args
                .get(2)
                .map_or(Ok(50), |s| s.parse())
                .context("EPOCHS")?;
            let sizes = args
                .get(3..)
                .unwrap_or_default()
                .iter()
                .map(|s| s.parse())
                .collect::<Result<Vec<usize>, _>>()
                .context("ROWS_PER_EPOCH")?;
            let sizes = if sizes.is_empty() {
                vec![1_000, 100_000]
            } else {
                sizes
            };
            return epochs::run(epochs, &sizes).await;
        }
        "serve" => {
            let keys = args
                .get(2)
                .map_or(Ok(1_000_000), |s| s.parse())
                .context("KEYS")?;
            let lookups = args
                .get(3)
                .map_or(Ok(200_000), |s| s.parse())
                .context("LOOKUPS")?;
            return serve::lookups(keys, lookups).await;
        }
        "postgres" => {
            let url = args
                .get(2)
                .context("postgres URL [ROWS]: give the database URL, e.g. postgresql://postgres@127.0.0.1:5432/postgres")?;
            let rows = args
                .get(3)
                .map_or(Ok(1_000_000), |s| s.parse())
                .context("ROWS")?;
            return serve::postgres(url, rows).await;
        }
        "nexmark" => {
            let events = args
                .get(2)
                .map_or(Ok(10_000_000), |s| s.parse())
                .context("EVENTS")?;
            return nexmark::run(events, &args[3.min(args.len())..]).await;
        }
        _ => {}
    }
    let rows: usize = args
        .get(2)
        .map(|r| r.parse())
        .transpose()
        .context("ROWS")?
        .unwrap_or(1_000_000);
    match what {
        "etl" => {}

        "visitors" => return visitors(rows).await,
        "decode" => return decode::run(rows),
        "ansi" => return ansi::run(rows).await,
        "write" => return write::run(rows).await,
        "kafka" => return kafka(rows).await,
        "soak" => {
            let seconds = args
                .get(2)
                .map_or(Ok(600), |s| s.parse())
                .context("SECONDS")?;
            let rate = args
                .get(3)
                .map_or(Ok(100_000), |s| s.parse())
                .context("EVENTS_PER_SECOND")?;
            return soak::run(
                seconds,
                rate,
                args.get(4).map_or("visitors", String::as_str),
            )
            .await;
        }
        "delta" => {
            let per_commit = args
                .get(3)
                .map(|r| r.parse())
                .transpose()
                .context("ROWS_PER_COMMIT")?;
            return delta::run(
                args.get(2)
                    .map_or(Ok(1000), |c| c.parse())
                    .context("COMMITS")?,
                per_commit.unwrap_or(10_000),
            )
            .await;
        }
        other => {
            anyhow::bail!("unknown benchmark '{other}': try `etl [ROWS]`, `visitors [ROWS]`, `decode [ROWS]`, `write [ROWS]`, `epochs [EPOCHS] [ROWS_PER_EPOCH...]`, `kafka [ROWS]` or `delta [COMMITS] [ROWS_PER_COMMIT]` or `soak [SECONDS] [EVENTS_PER_SECOND] [visitors|append]` or `kills [KILLS] [FILES] [delta|parquet|json|windows|kafka-in|kafka-out...]` or `storage [EPOCHS] [ROWS_PER_EPOCH]` or `nexmark [EVENTS] [qN...]` or `latency [SECONDS] [RATE...]` or `state [KEYS] [dedup|aggregate] [STATE_MEMORY_LIMIT]` or `serve [KEYS] [LOOKUPS]` or `postgres URL [ROWS]`")
        }
    }
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
