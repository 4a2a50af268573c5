//! `tributary-bench kills [KILLS] [FILES] [SINK...]`: exactly once under SIGKILL, at length.
//! For each sink (`delta`, `parquet`, `json`, and `windows`: an event-time window aggregation
//! with state and a watermark, appended to Delta), a child process (this binary, `kills-child`)
//! streams FILES JSON files (default 200, one per epoch) while the parent writes them and kills
//! the child with SIGKILL KILLS times (default 100) at random moments, then runs the query to
//! the end and compares the output with the input: every event exactly once (the windows: the
//! batch answer over all the input). Prints one line per sink and fails on any difference.
//! Outside the test suite for its length (about a minute per sink in a release build).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use tributary::prelude::*;

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

/// The query of a sink kind and the format it writes.
fn query(kind: &str) -> (&'static str, &'static str) {
    match kind {
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

/// Write file `f` of events, atomically (hidden name, then rename).
fn write_file(input: &Path, f: usize) -> anyhow::Result<()> {
    let mut body = String::new();
    for i in f * EVENTS_PER_FILE..(f + 1) * EVENTS_PER_FILE {
        // One event per second of event time (integers are seconds, as in Spark), up to 19 s
        // out of order: within the 1-minute watermark, so no row is late.
        let t = 1_800_000_000_i64 + i as i64 - ((i * 7919) % 20) as i64;
        body.push_str(&format!(
            "{{\"id\":{i},\"event_time\":{t},\"region\":\"r{}\"}}\n",
            i % 5
        ));
    }
    let tmp = input.join(format!(".f{f:05}.tmp"));
    std::fs::write(&tmp, body)?;
    std::fs::rename(tmp, input.join(format!("f{f:05}.json")))?;
    Ok(())
}

async fn events(session: &Session, input: &Path, stream: bool) -> anyhow::Result<DataFrame> {
    let path = input.to_str().context("utf-8 path")?;
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
    let [kind, input, out, ckpt, how] = args else {
        bail!("kills-child KIND INPUT OUT CHECKPOINT run|final");
    };
    let (sql, format) = query(kind);
    let session = Session::new();
    session.register("events", events(&session, Path::new(input), true).await?)?;
    let last = how == "final";
    let q = session
        .sql(sql)
        .await?
        .write_stream()
        .format(format)
        .trigger(if last {
            Trigger::AvailableNow
        } else {
            Trigger::ProcessingTime(Duration::from_millis(10))
        })
        .option("checkpoint_location", ckpt)
        .option("flush_at_end", last)
        .start(out)
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

fn spawn(kind: &str, input: &Path, out: &Path, ckpt: &Path, how: &str) -> anyhow::Result<Guard> {
    let me = std::env::current_exe()?;
    Ok(Guard(
        Command::new(me)
            .arg("kills-child")
            .args([kind])
            .args([input, out, ckpt])
            .arg(how)
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
    session.register("events", events(&session, input, false).await?)?;
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

async fn run_one(kind: &str, kills: usize, files: usize) -> anyhow::Result<(usize, usize)> {
    let tmp = tempfile::tempdir()?;
    let (input, out, ckpt): (PathBuf, PathBuf, PathBuf) = (
        tmp.path().join("in"),
        tmp.path().join("out"),
        tmp.path().join("ck"),
    );
    std::fs::create_dir_all(&input)?;
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move |bound: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % bound
    };
    let mut written = 0;
    for k in 0..kills {
        // The files keep arriving while the query is killed again and again.
        let target = files * (k + 1) / kills;
        while written < target {
            write_file(&input, written)?;
            written += 1;
        }
        let child = spawn(kind, &input, &out, &ckpt, "run")?;
        tokio::time::sleep(Duration::from_millis(50 + next(400))).await;
        drop(child);
    }
    while written < files {
        write_file(&input, written)?;
        written += 1;
    }
    let mut last = spawn(kind, &input, &out, &ckpt, "final")?;
    let mut stderr = String::new();
    if let Some(mut e) = last.0.stderr.take() {
        std::io::Read::read_to_string(&mut e, &mut stderr)?;
    }
    let status = last.0.wait()?;
    if !status.success() {
        bail!("{kind}: the final run failed ({status}): {stderr}");
    }
    let columns = if kind == "windows" {
        "minute, region, n, ids"
    } else {
        "id, region"
    };
    let got = widths(&rows(&Session::new(), kind, &out, columns).await?);
    let want = widths(&expected(kind, &input, files).await?);
    // Epochs run: the newest commit file's number plus one (old ones are purged).
    let epochs = std::fs::read_dir(ckpt.join("commits"))?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<usize>().ok())
        .max()
        .map_or(0, |e| e + 1);
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
    Ok((epochs, got.len()))
}

/// The parent: every sink kind in turn.
pub(crate) async fn run(kills: usize, files: usize, kinds: &[String]) -> anyhow::Result<()> {
    let all = ["delta", "parquet", "json", "windows"].map(String::from);
    let kinds = if kinds.is_empty() { &all[..] } else { kinds };
    println!("kills: {kills} SIGKILLs over {files} files of {EVENTS_PER_FILE} events per sink");
    for kind in kinds {
        let start = std::time::Instant::now();
        let (epochs, rows) = run_one(kind, kills, files).await?;
        println!(
            "{kind:>8}: exact output ({rows} rows) after {kills} kills over {epochs} epochs, {:.0} s",
            start.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
