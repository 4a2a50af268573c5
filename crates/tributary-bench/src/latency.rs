//! `tributary-bench latency [SECONDS] [RATE ...]`: end-to-end latency, Kafka to Kafka, in
//! real-time mode and in micro-batch mode with a 100 ms trigger.
//!
//! ```text
//!  producer thread ──► topic `in` (librdkafka's mock broker, 4 partitions): JSON records
//!     at RATE records/s     {"id", "dup", "ts": produce time in µs, "ms": in ms (event time)}
//!  Tributary query  ──► one of: stateless (filter + projection) | window (1-second tumbling
//!     count, update mode) | dedup (drop_duplicates on `dup`, each key sent twice)
//!                    ──► topic `out`, at least once (records sent as computed)
//!  consumer thread  ──► latency = receive time - the `ts` the output row carries (for a window,
//!                       the newest input of the group that changed)
//! ```
//!
//! Each (query, mode, rate) runs SECONDS (default 60) after a 2-second warm-up that is not
//! counted; prints p50/p99/p999 and max latency and the delivered throughput. Two floors come
//! first: the broker's own round trip (records produced and consumed with no engine between),
//! and the same through a plain relay (consume `in`, produce `out`), the least any query that
//! sends each record on can take through this broker.
//! Latency is measured, never asserted.
//!
//! Knobs for investigating (environment): `LATENCY_SOURCE=k=v,..` and `LATENCY_SINK=k=v,..` add
//! options to the Kafka source and sink (e.g. `kafka.fetch.wait.max.ms=1`);
//! `LATENCY_PROGRESS=1` prints the last epochs' `durationMs` parts after each run;
//! `LATENCY_QUERIES=stateless,window` runs only those queries (`none`: the floor alone).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use tributary::prelude::*;

const PARTITIONS: i32 = 4;
const WARM_UP: Duration = Duration::from_secs(2);

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

fn schema() -> SchemaRef {
    std::sync::Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("dup", DataType::Int64, true),
        Field::new("ts", DataType::Int64, true),
        Field::new("ms", DataType::Int64, true),
    ]))
}

/// The three queries; each output `value` starts with the `ts` it answers for.
const QUERIES: [&str; 3] = ["stateless", "window", "dedup"];

fn query_sql(name: &str) -> &'static str {
    match name {
        "stateless" => {
            "SELECT CAST(id AS VARCHAR) AS key, concat(CAST(ts AS VARCHAR), ':', CAST(id * 2 AS VARCHAR)) AS value
             FROM events WHERE id % 10 <> 3"
        }
        "window" => {
            "SELECT CAST(w['start'] AS VARCHAR) AS key, concat(CAST(max(ts) AS VARCHAR), ':', CAST(count(*) AS VARCHAR)) AS value
             FROM (SELECT window(event_time, '1 second') AS w, ts FROM events) GROUP BY w"
        }
        _ => {
            "SELECT CAST(dup AS VARCHAR) AS key, concat(CAST(ts AS VARCHAR), ':', CAST(dup AS VARCHAR)) AS value
             FROM deduped"
        }
    }
}

/// The `k=v,..` pairs of environment variable `var`.
fn knobs(var: &str) -> Vec<(String, String)> {
    std::env::var(var)
        .unwrap_or_default()
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Latencies (µs) of the records received after the warm-up, and how many.
#[derive(Default)]
struct Received {
    latencies_us: Vec<i64>,
    records: u64,
    /// (produce time, latency) in µs of each record, kept for `LATENCY_TRACE`.
    trace: Vec<(i64, i64)>,
}

fn percentile(sorted: &[i64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64) * q).ceil() as usize;
    sorted[i.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

/// Produce at `rate` records/s to `in` until `stop`, each record stamped with its time.
fn produce(bootstrap: String, rate: u64, stop: Arc<AtomicBool>) -> anyhow::Result<u64> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("linger.ms", "1")
        .set("queue.buffering.max.messages", "1000000")
        .create()?;
    let start = Instant::now();
    let mut sent: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        // Send what the rate allows by now, in bursts of at most 1 ms worth.
        let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
        while sent < due {
            let ts = now_us();
            let v = format!(
                "{{\"id\":{sent},\"dup\":{},\"ts\":{ts},\"ms\":{}}}",
                sent / 2,
                ts / 1000
            );
            crate::send_waiting(
                &producer,
                BaseRecord::to("in")
                    .payload(v.as_str())
                    .partition((sent % PARTITIONS as u64) as i32),
            );
            sent += 1;
        }
        producer.poll(Duration::ZERO);
        std::thread::sleep(Duration::from_micros(200));
    }
    producer.flush(Duration::from_secs(30))?;
    Ok(sent)
}

