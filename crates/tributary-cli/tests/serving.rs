//! The serving layer against real PostgreSQL servers: the PostgreSQL sink exactly once under
//! SIGKILLs of `tributary run`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

mod support;
use support::postgres::PgServer;
use support::{write_lines, Rng, Running};

fn spawn_run(job: &Path, ckpt: &Path, trigger: &str) -> Running {
    Running::spawn(
        Command::new(env!("CARGO_BIN_EXE_tributary"))
            .args(["run", job.to_str().unwrap(), "--trigger", trigger])
            .args(["--checkpoint", ckpt.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    )
}

/// Two queries of one job write into PostgreSQL while the job is killed at random moments:
/// closed 10-second windows appended (a duplicate would be a second row) and running totals
/// per bucket upserted. After a last available-now run every window is there once, complete,
/// and the totals are those of all the input.
#[test]
fn a_job_killed_at_random_moments_writes_to_postgres_exactly_once() {
    let pg = PgServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (input, ckpt) = (tmp.path().join("in"), tmp.path().join("ckpt"));
    std::fs::create_dir_all(&input).unwrap();
    let job = tmp.path().join("job.sql");
    let url = pg.url();
    std::fs::write(
        &job,
        format!(
            "CREATE UNBOUNDED EXTERNAL TABLE events (id BIGINT, event_time TIMESTAMP) STORED AS JSON LOCATION '{}'
               OPTIONS ('max_files_per_trigger' '2', 'watermark_column' 'event_time', 'watermark_delay' '5 seconds');
             CREATE EXTERNAL TABLE windows (window_start TIMESTAMP, n BIGINT, total BIGINT)
               STORED AS POSTGRES LOCATION '{url}' OPTIONS ('table' 'windows');
             CREATE EXTERNAL TABLE buckets (bucket BIGINT, n BIGINT, total BIGINT)
               STORED AS POSTGRES LOCATION '{url}' OPTIONS ('table' 'buckets', 'output_mode' 'update');
             INSERT INTO windows
             SELECT window(event_time, '10 seconds')['start'], count(*), sum(id)
             FROM events GROUP BY window(event_time, '10 seconds');
             INSERT INTO buckets SELECT id % 5 AS bucket, count(*) AS n, sum(id) AS total
             FROM events GROUP BY id % 5;",
            input.display(),
        ),
    )
    .unwrap();
    // Event `id` happens `id` seconds after 10:00; files of 7 events.
    let per_file: i64 = 7;
    let write = |index: i64| support::write_timed_events(&input, index, per_file);
    let mut files = 0i64;
    let mut rng = Rng(0x5eed);
    for _ in 0..12 {
        for _ in 0..1 + rng.next(3) {
            write(files);
            files += 1;
        }
        let mut child = spawn_run(&job, &ckpt, "20ms");
        std::thread::sleep(Duration::from_millis(100 + rng.next(600)));
        child.kill();
    }
    let mut last = spawn_run(&job, &ckpt, "available-now");
    let mut err = String::new();
    std::io::Read::read_to_string(last.stderr.as_mut().unwrap(), &mut err).unwrap();
    let status = last.wait().unwrap();
    assert!(status.success(), "the last run failed: {err}");

    let n = files * per_file;
    let expected: Vec<String> = support::closed_windows(n, 5)
        .into_iter()
        .map(|(start, count, sum)| format!("{start}|{count}|{sum}"))
        .collect();
    assert!(expected.len() >= 5, "{files} files gave too few windows");
    let got = pg.rows(
        "SELECT extract(epoch FROM window_start - '2026-11-21 10:00:00')::int8, n, total
         FROM windows ORDER BY window_start, n",
    );
    assert_eq!(got, expected, "each closed window exactly once, complete");
    let expected: Vec<String> = (0..5)
        .map(|b| {
            let ids: Vec<i64> = (0..n).filter(|i| i % 5 == b).collect();
            format!("{b}|{}|{}", ids.len(), ids.iter().sum::<i64>())
        })
        .collect();
    assert_eq!(
        pg.rows("SELECT bucket, n, total FROM buckets ORDER BY bucket"),
        expected
    );
    // Each query recorded its last epoch beside the rows.
    assert_eq!(
        pg.rows("SELECT count(*) FROM tributary_epochs WHERE epoch >= 0"),
        vec!["2"]
    );
}

// ---------------------------------------------------------------------------------------------
// The PostgreSQL endpoint: `tributary serve` and `tributary run --serve`.

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

const PASSWORD: &str = "s3cret-pw";

/// `psql -c` against the endpoint on `port` as `tributary` with `password`: (ok, stdout, stderr).
fn psql_at(port: u16, password: Option<&str>, args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new("psql");
    cmd.args(["-X", "-w", "-h", "127.0.0.1", "-p", &port.to_string()])
        .args([
            "-U",
            "tributary",
            "-d",
            "tributary",
            "-v",
            "ON_ERROR_STOP=1",
        ])
        .args(args)
        .env_remove("PGPASSWORD");
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    let out = cmd
        .output()
        .expect("psql comes with the postgresql package");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Rows of `sql` as `a|b`, in the query's order.
fn endpoint_rows(port: u16, sql: &str) -> Vec<String> {
    let (ok, out, err) = psql_at(port, Some(PASSWORD), &["-A", "-t", "-c", sql]);
    assert!(ok, "psql -c {sql}: {err}");
    out.lines().map(str::to_string).collect()
}

/// Wait until the endpoint on `port` answers (the child's stderr on failure).
fn wait_for_endpoint(child: &mut Running, port: u16) {
    support::wait_until("the endpoint answers", Duration::from_secs(60), || {
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            panic!("the endpoint exited ({status}): {err}");
        }
        psql_at(port, Some(PASSWORD), &["-c", "SELECT 1"]).0
    });
}

fn serve_job(job: &Path, port: u16) -> Running {
    Running::spawn(
        Command::new(env!("CARGO_BIN_EXE_tributary"))
            .args(["serve", job.to_str().unwrap()])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--serve-password", PASSWORD])
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    )
}

/// A job's Delta output written by `batch`, then served: psql reads the rows the Delta table
/// holds, lists and describes the tables, reads an older version, and is refused without the
/// password or when it tries to write.
#[test]
fn psql_queries_a_jobs_delta_tables_through_serve() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, counts) = (tmp.path().join("in"), tmp.path().join("counts"));
    write_lines(
        &input,
        "a.json",
        &[
            r#"{"k":"a","v":1}"#.to_string(),
            r#"{"k":"b","v":2}"#.to_string(),
            r#"{"k":"a","v":3}"#.to_string(),
        ],
    );
    let job = tmp.path().join("job.sql");
    std::fs::write(
        &job,
        format!(
            "CREATE EXTERNAL TABLE events (k VARCHAR, v BIGINT) STORED AS JSON LOCATION '{}';
             CREATE EXTERNAL TABLE counts (k VARCHAR, n BIGINT, total BIGINT) STORED AS DELTA LOCATION '{}';
             INSERT INTO counts SELECT k, count(*), sum(v) FROM events GROUP BY k;",
            input.display(),
            counts.display()
        ),
    )
    .unwrap();
    let batch = |expect: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_tributary"))
            .args(["batch", job.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains(expect));
    };
    batch("counts: wrote 2 rows");
    let port = free_port();
    let mut server = serve_job(&job, port);
    wait_for_endpoint(&mut server, port);

    let delta = support::query_delta(&counts, "SELECT k, n, total FROM t");
    assert_eq!(
        endpoint_rows(port, "SELECT k, n, total FROM counts ORDER BY k"),
        delta
    );
    // A new version of the table is seen by the next query; the old one stays readable.
    write_lines(&input, "b.json", &[r#"{"k":"c","v":5}"#.to_string()]);
    let out = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args(["batch", job.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        endpoint_rows(port, "SELECT count(*) FROM counts"),
        vec!["5"],
        "a batch appends its result: version 1 holds both runs (2 + 3 groups)"
    );
    assert_eq!(
        endpoint_rows(port, "SELECT count(*) FROM counts VERSION AS OF 0"),
        vec!["2"]
    );
    // psql's own catalog queries.
    let (ok, out, err) = psql_at(port, Some(PASSWORD), &["-c", "\\dt"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("counts") && out.contains("events") && out.contains("table"),
        "{out}"
    );
    let (ok, out, err) = psql_at(port, Some(PASSWORD), &["-c", "\\d counts"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("total") && out.contains("bigint") && out.contains("text"),
        "{out}"
    );
    // Read only, and closed to wrong or missing passwords.
    let (ok, _, err) = psql_at(
        port,
        Some(PASSWORD),
        &["-c", "INSERT INTO counts VALUES ('x', 1, 1)"],
    );
    assert!(!ok && err.contains("read only"), "{err}");
    let (ok, _, err) = psql_at(port, Some("wrong"), &["-c", "SELECT 1"]);
    assert!(!ok && err.contains("authentication failed"), "{err}");
    let (ok, _, err) = psql_at(port, None, &["-c", "SELECT 1"]);
    assert!(!ok && err.contains("password"), "{err}");
    // A mistake is an error that names it, and the session goes on.
    let (ok, _, err) = psql_at(port, Some(PASSWORD), &["-c", "SELECT * FROM no_such_table"]);
    assert!(!ok && err.contains("no_such_table"), "{err}");
}

fn python() -> String {
    support::venv_python("psycopg, sqlalchemy", "bash scripts/python_env.sh")
}

/// A job runs with `--serve`: while its epochs commit, psycopg readers see the live memory sink
/// and the Delta table, each read at a committed epoch (never half of one: every epoch adds a
/// whole file of 10 events); SQLAlchemy lists the tables and their columns.
#[test]
fn psycopg_and_sqlalchemy_query_a_running_job() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, counts, ckpt) = (
        tmp.path().join("in"),
        tmp.path().join("counts"),
        tmp.path().join("ckpt"),
    );
    std::fs::create_dir_all(&input).unwrap();
    let file = |i: usize| {
        let lines: Vec<String> = (0..10)
            .map(|j| format!("{{\"k\":\"k{}\",\"v\":{}}}", j % 3, i * 10 + j))
            .collect();
        write_lines(&input, &format!("f{i:03}.json"), &lines);
    };
    file(0);
    let job = tmp.path().join("job.sql");
    std::fs::write(
        &job,
        format!(
            "CREATE UNBOUNDED EXTERNAL TABLE events (k VARCHAR, v BIGINT) STORED AS JSON LOCATION '{}'
               OPTIONS ('max_files_per_trigger' '1');
             CREATE EXTERNAL TABLE counts (k VARCHAR, n BIGINT, total BIGINT) STORED AS DELTA LOCATION '{}'
               OPTIONS ('output_mode' 'complete');
             CREATE EXTERNAL TABLE live (k VARCHAR, n BIGINT) STORED AS MEMORY LOCATION ''
               OPTIONS ('output_mode' 'complete');
             INSERT INTO counts SELECT k, count(*), sum(v) FROM events GROUP BY k;
             INSERT INTO live SELECT k, count(*) FROM events GROUP BY k;",
            input.display(),
            counts.display()
        ),
    )
    .unwrap();
    let port = free_port();
    let mut run = Running::spawn(
        Command::new(env!("CARGO_BIN_EXE_tributary"))
            .args(["run", job.to_str().unwrap(), "--trigger", "50ms"])
            .args(["--checkpoint", ckpt.to_str().unwrap()])
            .args(["--serve", &format!("127.0.0.1:{port}")])
            .env("TRIBUTARY_SERVE_PASSWORD", PASSWORD)
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    wait_for_endpoint(&mut run, port);
    let files = 8;
    let events = files * 10;
    let script = format!(
        r#"
import sys, threading, time, psycopg, sqlalchemy as sa
url = "host=127.0.0.1 port={port} user=tributary password={PASSWORD} dbname=tributary"
seen = {{"counts": set(), "live": set()}}
stop = False
errors = []
def reader(table, column):
    with psycopg.connect(url, autocommit=True) as conn:
        while not stop:
            total = conn.execute(f"SELECT coalesce(sum({{column}}), 0) FROM {{table}} WHERE n >= %s", (0,)).fetchone()[0]
            if total % 10 != 0:
                errors.append(f"{{table}}: {{total}} events is not whole epochs")
            seen[table].add(total)
threads = [threading.Thread(target=reader, args=("counts", "n")), threading.Thread(target=reader, args=("live", "n"))]
for t in threads: t.start()
deadline = time.time() + 120
while time.time() < deadline and not ({events} in seen["counts"] and {events} in seen["live"]):
    time.sleep(0.05)
stop = True
for t in threads: t.join()
assert not errors, errors
assert {events} in seen["counts"] and {events} in seen["live"], seen
eng = sa.create_engine(f"postgresql+psycopg://tributary:{PASSWORD}@127.0.0.1:{port}/tributary")
insp = sa.inspect(eng)
print("tables", sorted(insp.get_table_names()))
print("columns", [(c["name"], str(c["type"])) for c in insp.get_columns("counts")])
with eng.connect() as c:
    print("rows", c.execute(sa.text("SELECT k, n, total FROM counts ORDER BY k")).fetchall())
print("versions seen", len(seen["counts"]))
"#
    );
    let py = python();
    let reader =
        std::thread::spawn(move || Command::new(py).args(["-c", &script]).output().unwrap());
    for i in 1..files {
        file(i);
        std::thread::sleep(Duration::from_millis(30));
    }
    let out = reader.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("tables ['counts', 'counts_state', 'events', 'live', 'live_state']"),
        "{stdout}"
    );
    assert!(
        stdout.contains("columns [('k', 'TEXT'), ('n', 'BIGINT'), ('total', 'BIGINT')]"),
        "{stdout}"
    );
    // The result equals the Delta table's own, read directly.
    let delta = support::query_delta(&counts, "SELECT k, n, total FROM t");
    let expected: Vec<String> = delta
        .iter()
        .map(|r| {
            let p: Vec<&str> = r.split('|').collect();
            format!("('{}', {}, {})", p[0], p[1], p[2])
        })
        .collect();
    assert!(
        stdout.contains(&format!("rows [{}]", expected.join(", "))),
        "{stdout} vs {delta:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Live state and Arrow Flight SQL.

fn spawn_served_run(job: &Path, ckpt: &Path, pg: u16, flight: u16) -> Running {
    Running::spawn(
        Command::new(env!("CARGO_BIN_EXE_tributary"))
            .args(["run", job.to_str().unwrap(), "--trigger", "50ms"])
            .args(["--checkpoint", ckpt.to_str().unwrap()])
            .args(["--serve", &format!("127.0.0.1:{pg}")])
            .args(["--flight-sql", &format!("127.0.0.1:{flight}")])
            .env("TRIBUTARY_SERVE_PASSWORD", PASSWORD)
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    )
}

/// A running aggregation keeps a live view of its groups (`counts_state`): psql and an ADBC
/// Flight SQL client read it, equal to the Delta table the query writes once its epochs are
/// committed; a key is looked up with a bound parameter; ADBC lists the tables; a wrong
/// password and a write are refused. Killed and restarted, the job serves the view restored
/// from its checkpoint before any new epoch runs.
#[test]
fn live_state_and_delta_tables_over_psql_and_adbc_flight_sql_survive_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, counts, ckpt) = (
        tmp.path().join("in"),
        tmp.path().join("counts"),
        tmp.path().join("ckpt"),
    );
    std::fs::create_dir_all(&input).unwrap();
    let file = |i: usize| {
        let lines: Vec<String> = (0..10)
            .map(|j| format!("{{\"k\":\"k{}\",\"v\":{}}}", (i + j) % 4, i * 10 + j))
            .collect();
        write_lines(&input, &format!("f{i:03}.json"), &lines);
    };
    let job = tmp.path().join("job.sql");
    std::fs::write(
        &job,
        format!(
            "CREATE UNBOUNDED EXTERNAL TABLE events (k VARCHAR, v BIGINT) STORED AS JSON LOCATION '{}'
               OPTIONS ('max_files_per_trigger' '1');
             CREATE EXTERNAL TABLE counts (k VARCHAR, n BIGINT, total BIGINT) STORED AS DELTA LOCATION '{}'
               OPTIONS ('output_mode' 'update');
             INSERT INTO counts SELECT k, count(*) AS n, sum(v) AS total FROM events GROUP BY k;",
            input.display(),
            counts.display()
        ),
    )
    .unwrap();
    let py = support::venv_python("adbc_driver_flightsql.dbapi", "bash scripts/python_env.sh");
    let (pg, flight) = (free_port(), free_port());
    let mut run = spawn_served_run(&job, &ckpt, pg, flight);
    wait_for_endpoint(&mut run, pg);
    for i in 0..4 {
        file(i);
    }
    let settled = |events: u64| {
        // (The Delta table exists once the first epoch commits.)
        support::wait_until(
            "the Delta table holds every event",
            Duration::from_secs(60),
            || {
                let (ok, out, _) = psql_at(
                    pg,
                    Some(PASSWORD),
                    &["-A", "-t", "-c", "SELECT coalesce(sum(n), 0) FROM counts"],
                );
                ok && out.trim() == events.to_string()
            },
        );
    };
    settled(40);
    let delta = endpoint_rows(pg, "SELECT k, n, total FROM counts ORDER BY k");
    assert_eq!(delta.len(), 4, "{delta:?}");
    assert_eq!(
        endpoint_rows(pg, "SELECT k, n, total FROM counts_state ORDER BY k"),
        delta
    );
    assert_eq!(
        endpoint_rows(pg, "SELECT n FROM counts_state WHERE k = 'k1'"),
        vec![delta[1].split('|').nth(1).unwrap().to_string()]
    );
    let script = format!(
        r#"
import adbc_driver_flightsql.dbapi as flight
uri = "grpc://127.0.0.1:{flight}"
conn = flight.connect(uri, db_kwargs={{"username": "tributary", "password": "{PASSWORD}"}}, autocommit=True)
cur = conn.cursor()
cur.execute("SELECT k, n, total FROM counts_state ORDER BY k")
print("state", [tuple(r) for r in cur.fetchall()])
cur.execute("SELECT k, n, total FROM counts ORDER BY k")
print("delta", [tuple(r) for r in cur.fetchall()])
cur.execute("SELECT n, total FROM counts_state WHERE k = ?", ("k2",))
print("lookup", [tuple(r) for r in cur.fetchall()])
objects = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
names = sorted(t["table_name"] for c in objects for s in c["catalog_db_schemas"] for t in s["db_schema_tables"])
print("tables", names)
print("schema", conn.adbc_get_table_schema("counts_state").names)
try:
    cur.execute("INSERT INTO counts VALUES ('x', 1, 1)")
    print("write accepted")
except Exception as e:
    print("write refused:", "read only" in str(e))
cur.close(); conn.close()
try:
    bad = flight.connect(uri, db_kwargs={{"username": "tributary", "password": "wrong"}}, autocommit=True)
    c = bad.cursor(); c.execute("SELECT 1"); c.fetchall()
    print("wrong password accepted")
except Exception as e:
    print("wrong password refused:", "not accepted" in str(e) or "Unauthenticated" in str(e))
"#
    );
    let out = Command::new(&py).args(["-c", &script]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let as_tuples: Vec<String> = delta
        .iter()
        .map(|r| {
            let p: Vec<&str> = r.split('|').collect();
            format!("('{}', {}, {})", p[0], p[1], p[2])
        })
        .collect();
    let rows = format!("[{}]", as_tuples.join(", "));
    assert!(stdout.contains(&format!("state {rows}")), "{stdout}");
    assert!(stdout.contains(&format!("delta {rows}")), "{stdout}");
    let k2: Vec<&str> = delta[2].split('|').collect();
    assert!(
        stdout.contains(&format!("lookup [({}, {})]", k2[1], k2[2])),
        "{stdout}"
    );
    assert!(
        stdout.contains("tables ['counts', 'counts_state', 'events']"),
        "{stdout}"
    );
    assert!(stdout.contains("schema ['k', 'n', 'total']"), "{stdout}");
    assert!(stdout.contains("write refused: True"), "{stdout}");
    assert!(stdout.contains("wrong password refused: True"), "{stdout}");

    // Killed, and started again on the same checkpoint: the view is the restored state.
    drop(run);
    let mut run = spawn_served_run(&job, &ckpt, pg, flight);
    wait_for_endpoint(&mut run, pg);
    assert_eq!(
        endpoint_rows(pg, "SELECT k, n, total FROM counts_state ORDER BY k"),
        delta
    );
    // And it goes on from there.
    file(4);
    settled(50);
    assert_eq!(
        endpoint_rows(pg, "SELECT k, n, total FROM counts_state ORDER BY k"),
        endpoint_rows(pg, "SELECT k, n, total FROM counts ORDER BY k")
    );
}

/// The visitors example running with `--serve --flight-sql`, queried live from Python by
/// `examples/visitors/query_live.py` (ADBC): closed windows (the Delta table) and open windows
/// (the live state) together come to equal the job's batch answer, and never hold a window twice
/// once they do.
#[test]
fn the_visitors_example_is_queried_live_from_python() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tmp = tempfile::tempdir().unwrap();
    let input = repo.join("examples/etl/data/events");
    let (batch_out, stream_out, ckpt) = (
        tmp.path().join("batch"),
        tmp.path().join("stream"),
        tmp.path().join("ckpt"),
    );
    let job = repo.join("examples/visitors/job.sql");
    let set = |out: &Path| {
        vec![
            "--set".to_string(),
            format!("input={}", input.display()),
            "--set".to_string(),
            format!("output={}", out.display()),
        ]
    };
    let out = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .arg("batch")
        .arg(&job)
        .args(set(&batch_out))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let py = support::venv_python(
        "adbc_driver_flightsql.dbapi, deltalake",
        "bash scripts/python_env.sh",
    );
    let (pg, flight) = (free_port(), free_port());
    let mut run = Running::spawn(
        Command::new(env!("CARGO_BIN_EXE_tributary"))
            .arg("run")
            .arg(&job)
            .args(set(&stream_out))
            .args(["--trigger", "100ms", "--checkpoint", ckpt.to_str().unwrap()])
            .args(["--serve", &format!("127.0.0.1:{pg}")])
            .args(["--flight-sql", &format!("127.0.0.1:{flight}")])
            .env("TRIBUTARY_SERVE_PASSWORD", PASSWORD)
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    wait_for_endpoint(&mut run, pg);
    let out = Command::new(&py)
        .arg(repo.join("examples/visitors/query_live.py"))
        .args(["--flight", &format!("grpc://127.0.0.1:{flight}")])
        .args(["--until-equal", batch_out.to_str().unwrap()])
        .env("TRIBUTARY_SERVE_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("busiest open windows"), "{stdout}");
    assert!(stdout.contains("live answer equals the batch"), "{stdout}");
    // Some windows are still open (no flush at the end): the live state is part of the answer.
    let open: usize = stdout
        .split(" closed, ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(open > 0, "{stdout}");
}
