use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use tributary::clock::ManualClock;
use tributary::prelude::*;
use tributary::source::RateStreamSource;
use tributary::{
    QueryProgressEvent, QueryStartedEvent, QueryTerminatedEvent, StreamingQueryListener,
};

use crate::common::*;

fn kv(keys: &[i64]) -> RecordBatch {
    kv_rows(keys, |k| format!("v{k}"))
}

#[derive(Default)]
struct Counting {
    started: AtomicUsize,
    progress: AtomicUsize,
    terminated: AtomicUsize,
}

impl StreamingQueryListener for Counting {
    fn on_query_started(&self, _: &QueryStartedEvent) {
        self.started.fetch_add(1, Ordering::SeqCst);
    }
    fn on_query_progress(&self, _: &QueryProgressEvent) {
        self.progress.fetch_add(1, Ordering::SeqCst);
    }
    fn on_query_terminated(&self, _: &QueryTerminatedEvent) {
        self.terminated.fetch_add(1, Ordering::SeqCst);
    }
}

async fn wait_for(cond: impl Fn() -> bool) {
    for _ in 0..400 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("condition not reached in 10 s");
}

#[tokio::test]
async fn memory_stream_to_memory_sink_with_processing_time_trigger_and_listeners() {
    let session = Session::new();
    let listener = Arc::new(Counting::default());
    session.streams().add_listener(listener.clone());
    let stream = MemoryStream::new("kv", kv_schema());
    stream.push(kv(&[1, 2, 3])).unwrap();
    let df = session.read_stream().memory(&stream).unwrap();
    let df = df
        .filter(col("k").gt(lit(1)))
        .unwrap()
        .select(vec![col("k"), upper(col("v")).alias("v")])
        .unwrap();
    let q = df
        .write_stream()
        .format("memory")
        .query_name("kv_out")
        .trigger(Trigger::ProcessingTime(Duration::from_millis(50)))
        .start("")
        .await
        .unwrap();
    assert_eq!(session.streams().active().len(), 1);
    assert!(session.streams().get(q.id()).is_some());
    wait_for(|| q.recent_progress().len() == 1).await;
    // No new data: the trigger policy decides to wait, and no epoch runs.
    wait_for(|| q.status().message == "Waiting for data to arrive").await;
    assert_eq!(q.recent_progress().len(), 1);
    stream.push(kv(&[4, 5])).unwrap();
    wait_for(|| q.recent_progress().len() == 2).await;
    let rows = session
        .sql("SELECT k, v FROM kv_out ORDER BY k")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(ids(&rows, "k"), vec![2, 3, 4, 5]);
    let p = q.last_progress().unwrap();
    assert_eq!(
        (p.batch_id, p.num_input_rows, p.sink.num_output_rows),
        (1, 2, 2)
    );
    q.stop().await.unwrap();
    assert!(!q.is_active());
    assert!(session.streams().active().is_empty());
    session.streams().await_any_termination().await.unwrap();
    assert_eq!(listener.started.load(Ordering::SeqCst), 1);
    assert_eq!(listener.progress.load(Ordering::SeqCst), 2);
    assert_eq!(listener.terminated.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn progress_json_uses_sparks_names() {
    let session = Session::new();
    let stream = MemoryStream::new("kv", kv_schema());
    stream.push(kv(&[1, 2])).unwrap();
    let q = session
        .read_stream()
        .memory(&stream)
        .unwrap()
        .write_stream()
        .format("memory")
        .query_name("p")
        .trigger(Trigger::AvailableNow)
        .start("")
        .await
        .unwrap();
    q.await_termination().await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&q.last_progress().unwrap().json()).unwrap();
    for key in [
        "id",
        "runId",
        "name",
        "timestamp",
        "batchId",
        "numInputRows",
        "inputRowsPerSecond",
        "processedRowsPerSecond",
        "durationMs",
        "sources",
        "sink",
        "numBadRecords",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    for key in [
        "latestOffset",
        "getBatch",
        "queryPlanning",
        "addBatch",
        "walCommit",
        "triggerExecution",
    ] {
        assert!(
            v["durationMs"].get(key).is_some(),
            "missing durationMs.{key}"
        );
    }
    assert_eq!(v["sources"][0]["description"], "MemoryStream[kv]");
    assert_eq!(v["sources"][0]["endOffset"]["batches"], 1);
    assert_eq!(v["sink"]["numOutputRows"], 2);
    assert_eq!(v["name"], "p");
}

#[tokio::test]
async fn the_rate_source_is_deterministic() {
    let session = Session::new();
    // With time passing between start and prepare, rows appear with exact timestamps.
    let moving = ManualClock::new(5_000);
    let src = RateStreamSource::with_clock(4, 2, Arc::new(moving.clone())).unwrap();
    let df = session.read_stream().source(Arc::new(src)).unwrap();
    let q = df
        .write_stream()
        .format("memory")
        .query_name("rate_out")
        .trigger(Trigger::ProcessingTime(Duration::from_millis(20)))
        .start("")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    moving.advance(1_000);
    wait_for(|| {
        q.recent_progress()
            .iter()
            .map(|p| p.num_input_rows)
            .sum::<u64>()
            == 4
    })
    .await;
    q.stop().await.unwrap();
    let rows = session
        .sql("SELECT value, CAST(timestamp AS BIGINT) AS ts FROM rate_out ORDER BY value")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(ids(&rows, "value"), vec![0, 1, 2, 3]);
    // timestamp = start + value / rows_per_second, in microseconds (Spark's unit)
    assert_eq!(
        ids(&rows, "ts"),
        vec![5_000_000, 5_250_000, 5_500_000, 5_750_000]
    );
}

#[tokio::test]
async fn a_stream_static_join_reads_the_static_side_once() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let csv = regions_csv(&tmp.path().join("dim"));
    write_events(&input, "a.json", 0, 10);
    let session = Session::new();
    let regions = session.read().csv(csv.to_str().unwrap()).await.unwrap();
    session.register("regions", regions).unwrap();
    let events = session
        .read_stream()
        .schema(event_schema())
        .json(input.to_str().unwrap())
        .await
        .unwrap();
    session.register("events", events).unwrap();
    let df = session
        .sql("SELECT e.id, r.country FROM events e LEFT JOIN regions r ON lower(e.region) = r.region")
        .await
        .unwrap();
    let q = df
        .write_stream()
        .format("memory")
        .query_name("joined")
        .trigger(Trigger::ProcessingTime(Duration::from_millis(20)))
        .start("")
        .await
        .unwrap();
    wait_for(|| q.recent_progress().len() == 1).await;
    // Change the dimension file: a query that re-read it per epoch would see "Deutschland".
    std::fs::write(&csv, "region,country\nemea,Deutschland\n").unwrap();
    write_events(&input, "b.json", 10, 10);
    wait_for(|| q.recent_progress().len() == 2).await;
    q.stop().await.unwrap();
    let rows = session
        .sql("SELECT count(*) AS n FROM joined WHERE country = 'Germany'")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(
        ids(&rows, "n"),
        vec![4],
        "ids 0,5,10,15 are EMEA, all joined with the first load"
    );
    let unmatched = session
        .sql("SELECT count(*) AS n FROM joined WHERE country IS NULL")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(
        ids(&unmatched, "n"),
        vec![4],
        "left outer join keeps the 'mars' rows"
    );
}

#[tokio::test]
async fn bad_records_go_to_the_dead_letter_folder_and_are_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, bad, ckpt) = (
        tmp.path().join("in"),
        tmp.path().join("bad"),
        tmp.path().join("ckpt"),
    );
    write_events(&input, "a.json", 0, 3);
    std::fs::write(
        input.join("b.json"),
        "{\"id\": 100}\n{broken\n{\"id\": \"x\"}\n{\"id\": 101}\n",
    )
    .unwrap();
    let session = Session::new();
    let q = session
        .read_stream()
        .schema(event_schema())
        .option("bad_records_path", bad.display())
        .json(input.to_str().unwrap())
        .await
        .unwrap()
        .write_stream()
        .format("memory")
        .query_name("good")
        .trigger(Trigger::AvailableNow)
        .option("checkpoint_location", ckpt.display())
        .start("")
        .await
        .unwrap();
    q.await_termination().await.unwrap();
    let p = q.last_progress().unwrap();
    assert_eq!((p.num_input_rows, p.num_bad_records), (5, 2));
    assert_eq!(p.sources[0].num_bad_records, 2);
    let files: Vec<_> = std::fs::read_dir(&bad)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    let text = std::fs::read_to_string(&files[0]).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["record"], "{broken");
    assert_eq!(lines[0]["line"], 2);
    assert!(lines[0]["source"].as_str().unwrap().ends_with("b.json"));
    assert_eq!(lines[1]["line"], 3);
    assert!(!lines[1]["reason"].as_str().unwrap().is_empty());
    let good = session
        .sql("SELECT id FROM good")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(ids(&good, "id"), vec![0, 1, 2, 100, 101]);
}

