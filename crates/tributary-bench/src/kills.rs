//! `tributary-bench kills [KILLS] [FILES] [KIND...]`: exactly once under SIGKILL, at length.
//! For each kind (`delta`, `parquet`, `json`: a files source into that sink; `windows`: an
//! event-time window aggregation with state and a watermark, appended to Delta; `kafka-in`: a
//! Kafka topic into Delta; `kafka-out`: files into a Kafka topic with `exactly_once`), a child
//! process (this binary, `kills-child`) streams FILES batches of events (default 200, one per
//! epoch) while the parent writes them (files, or records produced to the topic) and kills the
//! child with SIGKILL KILLS times (default 100) at random moments, then runs the query to the
//! end and compares the output with the input: every event exactly once (the windows: the
//! batch answer over all the input). Prints one line per kind and fails on any difference.
//! Outside the test suite for its length (about a minute per kind in a release build).
//!
//! Kafka runs against librdkafka's mock cluster, started by the parent on 127.0.0.1 (the
//! children reach it over TCP like any broker). The mock runs transactions and fences a killed
//! query's producer, but writes no abort markers, so a `read_committed` reader still sees the
//! records of a transaction that a kill cut short; `kafka-out` therefore checks that no event
//! is lost and that every extra copy belongs to an epoch that some kill cut (at most one epoch
//! per kill), and prints how many there were. A real broker hides them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use tributary::prelude::*;

use kafka::{IN_TOPIC, OUT_TOPIC};

mod kafka;

const EVENTS_PER_FILE: usize = 50;

fn schema() -> SchemaRef {
    std::sync::Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
        Field::new("region", DataType::Utf8, false),
    ]))
}

/// The query of a kind and the format it writes.
fn query(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "kafka-out" => ("SELECT id, region FROM events", "kafka"),
        "windows" => (
            "SELECT w['start'] AS minute, region, count(*) AS n, sum(id) AS ids FROM \
             (SELECT window(event_time, '1 minute') AS w, region, id FROM events) GROUP BY w, region",
            "delta",
        ),
        "parquet" => ("SELECT id, region FROM events", "parquet"),
        "json" => ("SELECT id, region FROM events", "json"),
        _ => ("SELECT id, region FROM events", "delta"),
    }
}

/// Event `i` as a JSON object: one event per second of event time (integers are seconds, as in
/// Spark), up to 19 s out of order: within the 1-minute watermark, so no row is late.
fn event(i: usize) -> String {
    let t = 1_800_000_000_i64 + i as i64 - ((i * 7919) % 20) as i64;
    format!(
        "{{\"id\":{i},\"event_time\":{t},\"region\":\"r{}\"}}",
        i % 5
    )
}

/// The ids of batch `f`: one epoch's worth of events.
fn batch_ids(f: usize) -> std::ops::Range<usize> {
    f * EVENTS_PER_FILE..(f + 1) * EVENTS_PER_FILE
}

/// Write file `f` of events, atomically (hidden name, then rename).
fn write_file(input: &Path, f: usize) -> anyhow::Result<()> {
    let body: String = batch_ids(f).map(|i| event(i) + "\n").collect();
    let tmp = input.join(format!(".f{f:05}.tmp"));
    std::fs::write(&tmp, body)?;
    std::fs::rename(tmp, input.join(format!("f{f:05}.json")))?;
    Ok(())
}

