//! Rows whose event time is NULL have no window, as in Spark: a batch and a stream both leave
//! them out of `window()` and `session_window()` groups, and a stream keeps no state for them.

use tributary::prelude::*;

use crate::common::*;

/// Timed events in three files, with a NULL event time in each.
fn write_with_null_times(dir: &std::path::Path) {
    for f in 0..3i64 {
        let mut lines: Vec<String> = (f * 20..(f + 1) * 20).map(timed_line).collect();
        lines.push(format!(
            "{{\"id\":{},\"user_id\":1,\"region\":\"emea\",\"amount\":1.0,\"event_time\":null}}",
            1000 + f
        ));
        write_lines(dir, &format!("f{f}.json"), &lines);
    }
}

const QUERIES: [&str; 3] = [
    "SELECT w['start'] AS ws, region, count(*) AS n \
     FROM (SELECT window(event_time, '1 minute') AS w, region FROM events) GROUP BY w, region",
    "SELECT window(event_time, '2 minutes', '1 minute')['start'] AS ws, count(*) AS n \
     FROM events GROUP BY window(event_time, '2 minutes', '1 minute')",
    "SELECT session_window(event_time, '20 seconds')['start'] AS ss, region, count(*) AS n \
     FROM events GROUP BY session_window(event_time, '20 seconds'), region",
];

#[tokio::test]
async fn rows_without_an_event_time_have_no_window_in_batch_and_stream() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    write_with_null_times(&input);
    for (i, sql) in QUERIES.iter().enumerate() {
        let batch = Session::new();
        let events = batch
            .read()
            .schema(timed_schema())
            .json(input.to_str().unwrap())
            .await
            .unwrap();
        batch.register("events", events).unwrap();
        let want = sorted_rows(&batch.sql(sql).await.unwrap().collect().await.unwrap(), "|");
        assert!(!want.is_empty(), "{sql}");
        assert!(
            want.iter().all(|r| !r.starts_with("NULL")),
            "no window for a NULL time: {want:?}"
        );
        let stream = Session::new();
        let events = stream
            .read_stream()
            .schema(timed_schema())
            .option("max_files_per_trigger", 1)
            .json(input.to_str().unwrap())
            .await
            .unwrap()
            // The events are out of order by up to 30 s: none is late.
            .with_watermark("event_time", "1 minute")
            .unwrap();
        stream.register("events", events).unwrap();
        let seen = Epochs::default();
        let q = stream
            .sql(sql)
            .await
            .unwrap()
            .write_stream()
            .option(
                "checkpoint_location",
                tmp.path().join(format!("ckpt{i}")).to_str().unwrap(),
            )
            .option("flush_at_end", true)
            .trigger(Trigger::AvailableNow)
            .foreach_batch(keep_epochs(&seen))
            .start("")
            .await
            .unwrap();
        q.await_termination().await.unwrap();
        let mut got: Vec<String> = emitted_rows(&seen);
        got.sort();
        assert_eq!(got, want, "{sql}");
        // Every window was flushed at the end: no state is left behind for the NULL times.
        let last = q.last_progress().unwrap();
        assert_eq!(
            last.state_operators[0]["numRowsTotal"].as_u64(),
            Some(0),
            "{sql}: {:?}",
            last.state_operators
        );
    }
}

#[tokio::test]
async fn a_projection_of_a_window_leaves_out_the_rows_without_a_time() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    write_with_null_times(&input);
    let session = Session::new();
    let events = session
        .read()
        .schema(timed_schema())
        .json(input.to_str().unwrap())
        .await
        .unwrap();
    session.register("events", events).unwrap();
    let out = session
        .sql("SELECT id, window(event_time, '1 minute')['start'] AS ws FROM events")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let ids = ids(&out, "id");
    assert_eq!(ids.len(), 60);
    assert!(ids.iter().all(|i| *i < 1000), "{ids:?}");
}
