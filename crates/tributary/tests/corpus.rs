//! The differential corpus: every query of `tests/corpus/*.slt` as a batch and as a stream over
//! random splits with restarts, each compared with the answer an independent engine (DuckDB)
//! gave. The format and the tables are described in `tests/corpus/README.md`.
//!
//! ```text
//!   .slt record ──► batch: tables over all the data ──► rows ──┐
//!               ──► stream, round r: files arrive in random chunks; each chunk is read by a
//!                   new query on the same checkpoint (a restart) in epochs of 1..3 files;
//!                   the last run flushes; output: a Delta table in the record's mode ──► rows ──┤
//!                                                                   expected rows (DuckDB) ◄───┘
//! ```
//!
//! Odd rounds give the query a state memory budget of a few kilobytes, so that its keyed state
//! lives mostly on local disk (`state_memory_limit`), and read every chunk but the last in
//! real-time mode (rows through the operators as they arrive, epochs of 50 ms, each run
//! stopped once it has processed what was there): the answers must not change.
//!
//! `CORPUS_FILTER=<name part>` runs only matching records; `CORPUS_ROUNDS=<n>` sets the stream
//! rounds per query (default 2); `CORPUS_SEED=<n>` changes the random splits.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::*;
use tributary::prelude::*;

fn corpus_dir() -> PathBuf {
    std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("tests/corpus")
}

// ---------------------------------------------------------------------------------------------
// Records

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Query,
    Refused,
}

#[derive(Debug, Clone)]
struct Record {
    kind: Kind,
    name: String,
    mode: OutputMode,
    source: String,
    sql: String,
    expected: Vec<String>,
    expected_stream: Option<Vec<String>>,
    error: String,
    line: usize,
}

fn parse(file: &str, text: &str) -> Vec<Record> {
    let mut records = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let head = line.trim();
        if head.is_empty() || head.starts_with('#') {
            i += 1;
            continue;
        }
        let mut words = head.split_whitespace();
        let kind = match words.next() {
            Some("query") => Kind::Query,
            Some("refused") => Kind::Refused,
            other => panic!(
                "{file}:{}: a record starts with 'query' or 'refused', not {other:?}",
                i + 1
            ),
        };
        let name = words
            .next()
            .unwrap_or_else(|| panic!("{file}:{}: the record has no name", i + 1))
            .to_string();
        let mut rec = Record {
            kind,
            name,
            mode: OutputMode::Append,
            source: "json".into(),
            sql: String::new(),
            expected: Vec::new(),
            expected_stream: None,
            error: String::new(),
            line: i + 1,
        };
        for w in words {
            match w.split_once('=') {
                Some(("mode", m)) => {
                    rec.mode = m
                        .parse()
                        .unwrap_or_else(|e| panic!("{file}:{}: {e}", i + 1))
                }
                Some(("source", s)) => rec.source = s.to_string(),
                _ => panic!("{file}:{}: unknown record option '{w}'", i + 1),
            }
        }
        i += 1;
        // Sections until a blank line.
        let mut section = "sql".to_string();
        let mut sql = Vec::new();
        let mut expected = Vec::new();
        let mut expected_stream: Option<Vec<String>> = None;
        let mut error = Vec::new();
        while i < lines.len() && !lines[i].trim().is_empty() {
            let l = lines[i];
            if let Some(s) = l.strip_prefix("----") {
                section = s.trim().to_string();
                if section == "expected stream" {
                    expected_stream = Some(Vec::new());
                }
                i += 1;
                continue;
            }
            match section.as_str() {
                "sql" => sql.push(l),
                "expected" => expected.push(l.to_string()),
                "expected stream" => expected_stream.as_mut().unwrap().push(l.to_string()),
                "error" => error.push(l.trim()),
                "reference" | "reference stream" => {}
                other => panic!("{file}:{}: unknown section '---- {other}'", i + 1),
            }
            i += 1;
        }
        rec.sql = sql.join("\n");
        rec.expected = expected;
        rec.expected_stream = expected_stream;
        rec.error = error.join(" ");
        assert!(!rec.sql.trim().is_empty(), "{file}:{}: no SQL", rec.line);
        if rec.kind == Kind::Refused {
            assert!(
                !rec.error.is_empty(),
                "{file}:{}: a refused query names its error",
                rec.line
            );
        }
        records.push(rec);
    }
    records
}