/// Where the events come from and the Kafka output goes: a folder of files, or the mock
/// cluster's topics.
enum Input<'a> {
    Files(&'a Path),
    Kafka(&'a str),
}

async fn events(session: &Session, input: Input<'_>, stream: bool) -> anyhow::Result<DataFrame> {
    let path = match input {
        Input::Files(path) => path.to_str().context("utf-8 path")?,
        Input::Kafka(bootstrap) => {
            let df = session
                .read_stream()
                .format("kafka")
                .schema(schema())
                .option("kafka.bootstrap.servers", bootstrap)
                .option("subscribe", IN_TOPIC)
                .option("starting_offsets", "earliest")
                .option("max_offsets_per_trigger", EVENTS_PER_FILE as i64)
                .load("")
                .await?;
            return Ok(df.with_watermark("event_time", "1 minute")?);
        }
    };
    let df = if stream {
        session
            .read_stream()
            .schema(schema())
            .option("max_files_per_trigger", 1)
            .json(path)
            .await?
    } else {
        session.read().schema(schema()).json(path).await?
    };
    Ok(df.with_watermark("event_time", "1 minute")?)
}

/// The child: run the query until killed (or to the end with `final`).
pub(crate) async fn child(args: &[String]) -> anyhow::Result<()> {
    let [kind, input, out, ckpt, how, bootstrap] = args else {
        bail!("kills-child KIND INPUT OUT CHECKPOINT run|final BOOTSTRAP");
    };
    let (sql, format) = query(kind);
    let session = Session::new();
    let source = if kind == "kafka-in" {
        Input::Kafka(bootstrap)
    } else {
        Input::Files(Path::new(input))
    };
    session.register("events", events(&session, source, true).await?)?;
    let last = how == "final";
    let mut writer = session.sql(sql).await?.write_stream().format(format);
    if format == "kafka" {
        writer = writer
            .option("kafka.bootstrap.servers", bootstrap)
            .option("topic", OUT_TOPIC)
            .option("exactly_once", true);
    }
    let q = writer
        .trigger(if last {
            Trigger::AvailableNow
        } else {
            Trigger::ProcessingTime(Duration::from_millis(10))
        })
        .option("checkpoint_location", ckpt)
        .option("flush_at_end", last)
        .start(if format == "kafka" { "" } else { out.as_str() })
        .await?;
    q.await_termination().await?;
    Ok(())
}

/// A child process, killed when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The paths of one kind's run, and the mock cluster's address when it uses Kafka.
struct Run<'a> {
    kind: &'a str,
    input: PathBuf,
    out: PathBuf,
    ckpt: PathBuf,
    bootstrap: String,
}

