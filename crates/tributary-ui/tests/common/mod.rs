//! A session with the UI and a running stateful query, for the UI tests; a UI alone, with
//! forged query records; the process's open descriptors.
// Each test binary uses a part of these.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use tributary::prelude::*;
use tributary::{QueryStartedEvent, StreamingQueryListener};
use tributary_ui::{Limits, UiServer};

pub(crate) fn events(dir: &std::path::Path, file: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let lines: Vec<String> = (0..20)
        .map(|i| {
            let id = file * 20 + i;
            format!(
                "{{\"id\":{id},\"region\":\"r{}\",\"event_time\":\"2026-11-21T10:{:02}:{:02}Z\"}}",
                id % 3,
                id / 60,
                id % 60
            )
        })
        .collect();
    std::fs::write(
        dir.join(format!("f{file:03}.json")),
        lines.join("\n") + "\n",
    )
    .unwrap();
}

/// The UI on a free port and a windowed aggregation with a watermark, after 3 epochs.
pub(crate) async fn start_query(
    dir: &std::path::Path,
    token: Option<&str>,
) -> (Session, UiServer, StreamingQuery) {
    start_query_with(dir, token, Limits::default()).await
}

/// [`start_query`] with other limits for the UI server.
pub(crate) async fn start_query_with(
    dir: &std::path::Path,
    token: Option<&str>,
    limits: Limits,
) -> (Session, UiServer, StreamingQuery) {
    let input = dir.join("in");
    for f in 0..3 {
        events(&input, f);
    }
    let session = Session::new();
    let ui =
        tributary_ui::serve_with_limits(&session, "127.0.0.1:0", token.map(String::from), limits)
            .await
            .unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("region", DataType::Utf8, true),
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Nanosecond, None),
            true,
        ),
    ]));
    let q = session
        .read_stream()
        .schema(schema)
        .option("max_files_per_trigger", 1)
        .json(input.to_str().unwrap())
        .await
        .unwrap()
        .with_watermark("event_time", "10 seconds")
        .unwrap()
        .aggregate(
            vec![
                window(col("event_time"), "30 seconds").alias("w"),
                col("region"),
            ],
            vec![count(col("id")).alias("n")],
        )
        .unwrap()
        .write_stream()
        .format("memory")
        .query_name("visitors")
        .trigger(Trigger::ProcessingTime(Duration::from_millis(50)))
        .start("")
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while q.recent_progress().len() < 3 {
        assert!(std::time::Instant::now() < deadline, "no progress");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (session, ui, q)
}

/// The UI of a session without queries, on `addr` (port 0 picks one).
pub(crate) async fn start_ui(
    addr: &str,
    token: Option<&str>,
    limits: Limits,
) -> (Session, UiServer) {
    let session = Session::new();
    let ui = tributary_ui::serve_with_limits(&session, addr, token.map(String::from), limits)
        .await
        .unwrap();
    (session, ui)
}

/// Tell the UI that a query with this id and name started, as the driver does with the id read
/// from a checkpoint (which anyone who can write the checkpoint chooses).
pub(crate) fn forge_query(ui: &UiServer, id: &str, name: &str) {
    ui.monitor.on_query_started(&QueryStartedEvent {
        id: id.to_string(),
        run_id: "run-1".to_string(),
        name: Some(name.to_string()),
        timestamp: "2026-11-21T10:00:00Z".to_string(),
    });
}

/// The file descriptors this process has open.
pub(crate) fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}
