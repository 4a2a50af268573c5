//! The examples with every location in object storage — S3 (moto) and Azure (Azurite) servers
//! started by the test — run by the `tributary` binary configured the way users configure it
//! (environment variables, or `--storage-option`), SIGKILLed at random moments while files
//! arrive, and equal to the batch answer at the end.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use tributary::location::Location;
use tributary::prelude::*;
use tributary::storage::StorageOptions;

mod support;
use support::{rows, Rng, Running};
#[path = "../../tributary/tests/support/storage_server.rs"]
mod storage_server;
use storage_server::{Kind, StorageServer};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tributary")
}

fn repo() -> PathBuf {
    std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("../..")
}

/// How the binary is pointed at the server: S3 by environment variables, Azure by
/// `--storage-option` (both ways are what users do).
fn configure(server: &StorageServer, cmd: &mut Command) {
    match server.kind {
        Kind::Azure => {
            for (k, v) in server.options() {
                cmd.arg("--storage-option").arg(format!("{k}={v}"));
            }
        }
        _ => {
            cmd.envs(server.env());
        }
    }
}

fn store_options(server: &StorageServer) -> StorageOptions {
    let mut o = StorageOptions::new();
    for (k, v) in server.options() {
        o.set(&k, &v).unwrap();
    }
    o
}

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Runtime::new().unwrap().block_on(f)
}

fn put(server: &StorageServer, url: &str, name: &str, text: String) {
    block(async {
        let dir = Location::resolve_with(url, &store_options(server)).unwrap();
        dir.write(name, text.into_bytes()).await.unwrap();
    })
}

/// Rows of `sql` over the Delta table at `url` (registered as `t`).
fn query(server: &StorageServer, url: &str, sql: &str) -> Vec<String> {
    block(async {
        let s = Session::new();
        for (k, v) in server.options() {
            s.set_storage_option(&k, &v).unwrap();
        }
        let df = s.read().delta(url).await.unwrap();
        s.register("t", df).unwrap();
        rows(&s.sql(sql).await.unwrap().collect().await.unwrap())
    })
}

/// File `f` of the landing folder: 30 events, two seconds apart, one file per minute of event
/// time, with one malformed line in every fifth file.
fn events_file(f: u64) -> String {
    let mut out = String::new();
    let regions = ["EMEA", "amer", "Apac", "emea", "mars"];
    for i in 0..30u64 {
        let n = f * 30 + i;
        let secs = f * 60 + i * 2;
        let user = if n.is_multiple_of(17) {
            "null".to_string()
        } else {
            (1000 + n % 23).to_string()
        };
        out.push_str(&format!(
            "{{\"event_time\":\"2026-11-21T{:02}:{:02}:{:02}.000Z\",\"user_id\":{user},\"region\":\"{}\",\"page\":\"/p{}\",\"amount\":{}.25}}\n",
            10 + secs / 3600,
            secs / 60 % 60,
            secs % 60,
            regions[(n % 5) as usize],
            n % 4,
            n % 50
        ));
    }
    if f % 5 == 4 {
        out.push_str("{\"event_time\": \"not a time\", \"user_id\": oops}\n");
    }
    out
}

fn job_args(job: &str, sets: &[(&str, String)]) -> Vec<String> {
    let mut a = vec![repo().join(job).display().to_string()];
    for (k, v) in sets {
        a.push("--set".into());
        a.push(format!("{k}={v}"));
    }
    a
}

fn run_cmd(server: &StorageServer, args: &[String], ckpt: &str, trigger: &str) -> Command {
    let mut cmd = Command::new(bin());
    cmd.arg("run")
        .args(args)
        .args(["--trigger", trigger, "--checkpoint", ckpt]);
    configure(server, &mut cmd);
    cmd
}