/// Consume `topic` until `stop`, recording the latency of each record received after `counted`.
fn consume(
    bootstrap: String,
    topic: &str,
    counted_from_us: i64,
    stop: Arc<AtomicBool>,
    out: Arc<Mutex<Received>>,
) -> anyhow::Result<()> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", format!("latency-{topic}"))
        .set("fetch.wait.max.ms", "1")
        .set("fetch.min.bytes", "1")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let tracing = std::env::var_os("LATENCY_TRACE").is_some();
    while !stop.load(Ordering::Relaxed) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(5)) {
            let received = now_us();
            let Some(Ok(v)) = m.payload_view::<str>() else {
                continue;
            };
            // The engine's rows start with `ts:`; the input records (the floor) are JSON.
            let ts: i64 = match v.find("\"ts\":") {
                Some(at) => v[at + 5..].split([',', '}']).next(),
                None => v.split(':').next(),
            }
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
            if ts >= counted_from_us {
                let mut r = out.lock().expect("received");
                r.latencies_us.push(received - ts);
                r.records += 1;
                if tracing {
                    r.trace.push((ts, received - ts));
                }
            }
        }
    }
    Ok(())
}

/// Copy every record of `in` to `out` until `stop`, as an engine with no work would: a
/// consumer that fetches as soon as records arrive and a producer that lingers 1 ms.
fn relay(bootstrap: String, stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "latency-relay")
        .set("fetch.wait.max.ms", "1")
        .set("fetch.min.bytes", "1")
        .create()?;
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("linger.ms", "1")
        .set("queue.buffering.max.messages", "1000000")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset("in", p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    while !stop.load(Ordering::Relaxed) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(5)) {
            if let Some(Ok(v)) = m.payload_view::<str>() {
                crate::send_waiting(
                    &producer,
                    BaseRecord::to("out").payload(v).partition(m.partition()),
                );
            }
        }
        producer.poll(Duration::ZERO);
    }
    Ok(())
}

/// With `LATENCY_TRACE`: each 50 ms of produce time whose slowest record took over 10 ms, with
/// that latency, to see when the slow records were produced (e.g. at epoch boundaries).
fn print_trace(trace: &[(i64, i64)]) {
    let Some(first) = trace.iter().map(|t| t.0).min() else {
        return;
    };
    let mut worst: std::collections::BTreeMap<i64, i64> = std::collections::BTreeMap::new();
    for (ts, l) in trace {
        let w = worst.entry((ts - first) / 50_000).or_default();
        *w = (*w).max(*l);
    }
    let slow: Vec<String> = worst
        .iter()
        .filter(|(_, l)| **l > 10_000)
        .map(|(b, l)| format!("{:.2}s:{}ms", *b as f64 * 0.05, l / 1000))
        .collect();
    eprintln!(
        "slow 50-ms spans (produce time since the first counted record: worst latency): {}",
        slow.join(" ")
    );
}

