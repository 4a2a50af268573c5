//! Everything in object storage: file sources, Delta and Parquet sinks, checkpoints and bad
//! records in S3 (moto) and Azure (Azurite) servers started by the test on 127.0.0.1; restarts,
//! two runs on one checkpoint, and a store that goes away for 30 s. GCS (fake-gcs-server): reads
//! of what other tools put in the bucket, since the emulator takes uploads through its JSON API
//! only (docs/storage.md).

use std::time::{Duration, Instant};

use tributary::location::Location;
use tributary::prelude::*;
use tributary::storage::StorageOptions;

use crate::common::*;
#[path = "../support/storage_server.rs"]
mod storage_server;
use storage_server::{Kind, StorageServer};

fn options_of(pairs: &[(String, String)]) -> StorageOptions {
    let mut o = StorageOptions::new();
    for (k, v) in pairs {
        o.set(k, v).unwrap();
    }
    o
}

fn session_for(server: &StorageServer) -> Session {
    let session = Session::new();
    for (k, v) in server.options() {
        session.set_storage_option(&k, &v).unwrap();
    }
    session
}

/// JSON lines of events `first..first+n` (ids divisible by 11 have no user).
fn events(first: i64, n: i64) -> String {
    (first..first + n)
        .map(|id| {
            let user = if id % 11 == 0 {
                "null".to_string()
            } else {
                (id % 13).to_string()
            };
            format!("{{\"id\":{id},\"user_id\":{user},\"region\":\"r{}\",\"amount\":{id}.5,\"tags\":\"t\"}}\n", id % 5)
        })
        .collect()
}

fn expected_ids(files: i64, per_file: i64) -> Vec<i64> {
    (0..files * per_file).filter(|id| id % 11 != 0).collect()
}

async fn put(dir: &Location, name: &str, text: String) {
    dir.write(name, text.into_bytes()).await.unwrap();
}

async fn delta_ids(session: &Session, url: &str) -> Vec<i64> {
    let df = session.read().delta(url).await.unwrap();
    let mut v = ids(&df.collect().await.unwrap(), "id");
    v.sort();
    v
}

async fn clean_stream(session: &Session, input: &str, bad: &str) -> DataFrame {
    session
        .read_stream()
        .schema(event_schema())
        .option("max_files_per_trigger", 1)
        .option("bad_records_path", bad)
        .json(input)
        .await
        .unwrap()
        .filter(col("user_id").is_not_null())
        .unwrap()
}