// ---------------------------------------------------------------------------------------------
// Canonical rows (the same text `scripts/corpus_expected.py` writes)

fn float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.into();
    }
    let v = if v == 0.0 { 0.0 } else { v };
    let s = format!("{v:.8e}");
    let (mantissa, exp) = s.split_once('e').expect("exponent");
    let exp: i32 = exp.parse().expect("exponent");
    format!(
        "{mantissa}e{}{:02}",
        if exp < 0 { '-' } else { '+' },
        exp.abs()
    )
}

fn timestamp(micros_or_nanos: i64, unit: &TimeUnit) -> String {
    let nanos: i128 = match unit {
        TimeUnit::Second => micros_or_nanos as i128 * 1_000_000_000,
        TimeUnit::Millisecond => micros_or_nanos as i128 * 1_000_000,
        TimeUnit::Microsecond => micros_or_nanos as i128 * 1_000,
        TimeUnit::Nanosecond => micros_or_nanos as i128,
    };
    let secs = nanos.div_euclid(1_000_000_000) as i64;
    let sub = nanos.rem_euclid(1_000_000_000) as u32;
    let t = chrono::DateTime::from_timestamp(secs, 0)
        .expect("timestamp in range")
        .naive_utc();
    let mut s = t.format("%Y-%m-%d %H:%M:%S").to_string();
    let micros = sub / 1000;
    if micros != 0 {
        let frac = format!("{micros:06}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s
}

fn cell(a: &ArrayRef, i: usize) -> String {
    if a.is_null(i) {
        return "NULL".into();
    }
    macro_rules! prim {
        ($t:ty) => {
            a.as_primitive::<$t>().value(i).to_string()
        };
    }
    match a.data_type() {
        DataType::Null => "NULL".into(),
        DataType::Boolean => a.as_boolean().value(i).to_string(),
        DataType::Int8 => prim!(Int8Type),
        DataType::Int16 => prim!(Int16Type),
        DataType::Int32 => prim!(Int32Type),
        DataType::Int64 => prim!(Int64Type),
        DataType::UInt8 => prim!(UInt8Type),
        DataType::UInt16 => prim!(UInt16Type),
        DataType::UInt32 => prim!(UInt32Type),
        DataType::UInt64 => prim!(UInt64Type),
        DataType::Float16 => float(a.as_primitive::<Float16Type>().value(i).to_f64()),
        DataType::Float32 => float(a.as_primitive::<Float32Type>().value(i) as f64),
        DataType::Float64 => float(a.as_primitive::<Float64Type>().value(i)),
        DataType::Decimal128(_, s) => {
            float(a.as_primitive::<Decimal128Type>().value(i) as f64 / 10f64.powi(*s as i32))
        }
        DataType::Utf8 => a.as_string::<i32>().value(i).to_string(),
        DataType::LargeUtf8 => a.as_string::<i64>().value(i).to_string(),
        DataType::Utf8View => a.as_string_view().value(i).to_string(),
        DataType::Timestamp(unit, _) => {
            let v = match unit {
                TimeUnit::Second => a.as_primitive::<TimestampSecondType>().value(i),
                TimeUnit::Millisecond => a.as_primitive::<TimestampMillisecondType>().value(i),
                TimeUnit::Microsecond => a.as_primitive::<TimestampMicrosecondType>().value(i),
                TimeUnit::Nanosecond => a.as_primitive::<TimestampNanosecondType>().value(i),
            };
            timestamp(v, unit)
        }
        DataType::Date32 => {
            let d = a.as_primitive::<Date32Type>().value(i);
            (chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()
                + chrono::Duration::days(d as i64))
            .format("%Y-%m-%d")
            .to_string()
        }
        DataType::List(_) => list(&a.as_list::<i32>().value(i)),
        DataType::LargeList(_) => list(&a.as_list::<i64>().value(i)),
        DataType::FixedSizeList(_, _) => list(&a.as_fixed_size_list().value(i)),
        DataType::Struct(fields) => {
            let s = a.as_struct();
            let parts: Vec<String> = fields
                .iter()
                .zip(s.columns())
                .map(|(f, c)| format!("{}: {}", f.name(), cell(c, i)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        DataType::Map(_, _) => {
            let m = a.as_map();
            let entries = m.value(i);
            let (k, v) = (entries.column(0), entries.column(1));
            let parts: Vec<String> = (0..entries.len())
                .map(|j| format!("{}: {}", cell(k, j), cell(v, j)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        DataType::Dictionary(_, value) => {
            let c = arrow::compute::cast(a, value).unwrap();
            cell(&c, i)
        }
        _ => {
            let f = arrow::util::display::ArrayFormatter::try_new(
                a.as_ref(),
                &arrow::util::display::FormatOptions::default(),
            )
            .unwrap();
            f.value(i).to_string()
        }
    }
}

fn list(values: &ArrayRef) -> String {
    let parts: Vec<String> = (0..values.len()).map(|j| cell(values, j)).collect();
    format!("[{}]", parts.join(", "))
}

fn canonical(batches: &[RecordBatch]) -> Vec<String> {
    let mut rows = Vec::new();
    for b in batches {
        for i in 0..b.num_rows() {
            let cells: Vec<String> = b.columns().iter().map(|c| cell(c, i)).collect();
            rows.push(cells.join(" | "));
        }
    }
    rows.sort();
    rows
}

// ---------------------------------------------------------------------------------------------
// Tables

fn events_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            true,
        ),
        Field::new("user_id", DataType::Int64, true),
        Field::new("region", DataType::Utf8, true),
        Field::new("page", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
        Field::new("qty", DataType::Int32, true),
        Field::new("flag", DataType::Boolean, true),
        Field::new("tags", DataType::Utf8, true),
    ]))
}

fn clicks_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("click_id", DataType::Int64, true),
        Field::new(
            "click_time",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            true,
        ),
        Field::new("user_id", DataType::Int64, true),
        Field::new("ad", DataType::Utf8, true),
    ]))
}

