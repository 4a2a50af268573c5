//! Chained stateful operators: an operator over another's output, in one epoch, with Spark's two
//! watermarks; their state across a crash that leaves an epoch to run again.

use tributary::prelude::*;

use crate::common::*;

#[tokio::test]
async fn a_window_aggregation_over_another_emits_each_window_once_when_the_watermark_closes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (session, stream) = prices_session();
    let seen = Epochs::default();
    // Per minute: how many rows each price had, then the largest of those counts.
    let df = session
        .sql(
            "SELECT CAST(we AS BIGINT) / 1000 AS end_s, max(n) AS top, count(*) AS prices FROM (
                SELECT w['end'] AS we, price, count(*) AS n
                FROM (SELECT window(ts, '1 minute') AS w, price FROM prices)
                GROUP BY w, price
             ) GROUP BY we",
        )
        .await
        .unwrap();
    let q = start_into(df, OutputMode::Append, &tmp.path().join("ckpt"), &seen).await;
    // Minute 0: price 10 twice, 20 once. A row at 61 s moves the watermark past minute 0; the
    // lower aggregation emits minute 0's two groups and the upper one closes minute 0 in the
    // same epoch. Then a late row of minute 0 (dropped by the lower one) and a row at 130 s.
    stream
        .push(prices_at(&[(1, 10), (2, 10), (3, 20), (61, 5)]))
        .unwrap();
    q.process_all_available().await.unwrap();
    stream.push(prices_at(&[(4, 99), (130, 7)])).unwrap();
    q.process_all_available().await.unwrap();
    q.stop().await.unwrap();
    assert_eq!(emitted_rows(&seen), vec!["60|2|2", "120|1|1"]);
    let last = q.recent_progress().last().cloned().unwrap();
    assert_eq!(last.state_operators.len(), 2, "two operators report");
    assert_eq!(
        dropped_by_watermark(&q),
        1,
        "the late row of minute 0, once"
    );
    assert!(tmp.path().join("ckpt/state/0").is_dir() && tmp.path().join("ckpt/state/1").is_dir());
}

/// The hot items of Nexmark q5 in short: the auctions with the most bids per 10-second window
/// (a join of a window aggregation with an aggregation over another).
const HOT_ITEMS: &str = "
    SELECT c.auction, c.num, CAST(c.we AS BIGINT) AS we FROM (
        SELECT auction, count(*) AS num, w['end'] AS we
        FROM (SELECT auction, window(date_time, '10 seconds') AS w FROM bid) GROUP BY auction, w
    ) c JOIN (
        SELECT we, max(num) AS maxn FROM (
            SELECT w['end'] AS we, count(*) AS num
            FROM (SELECT auction, window(date_time, '10 seconds') AS w FROM bid) GROUP BY auction, w
        ) GROUP BY we
    ) m ON c.we = m.we AND c.num >= m.maxn";

async fn bids(session: &Session, stream: bool, events: u64) -> DataFrame {
    let (per_epoch, seed) = (10_000, 5);
    if !stream {
        return session
            .read()
            .format("nexmark")
            .option("table", "bid")
            .option("max_events", events)
            .option("events_per_second", 200)
            .option("seed", seed)
            .load("nexmark")
            .await
            .unwrap();
    }
    session
        .read_stream()
        .format("nexmark")
        .option("table", "bid")
        .option("max_events", events)
        .option("max_events_per_trigger", per_epoch)
        .option("events_per_second", 200)
        .option("seed", seed)
        .load("nexmark")
        .await
        .unwrap()
        .with_watermark("date_time", "1 second")
        .unwrap()
}

#[tokio::test]
async fn a_chained_query_run_again_after_a_crash_keeps_its_state_and_gives_the_batch_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, ckpt) = (tmp.path().join("out"), tmp.path().join("ckpt"));
    let run = |events: u64, flush: bool| {
        let (out, ckpt) = (out.clone(), ckpt.clone());
        // Parquet: its commit log can lose the epoch too (a crash before the sink committed).
        async move {
            let session = Session::new();
            session
                .register("bid", bids(&session, true, events).await)
                .unwrap();
            let q = session
                .sql(HOT_ITEMS)
                .await
                .unwrap()
                .write_stream()
                .format("parquet")
                .option("checkpoint_location", ckpt.to_str().unwrap())
                .option("flush_at_end", flush)
                .trigger(Trigger::AvailableNow)
                .start(out.to_str().unwrap())
                .await
                .unwrap();
            q.await_termination().await.unwrap();
            q
        }
    };
    // The first 30,000 events, then a crash during the last epoch, after its state was written
    // but before the sink and the commit log committed it: the restart (the stream now holds
    // 60,000 events) runs that epoch again on the state of the one before.
    let first = run(30_000, false).await;
    let last = first.last_progress().unwrap().batch_id;
    assert!(last >= 2, "several epochs of 10,000 events");
    std::fs::remove_file(ckpt.join(format!("commits/{last}"))).unwrap();
    for f in std::fs::read_dir(out.join("_tributary_log")).unwrap() {
        let f = f.unwrap();
        if f.file_name()
            .to_string_lossy()
            .ends_with(&format!("{last:020}"))
        {
            std::fs::remove_file(f.path()).unwrap();
        }
    }
    let q = run(60_000, true).await;
    assert_eq!(
        q.recent_progress()[0].batch_id,
        last,
        "the epoch runs again"
    );
    assert!(q.recent_progress().len() >= 4, "and the next 30,000 events");
    for op in 0..4 {
        assert!(ckpt.join(format!("state/{op}")).is_dir(), "operator {op}");
    }
    let session = Session::new();
    let streamed = session
        .read()
        .format("parquet")
        .load(out.to_str().unwrap())
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    session
        .register("bid", bids(&session, false, 60_000).await)
        .unwrap();
    let batch = sorted_rows(
        &session
            .sql(HOT_ITEMS)
            .await
            .unwrap()
            .collect()
            .await
            .unwrap(),
        "|",
    );
    assert!(
        batch.len() >= 30,
        "a hot item per window: {} rows",
        batch.len()
    );
    assert_eq!(sorted_rows(&streamed, "|"), batch);
}
