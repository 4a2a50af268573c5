//! `tributary-bench state [KEYS] [dedup|aggregate] [STATE_MEMORY_LIMIT]`: state at scale. A
//! deduplication (`SELECT DISTINCT`) or a keyed aggregation (`count(*)`, `max(price)` by key,
//! update mode) over KEYS distinct keys (default 100M) that never expire, as a stream of 1M
//! events per epoch from the Nexmark bid table (event time advances 1 ms per event, so every
//! bid's `date_time` is a new key), with `state_memory_limit` (default 1g): the state outgrows
//! its memory budget and moves to local disk.
//!
//! Prints, per 10M keys: the epoch time of the last 10 epochs, the rows in state and on disk,
//! the state's memory estimate, the process's resident memory, and the checkpoint's size; at
//! the end the peak resident memory, and the time a new query on the same checkpoint takes to
//! restore the state (snapshot + changelogs) and finish its first, empty, epoch.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tributary::prelude::*;

/// Resident memory, current and peak, of this process in MiB (Linux).
fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
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

fn query(job: &str) -> anyhow::Result<&'static str> {
    Ok(match job {
        "dedup" => "SELECT DISTINCT date_time FROM bid",
        "aggregate" => {
            "SELECT date_time, count(*) AS bids, max(price) AS top FROM bid GROUP BY date_time"
        }
        other => anyhow::bail!("unknown state job '{other}': use dedup or aggregate"),
    })
}

/// Events for `keys` bids: 46 of every 50 Nexmark events are bids.
fn events_for(keys: u64) -> u64 {
    keys.div_ceil(46) * 50
}

async fn start(
    job: &str,
    events: u64,
    checkpoint: &Path,
    limit: &str,
    out: Arc<AtomicU64>,
) -> anyhow::Result<StreamingQuery> {
    let session = Session::new();
    let bid = session
        .read_stream()
        .format("nexmark")
        .option("table", "bid")
        .option("max_events", events)
        .option("events_per_second", 1000)
        .option("max_events_per_trigger", 1_000_000)
        .load("nexmark")
        .await?;
    session.register("bid", bid)?;
    let mode = if job == "aggregate" {
        OutputMode::Update
    } else {
        OutputMode::Append
    };
    Ok(session
        .sql(query(job)?)
        .await?
        .write_stream()
        .output_mode(mode)
        .option("checkpoint_location", checkpoint.display())
        .option("state_memory_limit", limit)
        .trigger(Trigger::AvailableNow)
        .foreach_batch(move |df, _| {
            let out = out.clone();
            async move {
                let mut s = df.execute_stream().await?;
                while let Some(b) = s.next().await {
                    out.fetch_add(b?.num_rows() as u64, Ordering::Relaxed);
                }
                Ok(())
            }
        })
        .start("")
        .await?)
}

/// Milliseconds of an epoch: the whole trigger, the state operators' update (Spark's
/// `allUpdatesTimeMs`) and their commit (`commitTimeMs`: the changelog written and applied).
#[derive(Clone, Copy, Default)]
struct EpochMs {
    total: u64,
    update: u64,
    commit: u64,
}

fn epoch_ms(p: &tributary::StreamingQueryProgress) -> EpochMs {
    let field = |name: &str| {
        p.state_operators
            .iter()
            .map(|o| o[name].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    EpochMs {
        total: p.duration_ms.get("triggerExecution").copied().unwrap_or(0),
        update: field("allUpdatesTimeMs"),
        commit: field("commitTimeMs"),
    }
}

fn avg(times: &[EpochMs], f: fn(&EpochMs) -> u64) -> f64 {
    times.iter().map(f).sum::<u64>() as f64 / times.len().max(1) as f64
}

fn state_of(p: &tributary::StreamingQueryProgress) -> (u64, u64, u64) {
    let field = |name: &str| {
        p.state_operators
            .iter()
            .map(|o| o[name].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    (
        field("numRowsTotal"),
        field("numRowsOnDisk"),
        field("memoryUsedBytes"),
    )
}

pub(crate) async fn run(keys: u64, job: &str, limit: &str) -> anyhow::Result<()> {
    query(job)?;
    let events = events_for(keys);
    let tmp = tempfile::tempdir()?;
    let checkpoint = tmp.path().join("checkpoint");
    println!(
        "state at scale: {job} over {keys} distinct keys ({events} Nexmark events, 1M per \
         epoch), state_memory_limit {limit}, {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "| keys in state | on disk | state memory MiB | RSS MiB | checkpoint MiB | epoch ms \
         (avg of last 10) | epoch ms (max of last 10) | of which state update ms (avg) | state \
         commit ms (avg) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let out = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let q = start(job, events, &checkpoint, limit, out.clone()).await?;
    let mut seen = 0u64;
    let mut times: Vec<EpochMs> = Vec::new();
    let mut next_report = 10_000_000u64;
    let mut last_state = (0, 0, 0);
    loop {
        let finished = q
            .await_termination_timeout(Duration::from_millis(500))
            .await?;
        for p in q.recent_progress() {
            if p.batch_id < seen || p.num_input_rows == 0 {
                continue;
            }
            seen = p.batch_id + 1;
            times.push(epoch_ms(&p));
            last_state = state_of(&p);
            if last_state.0 >= next_report {
                next_report += 10_000_000;
                let recent = &times[times.len().saturating_sub(10)..];
                println!(
                    "| {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {:.0} | {:.0} |",
                    last_state.0,
                    last_state.1,
                    last_state.2 as f64 / (1024.0 * 1024.0),
                    rss_mib().0,
                    dir_mib(&checkpoint),
                    avg(recent, |t| t.total),
                    recent.iter().map(|t| t.total).max().unwrap_or(0),
                    avg(recent, |t| t.update),
                    avg(recent, |t| t.commit),
                );
            }
        }
        if finished {
            break;
        }
    }
    let run_s = t0.elapsed().as_secs_f64();
    let (_, peak) = rss_mib();
    println!(
        "\n{job}: {} keys in state ({} on disk) after {} epochs in {run_s:.1} s ({:.0} events/s); \
         {} rows out; epoch time first 10 avg {:.0} ms, last 10 avg {:.0} ms; peak RSS {peak:.0} MiB; \
         checkpoint {:.0} MiB",
        last_state.0,
        last_state.1,
        times.len(),
        events as f64 / run_s,
        out.load(Ordering::Relaxed),
        avg(&times[..times.len().min(10)], |t| t.total),
        avg(&times[times.len().saturating_sub(10)..], |t| t.total),
        dir_mib(&checkpoint),
    );
    // Restore: a new query on the same checkpoint and source reads the state back and runs one
    // empty epoch.
    let t1 = Instant::now();
    let q = start(job, events, &checkpoint, limit, Arc::new(AtomicU64::new(0))).await?;
    q.await_termination().await?;
    let (_, peak) = rss_mib();
    println!(
        "restore: a new query on the checkpoint restored {} keys and ended in {:.1} s; peak RSS \
         of the process {peak:.0} MiB",
        last_state.0,
        t1.elapsed().as_secs_f64()
    );
    Ok(())
}