fn spawn(run: &Run<'_>, how: &str) -> anyhow::Result<Guard> {
    let me = std::env::current_exe()?;
    Ok(Guard(
        Command::new(me)
            .arg("kills-child")
            .arg(run.kind)
            .args([&run.input, &run.out, &run.ckpt])
            .args([how, run.bootstrap.as_str()])
            .stdout(Stdio::null())
            .stderr(if how == "final" {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .spawn()?,
    ))
}

/// Every row of the output as text, sorted.
async fn rows(
    session: &Session,
    kind: &str,
    out: &Path,
    columns: &str,
) -> anyhow::Result<Vec<String>> {
    let path = out.to_str().context("utf-8 path")?;
    let df = match query(kind).1 {
        "parquet" => session.read().parquet(path).await?,
        "json" => session.read().json(path).await?,
        _ => session.read().delta(path).await?,
    };
    session.register("result", df)?;
    let batches = session
        .sql(&format!("SELECT {columns} FROM result"))
        .await?
        .collect()
        .await?;
    let mut out = Vec::new();
    for b in &batches {
        let text = arrow::util::pretty::pretty_format_batches(std::slice::from_ref(b))?.to_string();
        out.extend(
            text.lines()
                .filter(|l| l.starts_with('|') && !l.contains(" id ") && !l.contains(" minute "))
                .map(str::to_string),
        );
    }
    out.sort();
    Ok(out)
}

async fn expected(kind: &str, input: &Path, files: usize) -> anyhow::Result<Vec<String>> {
    if kind != "windows" {
        let mut ids: Vec<String> = (0..files * EVENTS_PER_FILE)
            .map(|i| format!("| {i} | r{} |", i % 5))
            .collect();
        ids.sort();
        return Ok(ids);
    }
    // The batch answer over the same input, written to a Delta table and read back the same way.
    let session = Session::new();
    session.register(
        "events",
        events(&session, Input::Files(input), false).await?,
    )?;
    let tmp = tempfile::tempdir()?;
    let out = tmp.path().join("batch");
    session
        .sql(query(kind).0)
        .await?
        .write()
        .format("delta")
        .save(out.to_str().context("utf-8 path")?)
        .await?;
    rows(&Session::new(), kind, &out, "minute, region, n, ids").await
}

fn widths(lines: &[String]) -> Vec<String> {
    // pretty_format pads cells to each batch's widest value: compare values, not padding.
    lines
        .iter()
        .map(|l| l.split('|').map(str::trim).collect::<Vec<_>>().join("|"))
        .collect()
}

async fn run_one(kind: &str, kills: usize, files: usize) -> anyhow::Result<(usize, String)> {
    let tmp = tempfile::tempdir()?;
    let broker = match kind {
        "kafka-in" | "kafka-out" => Some(kafka::Broker::start()?),
        _ => None,
    };
    let run = Run {
        kind,
        input: tmp.path().join("in"),
        out: tmp.path().join("out"),
        ckpt: tmp.path().join("ck"),
        bootstrap: broker
            .as_ref()
            .map_or("-".to_string(), kafka::Broker::bootstrap),
    };
    std::fs::create_dir_all(&run.input)?;
    let deliver = |f: usize| match (&broker, kind) {
        (Some(broker), "kafka-in") => broker.produce_batch(f),
        _ => write_file(&run.input, f),
    };
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move |bound: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % bound
    };
    let mut written = 0;
    for k in 0..kills {
        // The events keep arriving while the query is killed again and again.
        let target = files * (k + 1) / kills;
        while written < target {
            deliver(written)?;
            written += 1;
        }
        let child = spawn(&run, "run")?;
        tokio::time::sleep(Duration::from_millis(50 + next(400))).await;
        drop(child);
    }
    while written < files {
        deliver(written)?;
        written += 1;
    }
    let mut last = spawn(&run, "final")?;
    let mut stderr = String::new();
    if let Some(mut e) = last.0.stderr.take() {
        std::io::Read::read_to_string(&mut e, &mut stderr)?;
    }
    let status = last.0.wait()?;
    if !status.success() {
        bail!("{kind}: the final run failed ({status}): {stderr}");
    }
    // Epochs run: the newest commit file's number plus one (old ones are purged).
    let epochs = std::fs::read_dir(run.ckpt.join("commits"))?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<usize>().ok())
        .max()
        .map_or(0, |e| e + 1);
    if let (Some(broker), "kafka-out") = (&broker, kind) {
        let ids = broker.read_committed_ids()?;
        let (extra, cut) = kafka::judge(&ids, files, kills)?;
        return Ok((
            epochs,
            format!(
                "no event lost ({} events); {extra} extra copies in {cut} epochs cut by a kill \
                 (the mock broker writes no abort markers)",
                files * EVENTS_PER_FILE
            ),
        ));
    }
    let columns = if kind == "windows" {
        "minute, region, n, ids"
    } else {
        "id, region"
    };
    let got = widths(&rows(&Session::new(), kind, &run.out, columns).await?);
    let want = widths(&expected(kind, &run.input, files).await?);
    if got != want {
        let only_got: Vec<_> = got.iter().filter(|r| !want.contains(r)).take(10).collect();
        let only_want: Vec<_> = want.iter().filter(|r| !got.contains(r)).take(10).collect();
        bail!(
            "{kind}: the output differs from the input after {kills} kills ({} rows, {} expected)\n\
             only in the output: {only_got:?}\nmissing: {only_want:?}",
            got.len(),
            want.len()
        );
    }
    Ok((epochs, format!("exact output ({} rows)", got.len())))
}

/// The parent: every kind in turn.
pub(crate) async fn run(kills: usize, files: usize, kinds: &[String]) -> anyhow::Result<()> {
    let all = [
        "delta",
        "parquet",
        "json",
        "windows",
        "kafka-in",
        "kafka-out",
    ]
    .map(String::from);
    let kinds = if kinds.is_empty() { &all[..] } else { kinds };
    println!("kills: {kills} SIGKILLs over {files} batches of {EVENTS_PER_FILE} events per kind");
    for kind in kinds {
        let start = std::time::Instant::now();
        let (epochs, outcome) = run_one(kind, kills, files).await?;
        println!(
            "{kind:>9}: {outcome} after {kills} kills over {epochs} epochs, {:.0} s",
            start.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
