use std::sync::Arc;

use tributary::prelude::*;
use tributary::TributaryError;

use crate::common::*;

async fn stream(session: &Session, dir: &std::path::Path) -> DataFrame {
    session
        .read_stream()
        .schema(event_schema())
        .json(dir.to_str().unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn operations_a_stream_cannot_run_fail_at_start_naming_the_operator() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    write_events(&input, "a.json", 0, 3);
    let session = Session::new();
    session
        .register("events", stream(&session, &input).await)
        .unwrap();
    for (sql, operator) in [
        ("SELECT * FROM events ORDER BY id", "Sort"),
        ("SELECT * FROM events LIMIT 3", "Limit"),
        (
            "SELECT n, count(*) FROM (SELECT region, count(*) AS n FROM events GROUP BY region) GROUP BY n",
            "a streaming Aggregate over the output of another stateful operator",
        ),
        (
            "SELECT DISTINCT ON (region) region, id FROM events",
            "Distinct ON",
        ),
        (
            "SELECT a.id FROM events a LEFT JOIN events b ON a.id = b.id",
            "Left stream-stream Join",
        ),
        // The static rows would be written again in every epoch.
        (
            "SELECT region FROM events UNION ALL SELECT 'static' AS region",
            "Union between a stream and a static table",
        ),
    ] {
        let df = session.sql(sql).await.unwrap();
        let err = df
            .write_stream()
            .format("memory")
            .query_name("x")
            .start("")
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(operator) && msg.contains("not supported on a streaming DataFrame"),
            "{sql}: {msg}"
        );
    }
    // An aggregation in append mode needs an event-time key behind a watermark; the error
    // names the modes that work.
    let err = session
        .sql("SELECT region, count(*) FROM events GROUP BY region")
        .await
        .unwrap()
        .write_stream()
        .format("memory")
        .query_name("y")
        .start("")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("output mode 'append'") && err.contains("'update' or 'complete'"),
        "{err}"
    );
    // An append-only sink refuses update and complete output.
    let tmp2 = tempfile::tempdir().unwrap();
    let err = session
        .sql("SELECT region, count(*) FROM events GROUP BY region")
        .await
        .unwrap()
        .write_stream()
        .format("parquet")
        .output_mode(OutputMode::Complete)
        .option("checkpoint_location", tmp2.path().join("c").display())
        .start(tmp2.path().join("t").to_str().unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("'append' only") && err.contains("'complete'"),
        "{err}"
    );
    // Running a streaming DataFrame as a batch is refused with directions.
    let err = session
        .sql("SELECT * FROM events")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("write_stream()"), "{err}");
}

#[tokio::test]
async fn a_file_stream_needs_a_schema() {
    let session = Session::new();
    let err = session
        .read_stream()
        .json("/tmp/whatever")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("needs a schema"), "{err}");
}

#[tokio::test]
async fn a_durable_sink_needs_a_checkpoint_location() {
    let tmp = tempfile::tempdir().unwrap();
    let session = Session::new();
    let err = stream(&session, tmp.path())
        .await
        .write_stream()
        .format("delta")
        .start(tmp.path().join("out").to_str().unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("checkpoint_location"), "{err}");
}

#[tokio::test]
async fn the_checkpoint_of_another_query_is_refused_and_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, ckpt) = (tmp.path().join("in"), tmp.path().join("ckpt"));
    write_events(&input, "a.json", 0, 3);
    let session = Session::new();
    let start = |out: &'static str| {
        let session = session.clone();
        let (input, ckpt, tmp) = (input.clone(), ckpt.clone(), tmp.path().to_path_buf());
        async move {
            stream(&session, &input)
                .await
                .write_stream()
                .format("parquet")
                .trigger(Trigger::AvailableNow)
                .option("checkpoint_location", ckpt.display())
                .start(tmp.join(out).to_str().unwrap())
                .await
        }
    };
    start("out1")
        .await
        .unwrap()
        .await_termination()
        .await
        .unwrap();
    let before = std::fs::read(ckpt.join("metadata")).unwrap();
    let err = start("out2").await.unwrap_err();
    assert!(matches!(err, TributaryError::Checkpoint { .. }), "{err}");
    assert!(
        err.to_string().contains("belongs to another query") && err.to_string().contains("out2"),
        "{err}"
    );
    assert_eq!(std::fs::read(ckpt.join("metadata")).unwrap(), before);
}