fn regions_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("region", DataType::Utf8, true),
        Field::new("country", DataType::Utf8, true),
        Field::new("tier", DataType::Utf8, true),
    ]))
}

fn users_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("plan", DataType::Utf8, true),
        Field::new("signup", DataType::Date32, true),
    ]))
}

/// The data files of one stream table, in arrival order.
fn parts(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("corpus data {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| !n.to_string_lossy().starts_with('.'))
        })
        .collect();
    v.sort();
    v
}

/// Where each table's input lives for one run: the folders the stream reads (filled chunk by
/// chunk), or the full data for the batch.
struct Inputs {
    events: PathBuf,
    late: PathBuf,
    clicks: PathBuf,
    format: String,
    /// Files per epoch of each stream run (`max_files_per_trigger`).
    per_epoch: u64,
}

async fn read_events(s: &Session, inputs: &Inputs, dir: &Path, stream: bool) -> DataFrame {
    let path = dir.to_str().unwrap();
    macro_rules! read {
        ($r:expr) => {{
            let r = $r;
            match inputs.format.as_str() {
                "json" => r.schema(events_schema()).json(path).await,
                "csv" => {
                    r.schema(events_schema())
                        .option("has_header", "true")
                        .csv(path)
                        .await
                }
                "parquet" => r.schema(events_schema()).parquet(path).await,
                "delta" => r.delta(path).await,
                other => panic!("unknown source format '{other}'"),
            }
        }};
    }
    if stream {
        read!(s
            .read_stream()
            .option("max_files_per_trigger", inputs.per_epoch))
    } else {
        read!(s.read())
    }
    .unwrap_or_else(|e| panic!("reading events from {path}: {e}"))
}

