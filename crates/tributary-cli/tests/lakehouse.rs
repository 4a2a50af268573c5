//! The lakehouse from the command line: `tributary table ...`, and MERGE and CDC apply jobs
//! killed with SIGKILL at random moments.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use tributary::prelude::*;

mod support;
use support::{query_delta, rows, write_lines, Rng, Running};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tributary")
}

fn tributary(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin()).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn table_commands_describe_history_optimize_and_vacuum() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, table) = (tmp.path().join("in"), tmp.path().join("t"));
    for f in 0..5 {
        write_lines(
            &input,
            &format!("f{f}.json"),
            &[format!("{{\"id\":{f},\"region\":\"r{}\"}}", f % 2)],
        );
    }
    let job = tmp.path().join("job.sql");
    std::fs::write(
        &job,
        format!(
            "CREATE UNBOUNDED EXTERNAL TABLE src (id BIGINT, region VARCHAR) STORED AS JSON LOCATION '{}' OPTIONS ('max_files_per_trigger' '1');
             CREATE EXTERNAL TABLE t (id BIGINT, region VARCHAR) STORED AS DELTA LOCATION '{}' OPTIONS ('enable_change_data_feed' 'true');
             INSERT INTO t SELECT * FROM src;",
            input.display(),
            table.display()
        ),
    )
    .unwrap();
    let ck = tmp.path().join("ck");
    let (ok, _, err) = tributary(&[
        "run",
        job.to_str().unwrap(),
        "--trigger",
        "available-now",
        "--checkpoint",
        ck.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let t = table.to_str().unwrap();
    let (ok, out, err) = tributary(&["table", "describe", t]);
    assert!(ok, "{err}");
    assert!(
        out.contains("version     4") && out.contains("files       5"),
        "{out}"
    );
    assert!(out.contains("delta.enableChangeDataFeed = true"), "{out}");
    let (ok, out, _) = tributary(&["table", "optimize", t]);
    assert!(
        ok && out.contains("5 files compacted into 1 (5 -> 1 files), version 5"),
        "{out}"
    );
    let (ok, out, _) = tributary(&["table", "history", t, "--limit", "2"]);
    assert!(ok, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].contains("OPTIMIZE") && lines[1].contains("STREAMING UPDATE")
            || lines[1].contains("WRITE"),
        "{out}"
    );
    // Vacuum refuses a retention below the table's minimum unless forced.
    let (ok, _, err) = tributary(&["table", "vacuum", t, "--retention-hours", "0"]);
    assert!(!ok && err.contains("--force"), "{err}");
    let (ok, out, err) = tributary(&[
        "table",
        "vacuum",
        t,
        "--retention-hours",
        "0",
        "--force",
        "--dry-run",
    ]);
    assert!(ok && out.lines().count() == 5, "{out} {err}");
    let (ok, _, err) = tributary(&["table", "vacuum", t, "--retention-hours", "0", "--force"]);
    assert!(ok && err.contains("5 files deleted"), "{err}");
    let parquet = std::fs::read_dir(&table)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".parquet")
        })
        .count();
    assert_eq!(parquet, 1);
    assert_eq!(query_delta(&table, "SELECT id FROM t").len(), 5);
    let (ok, out, _) = tributary(&["table", "checkpoint", t]);
    assert!(ok && out.contains("checkpoint written"), "{out}");
    assert!(table.join("_delta_log/_last_checkpoint").exists());
    let (ok, _, err) = tributary(&[
        "table",
        "describe",
        tmp.path().join("nothing").to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("not a Delta table"), "{err}");
}