/// The broker's own floor: produce to `in` and consume it back, no engine between; with
/// `relay`, through a plain consumer and producer that copy `in` to `out` (two hops, as a query
/// that sends every record on).
fn floor(bootstrap: &str, seconds: u64, rate: u64, relayed: bool) -> anyhow::Result<Vec<i64>> {
    let stop = Arc::new(AtomicBool::new(false));
    let received = Arc::new(Mutex::new(Received::default()));
    let counted_from = now_us() + WARM_UP.as_micros() as i64;
    let c = {
        let (b, s, r) = (bootstrap.to_string(), stop.clone(), received.clone());
        let topic = if relayed { "out" } else { "in" };
        std::thread::spawn(move || consume(b, topic, counted_from, s, r))
    };
    let r = relayed.then(|| {
        let (b, s) = (bootstrap.to_string(), stop.clone());
        std::thread::spawn(move || relay(b, s))
    });
    let p = {
        let (b, s) = (bootstrap.to_string(), stop.clone());
        std::thread::spawn(move || produce(b, rate, s))
    };
    std::thread::sleep(WARM_UP + Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    p.join().expect("producer")?;
    if let Some(r) = r {
        r.join().expect("relay")?;
    }
    c.join().expect("consumer")?;
    let mut l = std::mem::take(&mut received.lock().expect("received").latencies_us);
    l.sort_unstable();
    Ok(l)
}

struct Outcome {
    latencies_us: Vec<i64>,
    received: u64,
    produced: u64,
    seconds: f64,
}

async fn run_one(name: &str, trigger: Trigger, rate: u64, seconds: u64) -> anyhow::Result<Outcome> {
    // A broker per run: topics start empty, nothing carries over.
    let cluster = rdkafka::mocking::MockCluster::new(1)?;
    cluster.create_topic("in", PARTITIONS, 1)?;
    cluster.create_topic("out", PARTITIONS, 1)?;
    let bootstrap = cluster.bootstrap_servers();
    let session = Session::new();
    let events = session
        .read_stream()
        .format("kafka")
        .option("kafka.bootstrap.servers", &bootstrap)
        .option("subscribe", "in")
        .option("starting_offsets", "earliest")
        .options(knobs("LATENCY_SOURCE"))
        .schema(schema())
        .load("")
        .await?;
    session.register("raw", events)?;
    let events = session
        .sql("SELECT id, dup, ts, to_timestamp_millis(ms) AS event_time FROM raw")
        .await?
        .with_watermark("event_time", "1 second")?;
    if name == "dedup" {
        session.register("deduped", events.clone().drop_duplicates(&["dup"])?)?;
    }
    session.register("events", events)?;
    let tmp = tempfile::tempdir()?;
    let mut writer = session.sql(query_sql(name)).await?.write_stream();
    for (k, v) in knobs("LATENCY_SINK") {
        writer = writer.option(&k, v);
    }
    let q = writer
        .format("kafka")
        .option("kafka.bootstrap.servers", &bootstrap)
        .option("topic", "out")
        .option(
            "output_mode",
            if name == "window" { "update" } else { "append" },
        )
        .option("checkpoint_location", tmp.path().join("ckpt").display())
        .trigger(trigger)
        .start("")
        .await?;
    let stop = Arc::new(AtomicBool::new(false));
    let received = Arc::new(Mutex::new(Received::default()));
    let counted_from = now_us() + WARM_UP.as_micros() as i64;
    let consumer = {
        let (b, s, r) = (bootstrap.clone(), stop.clone(), received.clone());
        std::thread::spawn(move || consume(b, "out", counted_from, s, r))
    };
    let producer = {
        let (b, s) = (bootstrap.clone(), stop.clone());
        std::thread::spawn(move || produce(b, rate, s))
    };
    tokio::time::sleep(WARM_UP + Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let produced = tokio::task::spawn_blocking(move || producer.join())
        .await?
        .expect("producer")?;
    tokio::task::spawn_blocking(move || consumer.join())
        .await?
        .expect("consumer")?;
    if std::env::var_os("LATENCY_PROGRESS").is_some() {
        for p in q.recent_progress().iter().rev().take(3) {
            eprintln!(
                "epoch {}: {:?} {:?}",
                p.batch_id,
                p.duration_ms,
                p.real_time
                    .as_ref()
                    .map(|r| (r.num_arrivals, r.latency_ms.clone()))
            );
        }
    }
    q.stop().await?;
    if let Some(e) = q.exception() {
        anyhow::bail!("the {name} query failed: {e}");
    }
    let mut r = std::mem::take(&mut *received.lock().expect("received"));
    print_trace(&r.trace);
    r.latencies_us.sort_unstable();
    Ok(Outcome {
        latencies_us: r.latencies_us,
        received: r.records,
        produced,
        seconds: seconds as f64,
    })
}

/// Run the benchmark: `args` are SECONDS then rates (default 60 s, 10,000 and 100,000/s).
pub(crate) async fn run(args: &[String]) -> anyhow::Result<()> {
    let seconds: u64 = args
        .first()
        .map_or(Ok(60), |s| s.parse())
        .context("SECONDS")?;
    let rates: Vec<u64> = if args.len() > 1 {
        args[1..]
            .iter()
            .map(|r| r.parse().context("RATE"))
            .collect::<anyhow::Result<_>>()?
    } else {
        vec![10_000, 100_000]
    };
    println!(
        "latency benchmark: Kafka (librdkafka's mock broker, {PARTITIONS} partitions) -> query -> Kafka, {seconds} s per run after {} s warm-up, {} cores",
        WARM_UP.as_secs(),
        std::thread::available_parallelism()?.get()
    );
    println!(
        "| query | mode | records/s asked | delivered rows/s | p50 ms | p99 ms | p999 ms | max ms |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for &rate in &rates {
        for (what, relayed) in [
            ("produce -> consume", false),
            ("produce -> relay -> consume", true),
        ] {
            // A broker per floor, as per query run.
            let cluster = rdkafka::mocking::MockCluster::new(1)?;
            cluster.create_topic("in", PARTITIONS, 1)?;
            cluster.create_topic("out", PARTITIONS, 1)?;
            let bootstrap = cluster.bootstrap_servers();
            let l = tokio::task::spawn_blocking(move || floor(&bootstrap, seconds, rate, relayed))
                .await??;
            println!(
                "| broker floor ({what}) | - | {rate} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} |",
                l.len() as f64 / seconds as f64,
                percentile(&l, 0.5),
                percentile(&l, 0.99),
                percentile(&l, 0.999),
                percentile(&l, 1.0)
            );
        }
        let chosen = std::env::var("LATENCY_QUERIES").ok();
        let chosen: Vec<&str> = chosen
            .as_deref()
            .map_or(QUERIES.to_vec(), |c| c.split(',').collect());
        for name in QUERIES.into_iter().filter(|q| chosen.contains(q)) {
            for (mode, trigger) in [
                ("real-time 5 s", Trigger::RealTime(Duration::from_secs(5))),
                (
                    "micro-batch 100 ms",
                    Trigger::ProcessingTime(Duration::from_millis(100)),
                ),
            ] {
                let o = run_one(name, trigger, rate, seconds).await?;
                let l = &o.latencies_us;
                println!(
                    "| {name} | {mode} | {rate} ({} produced) | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} |",
                    o.produced,
                    o.received as f64 / o.seconds,
                    percentile(l, 0.5),
                    percentile(l, 0.99),
                    percentile(l, 0.999),
                    percentile(l, 1.0)
                );
            }
        }
    }
    Ok(())
}