async fn register(s: &Session, inputs: &Inputs, stream: bool) {
    let data = corpus_dir().join("data");
    let events = read_events(s, inputs, &inputs.events, stream).await;
    s.register("events", events.clone()).unwrap();
    s.register(
        "events_wm",
        read_events(s, inputs, &inputs.events, stream)
            .await
            .with_watermark("event_time", "1 minute")
            .unwrap(),
    )
    .unwrap();
    let late_inputs = Inputs {
        events: inputs.late.clone(),
        late: inputs.late.clone(),
        clicks: inputs.clicks.clone(),
        format: "json".into(),
        per_epoch: inputs.per_epoch,
    };
    s.register(
        "late_events",
        read_events(s, &late_inputs, &inputs.late, stream)
            .await
            .with_watermark("event_time", "1 minute")
            .unwrap(),
    )
    .unwrap();
    let clicks_path = inputs.clicks.to_str().unwrap();
    let clicks = if stream {
        s.read_stream()
            .schema(clicks_schema())
            .option("max_files_per_trigger", inputs.per_epoch)
            .json(clicks_path)
            .await
    } else {
        s.read().schema(clicks_schema()).json(clicks_path).await
    }
    .unwrap();
    s.register(
        "clicks",
        clicks.with_watermark("click_time", "1 minute").unwrap(),
    )
    .unwrap();
    s.register(
        "regions",
        s.read()
            .schema(regions_schema())
            .option("has_header", "true")
            .csv(data.join("regions.csv").to_str().unwrap())
            .await
            .unwrap(),
    )
    .unwrap();
    s.register(
        "users",
        s.read()
            .schema(users_schema())
            .json(data.join("users.json").to_str().unwrap())
            .await
            .unwrap(),
    )
    .unwrap();
}

fn events_folder(source: &str) -> &'static str {
    match source {
        "json" => "events",
        "csv" => "events_csv",
        "parquet" | "delta" => "events_parquet",
        other => panic!("unknown source '{other}'"),
    }
}

// ---------------------------------------------------------------------------------------------
// Runs

async fn run_batch(rec: &Record) -> Result<Vec<String>, String> {
    let data = corpus_dir().join("data");
    let tmp = tempfile::tempdir().unwrap();
    let events = if rec.source == "delta" {
        let table = tmp.path().join("events_delta");
        for p in parts(&data.join("events_parquet")) {
            append_delta(&p, &table).await;
        }
        table
    } else {
        data.join(events_folder(&rec.source))
    };
    // late_events: the events files and the late file, in one folder.
    let late = tmp.path().join("late");
    std::fs::create_dir_all(&late).unwrap();
    for p in parts(&data.join("events"))
        .into_iter()
        .chain(parts(&data.join("late")))
    {
        std::fs::copy(&p, late.join(p.file_name().unwrap())).unwrap();
    }
    let inputs = Inputs {
        events,
        late,
        clicks: data.join("clicks"),
        format: rec.source.clone(),
        per_epoch: 1,
    };
    let s = Session::new();
    register(&s, &inputs, false).await;
    let df = s.sql(&rec.sql).await.map_err(|e| format!("batch: {e}"))?;
    let batches = df.collect().await.map_err(|e| format!("batch: {e}"))?;
    Ok(canonical(&batches))
}

async fn append_delta(parquet: &Path, table: &Path) {
    let s = Session::new();
    s.read()
        .parquet(parquet.to_str().unwrap())
        .await
        .unwrap()
        .write()
        .format("delta")
        .mode(SaveMode::Append)
        .save(table.to_str().unwrap())
        .await
        .unwrap();
}

/// A replayable generator of the splits.
struct Rng(u64);
impl Rng {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound.max(1)
    }
}

fn seed_of(name: &str, round: u64) -> u64 {
    let base: u64 = std::env::var("CORPUS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed);
    name.bytes()
        .fold(base ^ round.wrapping_mul(0x9e37_79b9_7f4a_7c15), |h, b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        })
}