/// Files in, Delta and Parquet out, checkpoints and bad records: all in the store; a restart
/// goes on where the last run stopped; the batch answer is the same.
async fn round_trip(kind: Kind) {
    let server = StorageServer::start(kind);
    let session = session_for(&server);
    let store = options_of(&server.options());
    let input = Location::resolve_with(&server.url("raw/events"), &store).unwrap();
    put(&input, "part-000.json", events(0, 40)).await;
    put(&input, "part-001.json", events(40, 40)).await;
    // One bad line, routed aside into the store.
    put(&input, "part-002.json", events(80, 40) + "{\"id\": oops\n").await;
    let (raw, bad) = (server.url("raw/events"), server.url("bad/events"));
    let run = |format: &'static str, out: String, ckpt: String| {
        let session = session.clone();
        let (raw, bad) = (raw.clone(), bad.clone());
        async move {
            let q = clean_stream(&session, &raw, &bad)
                .await
                .write_stream()
                .format(format)
                .trigger(Trigger::AvailableNow)
                .option("checkpoint_location", ckpt)
                .start(&out)
                .await
                .unwrap();
            q.await_termination().await.unwrap();
        }
    };
    let (delta_out, delta_ck) = (
        server.url("silver/events"),
        server.url("_checkpoints/silver"),
    );
    let (pq_out, pq_ck) = (
        server.url("parquet/events"),
        server.url("_checkpoints/parquet"),
    );
    run("delta", delta_out.clone(), delta_ck.clone()).await;
    assert_eq!(delta_ids(&session, &delta_out).await, expected_ids(3, 40));
    // More files; the restarted query reads only those.
    put(&input, "part-003.json", events(120, 40)).await;
    put(&input, "part-004.json", events(160, 40)).await;
    run("delta", delta_out.clone(), delta_ck.clone()).await;
    run("parquet", pq_out.clone(), pq_ck.clone()).await;
    assert_eq!(delta_ids(&session, &delta_out).await, expected_ids(5, 40));
    let pq = session.read().parquet(&pq_out).await.unwrap();
    let mut got = ids(&pq.collect().await.unwrap(), "id");
    got.sort();
    assert_eq!(got, expected_ids(5, 40));
    // The checkpoint and the dead letters are in the store, not on the local disk.
    let ck = Location::resolve_with(&delta_ck, &store).unwrap();
    let names: Vec<String> = ck
        .list("")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert!(names.iter().any(|n| n.starts_with("offsets/")), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("commits/")), "{names:?}");
    let dead = Location::resolve_with(&bad, &store).unwrap();
    let letters = dead.list("").await.unwrap();
    let mut text = String::new();
    for e in &letters {
        text.push_str(&String::from_utf8_lossy(
            &dead.read(&e.name).await.unwrap().unwrap(),
        ));
    }
    assert!(text.contains("oops"), "bad records in the store: {text:?}");
    // The same logic as a batch over the files gives the same rows.
    let batch = session
        .read()
        .schema(event_schema())
        .json(&raw)
        .await
        .unwrap()
        .filter(col("user_id").is_not_null())
        .unwrap();
    batch
        .write()
        .format("delta")
        .mode(SaveMode::Overwrite)
        .save(&server.url("batch/events"))
        .await
        .unwrap();
    assert_eq!(
        delta_ids(&session, &server.url("batch/events")).await,
        expected_ids(5, 40)
    );
    // deltalake's own maintenance works on the table in the store.
    let table = Location::resolve_with(&delta_out, &store).unwrap();
    let d = tributary::maintenance::describe(&table).await.unwrap();
    assert!(d.version >= 1, "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_holds_sources_sinks_checkpoints_and_bad_records() {
    round_trip(Kind::S3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_holds_sources_sinks_checkpoints_and_bad_records() {
    round_trip(Kind::Azure).await;
}

/// A second run on a checkpoint in the store is refused, naming the run that holds it.
async fn second_run_refused(kind: Kind) {
    let server = StorageServer::start(kind);
    let session = session_for(&server);
    let store = options_of(&server.options());
    let input = Location::resolve_with(&server.url("in"), &store).unwrap();
    put(&input, "a.json", events(0, 10)).await;
    let start = |s: Session| {
        let (raw, bad, ck, out) = (
            server.url("in"),
            server.url("bad"),
            server.url("ck"),
            server.url("out"),
        );
        async move {
            clean_stream(&s, &raw, &bad)
                .await
                .write_stream()
                .format("delta")
                .trigger(Trigger::ProcessingTime(Duration::from_millis(100)))
                .option("checkpoint_location", ck)
                .start(&out)
                .await
        }
    };
    let first = start(session.clone()).await.unwrap();
    let err = start(session_for(&server)).await.unwrap_err().to_string();
    assert!(
        err.contains("in use by another run") && err.contains(first.run_id()),
        "{err}"
    );
    first.stop().await.unwrap();
    // Once the first run is gone, the checkpoint can be taken again.
    let again = start(session_for(&server)).await.unwrap();
    again.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_refuses_a_second_run_on_one_checkpoint() {
    second_run_refused(Kind::S3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_refuses_a_second_run_on_one_checkpoint() {
    second_run_refused(Kind::Azure).await;
}

/// The write-ahead files rest on create-if-absent: the second create of a key fails.
async fn create_if_absent(kind: Kind) {
    let server = StorageServer::start(kind);
    let dir =
        Location::resolve_with(&server.url("ck/offsets"), &options_of(&server.options())).unwrap();
    assert!(dir.write_new("7", b"first".to_vec()).await.unwrap());
    assert!(!dir.write_new("7", b"second".to_vec()).await.unwrap());
    assert_eq!(&dir.read("7").await.unwrap().unwrap()[..], b"first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_creates_a_write_ahead_file_only_once() {
    create_if_absent(Kind::S3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_creates_a_write_ahead_file_only_once() {
    create_if_absent(Kind::Azure).await;
}

/// The store goes away for 30 s while the query runs and files keep arriving: the query waits
/// and retries, and when the store is back every row is there once.
async fn outage(kind: Kind) {
    let server = StorageServer::start(kind);
    let session = session_for(&server);
    let store = options_of(&server.options());
    // Files keep arriving during the outage: written to the server directly, not through the
    // proxy the query uses.
    let direct: Vec<(String, String)> = server
        .options()
        .into_iter()
        .map(|(k, v)| match k.as_str() {
            "aws_endpoint_url" => (k, format!("http://127.0.0.1:{}", server.server_port())),
            "azure_storage_endpoint" => (
                k,
                format!("http://127.0.0.1:{}/devstoreaccount1", server.server_port()),
            ),
            _ => (k, v),
        })
        .collect();
    let input = Location::resolve_with(&server.url("in"), &options_of(&direct)).unwrap();
    for f in 0..3 {
        put(&input, &format!("f{f:02}.json"), events(f * 20, 20)).await;
    }
    let out = server.url("out");
    let q = clean_stream(&session, &server.url("in"), &server.url("bad"))
        .await
        .write_stream()
        .format("delta")
        .trigger(Trigger::ProcessingTime(Duration::from_millis(200)))
        .option("checkpoint_location", server.url("ck"))
        .start(&out)
        .await
        .unwrap();
    let wait_for = |want: Vec<i64>, what: &'static str| {
        let (session, out, q) = (session.clone(), out.clone(), &q);
        async move {
            let deadline = Instant::now() + Duration::from_secs(180);
            loop {
                if let Some(e) = q.exception() {
                    panic!("the query failed while {what}: {e}");
                }
                if session.read().delta(&out).await.is_ok()
                    && delta_ids(&session, &out).await == want
                {
                    return;
                }
                assert!(Instant::now() < deadline, "timed out while {what}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    wait_for(expected_ids(3, 20), "reading the first files").await;
    server.outage();
    for f in 3..6 {
        put(&input, &format!("f{f:02}.json"), events(f * 20, 20)).await;
    }
    // The store stays away for 30 s (the length of the outage, not a wait for a result).
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(
        q.exception().is_none(),
        "the query gave up during a 30 s outage: {:?}",
        q.exception()
    );
    server.restore();
    wait_for(expected_ids(6, 20), "catching up after the outage").await;
    q.stop().await.unwrap();
    let _ = store;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_outage_of_30_seconds_loses_nothing() {
    outage(Kind::S3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_outage_of_30_seconds_loses_nothing() {
    outage(Kind::Azure).await;
}

/// Storage options are checked by name, and secrets never appear in errors or progress.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_options_are_checked_and_secrets_never_shown() {
    let session = Session::new();
    let err = session
        .set_storage_option("aws_secret_acces_key", "x")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown storage option 'aws_secret_acces_key'"),
        "{err}"
    );
    // A table option with a misspelled storage name fails the read, naming it.
    let err = session
        .read()
        .option("aws_regoin", "eu-west-1")
        .json("s3://lake/raw")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("aws_regoin"), "{err}");
    // A store error names the location, never the secret.
    let server = StorageServer::start(Kind::S3);
    let session = session_for(&server);
    session
        .set_storage_option("aws_secret_access_key", "very-secret-value-123")
        .unwrap();
    let err = session
        .read()
        .schema(event_schema())
        .json("s3://no-such-bucket/raw")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("s3://no-such-bucket/raw"), "{err}");
    assert!(!err.contains("very-secret-value-123"), "{err}");
    assert!(!format!("{:?}", session.storage_options()).contains("very-secret-value-123"));
    // A location with no bucket is refused with the form to use.
    let err = Location::resolve("s3:///raw").unwrap_err().to_string();
    assert!(err.contains("names no bucket"), "{err}");
    // memory:// is shared by every location of the process.
    let a = Location::resolve("memory://t/x").unwrap();
    a.write("f", b"1".to_vec()).await.unwrap();
    let b = Location::resolve("memory://t/x/").unwrap();
    assert_eq!(&b.read("f").await.unwrap().unwrap()[..], b"1");
}

/// `incremental_listing`: each epoch lists only the keys after the greatest name seen, so a
/// file whose name sorts before it is not listed again (the documented contract), and the rest
/// arrive exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_incremental_listing_starts_after_the_last_name_seen() {
    let server = StorageServer::start(Kind::S3);
    let session = session_for(&server);
    let input = Location::resolve_with(&server.url("in"), &options_of(&server.options())).unwrap();
    put(&input, "2026-12-02T00.json", events(0, 10)).await;
    put(&input, "2026-12-02T01.json", events(10, 10)).await;
    let run = || async {
        let q = session
            .read_stream()
            .schema(event_schema())
            .option("incremental_listing", "true")
            .json(&server.url("in"))
            .await
            .unwrap()
            .write_stream()
            .format("delta")
            .trigger(Trigger::AvailableNow)
            .option("checkpoint_location", server.url("ck"))
            .start(&server.url("out"))
            .await
            .unwrap();
        q.await_termination().await.unwrap();
    };
    run().await;
    assert_eq!(
        delta_ids(&session, &server.url("out")).await,
        (0..20).collect::<Vec<_>>()
    );
    // A new hour, and a straggler named before the last file seen.
    put(&input, "2026-12-02T02.json", events(20, 10)).await;
    put(&input, "2026-12-01T23.json", events(100, 10)).await;
    run().await;
    assert_eq!(
        delta_ids(&session, &server.url("out")).await,
        (0..30).collect::<Vec<_>>()
    );
    // Listing after a key asks the store for those keys only.
    let after = input.list_after("2026-12-02T00.json").await.unwrap();
    let names: Vec<_> = after.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["2026-12-02T01.json", "2026-12-02T02.json"]);
}

/// GCS: files and a Delta table that another tool put in the bucket are read, as a batch and as
/// a stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcs_reads_files_and_delta_tables_put_there_by_other_tools() {
    let server = StorageServer::start(Kind::Gcs);
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    for f in 0..3 {
        std::fs::write(raw.join(format!("part-{f}.json")), events(f * 30, 30)).unwrap();
    }
    // A Delta table written locally, then copied into the bucket file by file.
    let table = tmp.path().join("table");
    Session::new()
        .read()
        .schema(event_schema())
        .json(raw.to_str().unwrap())
        .await
        .unwrap()
        .write()
        .format("delta")
        .save(table.to_str().unwrap())
        .await
        .unwrap();
    server.upload_tree(&raw, "landing");
    server.upload_tree(&table, "tables/events");
    let session = session_for(&server);
    let all: Vec<i64> = (0..90).collect();
    let df = session
        .read()
        .schema(event_schema())
        .json(&server.url("landing"))
        .await
        .unwrap();
    let mut got = ids(&df.collect().await.unwrap(), "id");
    got.sort();
    assert_eq!(got, all);
    assert_eq!(delta_ids(&session, &server.url("tables/events")).await, all);
    // A single object is a table too.
    let one = session
        .read()
        .schema(event_schema())
        .json(&server.url("landing/part-1.json"))
        .await
        .unwrap();
    let mut got = ids(&one.collect().await.unwrap(), "id");
    got.sort();
    assert_eq!(got, (30..60).collect::<Vec<_>>());
    // A stream over the bucket's folder, into a local table with a local checkpoint.
    let out = tmp.path().join("out");
    let bad = tmp.path().join("bad");
    let q = clean_stream(&session, &server.url("landing"), bad.to_str().unwrap())
        .await
        .write_stream()
        .format("delta")
        .trigger(Trigger::AvailableNow)
        .option("checkpoint_location", tmp.path().join("ck").display())
        .start(out.to_str().unwrap())
        .await
        .unwrap();
    q.await_termination().await.unwrap();
    assert_eq!(
        delta_ids(&session, out.to_str().unwrap()).await,
        expected_ids(3, 30)
    );
}

/// Partition folders in a bucket: a batch writes Parquet partitioned by a timestamp (whose ':'
/// Spark escapes as `%3A` in the folder name) and by a text with '/', and the keys are what
/// Spark writes (`%3A` literally, not escaped again); a read discovers the columns again, and
/// a file another tool put under a folder Spark named (`ts=...%3A.../`) reads too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_partition_folders_are_keyed_as_spark_keys_them() {
    let server = StorageServer::start(Kind::S3);
    let session = session_for(&server);
    let store = options_of(&server.options());
    let df = session
        .sql(
            "SELECT * FROM (VALUES (1, 'a/b', TIMESTAMP '2026-11-21 10:00:00'), \
                                   (2, 'c', TIMESTAMP '2026-11-21 10:00:00')) AS t(id, tag, ts)",
        )
        .await
        .unwrap();
    df.write()
        .format("parquet")
        .partition_by(["ts", "tag"])
        .save(&server.url("pq"))
        .await
        .unwrap();
    let root = Location::resolve_with(&server.url("pq"), &store).unwrap();
    let mut keys: Vec<String> = root
        .list("")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .filter(|n| !n.starts_with('_'))
        .map(|n| n.rsplit_once('/').unwrap().0.to_string())
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "ts=2026-11-21 10%3A00%3A00/tag=a%2Fb",
            "ts=2026-11-21 10%3A00%3A00/tag=c"
        ]
    );
    let back = session.read().parquet(&server.url("pq")).await.unwrap();
    let rows = sorted_rows(&back.collect().await.unwrap(), "|");
    assert_eq!(
        rows,
        ["1|2026-11-21T10:00:00|a/b", "2|2026-11-21T10:00:00|c"]
    );
    // JSON put there by another tool, under a folder Spark named.
    let other = Location::resolve_with(&server.url("js"), &store).unwrap();
    put(
        &other,
        "ts=2026-11-21 10%3A00%3A00/part-0.json",
        "{\"id\":7}\n".into(),
    )
    .await;
    let js = session.read().json(&server.url("js")).await.unwrap();
    let rows = sorted_rows(&js.collect().await.unwrap(), "|");
    assert_eq!(rows, ["7|2026-11-21T10:00:00"]);
}