fn spawn(job: &Path, ckpt: &Path, trigger: &str) -> Running {
    Running::spawn(
        Command::new(bin())
            .args([
                "run",
                job.to_str().unwrap(),
                "--trigger",
                trigger,
                "--checkpoint",
                ckpt.to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
}

fn run_to_end(job: &Path, ckpt: &Path) {
    let out = Command::new(bin())
        .args([
            "run",
            job.to_str().unwrap(),
            "--trigger",
            "available-now",
            "--checkpoint",
            ckpt.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn merge_and_cdc_apply_jobs_killed_at_random_moments_end_exactly_right() {
    let tmp = tempfile::tempdir().unwrap();
    let (sales, changes) = (tmp.path().join("sales"), tmp.path().join("changes"));
    let (totals, mirror, ckpt) = (
        tmp.path().join("totals"),
        tmp.path().join("mirror"),
        tmp.path().join("ck"),
    );
    std::fs::create_dir_all(&sales).unwrap();
    std::fs::create_dir_all(&changes).unwrap();
    let job = tmp.path().join("job.sql");
    std::fs::write(
        &job,
        format!(
            "CREATE UNBOUNDED EXTERNAL TABLE sales (id BIGINT, product VARCHAR, qty BIGINT) STORED AS JSON LOCATION '{}' OPTIONS ('max_files_per_trigger' '1');
             CREATE UNBOUNDED EXTERNAL TABLE changes (id BIGINT, name VARCHAR, seq BIGINT, op VARCHAR) STORED AS JSON LOCATION '{}' OPTIONS ('max_files_per_trigger' '1');
             CREATE EXTERNAL TABLE totals (product VARCHAR, sold BIGINT, orders BIGINT) STORED AS DELTA LOCATION '{}' OPTIONS ('output_mode' 'update');
             CREATE EXTERNAL TABLE mirror (id BIGINT, name VARCHAR, seq BIGINT) STORED AS DELTA LOCATION '{}'
                 OPTIONS ('cdc_keys' 'id', 'cdc_sequence' 'seq', 'cdc_operation' 'op');
             INSERT INTO totals SELECT product, sum(qty), count(*) FROM sales GROUP BY product;
             INSERT INTO mirror SELECT id, name, seq, op FROM changes;",
            sales.display(),
            changes.display(),
            totals.display(),
            mirror.display()
        ),
    )
    .unwrap();
    let mut rng = Rng(0xc0ffee);
    let (mut next_sale, mut seq, mut files) = (0i64, 0i64, 0usize);
    let mut all_changes: Vec<(i64, i64, String, String)> = Vec::new(); // (id, seq, name, op)
    for kill in 0..12 {
        for _ in 0..1 + rng.next(2) {
            let sale_lines: Vec<String> = (0..20)
                .map(|_| {
                    next_sale += 1;
                    format!(
                        "{{\"id\":{next_sale},\"product\":\"p{}\",\"qty\":{}}}",
                        next_sale % 7,
                        1 + next_sale % 5
                    )
                })
                .collect();
            write_lines(&sales, &format!("s{files:03}.json"), &sale_lines);
            let mut lines = Vec::new();
            for _ in 0..15 {
                seq += 1;
                let id = rng.next(12) as i64;
                let op = ["insert", "update", "update", "delete"][rng.next(4) as usize];
                let name = format!("n{id}-{seq}");
                // Some changes arrive late: an older sequence number, in a later file.
                let s = if rng.next(5) == 0 {
                    seq - 1 - rng.next(20) as i64
                } else {
                    seq
                };
                all_changes.push((id, s, name.clone(), op.to_string()));
                lines.push(format!(
                    "{{\"id\":{id},\"name\":\"{name}\",\"seq\":{s},\"op\":\"{op}\"}}"
                ));
            }
            write_lines(&changes, &format!("c{files:03}.json"), &lines);
            files += 1;
        }
        let mut child = spawn(&job, &ckpt, "10ms");
        std::thread::sleep(Duration::from_millis(150 + rng.next(900)));
        child.kill();
        let _ = kill;
    }
    run_to_end(&job, &ckpt);
    // The live table equals the aggregation over every sale.
    let mut expected: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for id in 1..=next_sale {
        let e = expected.entry(format!("p{}", id % 7)).or_default();
        e.0 += 1 + id % 5;
        e.1 += 1;
    }
    let expected: Vec<String> = expected
        .iter()
        .map(|(p, (s, n))| format!("{p}|{s}|{n}"))
        .collect();
    assert_eq!(
        query_delta(&totals, "SELECT product, sold, orders FROM t"),
        expected
    );
    // The mirror holds, per key, the change with the highest sequence unless it is a delete.
    let mut last: BTreeMap<i64, (i64, String, String)> = BTreeMap::new();
    for (id, s, name, op) in &all_changes {
        if last.get(id).is_none_or(|(ls, _, _)| s > ls) {
            last.insert(*id, (*s, name.clone(), op.clone()));
        }
    }
    let mut expected: Vec<String> = last
        .iter()
        .filter(|(_, (_, _, op))| op != "delete")
        .map(|(id, (s, name, _))| format!("{id}|{name}|{s}"))
        .collect();
    expected.sort();
    assert_eq!(
        query_delta(&mirror, "SELECT id, name, seq FROM t"),
        expected
    );
    // The same job as a batch (the aggregation written once, the change set applied at once)
    // equals the stream.
    let (ok, out, err) = tributary(&["verify", job.to_str().unwrap()]);
    assert!(ok && out.trim() == "identical", "{out} {err}");
}

fn repo() -> PathBuf {
    std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("../..")
}

#[test]
fn the_medallion_example_verifies_and_silver_streams_from_bronze() {
    let tmp = tempfile::tempdir().unwrap();
    let ex = repo().join("examples");
    let job = ex.join("medallion/job.sql");
    let sets = [
        format!("input={}", ex.join("etl/data/events").display()),
        format!("regions={}", ex.join("etl/data/regions.csv").display()),
        format!("lake={}", tmp.path().join("lake").display()),
    ];
    let mut args = vec!["verify", job.to_str().unwrap()];
    for s in &sets {
        args.extend(["--set", s.as_str()]);
    }
    let (ok, out, err) = tributary(&args);
    assert!(ok, "{out} {err}");
    assert_eq!(out.trim(), "identical", "{err}");
    assert!(
        err.contains("bronze: 120 rows") && err.contains("gold: 5 rows"),
        "{err}"
    );
    // `run`: the three queries in one process; silver's offsets are positions in bronze's log.
    let ck = tmp.path().join("ck");
    let mut args = vec![
        "run",
        job.to_str().unwrap(),
        "--trigger",
        "available-now",
        "--checkpoint",
        ck.to_str().unwrap(),
    ];
    for s in &sets {
        args.extend(["--set", s.as_str()]);
    }
    let (ok, _, err) = tributary(&args);
    assert!(ok, "{err}");
    let offsets = std::fs::read_to_string(ck.join("silver/offsets/0")).unwrap();
    assert!(
        offsets.contains("DeltaStream") && offsets.contains("reservoirVersion"),
        "{offsets}"
    );
    let silver = query_delta(
        &tmp.path().join("lake/silver"),
        "SELECT count(*), count(DISTINCT country) FROM t",
    );
    assert_eq!(silver, vec!["112|5"], "4 countries and unknown");
}

/// Event `id`, 5 s apart from 10:05, out of order by up to 30 s.
fn event(id: i64) -> String {
    let jitter = (id * 7919) % 61 - 30;
    let t = chrono_like(300 + id * 5 + jitter);
    format!(
        "{{\"id\":{id},\"event_time\":\"{t}\",\"region\":\"r{}\"}}",
        id % 3
    )
}

/// `2026-11-21T10:00:00Z` plus `secs` seconds, as text.
fn chrono_like(secs: i64) -> String {
    let (h, m, s) = (10 + secs / 3600, (secs / 60) % 60, secs % 60);
    format!("2026-11-21T{h:02}:{m:02}:{s:02}.000Z")
}

#[test]
fn backfill_then_stream_hands_off_without_gap_or_duplicate_across_kills() {
    let tmp = tempfile::tempdir().unwrap();
    let (archive_json, archive, live) = (
        tmp.path().join("aj"),
        tmp.path().join("archive"),
        tmp.path().join("live"),
    );
    // The archive: a Delta table of events 0..300, in several commits.
    for part in 0..6 {
        let lines: Vec<String> = (part * 50..part * 50 + 50).map(event).collect();
        write_lines(&archive_json, &format!("a{part}.json"), &lines);
    }
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let s = Session::new();
        let schema = std::sync::Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new(
                "event_time",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("region", DataType::Utf8, true),
        ]));
        for part in 0..6 {
            let df = s
                .read()
                .schema(schema.clone())
                .json(archive_json.join(format!("a{part}.json")).to_str().unwrap())
                .await
                .unwrap();
            df.write()
                .format("delta")
                .mode(tributary::SaveMode::Append)
                .save(archive.to_str().unwrap())
                .await
                .unwrap();
        }
    });
    // The boundary: 10:25:50 (id 250 without jitter). Archive has ids < 300, the live
    // source starts at id 240: ids 240..300 are in both, and each must land once.
    let job = tmp.path().join("job.sql");
    std::fs::write(
        &job,
        format!(
            "CREATE UNBOUNDED EXTERNAL TABLE events (id BIGINT, event_time TIMESTAMP, region VARCHAR)
               STORED AS JSON LOCATION '{live}'
               OPTIONS ('max_files_per_trigger' '1', 'backfill_path' '{archive}', 'backfill_format' 'delta',
                        'backfill_boundary_column' 'event_time', 'backfill_boundary' '2026-11-21T10:25:50',
                        'backfill_option.max_files_per_trigger' '2',
                        'watermark_column' 'event_time', 'watermark_delay' '1 minute');
             CREATE EXTERNAL TABLE copy (id BIGINT, event_time TIMESTAMP, region VARCHAR) STORED AS DELTA LOCATION '${{out}}/copy';
             CREATE EXTERNAL TABLE per_minute (minute TIMESTAMP, region VARCHAR, n BIGINT, ids BIGINT) STORED AS DELTA LOCATION '${{out}}/per_minute'
               OPTIONS ('flush_at_end' 'true', 'late_rows_path' '${{out}}/late');
             INSERT INTO copy SELECT * FROM events;
             INSERT INTO per_minute SELECT w['start'], region, count(*), sum(id)
               FROM (SELECT window(event_time, '1 minute') AS w, region, id FROM events) GROUP BY w, region;",
            live = live.display(),
            archive = archive.display(),
        ),
    )
    .unwrap();
    std::fs::create_dir_all(&live).unwrap();
    let (out, ckpt) = (tmp.path().join("out"), tmp.path().join("ck"));
    let out_set = format!("out={}", out.display());
    let mut rng = Rng(0xbacf111);
    let mut next = 240;
    for kill in 0..10 {
        // Live files keep arriving while the query backfills and hands off.
        for _ in 0..1 + rng.next(2) {
            let lines: Vec<String> = (next..next + 20).map(event).collect();
            write_lines(&live, &format!("l{next:04}.json"), &lines);
            next += 20;
        }
        let mut child = Running::spawn(
            Command::new(bin())
                .args([
                    "run",
                    job.to_str().unwrap(),
                    "--set",
                    &out_set,
                    "--trigger",
                    "10ms",
                    "--checkpoint",
                    ckpt.to_str().unwrap(),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        std::thread::sleep(Duration::from_millis(if kill < 3 {
            80 + rng.next(200)
        } else {
            200 + rng.next(700)
        }));
        child.kill();
    }
    let out_done = Command::new(bin())
        .args([
            "run",
            job.to_str().unwrap(),
            "--set",
            &out_set,
            "--trigger",
            "available-now",
            "--checkpoint",
            ckpt.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out_done.status.success(),
        "{}",
        String::from_utf8_lossy(&out_done.stderr)
    );
    // Every event exactly once, archive and live.
    let copy = query_delta(&out.join("copy"), "SELECT id FROM t");
    let mut expected: Vec<String> = (0..next).map(|i| i.to_string()).collect();
    expected.sort();
    assert_eq!(copy, expected, "{} events expected once each", next);
    // The hand-off is in the offset log: archive epochs, then live epochs.
    let offsets = std::fs::read_dir(ckpt.join("copy/offsets"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<Vec<_>>();
    assert!(
        offsets.iter().any(|o| o.contains("\"live\":null")),
        "archive epochs"
    );
    assert!(
        offsets.iter().any(|o| o.contains("\"live\":{")),
        "live epochs"
    );
    // The windows equal the batch answer over everything.
    let batch_out = tmp.path().join("batch");
    let (ok, _, err) = tributary(&[
        "batch",
        job.to_str().unwrap(),
        "--set",
        &format!("out={}", batch_out.display()),
    ]);
    assert!(ok, "{err}");
    // No row can be late in this data (jitter 30 s, delay 1 minute): a late row means a
    // watermark ran ahead of what its query read (as when two queries shared one).
    let late: Vec<String> = std::fs::read_dir(out.join("late"))
        .map(|d| {
            d.flatten()
                .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                .filter(|s| !s.trim().is_empty())
                .collect()
        })
        .unwrap_or_default();
    assert!(late.is_empty(), "rows were dropped as late: {late:?}");
    let sql = "SELECT minute, region, n, ids FROM t";
    let streamed = query_delta(&out.join("per_minute"), sql);
    assert!(streamed.len() > 20, "{streamed:?}");
    let batch = query_delta(&batch_out.join("per_minute"), sql);
    if streamed != batch {
        let only_streamed: Vec<_> = streamed.iter().filter(|r| !batch.contains(r)).collect();
        let only_batch: Vec<_> = batch.iter().filter(|r| !streamed.contains(r)).collect();
        let offsets = std::fs::read_dir(ckpt.join("per_minute/offsets"))
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                format!(
                    "{}: {}",
                    e.file_name().to_string_lossy(),
                    std::fs::read_to_string(e.path()).unwrap()
                )
            })
            .collect::<Vec<_>>();
        panic!(
            "the streamed windows differ from the batch answer\nonly streamed: {only_streamed:?}\nonly in batch: {only_batch:?}\noffsets of per_minute: {offsets:#?}"
        );
    }
    assert_eq!(
        query_delta(&batch_out.join("copy"), "SELECT id FROM t"),
        expected
    );
}

/// The venv's python with the `deltalake` package (installed by scripts/python_env.sh).
fn python() -> String {
    let out = Command::new("bash")
        .arg(repo().join("scripts/python_env.sh"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scripts/python_env.sh could not make a Python with deltalake: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string()
}

fn interop(py: &str, args: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new(py)
        .arg(repo().join("scripts/delta_interop.py"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "delta_interop.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn an_independent_delta_reader_reads_our_tables_and_we_read_its_tables() {
    let py = python();
    let tmp = tempfile::tempdir().unwrap();
    // Ours: an update-mode aggregation merged over two runs, then compacted.
    let (sales, totals, ck) = (
        tmp.path().join("sales"),
        tmp.path().join("totals"),
        tmp.path().join("ck"),
    );
    let job = tmp.path().join("job.sql");
    std::fs::write(
        &job,
        format!(
            "CREATE UNBOUNDED EXTERNAL TABLE sales (id BIGINT, product VARCHAR, qty BIGINT) STORED AS JSON LOCATION '{}';
             CREATE EXTERNAL TABLE totals (product VARCHAR, sold BIGINT, orders BIGINT) STORED AS DELTA LOCATION '{}'
               OPTIONS ('output_mode' 'update', 'enable_change_data_feed' 'true');
             INSERT INTO totals SELECT product, sum(qty), count(*) FROM sales GROUP BY product;",
            sales.display(),
            totals.display()
        ),
    )
    .unwrap();
    for run in 0..2 {
        let lines: Vec<String> = (0..30)
            .map(|i| {
                format!(
                    "{{\"id\":{i},\"product\":\"p{}\",\"qty\":{}}}",
                    (i + run) % 4,
                    run + 1
                )
            })
            .collect();
        write_lines(&sales, &format!("s{run}.json"), &lines);
        run_to_end(&job, &ck);
    }
    let (ok, _, err) = tributary(&["table", "optimize", totals.to_str().unwrap()]);
    assert!(ok, "{err}");
    let theirs: Vec<String> = interop(&py, &["read", totals.to_str().unwrap()])
        .iter()
        .map(|r| {
            format!(
                "{}|{}|{}",
                r["product"].as_str().unwrap(),
                r["sold"],
                r["orders"]
            )
        })
        .collect();
    let ours = query_delta(&totals, "SELECT product, sold, orders FROM t");
    assert_eq!(theirs, ours);
    assert_eq!(ours.len(), 4);
    // Time travel agrees too: version 0 is the first run's totals.
    let theirs_v0 = interop(&py, &["read", totals.to_str().unwrap(), "--version", "0"]);
    assert_eq!(theirs_v0.len(), 4);
    // Theirs: a table the Python writer made in two commits; read as a batch and as a stream.
    let made = tmp.path().join("made");
    let written = interop(&py, &["write", made.to_str().unwrap()]);
    let mut expected: Vec<String> = written
        .iter()
        .map(|r| format!("{}|{}", r["id"], r["name"].as_str().unwrap()))
        .collect();
    expected.sort();
    assert_eq!(query_delta(&made, "SELECT id, name FROM t"), expected);
    let streamed = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let s = Session::new();
        let q = s
            .read_stream()
            .format("delta")
            .option("starting_version", "0")
            .load(made.to_str().unwrap())
            .await
            .unwrap()
            .write_stream()
            .format("memory")
            .query_name("made")
            .trigger(Trigger::AvailableNow)
            .start("")
            .await
            .unwrap();
        q.await_termination().await.unwrap();
        assert_eq!(q.recent_progress().len(), 1);
        rows(
            &s.sql("SELECT id, name FROM made")
                .await
                .unwrap()
                .collect()
                .await
                .unwrap(),
        )
    });
    assert_eq!(streamed, expected);
}

/// Issue 11, defect 4: the medallion example with `auto_compact` on the bronze and silver
/// tables (each compaction is a `dataChange=false` commit in a table the next layer streams
/// from) still gives the batch answer, layer by layer.
#[test]
fn the_medallion_example_with_auto_compacted_layers_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let ex = repo().join("examples");
    let text = std::fs::read_to_string(ex.join("medallion/job.sql")).unwrap();
    // Each layer compacts after two small files and is read one file per epoch by the next,
    // so every layer has many commits and compactions between them.
    let compacting = "OPTIONS ('auto_compact' 'true', 'auto_compact_min_files' '2', \
                      'max_files_per_trigger' '1', ";
    let mut job_text = String::new();
    for (i, part) in text.split("OPTIONS (").enumerate() {
        if i > 0 {
            let layer = job_text.rsplit("LOCATION").next().unwrap_or("");
            if layer.contains("${lake}/bronze") || layer.contains("${lake}/silver") {
                job_text.push_str(compacting);
            } else {
                job_text.push_str("OPTIONS (");
            }
        }
        job_text.push_str(part);
    }
    assert_eq!(
        job_text.matches("'auto_compact' 'true'").count(),
        2,
        "{job_text}"
    );
    let job = tmp.path().join("job.sql");
    std::fs::write(&job, job_text).unwrap();
    let lake = tmp.path().join("lake");
    let sets = [
        format!("input={}", ex.join("etl/data/events").display()),
        format!("regions={}", ex.join("etl/data/regions.csv").display()),
        format!("lake={}", lake.display()),
    ];
    let mut args = vec!["verify", job.to_str().unwrap()];
    for s in &sets {
        args.extend(["--set", s.as_str()]);
    }
    let (ok, out, err) = tributary(&args);
    assert!(ok, "{out} {err}");
    assert_eq!(out.trim(), "identical", "{err}");
    // `run` the same job continuously: the three queries run side by side, so silver streams
    // from bronze while bronze compacts, and gold from silver while silver compacts.
    let ck = tmp.path().join("ck");
    let run_lake = tmp.path().join("run_lake");
    let run_set = format!("lake={}", run_lake.display());
    let mut cmd = Command::new(bin());
    cmd.args([
        "run",
        job.to_str().unwrap(),
        "--trigger",
        "20ms",
        "--checkpoint",
    ])
    .arg(&ck)
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    for s in sets[..2].iter().chain([&run_set]) {
        cmd.arg("--set").arg(s);
    }
    let mut child = Running::spawn(&mut cmd);
    let silver_rows = || {
        if !run_lake.join("silver/_delta_log").exists() {
            return String::new();
        }
        query_delta(
            &run_lake.join("silver"),
            "SELECT count(*), count(DISTINCT country) FROM t",
        )
        .join("")
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while silver_rows() != "112|5" {
        assert!(
            child.try_wait().unwrap().is_none(),
            "run stopped early: a layer failed"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "silver never reached 112 rows"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill();
    let (ok, out, err) = tributary(&[
        "table",
        "history",
        run_lake.join("bronze").to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("OPTIMIZE"),
        "bronze was never compacted: {out}"
    );
}

/// Issue 11, defect 4: a table compacted by another Delta writer (the Python `deltalake`
/// package) between two runs of a stream that reads it: every row arrives once.
#[test]
fn a_delta_stream_goes_on_after_the_python_deltalake_package_compacts_its_source() {
    let py = python();
    let tmp = tempfile::tempdir().unwrap();
    let (src, json) = (tmp.path().join("src"), tmp.path().join("json"));
    let append = |part: i64| {
        let lines: Vec<String> = (part * 20..part * 20 + 20).map(event).collect();
        let dir = json.join(part.to_string());
        write_lines(&dir, "e.json", &lines);
        let job = tmp.path().join(format!("append{part}.sql"));
        std::fs::write(
            &job,
            format!(
                "CREATE EXTERNAL TABLE e (id BIGINT, event_time TIMESTAMP, region VARCHAR)
                   STORED AS JSON LOCATION '{}';
                 CREATE EXTERNAL TABLE src (id BIGINT, event_time TIMESTAMP, region VARCHAR)
                   STORED AS DELTA LOCATION '{}';
                 INSERT INTO src SELECT * FROM e;",
                dir.display(),
                src.display()
            ),
        )
        .unwrap();
        let (ok, _, err) = tributary(&["batch", job.to_str().unwrap()]);
        assert!(ok, "{err}");
    };
    let job = tmp.path().join("copy.sql");
    std::fs::write(
        &job,
        format!(
            "CREATE UNBOUNDED EXTERNAL TABLE src (id BIGINT, event_time TIMESTAMP, region VARCHAR)
               STORED AS DELTA LOCATION '{}' OPTIONS ('max_files_per_trigger' '2');
             CREATE EXTERNAL TABLE copy (id BIGINT, event_time TIMESTAMP, region VARCHAR)
               STORED AS DELTA LOCATION '{}';
             INSERT INTO copy SELECT * FROM src;",
            src.display(),
            tmp.path().join("copy").display()
        ),
    )
    .unwrap();
    let ckpt = tmp.path().join("ckpt");
    append(0);
    run_to_end(&job, &ckpt);
    for part in 1..4 {
        append(part);
    }
    let compacted = interop(&py, &["compact", src.to_str().unwrap()]);
    assert!(
        compacted[0]["filesRemoved"].as_i64().unwrap() >= 4,
        "{compacted:?}"
    );
    append(4);
    run_to_end(&job, &ckpt);
    let copy = query_delta(
        &tmp.path().join("copy"),
        "SELECT count(*), count(DISTINCT id), min(id), max(id) FROM t",
    );
    assert_eq!(copy, vec!["100|100|0|99"]);
}

/// A slowly changing dimension closes its open rows at `9999-12-31`, as Spark and Delta allow
/// (timestamps in microseconds: years 1 to 9999). Written to Delta from JSON by a batch, read
/// by the independent Delta reader, and joined by a stream on the validity range, with the
/// open rows found by `valid_to > current_timestamp()`.
#[test]
fn a_dimension_open_until_the_year_9999_is_written_read_and_joined() {
    let py = python();
    let tmp = tempfile::tempdir().unwrap();
    let (src, dim, events, out) = (
        tmp.path().join("src"),
        tmp.path().join("dim"),
        tmp.path().join("events"),
        tmp.path().join("out"),
    );
    write_lines(
        &src,
        "d.json",
        &[
            r#"{"region_id":1,"name":"north-old","valid_from":"2020-01-01T00:00:00","valid_to":"2026-06-01T00:00:00"}"#.into(),
            r#"{"region_id":1,"name":"north","valid_from":"2026-06-01T00:00:00","valid_to":"9999-12-31T23:59:59.999999"}"#.into(),
            r#"{"region_id":2,"name":"south","valid_from":"0001-01-01T00:00:00","valid_to":"9999-12-31T00:00:00"}"#.into(),
        ],
    );
    let load = tmp.path().join("load.sql");
    std::fs::write(
        &load,
        format!(
            "CREATE EXTERNAL TABLE src (region_id BIGINT, name VARCHAR, valid_from TIMESTAMP, valid_to TIMESTAMP) \
               STORED AS JSON LOCATION '{}';
             CREATE EXTERNAL TABLE dim (region_id BIGINT, name VARCHAR, valid_from TIMESTAMP, valid_to TIMESTAMP) \
               STORED AS DELTA LOCATION '{}';
             INSERT INTO dim SELECT * FROM src;",
            src.display(),
            dim.display()
        ),
    )
    .unwrap();
    let (ok, _, err) = tributary(&["batch", load.to_str().unwrap()]);
    assert!(ok, "{err}");
    // Every row arrived (none went to the bad records), in range, as another reader sees it.
    let mut theirs: Vec<String> = interop(&py, &["read", dim.to_str().unwrap()])
        .iter()
        .map(|r| format!("{}|{}", r["name"].as_str().unwrap(), r["valid_to"]))
        .collect();
    theirs.sort();
    assert_eq!(theirs.len(), 3, "{theirs:?}");
    for (row, expected) in theirs.iter().zip([
        "north-old|\"2026-06-01T00:00:00",
        "north|\"9999-12-31T23:59:59.999999",
        "south|\"9999-12-31T00:00:00",
    ]) {
        assert!(row.starts_with(expected), "{theirs:?}");
    }
    write_lines(
        &events,
        "e.json",
        &[
            r#"{"id":1,"region_id":1,"ts":"2025-03-01T10:00:00"}"#.into(),
            r#"{"id":2,"region_id":1,"ts":"2026-07-01T10:00:00"}"#.into(),
            r#"{"id":3,"region_id":2,"ts":"2026-07-01T10:00:00"}"#.into(),
        ],
    );
    let job = tmp.path().join("job.sql");
    std::fs::write(
        &job,
        format!(
            "CREATE UNBOUNDED EXTERNAL TABLE events (id BIGINT, region_id BIGINT, ts TIMESTAMP) \
               STORED AS JSON LOCATION '{}';
             CREATE EXTERNAL TABLE dim (region_id BIGINT, name VARCHAR, valid_from TIMESTAMP, valid_to TIMESTAMP) \
               STORED AS DELTA LOCATION '{}';
             CREATE EXTERNAL TABLE out (id BIGINT, name VARCHAR, valid_to TIMESTAMP, open BOOLEAN) \
               STORED AS DELTA LOCATION '{}';
             INSERT INTO out SELECT e.id, d.name, d.valid_to, d.valid_to > current_timestamp() AS open \
               FROM events e JOIN dim d ON e.region_id = d.region_id \
               AND e.ts >= d.valid_from AND e.ts < d.valid_to \
               WHERE d.valid_to <= TIMESTAMP '9999-12-31 23:59:59.999999';",
            events.display(),
            dim.display(),
            out.display()
        ),
    )
    .unwrap();
    run_to_end(&job, &tmp.path().join("ck"));
    assert_eq!(
        query_delta(&out, "SELECT id, name, valid_to, open FROM t"),
        [
            "1|north-old|2026-06-01T00:00:00|false",
            "2|north|9999-12-31T23:59:59.999999|true",
            "3|south|9999-12-31T00:00:00|true",
        ]
    );
}
