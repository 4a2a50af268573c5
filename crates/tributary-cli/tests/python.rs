//! `tributary submit` with Python job files: the launcher's contract, and the Python examples
//! (examples/python) as a batch and as a stream, against the SQL jobs they mirror.
//!
//! The interpreter is the test venv's (`scripts/python_package.sh` installs the package into
//! it), or $TRIBUTARY_TEST_PYTHON.

use std::path::{Path, PathBuf};
use std::process::Command;

mod support;
use support::query_delta;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tributary")
}

fn repo() -> PathBuf {
    std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("../..")
}

/// A Python that imports `tributary.sql`, or a failure that says how to get one.
fn python() -> String {
    support::venv_python("tributary.sql", "bash scripts/python_package.sh")
}

fn submit(job: &Path, sets: &[String], args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(bin());
    cmd.env("TRIBUTARY_PYTHON", python()).arg("submit").arg(job);
    for s in sets {
        cmd.arg("--set").arg(s);
    }
    cmd.args(args);
    cmd.output().unwrap()
}

#[test]
fn a_python_job_gets_its_variables_modules_and_arguments() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("helpers.py"),
        "def greet(n):\n    return 'hello ' + n\n",
    )
    .unwrap();
    let job = tmp.path().join("job.py");
    std::fs::write(
        &job,
        "import sys, tributary, helpers\n\
         from tributary.sql import SparkSession\n\
         spark = SparkSession.builder.getOrCreate()\n\
         n = spark.range(int(tributary.conf['n'])).count()\n\
         print(helpers.greet(tributary.conf['who']), n, sys.argv[1:])\n",
    )
    .unwrap();
    let out = submit(&job, &["who=ann".into(), "n=4".into()], &["--x", "y"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), "hello ann 4 ['--x', 'y']");
}

#[test]
fn a_failing_python_job_fails_the_command_with_its_traceback() {
    let tmp = tempfile::tempdir().unwrap();
    let job = tmp.path().join("job.py");
    std::fs::write(
        &job,
        "import tributary\nraise SystemExit(tributary.conf['missing'])\n",
    )
    .unwrap();
    let out = submit(&job, &[], &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("KeyError: 'missing'"), "{err}");
    let sql = repo().join("examples/etl/job.sql");
    let out = Command::new(bin())
        .arg("submit")
        .arg(&sql)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("tributary run"));
}