#[tokio::test]
async fn failfast_stops_the_query_and_names_the_record() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(input.join("b.json"), "{\"id\": 1}\n{broken\n").unwrap();
    let session = Session::new();
    let q = session
        .read_stream()
        .schema(event_schema())
        .option("mode", "FAILFAST")
        .json(input.to_str().unwrap())
        .await
        .unwrap()
        .write_stream()
        .format("memory")
        .query_name("ff")
        .trigger(Trigger::AvailableNow)
        .start("")
        .await
        .unwrap();
    let err = q.await_termination().await.unwrap_err().to_string();
    assert!(
        err.contains("b.json line 2") && err.contains("FAILFAST"),
        "{err}"
    );
    assert!(q.exception().is_some());
}

#[tokio::test]
async fn once_ignores_rate_limits_and_available_now_honours_them() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    for f in 0..5 {
        write_events(&input, &format!("f{f}.json"), f * 2, 2);
    }
    for (trigger, epochs) in [(Trigger::Once, 1), (Trigger::AvailableNow, 3)] {
        let session = Session::new();
        let q = session
            .read_stream()
            .schema(event_schema())
            .option("max_files_per_trigger", 2)
            .json(input.to_str().unwrap())
            .await
            .unwrap()
            .write_stream()
            .format("memory")
            .query_name("t")
            .trigger(trigger)
            .start("")
            .await
            .unwrap();
        q.await_termination().await.unwrap();
        assert_eq!(q.recent_progress().len(), epochs, "{trigger:?}");
        let total: u64 = q.recent_progress().iter().map(|p| p.num_input_rows).sum();
        assert_eq!(total, 10);
    }
}

