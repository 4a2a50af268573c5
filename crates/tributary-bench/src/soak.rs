//! `tributary-bench soak [SECONDS] [EVENTS_PER_SECOND] [visitors|append]`: the visitors job (5-minute windows
//! sliding by 1 minute, exact distinct visitors) over the rate source at EVENTS_PER_SECOND
//! (default 100,000) into Delta, with a 1 s processing-time trigger, for SECONDS (default 600:
//! the CI-sized run; 3600 for the hour). Every 10 s it samples the process's resident memory,
//! open descriptors, the checkpoint's size on disk and the epoch times of the last interval,
//! and at the end compares the last third of the run with the second: memory and epoch time
//! must stay flat while the query runs for weeks. `append` runs a stateless job instead (the
//! events with their region and user, appended to Delta): with no state to fill, its memory
//! and epoch time must be flat from the start.

const APPEND: &str =
    "SELECT timestamp AS event_time, concat('r', CAST(value % 50 AS VARCHAR)) AS region,
    value % 100000 AS user_id FROM events";

use std::path::Path;
use std::time::{Duration, Instant};

use tributary::prelude::*;

const VISITORS: &str = "SELECT w['start'] AS window_start, w['end'] AS window_end, region,
    count(*) AS events, count(DISTINCT user_id) AS visitors, sum(amount) AS revenue
FROM (SELECT window(timestamp, '5 minutes', '1 minute') AS w,
             concat('r', CAST(value % 50 AS VARCHAR)) AS region,
             value % 100000 AS user_id,
             CAST(value % 500 AS DOUBLE) + 0.25 AS amount
      FROM events)
GROUP BY w, region";

/// One sample of the process and its query.
struct Sample {
    at_s: f64,
    rss_mib: f64,
    fds: usize,
    checkpoint_mib: f64,
    table_mib: f64,
    epochs: usize,
    epoch_ms_avg: f64,
    epoch_ms_max: u64,
    events: u64,
}

/// Resident memory of this process in MiB (Linux).
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

fn dir_mib(path: &Path) -> f64 {
    fn walk(p: &Path) -> u64 {
        let Ok(entries) = std::fs::read_dir(p) else {
            return 0;
        };
        entries
            .flatten()
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() => walk(&e.path()),
                Ok(m) => m.len(),
                Err(_) => 0,
            })
            .sum()
    }
    walk(path) as f64 / (1024.0 * 1024.0)
}

/// Average of a slice of samples' epoch times and memory.
fn phase(samples: &[Sample]) -> (f64, f64) {
    let n = samples.len().max(1) as f64;
    (
        samples.iter().map(|s| s.rss_mib).sum::<f64>() / n,
        samples.iter().map(|s| s.epoch_ms_avg).sum::<f64>() / n,
    )
}

pub(crate) async fn run(seconds: u64, rate: u64, job: &str) -> anyhow::Result<()> {
    let sql = match job {
        "visitors" => VISITORS,
        "append" => APPEND,
        other => anyhow::bail!("unknown soak job '{other}': use visitors or append"),
    };
    let tmp = tempfile::tempdir()?;
    let checkpoint = tmp.path().join("checkpoint");
    let table = tmp.path().join("visitors");
    let session = Session::new();
    let events = session
        .read_stream()
        .option("rows_per_second", rate)
        .rate()
        .await?
        .with_watermark("timestamp", "10 minutes")?;
    session.register("events", events)?;
    let mut writer = session.sql(sql).await?.write_stream();
    // SOAK_SINK_OPTIONS="k=v,k=v": options of the sink (e.g. checkpoint_interval=10).
    for kv in std::env::var("SOAK_SINK_OPTIONS")
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
    {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("SOAK_SINK_OPTIONS: '{kv}' is not k=v"))?;
        writer = writer.option(k, v);
    }
    let q = writer
        .format(&std::env::var("SOAK_SINK").unwrap_or_else(|_| "delta".into()))
        .trigger(Trigger::ProcessingTime(Duration::from_secs(1)))
        .option("checkpoint_location", checkpoint.display())
        .start(table.to_str().expect("utf-8 path"))
        .await?;
    println!(
        "soak: {job} job, rate source at {rate} events/s -> Delta, 1 s trigger, {seconds} s, {} cores",
        std::thread::available_parallelism()?.get()
    );
    println!(
        "{:>7} {:>9} {:>5} {:>11} {:>9} {:>7} {:>10} {:>10} {:>12}",
        "t (s)",
        "RSS MiB",
        "fds",
        "ckpt MiB",
        "table MiB",
        "epochs",
        "epoch avg",
        "epoch max",
        "events"
    );
    let start = Instant::now();
    let mut samples: Vec<Sample> = Vec::new();
    let mut seen_batches = 0usize;
    let mut events = 0u64;
    while start.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_secs(10)).await;
        if let Some(e) = q.exception() {
            anyhow::bail!("the query stopped: {e}");
        }
        let progress = q.recent_progress();
        let last = progress.last().map_or(0, |p| p.batch_id as usize + 1);
        let fresh: Vec<_> = progress
            .iter()
            .filter(|p| p.batch_id as usize >= seen_batches)
            .collect();
        seen_batches = last.max(seen_batches);
        let times: Vec<u64> = fresh
            .iter()
            .map(|p| p.duration_ms.get("triggerExecution").copied().unwrap_or(0))
            .collect();
        events += fresh.iter().map(|p| p.num_input_rows).sum::<u64>();
        let s = Sample {
            at_s: start.elapsed().as_secs_f64(),
            rss_mib: rss_mib(),
            fds: open_fds(),
            checkpoint_mib: dir_mib(&checkpoint),
            table_mib: dir_mib(&table),
            epochs: seen_batches,
            epoch_ms_avg: times.iter().sum::<u64>() as f64 / times.len().max(1) as f64,
            epoch_ms_max: times.iter().copied().max().unwrap_or(0),
            events,
        };
        println!(
            "{:>7.0} {:>9.1} {:>5} {:>11.1} {:>9.1} {:>7} {:>10.0} {:>10} {:>12}",
            s.at_s,
            s.rss_mib,
            s.fds,
            s.checkpoint_mib,
            s.table_mib,
            s.epochs,
            s.epoch_ms_avg,
            s.epoch_ms_max,
            s.events
        );
        samples.push(s);
    }
    q.stop().await?;
    // The first third warms up (windows fill, state reaches its steady size); compare the
    // second third with the last.
    let third = samples.len() / 3;
    if third > 0 {
        let (rss_mid, epoch_mid) = phase(&samples[third..2 * third]);
        let (rss_end, epoch_end) = phase(&samples[2 * third..]);
        println!(
            "steady state: RSS {rss_mid:.1} -> {rss_end:.1} MiB ({:+.1}%), epoch time {epoch_mid:.0} -> {epoch_end:.0} ms ({:+.1}%), {:.0} events/s kept up",
            (rss_end / rss_mid - 1.0) * 100.0,
            (epoch_end / epoch_mid.max(1.0) - 1.0) * 100.0,
            events as f64 / start.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
