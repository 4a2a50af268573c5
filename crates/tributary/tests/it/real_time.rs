//! Real-time mode: rows go through the plan as they arrive within an epoch that lasts the
//! checkpoint interval; offsets, state and commit are written at its end. Nothing here
//! measures latency: the tests wait for conditions, and use epochs so long that "before the
//! epoch's end" is a fact, not a race.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::RecordBatch;
use tributary::prelude::*;

use crate::common::*;

fn kv(keys: &[i64]) -> RecordBatch {
    kv_rows(keys, |k| format!("v{}", k % 3))
}

async fn wait_for(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..800 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{what}: not reached in 20 s");
}

async fn rows_of(session: &Session, sql: &str) -> Vec<String> {
    sorted_rows(
        &session.sql(sql).await.unwrap().collect().await.unwrap(),
        "|",
    )
}

/// An epoch of ten minutes: rows reach the memory sink long before it ends, and the offsets
/// and commit of the epoch are written when the query stops.
#[tokio::test]
async fn rows_reach_the_sink_as_they_arrive_and_the_epoch_commits_at_its_end() {
    let tmp = tempfile::tempdir().unwrap();
    let ckpt = tmp.path().join("ckpt");
    let session = Session::new();
    let stream = MemoryStream::new("kv", kv_schema());
    let q = session
        .read_stream()
        .memory(&stream)
        .unwrap()
        .filter(col("k").gt(lit(1)))
        .unwrap()
        .write_stream()
        .format("memory")
        .query_name("rt_out")
        .trigger(Trigger::RealTime(Duration::from_secs(600)))
        .option("checkpoint_location", ckpt.display())
        .start("")
        .await
        .unwrap();
    let count = |s: &Session| {
        let s = s.clone();
        async move { rows_of(&s, "SELECT k FROM rt_out").await.len() }
    };
    stream.push(kv(&[1, 2, 3])).unwrap();
    for _ in 0..800 {
        if count(&session).await == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(count(&session).await, 2, "the first arrival's rows are out");
    stream.push(kv(&[4, 5])).unwrap();
    for _ in 0..800 {
        if count(&session).await == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        count(&session).await,
        4,
        "the second arrival's rows are out"
    );
    // Inside the epoch: nothing is committed yet.
    assert!(q.recent_progress().is_empty());
    assert!(!ckpt.join("commits/0").exists());
    q.stop().await.unwrap();
    assert!(q.exception().is_none(), "{:?}", q.exception());
    // Stopping closed the epoch: one epoch, both arrivals, committed.
    let progress = q.recent_progress();
    assert_eq!(progress.len(), 1);
    let p = &progress[0];
    assert_eq!((p.batch_id, p.num_input_rows), (0, 5));
    let rt = p.real_time.as_ref().expect("a real-time epoch says so");
    assert!(rt.num_arrivals >= 2, "{rt:?}");
    assert_eq!(rt.num_emitted_rows, 4);
    assert!(rt.immediate_sink);
    for key in ["p50", "p99", "p999", "max"] {
        assert!(rt.latency_ms.contains_key(key), "{key} in {rt:?}");
    }
    let json: serde_json::Value = serde_json::from_str(&p.json()).unwrap();
    assert_eq!(json["realTime"]["numArrivals"], rt.num_arrivals);
    assert!(ckpt.join("offsets/0").exists());
    assert!(ckpt.join("commits/0").exists());
    assert!(
        !ckpt.join("offsets/1").exists(),
        "one epoch, not one per arrival"
    );
    assert_eq!(p.sources[0].end_offset, serde_json::json!({"batches": 2}));
}

/// Files in, an aggregation in update mode merged into Delta: the sink gets each epoch's rows
/// at its end (each key's last row), and restarts in between change nothing.
#[tokio::test]
async fn a_real_time_aggregation_into_delta_equals_the_batch_answer_across_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out, ckpt) = (
        tmp.path().join("in"),
        tmp.path().join("out"),
        tmp.path().join("ckpt"),
    );
    let mut next = 0;
    for run in 0..4 {
        for _ in 0..3 {
            write_events(&input, &format!("f{next:03}.json"), next * 20, 20);
            next += 1;
        }
        let session = Session::new();
        let df = session
            .read_stream()
            .schema(event_schema())
            .option("max_files_per_trigger", 1)
            .json(input.to_str().unwrap())
            .await
            .unwrap();
        let df = df
            .aggregate(
                vec![col("region")],
                vec![count(col("id")).alias("n"), sum(col("id")).alias("total")],
            )
            .unwrap();
        let q = df
            .write_stream()
            .format("delta")
            .output_mode(OutputMode::Update)
            .option("merge_keys", "region")
            .trigger(Trigger::RealTime(Duration::from_millis(150)))
            .option("checkpoint_location", ckpt.display())
            .start(out.to_str().unwrap())
            .await
            .unwrap();
        q.process_all_available().await.unwrap();
        q.stop().await.unwrap();
        assert!(q.exception().is_none(), "run {run}: {:?}", q.exception());
        assert!(
            q.recent_progress().iter().all(|p| p.real_time.is_some()),
            "run {run}: every epoch is a real-time one"
        );
        let got = sorted_rows(&read_delta(&out).await, "|");
        let batch = Session::new();
        let want = batch
            .read()
            .schema(event_schema())
            .json(input.to_str().unwrap())
            .await
            .unwrap()
            .aggregate(
                vec![col("region")],
                vec![count(col("id")).alias("n"), sum(col("id")).alias("total")],
            )
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(got, sorted_rows(&want, "|"), "after run {run}");
    }
}