fn must(mut cmd: Command, what: &str) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The ETL and visitors examples over a landing folder in the store, killed at random moments
/// while files arrive, then run to the end: the ETL table equals the batch answer, and the
/// visitors table equals the batch answer for every window the watermark has closed.
fn examples_killed(kind: Kind) {
    let server = StorageServer::start(kind);
    let raw = server.url("raw/events");
    put(
        &server,
        &server.url("dims"),
        "regions.csv",
        std::fs::read_to_string(repo().join("examples/etl/data/regions.csv")).unwrap(),
    );
    let etl = |output: &str| {
        job_args(
            "examples/etl/job.sql",
            &[
                ("input", raw.clone()),
                ("regions", server.url("dims/regions.csv")),
                ("output", output.to_string()),
                ("bad", server.url("bad/events")),
            ],
        )
    };
    let visitors = |output: &str| {
        job_args(
            "examples/visitors/job.sql",
            &[("input", raw.clone()), ("output", output.to_string())],
        )
    };
    let (silver, visits) = (server.url("silver/events"), server.url("gold/visitors"));
    let (etl_ck, vis_ck) = (
        server.url("_checkpoints/etl"),
        server.url("_checkpoints/visitors"),
    );
    let mut rng = Rng(0x5eed ^ kind as u64);
    let mut files = 0u64;
    for _kill in 0..10 {
        for _ in 0..1 + rng.next(2) {
            put(
                &server,
                &raw,
                &format!("part-{files:04}.json"),
                events_file(files),
            );
            files += 1;
        }
        let mut a = Running::spawn(
            run_cmd(&server, &etl(&silver), &etl_ck, "10ms")
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        let mut b = Running::spawn(
            run_cmd(&server, &visitors(&visits), &vis_ck, "10ms")
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        std::thread::sleep(Duration::from_millis(300 + rng.next(1500)));
        a.kill();
        b.kill();
    }
    must(
        run_cmd(&server, &etl(&silver), &etl_ck, "available-now"),
        "the last ETL run",
    );
    must(
        run_cmd(&server, &visitors(&visits), &vis_ck, "available-now"),
        "the last visitors run",
    );
    // The batch answers, from the same files, into the store too.
    let (batch_silver, batch_visits) = (server.url("batch/silver"), server.url("batch/visitors"));
    for args in [etl(&batch_silver), visitors(&batch_visits)] {
        let mut cmd = Command::new(bin());
        cmd.arg("batch").args(&args);
        configure(&server, &mut cmd);
        must(cmd, "the batch run");
    }
    let all = "SELECT * FROM t";
    let stream_rows = query(&server, &silver, all);
    assert_eq!(
        stream_rows.len() as u64,
        (0..files * 30).filter(|n| n % 17 != 0).count() as u64
    );
    assert_eq!(
        stream_rows,
        query(&server, &batch_silver, all),
        "ETL: stream != batch"
    );
    // The last event is at minute `files - 1`, second 58: the watermark is 10 minutes before it,
    // never on a minute, so every window is either closed or open, never on the edge.
    let last = files * 60 - 2;
    let watermark = last - 600;
    let closed = format!(
        "SELECT * FROM t WHERE window_end <= TIMESTAMP '2026-11-21T{:02}:{:02}:{:02}'",
        10 + watermark / 3600,
        watermark / 60 % 60,
        watermark % 60
    );
    let streamed = query(&server, &visits, all);
    assert!(!streamed.is_empty(), "no window was closed");
    assert_eq!(
        streamed,
        query(&server, &batch_visits, &closed),
        "visitors: stream != batch"
    );
    // Dead letters went to the store.
    let bad = block(async {
        Location::resolve_with(&server.url("bad/events"), &store_options(&server))
            .unwrap()
            .list("")
            .await
            .unwrap()
    });
    assert!(!bad.is_empty(), "no bad records in the store");
}

#[test]
fn s3_examples_killed_ten_times_equal_the_batch_answer() {
    examples_killed(Kind::S3);
}

#[test]
fn azure_examples_killed_ten_times_equal_the_batch_answer() {
    examples_killed(Kind::Azure);
}

/// The medallion example with bronze, silver and gold in the store: `verify` compares batch and
/// stream, and `run` then `tributary table describe` work on the layers in the store.
fn medallion(kind: Kind) {
    let server = StorageServer::start(kind);
    let raw = server.url("landing");
    for f in 0..6 {
        put(&server, &raw, &format!("e{f}.json"), events_file(f));
    }
    put(
        &server,
        &server.url("dims"),
        "regions.csv",
        std::fs::read_to_string(repo().join("examples/etl/data/regions.csv")).unwrap(),
    );
    let args = job_args(
        "examples/medallion/job.sql",
        &[
            ("input", raw.clone()),
            ("regions", server.url("dims/regions.csv")),
            ("lake", server.url("lake")),
        ],
    );
    must(
        run_cmd(
            &server,
            &args,
            &server.url("_checkpoints/medallion"),
            "available-now",
        ),
        "the medallion run",
    );
    let bronze = query(
        &server,
        &server.url("lake/bronze"),
        "SELECT count(*) FROM t",
    );
    assert_eq!(bronze, vec![(6 * 30).to_string()]);
    let silver: BTreeSet<String> = query(&server, &server.url("lake/silver"), "SELECT * FROM t")
        .into_iter()
        .collect();
    assert!(
        !silver.is_empty() && silver.len() <= 180,
        "{}",
        silver.len()
    );
    for layer in ["bronze", "silver", "gold"] {
        let mut cmd = Command::new(bin());
        cmd.args(["table", "describe", &server.url(&format!("lake/{layer}"))]);
        configure(&server, &mut cmd);
        let out = cmd.output().unwrap();
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("version"),
            "describe {layer}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut cmd = Command::new(bin());
    cmd.arg("verify").args(&args);
    configure(&server, &mut cmd);
    let out = cmd.output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "identical",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn s3_medallion_layers_live_in_the_store() {
    medallion(Kind::S3);
}

#[test]
fn azure_medallion_layers_live_in_the_store() {
    medallion(Kind::Azure);
}