/// Split `n` parts into random contiguous chunks.
fn chunks(n: usize, rng: &mut Rng) -> Vec<std::ops::Range<usize>> {
    let pieces = 1 + rng.next(4) as usize;
    let mut cuts: Vec<usize> = (0..pieces - 1)
        .map(|_| 1 + rng.next(n as u64 - 1) as usize)
        .collect();
    cuts.push(0);
    cuts.push(n);
    cuts.sort();
    cuts.dedup();
    cuts.windows(2).map(|w| w[0]..w[1]).collect()
}

/// The state memory budget of odd rounds: a few rows per state partition stay in memory.
const SPILLING_BUDGET: &str = "8k";

/// How one run of a stream round reads what has arrived.
#[derive(Debug, Clone, Copy, PartialEq)]
enum RunKind {
    /// `AvailableNow`; the last run also flushes the watermark.
    AvailableNow { last: bool },
    /// Real-time mode, stopped once everything there is processed.
    RealTime,
}

async fn start_stream(
    rec: &Record,
    inputs: &Inputs,
    out: &Path,
    ckpt: &Path,
    kind: RunKind,
    round: u64,
) -> tributary::Result<StreamingQuery> {
    let s = Session::new();
    register(&s, inputs, true).await;
    let mut w = s
        .sql(&rec.sql)
        .await?
        .write_stream()
        .format("delta")
        .output_mode(rec.mode)
        .trigger(match kind {
            RunKind::AvailableNow { .. } => Trigger::AvailableNow,
            RunKind::RealTime => Trigger::RealTime(std::time::Duration::from_millis(50)),
        })
        .option("checkpoint_location", ckpt.display())
        .option(
            "flush_at_end",
            if kind == (RunKind::AvailableNow { last: true }) {
                "true"
            } else {
                "false"
            },
        );
    if round % 2 == 1 {
        w = w.option("state_memory_limit", SPILLING_BUDGET);
    }
    w.start(out.to_str().unwrap()).await
}

/// What the state of a stream's keyed operators did: its largest size, and the most rows it
/// kept on disk.
#[derive(Debug, Default, Clone, Copy)]
struct StateSeen {
    max_rows: u64,
    max_on_disk: u64,
}

impl StateSeen {
    fn add(&mut self, progress: &[tributary::StreamingQueryProgress]) {
        const KEYED: [&str; 4] = ["stateStoreSave", "dedupe", "symmetricHashJoin", "topN"];
        for op in progress.iter().flat_map(|p| &p.state_operators) {
            if KEYED.contains(&op["operatorName"].as_str().unwrap_or("")) {
                self.max_rows = self.max_rows.max(op["numRowsTotal"].as_u64().unwrap_or(0));
                self.max_on_disk = self
                    .max_on_disk
                    .max(op["numRowsOnDisk"].as_u64().unwrap_or(0));
            }
        }
    }
}

