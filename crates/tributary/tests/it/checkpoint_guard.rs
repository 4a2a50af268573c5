//! A checkpoint has one writer, and it stays with its output: a second run is refused while
//! the first holds the lease, and a checkpoint restored from an older copy, or an output table
//! deleted under it, stops the query instead of losing or duplicating rows.

use std::path::Path;
use std::time::Duration;

use tributary::prelude::*;
use tributary::StreamingQuery;

use crate::common::{event_schema, ids, read_delta, write_events};

async fn start(
    input: &Path,
    out: &Path,
    ckpt: &Path,
    trigger: Trigger,
) -> tributary::Result<StreamingQuery> {
    let session = Session::new();
    session
        .read_stream()
        .schema(event_schema())
        .option("max_files_per_trigger", 1)
        .json(input.to_str().unwrap())
        .await?
        .write_stream()
        .format("delta")
        .trigger(trigger)
        .option("checkpoint_location", ckpt.display())
        .start(out.to_str().unwrap())
        .await
}

/// A temporary folder with the input, output and checkpoint paths of a test.
fn folders() -> (
    tempfile::TempDir,
    std::path::PathBuf,
    std::path::PathBuf,
    std::path::PathBuf,
) {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path();
    let (input, out, ckpt) = (p.join("in"), p.join("out"), p.join("ck"));
    (tmp, input, out, ckpt)
}

/// Start a query with AvailableNow and wait for its end: the error of either.
async fn run_to_end(input: &Path, out: &Path, ckpt: &Path) -> tributary::Result<()> {
    start(input, out, ckpt, Trigger::AvailableNow)
        .await?
        .await_termination()
        .await
}

#[tokio::test]
async fn a_second_run_on_a_checkpoint_in_use_is_refused_naming_the_owner() {
    let (_tmp, input, out, ckpt) = folders();
    write_events(&input, "a.json", 0, 5);
    let first = start(
        &input,
        &out,
        &ckpt,
        Trigger::ProcessingTime(Duration::from_millis(50)),
    )
    .await
    .unwrap();
    let err = start(&input, &out, &ckpt, Trigger::AvailableNow)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("in use by another run")
            && err.contains(&format!("process {}", std::process::id())),
        "{err}"
    );
    assert!(
        err.contains(first.run_id()),
        "the owner's run id is named: {err}"
    );
    first.stop().await.unwrap();
    // Once the first run stopped, its lease is given back.
    write_events(&input, "b.json", 5, 5);
    let second = start(&input, &out, &ckpt, Trigger::AvailableNow)
        .await
        .unwrap();
    second.await_termination().await.unwrap();
    assert_eq!(
        ids(&read_delta(&out).await, "id"),
        (0..10).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn the_lease_of_a_process_that_is_gone_is_taken_over() {
    let (_tmp, input, out, ckpt) = folders();
    write_events(&input, "a.json", 0, 5);
    // A process of this host that has ended: its pid is free.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    std::fs::create_dir_all(&ckpt).unwrap();
    let far_future = 4_000_000_000_000i64;
    std::fs::write(
        ckpt.join("lease"),
        format!(
            "v1\n{{\"host\":\"{}\",\"pid\":{pid},\"process_start\":1,\"run_id\":\"killed-run\",\"acquired_ms\":0,\"heartbeat_ms\":0,\"expires_ms\":{far_future}}}\n",
            host.trim()
        ),
    )
    .unwrap();
    let q = start(&input, &out, &ckpt, Trigger::AvailableNow)
        .await
        .unwrap();
    q.await_termination().await.unwrap();
    assert_eq!(
        ids(&read_delta(&out).await, "id"),
        (0..5).collect::<Vec<_>>()
    );
    assert!(
        !ckpt.join("lease").exists(),
        "the lease is given back at the end"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[tokio::test]
async fn an_older_copy_of_the_checkpoint_or_a_deleted_table_stops_the_query() {
    let (tmp, input, out, ckpt) = folders();
    let saved = tmp.path().join("ck-copy");
    write_events(&input, "a.json", 0, 5);
    run_to_end(&input, &out, &ckpt).await.unwrap();
    copy_dir(&ckpt, &saved);
    write_events(&input, "b.json", 5, 5);
    write_events(&input, "c.json", 10, 5);
    run_to_end(&input, &out, &ckpt).await.unwrap();
    // The checkpoint as it was after the first run, with the table of the second.
    std::fs::remove_dir_all(&ckpt).unwrap();
    copy_dir(&saved, &ckpt);
    write_events(&input, "d.json", 15, 5);
    let err = run_to_end(&input, &out, &ckpt)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("already holds epoch 2") && err.contains("older than the table"),
        "{err}"
    );
    assert!(!err.contains("new checkpoint location alone"), "{err}");
    assert_eq!(
        ids(&read_delta(&out).await, "id"),
        (0..15).collect::<Vec<_>>(),
        "nothing was skipped or written twice"
    );
    // The other way: the table deleted under its checkpoint.
    std::fs::remove_dir_all(&ckpt).unwrap();
    copy_dir(&saved, &ckpt);
    std::fs::remove_dir_all(&out).unwrap();
    let err = run_to_end(&input, &out, &ckpt)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("holds no epoch") && err.contains("deleted, replaced or rolled back"),
        "{err}"
    );
}

#[tokio::test]
async fn an_epoch_the_sink_wrote_before_a_crash_is_neither_written_nor_counted_again() {
    let (_tmp, input, out, ckpt) = folders();
    write_events(&input, "a.json", 0, 5);
    write_events(&input, "b.json", 5, 5);
    run_to_end(&input, &out, &ckpt).await.unwrap();
    // A crash after the sink committed epoch 1 and before the commit log said so.
    std::fs::remove_file(ckpt.join("commits/1")).unwrap();
    write_events(&input, "c.json", 10, 5);
    let query = start(&input, &out, &ckpt, Trigger::AvailableNow)
        .await
        .unwrap();
    query.await_termination().await.unwrap();
    let progress = query.recent_progress();
    let rows_out = |batch: u64| {
        progress
            .iter()
            .find(|p| p.batch_id == batch)
            .map(|p| p.sink.num_output_rows)
    };
    assert_eq!(rows_out(1), Some(0), "epoch 1 was already in the table");
    assert_eq!(rows_out(2), Some(5));
    assert_eq!(
        ids(&read_delta(&out).await, "id"),
        (0..15).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_deleted_file_list_of_the_checkpoint_stops_the_query_instead_of_reading_its_files_again()
{
    let (_tmp, input, out, ckpt) = folders();
    write_events(&input, "a.json", 0, 5);
    write_events(&input, "b.json", 5, 5);
    write_events(&input, "c.json", 10, 5);
    run_to_end(&input, &out, &ckpt).await.unwrap();
    // The list of epoch 1's files (b.json) is lost.
    let lists = ckpt.join("sources/0");
    assert!(lists.join("1").exists(), "{lists:?}");
    std::fs::remove_file(lists.join("1")).unwrap();
    write_events(&input, "d.json", 15, 5);
    let err = run_to_end(&input, &out, &ckpt)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("is missing") && err.contains("sources/0/1"),
        "{err}"
    );
    assert_eq!(
        ids(&read_delta(&out).await, "id"),
        (0..15).collect::<Vec<_>>(),
        "no file was read twice"
    );
}