#[tokio::test]
async fn a_damaged_checkpoint_is_reported_and_never_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, ckpt, out) = (
        tmp.path().join("in"),
        tmp.path().join("ckpt"),
        tmp.path().join("out"),
    );
    write_events(&input, "a.json", 0, 3);
    let session = Session::new();
    let start = || {
        let session = session.clone();
        let (input, ckpt, out) = (input.clone(), ckpt.clone(), out.clone());
        async move {
            stream(&session, &input)
                .await
                .write_stream()
                .format("parquet")
                .trigger(Trigger::AvailableNow)
                .option("checkpoint_location", ckpt.display())
                .start(out.to_str().unwrap())
                .await
        }
    };
    start().await.unwrap().await_termination().await.unwrap();
    std::fs::write(ckpt.join("metadata"), b"v1\n{\"id\": 12").unwrap();
    let err = start().await.unwrap_err().to_string();
    assert!(err.contains("damaged checkpoint file 'metadata'"), "{err}");
    assert_eq!(
        std::fs::read(ckpt.join("metadata")).unwrap(),
        b"v1\n{\"id\": 12"
    );
}

#[tokio::test]
async fn a_schema_mismatch_at_a_delta_sink_names_the_columns() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out) = (tmp.path().join("in"), tmp.path().join("out"));
    write_events(&input, "a.json", 0, 3);
    let session = Session::new();
    // The table exists with (id BIGINT, region STRING).
    let batch = session
        .read()
        .schema(event_schema())
        .json(input.to_str().unwrap())
        .await
        .unwrap();
    batch
        .select(vec![col("id"), col("region")])
        .unwrap()
        .write()
        .format("delta")
        .save(out.to_str().unwrap())
        .await
        .unwrap();
    let q = stream(&session, &input)
        .await
        .select(vec![
            col("id"),
            col("amount").alias("price"),
            col("region").alias("id2"),
        ])
        .unwrap()
        .write_stream()
        .format("delta")
        .trigger(Trigger::AvailableNow)
        .option("checkpoint_location", tmp.path().join("ckpt").display())
        .start(out.to_str().unwrap())
        .await
        .unwrap();
    let err = q.await_termination().await.unwrap_err().to_string();
    assert!(
        err.contains("schema mismatch") && err.contains("'price'") && err.contains("'id2'"),
        "{err}"
    );
    // A batch write to an existing table with the default mode is refused too.
    let again = session
        .read()
        .schema(event_schema())
        .json(input.to_str().unwrap())
        .await
        .unwrap();
    let err = again
        .write()
        .format("delta")
        .save(out.to_str().unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    let _ = Arc::new(());
}

#[tokio::test]
async fn a_streaming_sum_past_bigint_fails_the_query_with_sparks_condition() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    // One event per epoch: each epoch's sum fits, the running sum of the second does not.
    write_events(&input, "a.json", 0, 1);
    write_events(&input, "b.json", 1, 1);
    let session = Session::new();
    let events = session
        .read_stream()
        .schema(event_schema())
        .option("max_files_per_trigger", 1)
        .json(input.to_str().unwrap())
        .await
        .unwrap();
    session.register("events", events).unwrap();
    let q = session
        .sql("SELECT sum(id * 0 + 5000000000000000000) AS s FROM events")
        .await
        .unwrap()
        .write_stream()
        .format("memory")
        .output_mode(OutputMode::Complete)
        .query_name("sums")
        .trigger(Trigger::AvailableNow)
        .start("")
        .await
        .unwrap();
    let err = q.await_termination().await.unwrap_err().to_string();
    assert!(
        err.contains("[ARITHMETIC_OVERFLOW]") && err.contains("try_sum"),
        "{err}"
    );
    // The first epoch's sum was written; nothing wrapped around.
    let rows = session
        .table("sums")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(ids(&rows, "s"), vec![5_000_000_000_000_000_000]);
}