#[tokio::test]
async fn the_console_sink_prints_a_truncated_table() {
    let sink = tributary::sink::ConsoleSink {
        num_rows: 2,
        truncate: true,
    };
    let out = tributary::sink::EpochOutput {
        schema: kv_schema(),
        batches: vec![kv(&[1, 2, 3])],
        state: datafusion::prelude::SessionContext::new().state(),
    };
    let text = sink.render(tributary::checkpoint::Epoch(7), &out).unwrap();
    assert!(text.contains("Batch: 7"));
    assert!(text.contains("| k | v  |"), "{text}");
    assert!(text.contains("only showing top 2 rows of 3"), "{text}");
}

/// The `part-` files a file sink wrote into `dir`.
fn part_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("part-"))
        .count()
}

#[tokio::test]
async fn a_batch_write_streams_its_rows_into_files_of_at_most_max_records_per_file() {
    let s = Session::new();
    let tmp = tempfile::tempdir().unwrap();
    for format in ["parquet", "json"] {
        let out = tmp.path().join(format);
        let out = out.to_str().unwrap();
        let summary = s
            .sql("SELECT k, concat('v', CAST(k AS VARCHAR)) AS v FROM (SELECT unnest(range(0, 10)) AS k)")
            .await
            .unwrap()
            .write()
            .format(format)
            .option("max_records_per_file", 3)
            .save(out)
            .await
            .unwrap();
        assert_eq!(summary.rows, 10, "{format}");
        assert_eq!(
            part_files(std::path::Path::new(out)),
            4,
            "{format}: 10 rows, at most 3 per file"
        );
        let back = match format {
            "parquet" => s.read().parquet(out).await.unwrap(),
            _ => s.read().json(out).await.unwrap(),
        };
        s.register(&format!("back_{format}"), back).unwrap();
        let rows = s
            .sql(&format!(
                "SELECT count(*) AS n, sum(k) AS total, count(DISTINCT v) AS vs FROM back_{format}"
            ))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&rows)
            .unwrap()
            .to_string();
        assert!(
            text.contains("| 10 | 45    | 10 |"),
            "{format}: every row once\n{text}"
        );
    }
    // A misspelled option is refused, naming it.
    let err = s
        .sql("SELECT 1 AS k")
        .await
        .unwrap()
        .write()
        .format("parquet")
        .option("max_record_per_file", 3)
        .save(tmp.path().join("x").to_str().unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("max_record_per_file"), "{err}");
}