/// The Python example as a batch and as a stream, and the SQL job as a batch: the same rows, as
/// `select` reads them (sums of doubles rounded: their last digits depend on the order of
/// addition, which differs between a batch and epochs).
fn example_agrees(example: &str, sql_job: &str, sets: &[(&str, PathBuf)], select: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let mut base: Vec<String> = sets
        .iter()
        .map(|(k, v)| format!("{k}={}", v.display()))
        .collect();
    let out_of = |name: &str| tmp.path().join(name);
    let job = repo().join("examples/python").join(example);
    let mut results = Vec::new();
    for mode in ["batch", "stream"] {
        let mut s = base.clone();
        s.push(format!("output={}", out_of(mode).display()));
        s.push(format!("bad={}", out_of(&format!("bad-{mode}")).display()));
        s.push(format!(
            "checkpoint={}",
            out_of(&format!("ckpt-{mode}")).display()
        ));
        s.push(format!("mode={mode}"));
        // Bounded input: the stream closes its last windows at the end, as `verify` does.
        s.push("flush_at_end=true".into());
        let out = submit(&job, &s, &[]);
        assert!(
            out.status.success(),
            "{example} as a {mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        results.push(query_delta(&out_of(mode), select));
    }
    assert!(!results[0].is_empty(), "{example} wrote no rows");
    assert_eq!(
        results[0], results[1],
        "{example}: the batch and the stream differ"
    );
    base.push(format!("output={}", out_of("sql").display()));
    // A --set the job does not use is an error: only the jobs that route bad records get one.
    let text = std::fs::read_to_string(repo().join(sql_job)).unwrap();
    if text.contains("${bad") {
        base.push(format!("bad={}", out_of("bad-sql").display()));
    }
    let mut cmd = Command::new(bin());
    cmd.arg("batch").arg(repo().join(sql_job));
    for s in &base {
        cmd.arg("--set").arg(s);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        results[0],
        query_delta(&out_of("sql"), select),
        "{example} differs from {sql_job}"
    );
}

#[test]
fn the_python_etl_example_equals_the_sql_job_as_batch_and_stream() {
    let data = repo().join("examples/etl/data");
    example_agrees(
        "etl.py",
        "examples/etl/job.sql",
        &[
            ("input", data.join("events")),
            ("regions", data.join("regions.csv")),
        ],
        "SELECT * FROM t",
    );
}

#[test]
fn the_python_visitors_example_equals_the_sql_job_as_batch_and_stream() {
    let data = repo().join("examples/etl/data");
    example_agrees(
        "visitors.py",
        "examples/visitors/job.sql",
        &[("input", data.join("events"))],
        "SELECT window_start, window_end, region, events, visitors, round(revenue, 6) FROM t",
    );
}

#[test]
fn the_python_medallion_example_equals_the_sql_job_layer_by_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let data = repo().join("examples/etl/data");
    let sets = |lake: &Path| {
        vec![
            format!("input={}", data.join("events").display()),
            format!("regions={}", data.join("regions.csv").display()),
            format!("lake={}", lake.display()),
        ]
    };
    let mut lakes = Vec::new();
    for mode in ["batch", "stream"] {
        let lake = tmp.path().join(mode);
        let mut s = sets(&lake);
        s.push(format!("mode={mode}"));
        s.push("flush_at_end=true".into());
        let out = submit(&repo().join("examples/python/medallion.py"), &s, &[]);
        assert!(
            out.status.success(),
            "{mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        lakes.push(lake);
    }
    let sql_lake = tmp.path().join("sql");
    let mut cmd = Command::new(bin());
    cmd.arg("batch")
        .arg(repo().join("examples/medallion/job.sql"));
    for s in sets(&sql_lake) {
        cmd.arg("--set").arg(s);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lakes.push(sql_lake);
    for (layer, select) in [
        ("bronze", "SELECT * FROM t"),
        ("silver", "SELECT * FROM t"),
        (
            "gold",
            "SELECT hour_start, country, events, visitors, round(revenue, 6) FROM t",
        ),
    ] {
        let rows: Vec<Vec<String>> = lakes
            .iter()
            .map(|l| query_delta(&l.join(layer), select))
            .collect();
        assert!(!rows[0].is_empty(), "{layer} is empty");
        assert_eq!(
            rows[0], rows[1],
            "{layer}: the Python batch and stream differ"
        );
        assert_eq!(rows[0], rows[2], "{layer}: Python and the SQL job differ");
    }
}

#[test]
fn the_python_kafka_example_equals_the_sql_job() {
    use rdkafka::config::ClientConfig;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let cluster = rdkafka::mocking::MockCluster::new(1).unwrap();
    cluster.create_topic("events", 2, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    let mut files: Vec<_> = std::fs::read_dir(repo().join("examples/etl/data/events"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut n = 0;
    for f in files {
        for line in std::fs::read_to_string(f).unwrap().lines() {
            producer
                .send(
                    BaseRecord::<(), str>::to("events")
                        .payload(line)
                        .partition(n % 2),
                )
                .unwrap();
            n += 1;
        }
    }
    producer.flush(std::time::Duration::from_secs(10)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (py_out, sql_out) = (tmp.path().join("py"), tmp.path().join("sql"));
    let out = submit(
        &repo().join("examples/python/kafka_to_delta.py"),
        &[
            format!("bootstrap={bootstrap}"),
            "topic=events".into(),
            format!("output={}", py_out.display()),
            format!("checkpoint={}", tmp.path().join("ckpt").display()),
            "flush_at_end=true".into(),
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(bin())
        .arg("batch")
        .arg(repo().join("examples/kafka_to_delta/job.sql"))
        .args([
            "--set",
            &format!("bootstrap={bootstrap}"),
            "--set",
            "topic=events",
        ])
        .arg("--set")
        .arg(format!("output={}", sql_out.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let select =
        "SELECT window_start, window_end, region, events, visitors, round(revenue, 6) FROM t";
    let py = query_delta(&py_out, select);
    assert!(py.len() > 10, "{} rows", py.len());
    assert_eq!(py, query_delta(&sql_out, select));
}