async fn run_stream(rec: &Record, round: u64) -> Result<(Vec<String>, StateSeen), String> {
    let data = corpus_dir().join("data");
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = Rng(seed_of(&rec.name, round));
    let mut inputs = Inputs {
        events: tmp.path().join("events"),
        late: tmp.path().join("late"),
        clicks: tmp.path().join("clicks"),
        format: rec.source.clone(),
        per_epoch: 1,
    };
    for d in [&inputs.events, &inputs.late, &inputs.clicks] {
        std::fs::create_dir_all(d).unwrap();
    }
    let (out, ckpt) = (tmp.path().join("out"), tmp.path().join("ckpt"));
    let events = parts(&data.join(events_folder(&rec.source)));
    let plain = parts(&data.join("events"));
    let clicks = parts(&data.join("clicks"));
    let mut plan = chunks(events.len(), &mut rng);
    // The late file arrives alone, after everything else.
    let n = events.len();
    plan.push(n..n + 1);
    let runs = plan.len();
    let mut seen = StateSeen::default();
    for (k, chunk) in plan.into_iter().enumerate() {
        for i in chunk.clone() {
            if i < n {
                if rec.source == "delta" {
                    append_delta(&events[i], &inputs.events).await;
                } else {
                    copy(&events[i], &inputs.events);
                }
                copy(&plain[i], &inputs.late);
                if let Some(c) = clicks.get(i) {
                    copy(c, &inputs.clicks);
                }
            } else {
                for p in parts(&data.join("late")) {
                    copy(&p, &inputs.late);
                }
            }
        }
        let last = k + 1 == runs;
        inputs.per_epoch = 1 + rng.next(3);
        // Odd rounds read all but the last chunk in real-time mode: each arrival of files goes
        // through the operators at once, epochs commit every 50 ms, and each run is stopped
        // once it has processed what was there.
        let kind = if round % 2 == 1 && !last {
            RunKind::RealTime
        } else {
            RunKind::AvailableNow { last }
        };
        let q = start_stream(rec, &inputs, &out, &ckpt, kind, round)
            .await
            .map_err(|e| format!("stream round {round}, run {k}: start: {e}"))?;
        if kind == RunKind::RealTime {
            q.process_all_available()
                .await
                .map_err(|e| format!("stream round {round}, run {k} (real time): {e}"))?;
            q.stop().await.map_err(|e| e.to_string())?;
            if let Some(e) = q.exception() {
                return Err(format!("stream round {round}, run {k} (real time): {e}"));
            }
        }
        q.await_termination()
            .await
            .map_err(|e| format!("stream round {round}, run {k}: {e}"))?;
        seen.add(&q.recent_progress());
    }
    if !out.join("_delta_log").exists() {
        return Ok((Vec::new(), seen));
    }
    let s = Session::new();
    let batches = s
        .read()
        .delta(out.to_str().unwrap())
        .await
        .map_err(|e| format!("reading the stream's table: {e}"))?
        .collect()
        .await
        .map_err(|e| format!("reading the stream's table: {e}"))?;
    Ok((canonical(&batches), seen))
}

fn copy(from: &Path, to_dir: &Path) {
    // Write then rename, so a listing never sees half a file.
    let name = from.file_name().unwrap().to_string_lossy().to_string();
    let tmp = to_dir.join(format!(".{name}.tmp"));
    std::fs::copy(from, &tmp).unwrap();
    std::fs::rename(tmp, to_dir.join(name)).unwrap();
}

async fn run_refused(rec: &Record) -> Result<(), String> {
    let data = corpus_dir().join("data");
    let tmp = tempfile::tempdir().unwrap();
    let inputs = Inputs {
        events: data.join(events_folder(&rec.source)),
        late: data.join("events"),
        clicks: data.join("clicks"),
        format: rec.source.clone(),
        per_epoch: 1,
    };
    let (out, ckpt) = (tmp.path().join("out"), tmp.path().join("ckpt"));
    match start_stream(
        rec,
        &inputs,
        &out,
        &ckpt,
        RunKind::AvailableNow { last: true },
        0,
    )
    .await
    {
        Ok(q) => {
            let _ = q.stop().await;
            Err(format!(
                "was accepted as a stream in {} mode; expected an error containing '{}'",
                rec.mode, rec.error
            ))
        }
        Err(e) => {
            let msg = e.to_string();
            if msg.contains(&rec.error) {
                Ok(())
            } else {
                Err(format!(
                    "refused with\n    {msg}\n  expected a message containing\n    {}",
                    rec.error
                ))
            }
        }
    }
}

fn diff(want: &[String], got: &[String]) -> String {
    let only_want: Vec<&String> = want.iter().filter(|r| !got.contains(r)).take(8).collect();
    let only_got: Vec<&String> = got.iter().filter(|r| !want.contains(r)).take(8).collect();
    format!(
        "{} rows expected, {} got\n    missing: {only_want:?}\n    unexpected: {only_got:?}",
        want.len(),
        got.len()
    )
}