/// An arrival fails (the sink's function errs once): the state goes back to the last committed
/// epoch and the epoch's arrivals so far are replayed; counts are not doubled.
#[tokio::test]
async fn a_failed_arrival_runs_its_epoch_again_from_the_committed_state() {
    let session = Session::new();
    let stream = MemoryStream::new("kv", kv_schema());
    let failed = Arc::new(AtomicBool::new(false));
    let latest: Arc<Mutex<Vec<RecordBatch>>> = Arc::default();
    let calls: Arc<Mutex<Vec<u64>>> = Arc::default();
    let (f2, l2, c2) = (failed.clone(), latest.clone(), calls.clone());
    let q = session
        .read_stream()
        .memory(&stream)
        .unwrap()
        .aggregate(vec![col("v")], vec![count(col("k")).alias("n")])
        .unwrap()
        .write_stream()
        .output_mode(OutputMode::Complete)
        .trigger(Trigger::RealTime(Duration::from_secs(600)))
        .foreach_batch(move |df, epoch| {
            let (f, l, c) = (f2.clone(), l2.clone(), c2.clone());
            Box::pin(async move {
                let rows = df.collect().await?;
                if !f.swap(true, Ordering::SeqCst) {
                    return Err(tributary::TributaryError::Internal(
                        "the sink failed once (injected)".into(),
                    ));
                }
                c.lock().unwrap().push(epoch);
                *l.lock().unwrap() = rows;
                Ok(())
            })
        })
        .start("")
        .await
        .unwrap();
    stream.push(kv(&[1, 2, 3, 4])).unwrap();
    let total =
        |l: &Arc<Mutex<Vec<RecordBatch>>>| -> i64 { ids(&l.lock().unwrap(), "n").iter().sum() };
    wait_for("the first rows counted", || total(&latest) == 4).await;
    assert!(failed.load(Ordering::SeqCst));
    stream.push(kv(&[5, 6])).unwrap();
    wait_for("all rows counted once", || total(&latest) == 6).await;
    q.stop().await.unwrap();
    assert!(q.exception().is_none(), "{:?}", q.exception());
    let by_v = sorted_rows(&latest.lock().unwrap(), "|");
    assert_eq!(by_v, ["v0|2", "v1|2", "v2|2"]);
    // Epoch 0 was replayed, its rows delivered once at its end; the later rows came in epoch 1.
    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls.first(), Some(&0));
    assert!(calls.iter().skip(1).all(|&e| e == 1), "{calls:?}");
    let progress = q.recent_progress();
    let replayed = progress[0].real_time.as_ref().unwrap();
    assert!(
        !replayed.immediate_sink,
        "a replayed epoch delivers at its end"
    );
    assert_eq!(replayed.num_arrivals, 1);
    assert!(progress[1].real_time.as_ref().unwrap().immediate_sink);
}

/// The job-file and writer option `trigger` sets real-time mode; a bad value is refused.
#[tokio::test]
async fn the_trigger_option_selects_real_time_mode_and_bad_values_are_refused() {
    let session = Session::new();
    let stream = MemoryStream::new("kv", kv_schema());
    let err = session
        .read_stream()
        .memory(&stream)
        .unwrap()
        .write_stream()
        .format("memory")
        .query_name("bad_trigger")
        .option("trigger", "realtime:soon")
        .start("")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("realtime:5s"), "{err}");
    let q = session
        .read_stream()
        .memory(&stream)
        .unwrap()
        .write_stream()
        .format("memory")
        .query_name("rt_option")
        .option("trigger", "realtime:10 minutes")
        .start("")
        .await
        .unwrap();
    stream.push(kv(&[7])).unwrap();
    for _ in 0..800 {
        if !rows_of(&session, "SELECT k FROM rt_option")
            .await
            .is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(rows_of(&session, "SELECT k FROM rt_option").await, ["7"]);
    assert!(
        q.recent_progress().is_empty(),
        "still inside its first epoch"
    );
    q.stop().await.unwrap();
    assert!(q.recent_progress()[0].real_time.is_some());
}
