//! The `tributary` binary, run as a child process: verify, errors, and a crash test with
//! SIGKILLs at random moments.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use arrow::array::{Array, Int64Array};
use tributary::prelude::*;

mod support;
use support::{wait_until, Running};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tributary")
}

fn repo() -> PathBuf {
    std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("../..")
}

/// `tributary verify JOB --set ...` must print `identical` and succeed.
fn assert_verify_identical(job: &Path, sets: &[String]) {
    let mut cmd = Command::new(bin());
    cmd.args(["verify", job.to_str().unwrap()]);
    for s in sets {
        cmd.arg("--set").arg(s);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), "identical");
}

#[test]
fn verify_says_identical_for_the_etl_example() {
    let tmp = tempfile::tempdir().unwrap();
    let ex = repo().join("examples/etl");
    assert_verify_identical(
        &ex.join("job.sql"),
        &[
            format!("input={}", ex.join("data/events").display()),
            format!("regions={}", ex.join("data/regions.csv").display()),
            format!("output={}", tmp.path().join("silver").display()),
            format!("bad={}", tmp.path().join("bad").display()),
        ],
    );
}

#[test]
fn a_missing_variable_is_named() {
    let ex = repo().join("examples/etl/job.sql");
    let out = Command::new(bin())
        .args(["batch", ex.to_str().unwrap(), "--set", "input=x"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("${bad}") && stderr.contains("${output}") && stderr.contains("--set"),
        "{stderr}"
    );
    // A --set the job does not use is a typo, not ignored (a default would take its place).
    let out = Command::new(bin())
        .args([
            "batch",
            ex.to_str().unwrap(),
            "--set",
            "input=x",
            "--set",
            "ouput=y",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr.contains("--set ouput") && stderr.contains("did you mean 'output'?"),
        "{stderr}"
    );
}

#[test]
fn a_misspelled_table_option_stops_the_job_with_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("job.sql");
    let write_job = |source_options: &str, sink_options: &str| {
        std::fs::write(
            &job,
            format!(
                "CREATE UNBOUNDED EXTERNAL TABLE events (id BIGINT, ts TIMESTAMP) STORED AS JSON \
                 LOCATION '{input}' OPTIONS ({source_options});\n\
                 CREATE EXTERNAL TABLE out (id BIGINT) STORED AS DELTA LOCATION '{output}' \
                 OPTIONS ({sink_options});\n\
                 INSERT INTO out SELECT id FROM events;\n",
                input = dir.path().join("in").display(),
                output = dir.path().join("out").display(),
            ),
        )
        .unwrap();
    };
    std::fs::create_dir_all(dir.path().join("in")).unwrap();
    let run = |cmd: &str| {
        let out = Command::new(bin())
            .args([cmd, job.to_str().unwrap()])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    // A typo that would silently turn the watermark off.
    write_job(
        "'watermark_colum' 'ts', 'watermark_delay' '1 minute'",
        "'merge_schema' 'true'",
    );
    for cmd in ["batch", "verify"] {
        let (ok, stderr) = run(cmd);
        assert!(!ok, "{cmd}: {stderr}");
        assert!(
            stderr.contains(
                "unknown option 'watermark_colum' for table 'events' (format 'json'); did you mean 'watermark_column'?"
            ),
            "{cmd}: {stderr}"
        );
    }
    // On a sink table: the writer's and the table's later readers' options are both known.
    write_job(
        "'max_files_per_trigger' '1'",
        "'max_files_per_trigger' '5', 'output_mod' 'append'",
    );
    let (ok, stderr) = run("batch");
    assert!(!ok, "{stderr}");
    assert!(stderr.contains("did you mean 'output_mode'?"), "{stderr}");
    write_job(
        "'maxFilesPerTrigger' '1'",
        "'max_files_per_trigger' '5', 'output_mode' 'append'",
    );
    let (ok, stderr) = run("batch");
    assert!(ok, "{stderr}");
    // A bad trigger of a sink table is an error even where the run replaces it (verify runs
    // the stream with available-now).
    write_job("'maxFilesPerTrigger' '1'", "'trigger' 'sometimes'");
    for cmd in ["batch", "verify"] {
        let (ok, stderr) = run(cmd);
        assert!(!ok, "{cmd}: {stderr}");
        assert!(stderr.contains("sometimes"), "{cmd}: {stderr}");
    }
}

/// `verify` of a query that writes no row into file sinks: both sides are empty, which is
/// identical (there is no data file to read back).
#[test]
fn verify_says_identical_when_file_sinks_get_no_rows() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(input.join("a.json"), "{\"id\":1}\n").unwrap();
    let job = dir.path().join("job.sql");
    std::fs::write(
        &job,
        format!(
            "CREATE UNBOUNDED EXTERNAL TABLE ev (id BIGINT) STORED AS JSON LOCATION '{}';\n\
             CREATE EXTERNAL TABLE j (id BIGINT) STORED AS JSON LOCATION '{}';\n\
             CREATE EXTERNAL TABLE p (id BIGINT) STORED AS PARQUET LOCATION '{}';\n\
             INSERT INTO j SELECT id FROM ev WHERE id > 5;\n\
             INSERT INTO p SELECT id FROM ev WHERE id > 5;\n",
            input.display(),
            dir.path().join("j").display(),
            dir.path().join("p").display(),
        ),
    )
    .unwrap();
    assert_verify_identical(&job, &[]);
}

/// A batch writes with its sink table's options, as `run` does, and checks the values of the
/// streaming query's options it does not use.
#[test]
fn a_batch_writes_with_the_sink_tables_options_and_checks_the_querys() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let lines: String = (0..10).map(|i| format!("{{\"id\":{i}}}\n")).collect();
    std::fs::write(input.join("a.json"), lines).unwrap();
    let job = dir.path().join("job.sql");
    let output = dir.path().join("out");
    let write_job = |sink_options: &str| {
        std::fs::write(
            &job,
            format!(
                "CREATE EXTERNAL TABLE events (id BIGINT) STORED AS JSON LOCATION '{}';\n\
                 CREATE EXTERNAL TABLE out (id BIGINT) STORED AS JSON LOCATION '{}' \
                 OPTIONS ({sink_options});\n\
                 INSERT INTO out SELECT id FROM events;\n",
                input.display(),
                output.display(),
            ),
        )
        .unwrap();
    };
    write_job("'max_records_per_file' '3', 'output_mode' 'append'");
    let (code, _, stderr) = tributary(&["batch", job.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let mut per_file: Vec<usize> = std::fs::read_dir(&output)
        .unwrap()
        .map(|f| f.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| std::fs::read_to_string(p).unwrap().lines().count())
        .collect();
    per_file.sort();
    assert_eq!(per_file, vec![1, 3, 3, 3], "at most 3 rows a file");
    for (options, says) in [
        ("'max_records_per_file' 'abc'", "max_records_per_file"),
        ("'max_records_per_file' '0'", "max_records_per_file"),
        ("'output_mode' 'bogus'", "output_mode"),
    ] {
        write_job(options);
        let (code, _, stderr) = tributary(&["batch", job.to_str().unwrap()]);
        assert_ne!(code, 0, "{options}: {stderr}");
        assert!(stderr.contains(says), "{options}: {stderr}");
    }
}

/// `run` says where each query keeps its checkpoint, the sink table's own option included.
#[test]
fn run_names_a_checkpoint_the_sink_table_places_itself() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(input.join("a.json"), "{\"id\":1}\n").unwrap();
    let own = dir.path().join("own-checkpoint");
    let job = dir.path().join("job.sql");
    std::fs::write(
        &job,
        format!(
            "CREATE UNBOUNDED EXTERNAL TABLE events (id BIGINT) STORED AS JSON LOCATION '{}';\n\
             CREATE EXTERNAL TABLE out (id BIGINT) STORED AS JSON LOCATION '{}' \
             OPTIONS ('checkpointLocation' '{}');\n\
             INSERT INTO out SELECT id FROM events;\n",
            input.display(),
            dir.path().join("out").display(),
            own.display(),
        ),
    )
    .unwrap();
    let root = dir.path().join("root");
    let (code, _, stderr) = tributary(&[
        "run",
        job.to_str().unwrap(),
        "--trigger",
        "available-now",
        "--checkpoint",
        root.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!("checkpoints in {} (out)", own.display())),
        "{stderr}"
    );
    assert!(own.join("commits").join("0").exists(), "{stderr}");
}

/// The page is generated by this binary, which is built with every connector (Kafka and
/// PostgreSQL), so it does not depend on which features a test build of the engine has.
#[test]
fn the_options_page_is_what_the_declarations_say() {
    let out = Command::new(bin()).args(["options"]).output().unwrap();
    assert!(out.status.success());
    let generated = String::from_utf8(out.stdout).unwrap();
    let on_disk = std::fs::read_to_string(repo().join("docs/options.md")).unwrap_or_default();
    assert!(
        on_disk == generated,
        "docs/options.md is not what the option declarations say: regenerate it with \
         `cargo run -p tributary-cli -- options > docs/options.md`"
    );
    for format in [
        "json", "csv", "parquet", "delta", "kafka", "rate", "postgres", "console", "memory",
    ] {
        assert!(generated.contains(&format!("## `{format}`")), "{format}");
    }
    assert!(generated.contains("`max_files_per_trigger`"));
}

#[test]
fn options_lists_a_formats_declared_options() {
    let out = Command::new(bin())
        .args(["options", "json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        stdout.contains("`max_files_per_trigger`") && stdout.contains("`checkpoint_location`"),
        "{stdout}"
    );
    let out = Command::new(bin())
        .args(["options", "jsn"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown source format 'jsn'"));
}

fn write_file(dir: &Path, index: usize, per_file: i64) {
    let mut s = String::new();
    for i in 0..per_file {
        let id = index as i64 * per_file + i;
        s.push_str(&format!("{{\"id\":{id},\"region\":\"r{}\"}}\n", id % 7));
    }
    let tmp = dir.join(format!(".f{index:04}.tmp"));
    std::fs::write(&tmp, s).unwrap();
    std::fs::rename(tmp, dir.join(format!("f{index:04}.json"))).unwrap();
}

fn ids_of(batches: &[arrow::array::RecordBatch]) -> Vec<i64> {
    let mut v = Vec::new();
    for b in batches {
        let c = b.column(b.schema().index_of("id").unwrap());
        let a = c.as_any().downcast_ref::<Int64Array>().unwrap();
        for i in 0..a.len() {
            v.push(a.value(i));
        }
    }
    v.sort();
    v
}

#[test]
fn killed_at_random_moments_every_row_lands_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, delta, parquet, ckpt) = (
        tmp.path().join("in"),
        tmp.path().join("delta"),
        tmp.path().join("parquet"),
        tmp.path().join("ckpt"),
    );
    std::fs::create_dir_all(&input).unwrap();
    let job = tmp.path().join("job.sql");
    std::fs::write(
        &job,
        format!(
            "CREATE UNBOUNDED EXTERNAL TABLE events (id BIGINT, region VARCHAR) STORED AS JSON LOCATION '{}' OPTIONS ('max_files_per_trigger' '2');
             CREATE EXTERNAL TABLE to_delta (id BIGINT, region VARCHAR) STORED AS DELTA LOCATION '{}';
             CREATE EXTERNAL TABLE to_parquet (id BIGINT, region VARCHAR) STORED AS PARQUET LOCATION '{}';
             INSERT INTO to_delta SELECT id, region FROM events;
             INSERT INTO to_parquet SELECT id, upper(region) FROM events;",
            input.display(),
            delta.display(),
            parquet.display()
        ),
    )
    .unwrap();
    let per_file = 25;
    let mut files = 0;
    let mut seed: u64 = 0x5eed;
    let mut rnd = |bound: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % bound
    };
    let mut kills = 0;
    while kills < 22 {
        for _ in 0..1 + rnd(3) {
            write_file(&input, files, per_file);
            files += 1;
        }
        let mut child = Running::spawn(
            Command::new(bin())
                .args([
                    "run",
                    job.to_str().unwrap(),
                    "--trigger",
                    "20ms",
                    "--checkpoint",
                    ckpt.to_str().unwrap(),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        std::thread::sleep(Duration::from_millis(30 + rnd(400)));
        // SIGKILL: no chance to clean up.
        child.kill();
        kills += 1;
    }
    // Finish what is left, cleanly.
    let status = Command::new(bin())
        .args([
            "run",
            job.to_str().unwrap(),
            "--trigger",
            "available-now",
            "--checkpoint",
            ckpt.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let expected: Vec<i64> = (0..files as i64 * per_file).collect();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let s = Session::new();
        let d = s
            .read()
            .delta(delta.to_str().unwrap())
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(
            ids_of(&d),
            expected,
            "Delta: every row exactly once after {kills} kills"
        );
        let p = s
            .read()
            .parquet(parquet.to_str().unwrap())
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(
            ids_of(&p),
            expected,
            "Parquet: every row exactly once after {kills} kills"
        );
    });
}

#[test]
fn verify_says_identical_for_the_visitors_example() {
    let tmp = tempfile::tempdir().unwrap();
    assert_verify_identical(
        &repo().join("examples/visitors/job.sql"),
        &[
            format!(
                "input={}",
                repo().join("examples/etl/data/events").display()
            ),
            format!("output={}", tmp.path().join("visitors").display()),
        ],
    );
}

/// `run` with a small job until `probe` exists; returns the child.
fn spawn_run(job: &Path, ckpt: &Path, trigger: &str) -> Running {
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
            .stderr(Stdio::piped()),
    )
}

/// A sink table's `trigger` option puts its query in real-time mode: the console sink prints
/// each arrival's rows long before the ten-minute epoch ends, and Ctrl-C commits the epoch.
#[test]
fn a_job_files_trigger_option_runs_its_query_in_real_time_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, ckpt) = (tmp.path().join("in"), tmp.path().join("ckpt"));
    std::fs::create_dir_all(&input).unwrap();
    write_file(&input, 0, 10);
    let job = tmp.path().join("job.sql");
    std::fs::write(
        &job,
        format!(
            "CREATE UNBOUNDED EXTERNAL TABLE events (id BIGINT, region VARCHAR) STORED AS JSON LOCATION '{}';
             CREATE EXTERNAL TABLE sink (id BIGINT, region VARCHAR) STORED AS CONSOLE LOCATION 'stdout'
               OPTIONS ('trigger' 'realtime:10 minutes', 'num_rows' '100');
             INSERT INTO sink SELECT id, region FROM events WHERE id % 2 = 0;",
            input.display(),
        ),
    )
    .unwrap();
    let mut child = Running::spawn(
        Command::new(bin())
            .args([
                "run",
                job.to_str().unwrap(),
                "--checkpoint",
                ckpt.to_str().unwrap(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let printed = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut stdout = child.stdout.take().unwrap();
    let sink = printed.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = std::io::Read::read(&mut stdout, &mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let write_more = |first: i64| write_file(&input, first as usize, 10);
    wait_until(
        "the first rows are printed",
        Duration::from_secs(60),
        || printed.lock().unwrap().contains("| 8 "),
    );
    write_more(1);
    wait_until(
        "the later rows are printed",
        Duration::from_secs(60),
        || printed.lock().unwrap().contains("| 18 "),
    );
    assert!(
        !ckpt.join("sink/commits/0").exists(),
        "inside the ten-minute epoch nothing is committed"
    );
    assert!(printed.lock().unwrap().contains("Batch: 0"));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut code = None;
    wait_until("run stops on SIGINT", Duration::from_secs(30), || {
        code = child.try_wait().unwrap();
        code.is_some()
    });
    reader.join().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(code.unwrap().success(), "{stderr}");
    assert!(
        ckpt.join("sink/commits/0").exists(),
        "stopping commits the epoch"
    );
    assert!(
        !ckpt.join("sink/offsets/1").exists(),
        "one epoch for both arrivals"
    );
    assert!(stderr.contains("epoch 0: 20 rows"), "{stderr}");
}

#[test]
fn ctrl_c_stops_run_cleanly_after_the_current_epoch() {
    stops_cleanly_on("INT");
}

#[test]
fn sigterm_stops_run_cleanly_after_the_current_epoch() {
    stops_cleanly_on("TERM");
}

/// `run` gets `kill -SIGNAL` after its first commit and must exit 0, saying it stops.
fn stops_cleanly_on(signal: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out, ckpt) = (
        tmp.path().join("in"),
        tmp.path().join("out"),
        tmp.path().join("ckpt"),
    );
    std::fs::create_dir_all(&input).unwrap();
    write_file(&input, 0, 10);
    let job = tmp.path().join("job.sql");
    std::fs::write(
        &job,
        format!(
            "CREATE UNBOUNDED EXTERNAL TABLE events (id BIGINT, region VARCHAR) STORED AS JSON LOCATION '{}';
             CREATE EXTERNAL TABLE sink (id BIGINT, region VARCHAR) STORED AS DELTA LOCATION '{}';
             INSERT INTO sink SELECT id, region FROM events;",
            input.display(),
            out.display()
        ),
    )
    .unwrap();
    let mut child = spawn_run(&job, &ckpt, "50ms");
    wait_until("epoch 0 is committed", Duration::from_secs(60), || {
        ckpt.join("sink/commits/0").exists()
    });
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut code = None;
    wait_until(
        &format!("run stops on SIG{signal}"),
        Duration::from_secs(30),
        || {
            code = child.try_wait().unwrap();
            code.is_some()
        },
    );
    let code = code.unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(code.success(), "exit {code:?}: {stderr}");
    assert!(
        stderr.contains("stopping after the current epoch"),
        "{stderr}"
    );
}

#[test]
fn a_stateful_query_killed_at_random_moments_writes_each_window_once() {
    stateful_query_killed_at_random_moments("20ms");
}

/// Real-time mode: epochs of 100 ms in which rows are processed as they arrive; most kills land
/// inside an epoch, after some of its arrivals went through the operator.
#[test]
fn a_real_time_stateful_query_killed_inside_its_epochs_writes_each_window_once() {
    stateful_query_killed_at_random_moments("realtime:100ms");
}

fn stateful_query_killed_at_random_moments(trigger: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let (input, delta, ckpt) = (
        tmp.path().join("in"),
        tmp.path().join("delta"),
        tmp.path().join("ckpt"),
    );
    std::fs::create_dir_all(&input).unwrap();
    let job = tmp.path().join("job.sql");
    std::fs::write(
        &job,
        format!(
            "CREATE UNBOUNDED EXTERNAL TABLE events (id BIGINT, event_time TIMESTAMP) STORED AS JSON LOCATION '{}'
               OPTIONS ('max_files_per_trigger' '2', 'watermark_column' 'event_time', 'watermark_delay' '5 seconds');
             CREATE EXTERNAL TABLE windows (window_start TIMESTAMP, n BIGINT, total BIGINT) STORED AS DELTA LOCATION '{}';
             INSERT INTO windows
             SELECT window(event_time, '10 seconds')['start'], count(*), sum(id)
             FROM events GROUP BY window(event_time, '10 seconds');",
            input.display(),
            delta.display()
        ),
    )
    .unwrap();
    // Event `id` happens `id` seconds after 10:00; files of 7 events.
    let per_file: i64 = 7;
    let write = |index: i64| support::write_timed_events(&input, index, per_file);
    let mut files = 0i64;
    let mut rng = support::Rng(0xfeed);
    for _ in 0..15 {
        for _ in 0..1 + rng.next(3) {
            write(files);
            files += 1;
        }
        let mut child = spawn_run(&job, &ckpt, trigger);
        std::thread::sleep(Duration::from_millis(50 + rng.next(500)));
        child.kill();
    }
    let mut last = spawn_run(&job, &ckpt, "available-now");
    let mut err = String::new();
    std::io::Read::read_to_string(last.stderr.as_mut().unwrap(), &mut err).unwrap();
    let status = last.wait().unwrap();
    assert!(status.success(), "the last run failed: {err}");
    // The final watermark is the last event time minus 5 s; every window that ended by then
    // was written exactly once, with all its events.
    let n = files * per_file;
    let expected = support::closed_windows(n, 5);
    assert!(expected.len() >= 5, "{} files gave too few windows", files);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let got = rt.block_on(async {
        let s = Session::new();
        let b = s
            .read()
            .delta(delta.to_str().unwrap())
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let mut rows = Vec::new();
        for b in &b {
            let ts =
                arrow::compute::cast(b.column(0), &DataType::Timestamp(TimeUnit::Second, None))
                    .unwrap();
            let ts = arrow::compute::cast(&ts, &DataType::Int64).unwrap();
            let ts = ts.as_any().downcast_ref::<Int64Array>().unwrap();
            let cnt = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
            let tot = b.column(2).as_any().downcast_ref::<Int64Array>().unwrap();
            for i in 0..b.num_rows() {
                // Seconds since 10:00.
                let secs = ts.value(i) - 1_795_219_200 - 36_000;
                rows.push((secs, cnt.value(i), tot.value(i)));
            }
        }
        rows.sort();
        rows
    });
    assert_eq!(got, expected, "each closed window exactly once, complete");
}

#[test]
fn the_kafka_to_delta_example_verifies_against_a_broker() {
    use rdkafka::config::ClientConfig;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    // librdkafka's mock cluster speaks the Kafka protocol on a local port; the CLI connects to it.
    let cluster = rdkafka::mocking::MockCluster::new(1).unwrap();
    cluster.create_topic("events", 3, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    let mut n = 0;
    for f in std::fs::read_dir(repo().join("examples/etl/data/events")).unwrap() {
        for line in std::fs::read_to_string(f.unwrap().path()).unwrap().lines() {
            producer
                .send(
                    BaseRecord::<(), str>::to("events")
                        .payload(line)
                        .partition(n % 3),
                )
                .unwrap();
            n += 1;
        }
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    assert_verify_identical(
        &repo().join("examples/kafka_to_delta/job.sql"),
        &[
            format!("bootstrap={bootstrap}"),
            "topic=events".to_string(),
            format!("output={}", tmp.path().join("visitors").display()),
        ],
    );
    assert!(n > 100);
}

/// Kafka to Kafka with `exactly_once`, SIGKILLed after every round and restarted.
///
/// librdkafka's mock broker speaks the real protocol, fences producers and runs transactions,
/// but does not hide the records of a transaction that was never committed from a
/// `read_committed` consumer (it writes no abort markers). A kill inside a transaction is
/// therefore judged by Kafka itself (the next run's `init_transactions` aborts it) and cannot be
/// judged here: the test kills once the round's rows are committed in Kafka, which lands either
/// before or after the epoch's commit file is written, and every other round it also deletes the
/// newest commit file, so the restart must find the epoch through the sink's marker and not
/// write it again.
#[test]
fn kafka_to_kafka_exactly_once_survives_sigkills() {
    kafka_to_kafka_exactly_once_with_kills("20ms");
}

/// The same in real-time mode: each epoch's arrivals are recorded with its offsets, so a
/// restart that finds the epoch in Kafka but not in the commit log replays them, leaves the
/// rows alone and goes on.
#[test]
fn kafka_to_kafka_exactly_once_in_real_time_mode_survives_sigkills() {
    kafka_to_kafka_exactly_once_with_kills("realtime:200ms");
}

fn kafka_to_kafka_exactly_once_with_kills(trigger: &str) {
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    use rdkafka::Message;
    let cluster = rdkafka::mocking::MockCluster::new(1).unwrap();
    cluster.create_topic("in", 2, 1).unwrap();
    cluster.create_topic("out", 2, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let job = tmp.path().join("job.sql");
    std::fs::write(
        &job,
        "CREATE UNBOUNDED EXTERNAL TABLE events (id BIGINT) STORED AS KAFKA LOCATION '${bootstrap}'
           OPTIONS ('subscribe' 'in', 'starting_offsets' 'earliest', 'max_offsets_per_trigger' '7');
         CREATE EXTERNAL TABLE out (\"key\" VARCHAR, \"value\" VARCHAR) STORED AS KAFKA LOCATION '${bootstrap}'
           OPTIONS ('topic' 'out', 'exactly_once' 'true');
         INSERT INTO out SELECT CAST(id AS VARCHAR), concat('row-', CAST(id AS VARCHAR)) FROM events;",
    )
    .unwrap();
    let ckpt = tmp.path().join("ckpt");
    let log = tmp.path().join("run.log");
    let run = |trigger: &str| {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        Running::spawn(
            Command::new(bin())
                .args(["run", job.to_str().unwrap(), "--trigger", trigger])
                .arg("--checkpoint")
                .arg(&ckpt)
                .arg("--set")
                .arg(format!("bootstrap={bootstrap}"))
                .env("TRIBUTARY_LOG", "tributary=debug")
                .stdout(Stdio::null())
                .stderr(log),
        )
    };
    // One read_committed reader for the whole test: it sees each committed row as it lands.
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "check")
        .set("isolation.level", "read_committed")
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..2 {
        tpl.add_partition_offset("out", p, rdkafka::Offset::Beginning)
            .unwrap();
    }
    c.assign(&tpl).unwrap();
    let mut seen: Vec<i32> = Vec::new();
    let read = |seen: &mut Vec<i32>| {
        while let Some(m) = c.poll(Duration::from_millis(50)) {
            if let Ok(m) = m {
                seen.push(
                    std::str::from_utf8(m.payload().unwrap())
                        .unwrap()
                        .trim_start_matches("row-")
                        .parse::<i32>()
                        .unwrap(),
                );
            }
        }
    };
    let mut rng = support::Rng(0xbeef);
    let mut next = 0;
    let mut rewinds = 0;
    for round in 0..8 {
        for _ in 0..5 + rng.next(20) {
            let v = format!("{{\"id\":{next}}}");
            producer
                .send(
                    BaseRecord::<(), str>::to("in")
                        .payload(&v)
                        .partition(next % 2),
                )
                .unwrap();
            next += 1;
        }
        producer.flush(Duration::from_secs(10)).unwrap();
        {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .unwrap();
            writeln!(f, "--- round {round}: rows 0..{next}, seen {}", seen.len()).unwrap();
        }
        let mut child = run(trigger);
        wait_until(
            &format!("round {round} has written its rows to Kafka"),
            Duration::from_secs(120),
            || {
                if let Some(status) = child.try_wait().unwrap() {
                    panic!(
                        "the run of round {round} ended ({status}) before writing its rows: {}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                }
                read(&mut seen);
                seen.len() >= next as usize
            },
        );
        // librdkafka's mock broker does not isolate transactions (its EndTxn writes no commit
        // or abort markers, and a read_committed fetch reads to the log's end), so the rows are
        // seen as soon as they are sent. The kill must come after the transaction's commit —
        // an open one is aborted by the restart on a real broker and its rows never seen — so
        // wait for the run to say that the last epoch is in Kafka.
        let last = newest(&ckpt, "offsets").expect("an epoch was planned").0;
        wait_until(
            &format!("round {round}'s epoch {last} is committed in Kafka"),
            Duration::from_secs(120),
            || {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                text.lines().any(|l| {
                    l.ends_with(&format!(" epoch={last}"))
                        && (l.contains("committed the epoch's Kafka transaction")
                            || l.contains("not written again"))
                })
            },
        );
        child.kill();
        // The kill came after Kafka's commit of the last epoch: before or after its commit file.
        let (planned, committed) = (newest(&ckpt, "offsets"), newest(&ckpt, "commits"));
        if committed.as_ref().map(|c| c.0) < planned.as_ref().map(|p| p.0) {
            rewinds += 1;
        } else if round % 2 == 1 {
            // As if it had come before the commit file: the sink's marker must say so.
            std::fs::remove_file(committed.unwrap().1).unwrap();
            rewinds += 1;
        }
    }
    assert!(
        rewinds >= 3,
        "only {rewinds} restarts found an epoch in Kafka but not in the commit log"
    );
    let last = Command::new(bin())
        .args(["run", job.to_str().unwrap(), "--trigger", "available-now"])
        .arg("--checkpoint")
        .arg(&ckpt)
        .arg("--set")
        .arg(format!("bootstrap={bootstrap}"))
        .output()
        .unwrap();
    assert!(
        last.status.success(),
        "{}",
        String::from_utf8_lossy(&last.stderr)
    );
    read(&mut seen);
    seen.sort();
    assert_eq!(
        seen,
        (0..next).collect::<Vec<_>>(),
        "every row once after 8 kills; the runs logged:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

/// The highest-numbered file of the folder `kind` (`offsets`, `commits`) under `ckpt`.
fn newest(ckpt: &Path, kind: &str) -> Option<(u64, PathBuf)> {
    let mut dirs = vec![ckpt.to_path_buf()];
    let mut best: Option<(u64, PathBuf)> = None;
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.parent().and_then(|p| p.file_name()) == Some(kind.as_ref()) {
                if let Some(n) = p.file_name().and_then(|n| n.to_str()?.parse::<u64>().ok()) {
                    if best.as_ref().is_none_or(|(b, _)| n > *b) {
                        best = Some((n, p));
                    }
                }
            }
        }
    }
    best
}

#[test]
fn run_with_ui_serves_the_monitoring_page_and_prints_progress_lines() {
    use std::io::{BufRead, BufReader, Read, Write};
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    write_file(&input, 0, 10);
    let job = tmp.path().join("job.sql");
    std::fs::write(
        &job,
        format!(
            "CREATE UNBOUNDED EXTERNAL TABLE events (id BIGINT, region VARCHAR) STORED AS JSON LOCATION '{}';
             CREATE EXTERNAL TABLE sink STORED AS CONSOLE LOCATION 'stdout';
             INSERT INTO sink SELECT id, region FROM events;",
            input.display()
        ),
    )
    .unwrap();
    let mut child = Running::spawn(
        Command::new(bin())
            .args([
                "run",
                job.to_str().unwrap(),
                "--trigger",
                "100ms",
                "--ui",
                "127.0.0.1:0",
            ])
            .arg("--checkpoint")
            .arg(tmp.path().join("ckpt"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut addr = None;
    let mut progress_line = None;
    while addr.is_none() || progress_line.is_none() {
        let line = lines
            .next()
            .expect("run printed its UI address and a progress line")
            .unwrap();
        if let Some(a) = line.strip_prefix("monitoring UI: http://") {
            addr = Some(a.trim_end_matches('/').to_string());
        }
        if line.contains("epoch 0:") {
            progress_line = Some(line);
        }
    }
    assert!(progress_line.unwrap().contains("10 rows"));
    // The monitor hears of the epoch through the listener, which may come just after the
    // progress line: ask until it has, with a deadline.
    let addr = addr.unwrap();
    let get = || {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.write_all(b"GET /api/queries HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).unwrap();
        assert!(body.starts_with("HTTP/1.1 200"), "{body}");
        body
    };
    let mut body = String::new();
    wait_until("the monitor shows epoch 0", Duration::from_secs(60), || {
        body = get();
        body.contains("\"latestEpoch\":0")
    });
    child.kill();
}

#[test]
fn batch_draws_a_progress_bar_that_ends_at_every_file() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    for i in 0..5 {
        write_file(&input, i, 2000);
    }
    let job = tmp.path().join("job.sql");
    std::fs::write(
        &job,
        format!(
            "CREATE EXTERNAL TABLE events (id BIGINT, region VARCHAR) STORED AS JSON LOCATION '{}';
             CREATE EXTERNAL TABLE out (id BIGINT, region VARCHAR) STORED AS PARQUET LOCATION '{}';
             INSERT INTO out SELECT id, region FROM events;",
            input.display(),
            tmp.path().join("out").display()
        ),
    )
    .unwrap();
    let out = Command::new(bin())
        .args(["batch", job.to_str().unwrap(), "--progress"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("100%  5/5 files"), "{stderr}");
    assert!(stderr.contains("wrote 10000 rows"), "{stderr}");
}

/// Run the binary with `args`; (exit code, stdout, stderr).
fn tributary(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn plan_compares_a_changed_job_with_its_checkpoint_and_state_reads_what_it_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let job = repo().join("examples/visitors/job.sql");
    let ckpt = tmp.path().join("chk");
    let (input, output) = (
        format!(
            "input={}",
            repo().join("examples/etl/data/events").display()
        ),
        format!("output={}", tmp.path().join("out").display()),
    );
    let args = |job: &Path, cmd: &str| -> Vec<String> {
        let mut a = vec![cmd.to_string(), job.display().to_string()];
        for s in ["--set", &input, "--set", &output, "--checkpoint"] {
            a.push(s.to_string());
        }
        a.push(ckpt.display().to_string());
        a
    };
    let call = |a: Vec<String>| tributary(&a.iter().map(String::as_str).collect::<Vec<_>>());
    // Before any run: a new checkpoint.
    let (code, out, err) = call(args(&job, "plan"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("a new checkpoint"), "{out}");
    let mut run = args(&job, "run");
    run.extend(["--trigger".into(), "available-now".into()]);
    let (code, out, err) = call(run);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = call(args(&job, "plan"));
    assert_eq!(
        (code, out.contains("operator 0 (aggregation): reuse")),
        (0, true),
        "{out}"
    );
    // A wider window: rebuild, exit status 1, and `run` refuses it with the same report.
    let text = std::fs::read_to_string(&job).unwrap();
    let wider = tmp.path().join("wider.sql");
    std::fs::write(
        &wider,
        text.replace("'5 minutes', '1 minute'", "'10 minutes', '1 minute'"),
    )
    .unwrap();
    let (code, out, _) = call(args(&wider, "plan"));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("rebuild: the window changes") && out.contains("10 minutes"),
        "{out}"
    );
    let (code, out, _) = call({
        let mut a = args(&wider, "plan");
        a.push("--json".into());
        a
    });
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(code, 1);
    assert_eq!(
        json[0]["report"]["operators"][0]["verdict"], "rebuild",
        "{json}"
    );
    let mut refused = args(&wider, "run");
    refused.extend(["--trigger".into(), "available-now".into()]);
    let (code, out, err) = call(refused);
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        err.contains("rebuild: the window changes") && err.contains("state_evolution"),
        "{err}"
    );
    // The state as the run left it: one operator, its rows, its epochs.
    let q = ckpt.join("visitors").display().to_string();
    let (code, out, err) = tributary(&["state", "describe", &q]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("operator 0 (aggregation):") && out.contains("in 4 partitions"),
        "{out}"
    );
    assert!(
        out.contains("keys: region: Utf8View = lower(events.region)"),
        "{out}"
    );
    let (code, out, err) = tributary(&["state", "show", &q, "--json", "--limit", "1000"]);
    assert_eq!(code, 0, "{err}");
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (_, described, _) = tributary(&["state", "describe", &q, "--json"]);
    let described: serde_json::Value = serde_json::from_str(&described).unwrap();
    assert_eq!(rows.len() as u64, described[0]["rows"].as_u64().unwrap());
    assert!(!rows.is_empty());
    assert!(
        rows.iter()
            .all(|r| r["key"]["region"].is_string() && r["partition_id"].is_number()),
        "{rows:?}"
    );
    let (code, _, err) = tributary(&["state", "show", &q, "--operator", "2"]);
    assert_ne!(code, 0);
    assert!(err.contains("no stateful operator 2"), "{err}");
    // Offline repartitioning: the same rows in 6 partitions, and the job resumes on them.
    let (code, out, err) = tributary(&["state", "repartition", &q, "--partitions", "6"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("4 partitions -> 6"), "{out}");
    let (_, moved, _) = tributary(&["state", "describe", &q, "--json"]);
    let moved: serde_json::Value = serde_json::from_str(&moved).unwrap();
    assert_eq!(moved[0]["partitions"], 6);
    assert_eq!(moved[0]["rows"], described[0]["rows"]);
    let mut again = args(&job, "run");
    again.extend(["--trigger".into(), "available-now".into()]);
    let (code, out, err) = call(again);
    assert_eq!(code, 0, "{out}{err}");
}

/// Dense events for the visitors job: 5 regions, a new user almost every event, 200 per
/// second of event time, so each window's distinct set is large.
fn write_dense_events(dir: &Path, files: usize, per_file: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let mut user: u64 = 17;
    for f in 0..files {
        let mut text = String::with_capacity(per_file * 110);
        for i in 0..per_file {
            let n = (f * per_file + i) as i64;
            user = user
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let t = chrono::DateTime::from_timestamp_millis(1_767_225_600_000 + n * 5).unwrap();
            text.push_str(&format!(
                "{{\"event_time\":\"{}\",\"user_id\":{},\"region\":\"r{}\",\"page\":\"/p\",\"amount\":{}.25}}\n",
                t.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
                user >> 34,
                user % 5,
                n % 100
            ));
        }
        std::fs::write(dir.join(format!("part-{f}.json")), text).unwrap();
    }
}

#[test]
fn a_batch_held_to_a_small_memory_limit_spills_and_gives_the_streams_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    write_dense_events(&input, 2, 100_000);
    let job = repo().join("examples/visitors/job.sql");
    let input_var = format!("input={}", input.display());
    // The batch alone: it must spill to stay within 4 MiB, and say so.
    let out = tmp.path().join("batch");
    let (code, _, stderr) = tributary(&[
        "batch",
        job.to_str().unwrap(),
        "--set",
        &input_var,
        "--set",
        &format!("output={}", out.display()),
        "--memory-limit",
        "4m",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("of the 4.0 MiB memory limit and spilled"),
        "{stderr}"
    );
    // The same batch, spilling, against the stream of the same job: the same windows.
    let (code, stdout, stderr) = tributary(&[
        "verify",
        job.to_str().unwrap(),
        "--set",
        &input_var,
        "--set",
        &format!("output={}", tmp.path().join("verify").display()),
        "--memory-limit",
        "4m",
    ]);
    assert_eq!((code, stdout.trim()), (0, "identical"), "{stderr}");
    // A limit that is not a size is refused with the forms it takes.
    let (code, _, stderr) = tributary(&["batch", job.to_str().unwrap(), "--memory-limit", "lots"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("memory_limit") && stderr.contains("512m"),
        "{stderr}"
    );
}

/// Two watermarked inputs of one window, with the query restarted after each file: an input
/// that brings no rows in a run still holds the watermark where it left it (each input's own
/// watermark is in the checkpoint), so the window stays open for its late row, as it does for
/// a query that runs through without a restart. Before, a restart forgot the slower input and
/// the window closed without it.
#[test]
fn each_inputs_watermark_survives_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for d in ["a", "b"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    let job = dir.join("job.sql");
    std::fs::write(
        &job,
        "CREATE UNBOUNDED EXTERNAL TABLE a (ts TIMESTAMP) STORED AS JSON LOCATION '${dir}/a'
           OPTIONS ('watermark_column' 'ts', 'watermark_delay' '1 minute');
         CREATE UNBOUNDED EXTERNAL TABLE b (ts TIMESTAMP) STORED AS JSON LOCATION '${dir}/b'
           OPTIONS ('watermark_column' 'ts', 'watermark_delay' '1 minute');
         CREATE EXTERNAL TABLE out (ws TIMESTAMP, n BIGINT) STORED AS JSON LOCATION '${dir}/out';
         INSERT INTO out SELECT w['start'], count(*) FROM
           (SELECT window(ts, '10 minutes') AS w FROM (SELECT ts FROM a UNION ALL SELECT ts FROM b))
           GROUP BY w;",
    )
    .unwrap();
    let ckpt = dir.join("ckpt");
    let set = format!("dir={}", dir.display());
    let steps = [
        ("a", "1", "10:00"),
        ("b", "1", "10:00"),
        ("a", "2", "11:00"),
        ("b", "2", "10:05"),
        ("b", "3", "11:00"),
    ];
    for (input, name, time) in steps {
        std::fs::write(
            dir.join(input).join(format!("{name}.json")),
            format!("{{\"ts\":\"2024-01-01T{time}:00\"}}\n"),
        )
        .unwrap();
        let (code, _, err) = tributary(&[
            "run",
            job.to_str().unwrap(),
            "--trigger",
            "available-now",
            "--checkpoint",
            ckpt.to_str().unwrap(),
            "--set",
            &set,
        ]);
        assert_eq!(code, 0, "{err}");
    }
    let mut rows: Vec<String> = std::fs::read_dir(dir.join("out"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        vec!["{\"ws\":\"2024-01-01T10:00:00\",\"n\":3}".to_string()],
        "the 10:00 window closes once both inputs passed it, with b's 10:05 row in it"
    );
}

/// `run` of a job whose query reads no UNBOUNDED table says so in the job file's terms (not
/// the Rust API's).
#[test]
fn run_of_a_query_without_a_stream_says_to_declare_one_or_run_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.json"), "{\"id\":1}\n").unwrap();
    let job = dir.path().join("job.sql");
    std::fs::write(
        &job,
        format!(
            "CREATE EXTERNAL TABLE events (id BIGINT) STORED AS JSON LOCATION '{}';\n\
             CREATE EXTERNAL TABLE out (id BIGINT) STORED AS JSON LOCATION '{}';\n\
             INSERT INTO out SELECT id FROM events;\n",
            dir.path().display(),
            dir.path().join("out").display(),
        ),
    )
    .unwrap();
    let ckpt = dir.path().join("ckpt");
    let (code, _, stderr) = tributary(&[
        "run",
        job.to_str().unwrap(),
        "--checkpoint",
        ckpt.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("UNBOUNDED") && stderr.contains("tributary batch"),
        "{stderr}"
    );
}

#[test]
fn a_chain_through_a_json_sink_is_refused_naming_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(input.join("a.json"), "{\"id\":1}\n").unwrap();
    let job = dir.path().join("job.sql");
    std::fs::write(
        &job,
        format!(
            "CREATE UNBOUNDED EXTERNAL TABLE raw (id BIGINT) STORED AS JSON LOCATION '{}';\n\
             CREATE EXTERNAL TABLE mid (id BIGINT) STORED AS JSON LOCATION '{}';\n\
             CREATE EXTERNAL TABLE agg (n BIGINT) STORED AS JSON LOCATION '{}';\n\
             INSERT INTO mid SELECT id FROM raw;\n\
             INSERT INTO agg SELECT count(*) AS n FROM mid;\n",
            input.display(),
            dir.path().join("mid").display(),
            dir.path().join("agg").display(),
        ),
    )
    .unwrap();
    for command in ["run", "batch"] {
        let ckpt = dir.path().join(format!("ckpt-{command}"));
        let mut args = vec![command, job.to_str().unwrap()];
        if command == "run" {
            args.extend([
                "--checkpoint",
                ckpt.to_str().unwrap(),
                "--trigger",
                "available-now",
            ]);
        }
        let (code, _, stderr) = tributary(&args);
        assert_ne!(code, 0, "{command}");
        assert!(
            stderr.contains("INSERT INTO agg reads mid") && stderr.contains("STORED AS DELTA"),
            "{command}: {stderr}"
        );
    }
    // The name as a literal or an alias is not a read of the table.
    let text = std::fs::read_to_string(&job).unwrap().replace(
        "INSERT INTO agg SELECT count(*) AS n FROM mid;",
        "INSERT INTO agg SELECT count(*) AS n FROM raw AS mid WHERE 'mid' <> '';",
    );
    std::fs::write(&job, text).unwrap();
    let (code, _, stderr) = tributary(&["batch", job.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn insert_with_a_column_list_writes_the_tables_columns_in_order_with_nulls_for_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(input.join("a.json"), "{\"id\":1,\"code\":\"x\"}\n").unwrap();
    let job = dir.path().join("job.sql");
    let out = dir.path().join("out");
    std::fs::write(
        &job,
        format!(
            "CREATE EXTERNAL TABLE events (id BIGINT, code VARCHAR) STORED AS JSON LOCATION '{}';\n\
             CREATE EXTERNAL TABLE out (id BIGINT, n BIGINT, label VARCHAR) STORED AS DELTA \
             LOCATION '{}';\n\
             INSERT INTO out (label, id) SELECT code, id FROM events;\n",
            input.display(),
            out.display(),
        ),
    )
    .unwrap();
    let (code, _, stderr) = tributary(&["batch", job.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let batches = rt.block_on(async {
        let s = tributary::Session::new();
        s.read()
            .delta(out.to_str().unwrap())
            .await
            .unwrap()
            .collect()
            .await
            .unwrap()
    });
    let schema = batches[0].schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["id", "n", "label"]);
    let shown = arrow::util::pretty::pretty_format_batches(&batches)
        .unwrap()
        .to_string();
    assert!(shown.contains("| 1  |   | x     |"), "{shown}");
}
