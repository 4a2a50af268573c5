use std::sync::Arc;

use tributary::prelude::*;

use crate::common::*;

async fn json_stream(session: &Session, dir: &std::path::Path, max_files: usize) -> DataFrame {
    session
        .read_stream()
        .schema(event_schema())
        .option("max_files_per_trigger", max_files)
        .json(dir.to_str().unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn file_stream_to_delta_is_exactly_once_across_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out, ckpt) = (
        tmp.path().join("in"),
        tmp.path().join("out"),
        tmp.path().join("ckpt"),
    );
    for f in 0..3 {
        write_events(&input, &format!("f{f}.json"), f * 10, 10);
    }
    let run = || async {
        let session = Session::new();
        let q = json_stream(&session, &input, 1)
            .await
            .select(vec![col("id"), col("region")])
            .unwrap()
            .write_stream()
            .format("delta")
            .trigger(Trigger::AvailableNow)
            .option("checkpoint_location", ckpt.display())
            .start(out.to_str().unwrap())
            .await
            .unwrap();
        q.await_termination().await.unwrap();
        q
    };
    let q1 = run().await;
    // AvailableNow honours max_files_per_trigger: one epoch per file.
    assert_eq!(q1.recent_progress().len(), 3);
    assert_eq!(
        ids(&read_delta(&out).await, "id"),
        (0..30).collect::<Vec<_>>()
    );
    // New files, restart: only they are read, and the query id is kept.
    write_events(&input, "f3.json", 30, 10);
    let q2 = run().await;
    assert_eq!(q2.id(), q1.id());
    assert_ne!(q2.run_id(), q1.run_id());
    assert_eq!(q2.recent_progress().len(), 1);
    assert_eq!(q2.last_progress().unwrap().batch_id, 3);
    assert_eq!(
        ids(&read_delta(&out).await, "id"),
        (0..40).collect::<Vec<_>>()
    );
    // Nothing new: no epoch at all.
    let q3 = run().await;
    assert!(q3.recent_progress().is_empty());
}

#[tokio::test]
async fn an_epoch_committed_by_the_sink_but_not_the_log_is_not_written_twice() {
    for format in ["delta", "parquet", "json"] {
        let tmp = tempfile::tempdir().unwrap();
        let (input, out, ckpt) = (
            tmp.path().join("in"),
            tmp.path().join("out"),
            tmp.path().join("ckpt"),
        );
        write_events(&input, "a.json", 0, 10);
        write_events(&input, "b.json", 10, 10);
        let run = || async {
            let session = Session::new();
            let q = json_stream(&session, &input, 1)
                .await
                .write_stream()
                .format(format)
                .trigger(Trigger::AvailableNow)
                .option("checkpoint_location", ckpt.display())
                .start(out.to_str().unwrap())
                .await
                .unwrap();
            q.await_termination().await.unwrap();
            q
        };
        run().await;
        // The process "died" after the sink committed epoch 1 but before commits/1.
        std::fs::remove_file(ckpt.join("commits/1")).unwrap();
        let q = run().await;
        assert_eq!(q.recent_progress().len(), 1, "{format}: epoch 1 runs again");
        assert_eq!(q.last_progress().unwrap().batch_id, 1);
        let session = Session::new();
        let rows = session
            .read()
            .format(format)
            .schema(event_schema())
            .load(out.to_str().unwrap())
            .await
            .unwrap();
        let got = ids(&rows.collect().await.unwrap(), "id");
        assert_eq!(
            got,
            (0..20).collect::<Vec<_>>(),
            "{format}: every row exactly once"
        );
    }
}

#[tokio::test]
async fn an_epoch_planned_but_not_run_is_rerun_with_the_same_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out, ckpt) = (
        tmp.path().join("in"),
        tmp.path().join("out"),
        tmp.path().join("ckpt"),
    );
    write_events(&input, "a.json", 0, 5);
    write_events(&input, "b.json", 5, 5);
    let session = Session::new();
    let start = |trigger| {
        let session = session.clone();
        let (input, out, ckpt) = (input.clone(), out.clone(), ckpt.clone());
        async move {
            let q = json_stream(&session, &input, 1)
                .await
                .write_stream()
                .format("parquet")
                .trigger(trigger)
                .option("checkpoint_location", ckpt.display())
                .start(out.to_str().unwrap())
                .await
                .unwrap();
            q.await_termination().await.unwrap();
            q
        }
    };
    start(Trigger::AvailableNow).await;
    // Crash right after the write-ahead of epoch 1: offsets/1 exists, nothing else.
    std::fs::remove_file(ckpt.join("commits/1")).unwrap();
    for f in std::fs::read_dir(out.join("_tributary_log")).unwrap() {
        let f = f.unwrap();
        if f.file_name()
            .to_string_lossy()
            .ends_with("00000000000000000001")
        {
            std::fs::remove_file(f.path()).unwrap();
        }
    }
    write_events(&input, "c.json", 10, 5);
    let q = start(Trigger::Once).await;
    // The re-run epoch reads exactly b.json again (5 rows), then `Once` stops.
    assert_eq!(q.recent_progress().len(), 1);
    assert_eq!(q.recent_progress()[0].num_input_rows, 5);
    let q = start(Trigger::AvailableNow).await;
    assert_eq!(q.recent_progress().len(), 1);
    let rows = session
        .read()
        .schema(event_schema())
        .parquet(out.to_str().unwrap())
        .await
        .unwrap();
    assert_eq!(
        ids(&rows.collect().await.unwrap(), "id"),
        (0..15).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_batch_read_ignores_files_of_uncommitted_epochs() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out, ckpt) = (
        tmp.path().join("in"),
        tmp.path().join("out"),
        tmp.path().join("ckpt"),
    );
    write_events(&input, "a.json", 0, 10);
    let session = Session::new();
    let q = json_stream(&session, &input, 10)
        .await
        .write_stream()
        .format("parquet")
        .trigger(Trigger::AvailableNow)
        .option("checkpoint_location", ckpt.display())
        .start(out.to_str().unwrap())
        .await
        .unwrap();
    q.await_termination().await.unwrap();
    // A file left by an attempt that crashed before its manifest.
    let stray = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "parquet"))
        .unwrap();
    std::fs::copy(&stray, out.join("part-00001-crashed.parquet")).unwrap();
    let df = session.read().parquet(out.to_str().unwrap()).await.unwrap();
    assert_eq!(
        ids(&df.collect().await.unwrap(), "id"),
        (0..10).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn foreach_batch_gets_each_epoch_and_its_id() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    write_events(&input, "a.json", 0, 4);
    write_events(&input, "b.json", 4, 6);
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let session = Session::new();
    let q = json_stream(&session, &input, 1)
        .await
        .write_stream()
        .trigger(Trigger::AvailableNow)
        .foreach_batch(move |df, epoch| {
            let seen = s2.clone();
            async move {
                let n = df.count().await.unwrap();
                seen.lock().unwrap().push((epoch, n));
                Ok(())
            }
        })
        .start("")
        .await
        .unwrap();
    q.await_termination().await.unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![(0, 4), (1, 6)]);
}
