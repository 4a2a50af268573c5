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
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
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
    let write = |index: i64| {
        let lines: Vec<String> = (index * per_file..(index + 1) * per_file)
            .map(|id| {
                format!(
                    "{{\"id\":{id},\"event_time\":\"2026-11-21T10:{:02}:{:02}Z\"}}",
                    id / 60,
                    id % 60
                )
            })
            .collect();
        let tmp = input.join(format!(".f{index:04}.tmp"));
        std::fs::write(&tmp, lines.join("\n") + "\n").unwrap();
        std::fs::rename(tmp, input.join(format!("f{index:04}.json"))).unwrap();
    };
    let mut files = 0i64;
    let mut seed: u64 = 0xfeed;
    let mut rnd = |bound: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % bound
    };
    for kill in 0..15 {
        for _ in 0..1 + rnd(3) {
            write(files);
            files += 1;
        }
        let mut child = spawn_run(&job, &ckpt, "20ms");
        std::thread::sleep(Duration::from_millis(50 + rnd(500)));
        child.kill();
        let _ = kill;
    }
    let status = spawn_run(&job, &ckpt, "available-now").wait().unwrap();
    assert!(status.success());
    // The final watermark is the last event time minus 5 s; every window that ended by then
    // was written exactly once, with all its events.
    let n = files * per_file;
    let watermark = n - 1 - 5;
    let mut expected = Vec::new();
    let mut start = 0;
    while start + 10 <= watermark {
        let ids: Vec<i64> = (start..(start + 10).min(n)).collect();
        expected.push((start, ids.len() as i64, ids.iter().sum::<i64>()));
        start += 10;
    }
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

#[test]
fn kafka_to_kafka_exactly_once_survives_sigkills() {
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
    let run = |trigger: &str| {
        Running::spawn(
            Command::new(bin())
                .args(["run", job.to_str().unwrap(), "--trigger", trigger])
                .arg("--checkpoint")
                .arg(&ckpt)
                .arg("--set")
                .arg(format!("bootstrap={bootstrap}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
    };
    let mut seed: u64 = 0xbeef;
    let mut rnd = |bound: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % bound
    };
    let mut next = 0;
    for _ in 0..10 {
        for _ in 0..5 + rnd(20) {
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
        let mut child = run("20ms");
        std::thread::sleep(Duration::from_millis(100 + rnd(600)));
        child.kill();
    }
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
    // A read_committed consumer sees every row exactly once.
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "check")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..2 {
        tpl.add_partition_offset("out", p, rdkafka::Offset::Beginning)
            .unwrap();
    }
    c.assign(&tpl).unwrap();
    let mut seen = Vec::new();
    let mut eof = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while eof < 2 && std::time::Instant::now() < deadline {
        match c.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => seen.push(
                std::str::from_utf8(m.payload().unwrap())
                    .unwrap()
                    .trim_start_matches("row-")
                    .parse::<i32>()
                    .unwrap(),
            ),
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => eof += 1,
            _ => {}
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        (0..next).collect::<Vec<_>>(),
        "every row once after 10 kills"
    );
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
        s.write_all(b"GET /api/queries HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
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
