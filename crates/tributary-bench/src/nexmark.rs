//! `nexmark [EVENTS] [qN ...]`: the queries of `examples/nexmark/` over EVENTS generated events
//! (default 10M), each as a stream (AvailableNow, 1M events per epoch, with its checkpoint) and
//! as a batch, both into a sink that drains and drops every row. Prints, per query and mode,
//! the wall time, events per second, and events per CPU-second ("per core": the process's user
//! and system time, so a run that keeps two cores busy counts twice).
//!
//! The queries come from the job files themselves (their INSERT's SELECT and their sources'
//! options); only the sink is swapped. A query the engine refuses as a stream says so.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use futures::StreamExt;
use tributary::prelude::*;
use tributary_sql::JobFile;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/nexmark")
}

/// The process's user + system CPU time in seconds (Linux).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line; 12 and 13 after the name and state.
    (ticks(11) + ticks(12)) / 100.0
}

struct Measure {
    seconds: f64,
    cpu: f64,
    rows: u64,
}

async fn job(n: u32, events: u64) -> anyhow::Result<JobFile> {
    let text = std::fs::read_to_string(examples().join(format!("q{n}.sql")))?;
    let vars = HashMap::from([
        ("events".to_string(), events.to_string()),
        ("events_per_epoch".to_string(), "1000000".to_string()),
        ("output".to_string(), "unused".to_string()),
    ]);
    Ok(JobFile::parse(&tributary_sql::substitute(&text, &vars)?).await?)
}

/// Register the job's sources in `session`, as streams or as tables.
async fn register(session: &Session, job: &JobFile, stream: bool) -> anyhow::Result<()> {
    for t in job.tables.iter().filter(|t| !job.is_sink(&t.name)) {
        let mut options = t.options.clone();
        let watermark = options
            .remove("watermark_column")
            .zip(options.remove("watermark_delay"));
        let df = if stream {
            session
                .read_stream()
                .format(&t.format)
                .options(options.iter())
                .load(&t.location)
                .await?
        } else {
            session
                .read()
                .format(&t.format)
                .options(options.iter())
                .load(&t.location)
                .await?
        };
        let df = match watermark {
            Some((c, d)) => df.with_watermark(&c, &d)?,
            None => df,
        };
        session.register(&t.name, df)?;
    }
    Ok(())
}

async fn drain(df: DataFrame) -> tributary::Result<u64> {
    let mut stream = df.execute_stream().await?;
    let mut rows = 0;
    while let Some(b) = stream.next().await {
        rows += b?.num_rows() as u64;
    }
    Ok(rows)
}

async fn batch(job: &JobFile) -> anyhow::Result<Measure> {
    let session = Session::new();
    register(&session, job, false).await?;
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    let rows = drain(session.sql(&job.inserts[0].query).await?).await?;
    Ok(Measure {
        seconds: t0.elapsed().as_secs_f64(),
        cpu: cpu_seconds() - cpu0,
        rows,
    })
}

async fn stream(job: &JobFile, ckpt: &Path) -> anyhow::Result<Measure> {
    let session = Session::new();
    register(&session, job, true).await?;
    let sink = job.table(&job.inserts[0].target).context("the sink")?;
    let mode = sink
        .options
        .get("output_mode")
        .map_or("append", String::as_str)
        .parse::<OutputMode>()?;
    let rows = Arc::new(AtomicU64::new(0));
    let counted = rows.clone();
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    let q = session
        .sql(&job.inserts[0].query)
        .await?
        .write_stream()
        .output_mode(mode)
        .option("checkpoint_location", ckpt.display())
        .option("flush_at_end", true)
        .trigger(Trigger::AvailableNow)
        .foreach_batch(move |df, _| {
            let counted = counted.clone();
            async move {
                counted.fetch_add(drain(df).await?, Ordering::Relaxed);
                Ok(())
            }
        })
        .start("")
        .await?;
    q.await_termination().await?;
    if std::env::var_os("TRIBUTARY_BENCH_PROGRESS").is_some() {
        // Where an epoch's time goes: its steps, and each stateful operator's work and commit.
        for p in q.recent_progress() {
            let ops: Vec<String> = p
                .state_operators
                .iter()
                .map(|o| {
                    format!(
                        "{}#{} update {} ms, commit {} ms, rows {}",
                        o["operatorName"].as_str().unwrap_or("?"),
                        o["operatorId"],
                        o["allUpdatesTimeMs"],
                        o["commitTimeMs"],
                        o["numRowsTotal"]
                    )
                })
                .collect();
            eprintln!(
                "epoch {}: {:?}; {}",
                p.batch_id,
                p.duration_ms,
                ops.join("; ")
            );
        }
    }
    Ok(Measure {
        seconds: t0.elapsed().as_secs_f64(),
        cpu: cpu_seconds() - cpu0,
        rows: rows.load(Ordering::Relaxed),
    })
}

/// The bench: every query (or those named), stream then batch.
pub(crate) async fn run(events: u64, only: &[String]) -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "Nexmark, {events} events (seed 0, 10,000 events/s of event time), {cores} cores; \
         stream = AvailableNow, 1M events per epoch; rows are drained and dropped\n"
    );
    println!("| query | stream s | stream events/s | stream events/CPU-s | batch s | batch events/s | batch events/CPU-s | rows out (stream / batch) |");
    println!("|---|---|---|---|---|---|---|---|");
    for n in 0..=22u32 {
        let name = format!("q{n}");
        if !only.is_empty() && !only.contains(&name) {
            continue;
        }
        let job = job(n, events).await?;
        let tmp = tempfile::tempdir()?;
        let s = stream(&job, tmp.path()).await;
        let b = batch(&job).await;
        let fmt = |m: &anyhow::Result<Measure>| match m {
            Ok(m) => format!(
                "{:.2} | {:.0} | {:.0}",
                m.seconds,
                events as f64 / m.seconds,
                events as f64 / m.cpu.max(0.01)
            ),
            Err(e) => {
                let text = e.to_string();
                let first = text
                    .lines()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(70)
                    .collect::<String>();
                format!("refused: {first} | | ")
            }
        };
        let rows =
            |m: &anyhow::Result<Measure>| m.as_ref().map_or("-".into(), |m| m.rows.to_string());
        println!(
            "| {name} | {} | {} | {} / {} |",
            fmt(&s),
            fmt(&b),
            rows(&s),
            rows(&b)
        );
    }
    Ok(())
}