#[tokio::test]
async fn a_stream_into_files_honours_max_records_per_file_in_every_epoch() {
    let s = Session::new();
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let body: String = (0..7)
        .map(|k| format!("{{\"k\":{k},\"v\":\"v{k}\"}}\n"))
        .collect();
    std::fs::write(input.join("a.json"), body).unwrap();
    let out = tmp.path().join("out");
    let q = s
        .read_stream()
        .schema(kv_schema())
        .json(input.to_str().unwrap())
        .await
        .unwrap()
        .write_stream()
        .format("json")
        .option("max_records_per_file", 2)
        .option("checkpoint_location", tmp.path().join("ck").display())
        .trigger(Trigger::AvailableNow)
        .start(out.to_str().unwrap())
        .await
        .unwrap();
    q.await_termination().await.unwrap();
    assert_eq!(
        part_files(&out),
        4,
        "7 rows of one epoch, at most 2 per file"
    );
    let back = s
        .read()
        .schema(kv_schema())
        .json(out.to_str().unwrap())
        .await
        .unwrap();
    let rows: usize = back
        .collect()
        .await
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(rows, 7, "every row once");
}

/// A NaN or an infinity written to JSON is Spark's string (`"NaN"`, `"Infinity"`,
/// `"-Infinity"`), which the JSON reader takes back: the values survive the round trip (arrow's
/// writer alone writes `null`).
#[tokio::test]
async fn nan_and_infinities_written_to_json_read_back_as_themselves() {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{DataType, Field, Float64Type, Schema};
    let s = Session::new();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    s.sql(
        "SELECT * FROM (VALUES (1, CAST('NaN' AS DOUBLE)), (2, CAST('Infinity' AS DOUBLE)), \
         (3, CAST('-Infinity' AS DOUBLE)), (4, 0.5), (5, NULL)) AS t(k, d)",
    )
    .await
    .unwrap()
    .write()
    .format("json")
    .save(out.to_str().unwrap())
    .await
    .unwrap();
    let text: String = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert!(
        text.contains("\"d\":\"NaN\"") && text.contains("\"d\":\"-Infinity\""),
        "{text}"
    );
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, true),
        Field::new("d", DataType::Float64, true),
    ]));
    let back = s
        .read()
        .schema(schema)
        .json(out.to_str().unwrap())
        .await
        .unwrap()
        .sort(vec![col("k").sort(true, false)])
        .unwrap()
        .collect()
        .await
        .unwrap();
    let all = arrow::compute::concat_batches(&back[0].schema(), &back).unwrap();
    let d = all.column(1).as_primitive::<Float64Type>();
    assert_eq!(all.num_rows(), 5);
    assert!(d.value(0).is_nan());
    assert_eq!(
        (d.value(1), d.value(2), d.value(3), d.is_null(4)),
        (f64::INFINITY, f64::NEG_INFINITY, 0.5, true)
    );
    assert_eq!(d.null_count(), 1, "only the NULL row is null");
}