/// Check a record; `spilled` gathers what the state did in the rounds with a small budget.
async fn check(rec: &Record, spilled: &mut StateSeen) -> Vec<String> {
    let mut failures = Vec::new();
    if rec.kind == Kind::Refused {
        if let Err(e) = run_refused(rec).await {
            failures.push(e);
        }
        return failures;
    }
    match run_batch(rec).await {
        Ok(rows) if rows == rec.expected => {}
        Ok(rows) => failures.push(format!("batch: {}", diff(&rec.expected, &rows))),
        Err(e) => failures.push(e),
    }
    let rounds: u64 = std::env::var("CORPUS_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let want = rec.expected_stream.as_ref().unwrap_or(&rec.expected);
    for round in 0..rounds {
        match run_stream(rec, round).await {
            Ok((rows, seen)) if &rows == want => {
                if round % 2 == 1 {
                    spilled.max_rows = spilled.max_rows.max(seen.max_rows);
                    spilled.max_on_disk = spilled.max_on_disk.max(seen.max_on_disk);
                }
            }
            Ok((rows, _)) => {
                failures.push(format!("stream round {round}: {}", diff(want, &rows)));
                break;
            }
            Err(e) => {
                failures.push(e);
                break;
            }
        }
    }
    failures
}

async fn run_file(file: &str) {
    let path = corpus_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let filter = std::env::var("CORPUS_FILTER").ok();
    let records = parse(file, &text);
    assert!(!records.is_empty(), "{file} has no records");
    let mut report = Vec::new();
    let mut ran = 0;
    let mut spilled = StateSeen::default();
    for rec in &records {
        if filter
            .as_ref()
            .is_some_and(|f| !rec.name.contains(f.as_str()))
        {
            continue;
        }
        ran += 1;
        let failures = check(rec, &mut spilled).await;
        if !failures.is_empty() {
            report.push(format!(
                "{file}:{} {} ({} mode, source {}):\n  {}\n  {}",
                rec.line,
                rec.name,
                rec.mode,
                rec.source,
                rec.sql.replace('\n', "\n  "),
                failures.join("\n  ")
            ));
        }
    }
    assert!(
        report.is_empty(),
        "{} of {ran} records of {file} failed:\n\n{}",
        report.len(),
        report.join("\n\n")
    );
    // With a few kilobytes for state, a keyed state of hundreds of rows lives on disk.
    assert!(
        spilled.max_rows < 200 || spilled.max_on_disk > 0,
        "{file}: keyed state reached {} rows under a {SPILLING_BUDGET} budget and none went to disk",
        spilled.max_rows
    );
}

/// One test per corpus file, and a check that no file is left out.
macro_rules! corpus_files {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                run_file(concat!(stringify!($name), ".slt")).await;
            }
        )*
        const FILES: &[&str] = &[$(concat!(stringify!($name), ".slt")),*];
    };
}

corpus_files!(
    aggregates,
    chained,
    dedup,
    joins,
    late,
    refused,
    sources,
    stateless,
    top_n,
    union_subqueries,
    windows,
);

#[test]
fn every_corpus_file_has_a_test_and_names_are_unique() {
    let mut on_disk: Vec<String> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".slt"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = FILES.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "add the new .slt file to corpus_files! in corpus.rs"
    );
    let mut names = std::collections::HashSet::new();
    let mut total = 0;
    for f in FILES {
        let text = std::fs::read_to_string(corpus_dir().join(f)).unwrap();
        for r in parse(f, &text) {
            assert!(
                names.insert(r.name.clone()),
                "{f}: the name {} is used twice",
                r.name
            );
            total += 1;
        }
    }
    assert!(
        total >= 300,
        "the corpus has {total} records; it must have at least 300"
    );
}

#[test]
fn canonical_floats_and_timestamps_read_like_pythons() {
    assert_eq!(float(123.45), "1.23450000e+02");
    assert_eq!(float(-0.0), "0.00000000e+00");
    assert_eq!(float(0.000123), "1.23000000e-04");
    assert_eq!(float(f64::NAN), "NaN");
    assert_eq!(
        timestamp(1_500_000, &TimeUnit::Microsecond),
        "1970-01-01 00:00:01.5"
    );
    assert_eq!(timestamp(0, &TimeUnit::Nanosecond), "1970-01-01 00:00:00");
}
