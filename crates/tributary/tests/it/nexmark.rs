//! The built-in Nexmark source: one event stream in three tables, the same rows as a batch and
//! as a stream (across restarts), throttled by the session's clock, and clear errors.

use std::sync::Arc;
use std::time::Duration;

use tributary::clock::ManualClock;
use tributary::prelude::*;

use crate::common::*;

async fn nexmark_batch(session: &Session, table: &str, events: u64) -> DataFrame {
    session
        .read()
        .format("nexmark")
        .option("table", table)
        .option("max_events", events)
        .option("seed", 11)
        .load("nexmark")
        .await
        .unwrap()
}

async fn sql_rows(session: &Session, sql: &str) -> Vec<String> {
    sorted_rows(
        &session.sql(sql).await.unwrap().collect().await.unwrap(),
        "|",
    )
}

#[tokio::test]
async fn the_three_tables_are_one_stream_in_the_proportions_one_three_forty_six() {
    let session = Session::new();
    for t in ["person", "auction", "bid"] {
        let df = nexmark_batch(&session, t, 5_000).await;
        session.register(t, df).unwrap();
    }
    assert_eq!(
        sql_rows(
            &session,
            "SELECT (SELECT count(*) FROM person) AS a, (SELECT count(DISTINCT id) FROM person) AS b, \
             (SELECT count(*) FROM auction) AS c, (SELECT min(id) FROM auction) AS d, \
             (SELECT max(id) FROM auction) AS e, (SELECT count(*) FROM bid) AS f"
        )
        .await,
        vec!["100|100|300|1000|1299|4600"]
    );
    // Every bid is on an auction that opened before it, by a person who registered before it;
    // every auction's seller registered before it opened.
    assert_eq!(
        sql_rows(
            &session,
            "SELECT count(*) FROM bid b JOIN auction a ON b.auction = a.id \
             JOIN person p ON b.bidder = p.id \
             WHERE a.date_time < b.date_time AND p.date_time < b.date_time"
        )
        .await,
        vec!["4600"]
    );
    assert_eq!(
        sql_rows(
            &session,
            "SELECT count(*) FROM auction a JOIN person p ON a.seller = p.id \
             WHERE p.date_time < a.date_time AND a.expires > a.date_time"
        )
        .await,
        vec!["300"]
    );
    // 10,000 events per second of event time from the base time.
    assert_eq!(
        sql_rows(
            &session,
            "SELECT CAST(min(date_time) AS VARCHAR), CAST(max(date_time) AS VARCHAR) FROM person"
        )
        .await,
        vec!["2025-01-01T00:00:00|2025-01-01T00:00:00.495"]
    );
}

#[tokio::test]
async fn a_stream_restarted_between_epochs_gives_the_batch_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let ckpt = tmp.path().join("ckpt");
    let query = "SELECT auction, bidder, price, channel, url, CAST(date_time AS BIGINT) AS t, extra FROM bid";
    // A run over the first 3,000 events, then a restart once the stream holds 7,000: 1,000
    // events per epoch.
    for (events, epochs) in [(3_000, 3), (7_000, 7)] {
        let session = Session::new();
        let bid = session
            .read_stream()
            .format("nexmark")
            .option("table", "bid")
            .option("max_events", events)
            .option("max_events_per_trigger", 1_000)
            .option("seed", 11)
            .option("num_partitions", 3)
            .load("nexmark")
            .await
            .unwrap();
        session.register("bid", bid).unwrap();
        let q = session
            .sql(query)
            .await
            .unwrap()
            .write_stream()
            .format("parquet")
            .option("checkpoint_location", ckpt.to_str().unwrap())
            .trigger(Trigger::AvailableNow)
            .start(out.to_str().unwrap())
            .await
            .unwrap();
        q.await_termination().await.unwrap();
        assert_eq!(
            std::fs::read_dir(ckpt.join("commits")).unwrap().count(),
            epochs,
            "one epoch per 1,000 events"
        );
    }
    let session = Session::new();
    let streamed = session
        .read()
        .parquet(out.to_str().unwrap())
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let bid = nexmark_batch(&session, "bid", 7_000).await;
    session.register("bid", bid).unwrap();
    let batch = sql_rows(&session, query).await;
    assert_eq!(batch.len(), 6_440);
    assert_eq!(sorted_rows(&streamed, "|"), batch);
}

#[tokio::test]
async fn a_throttled_stream_releases_events_as_the_clock_moves() {
    let session = Session::new();
    let clock = ManualClock::new(1_000_000);
    session.set_clock(Arc::new(clock.clone()));
    let df = session
        .read_stream()
        .format("nexmark")
        .option("table", "bid")
        .option("events_per_second", 100)
        .option("throttle", true)
        .load("nexmark")
        .await
        .unwrap();
    let q = df
        .write_stream()
        .format("memory")
        .query_name("bids")
        .trigger(Trigger::ProcessingTime(Duration::from_millis(10)))
        .start("")
        .await
        .unwrap();
    let rows = |q: &StreamingQuery| {
        q.recent_progress()
            .iter()
            .map(|p| p.num_input_rows)
            .sum::<u64>()
    };
    // No time has passed: nothing is due.
    q.process_all_available().await.unwrap();
    assert_eq!(rows(&q), 0);
    // One second at 100 events per second: events 0..100, of which 92 are bids.
    clock.advance(1_000);
    q.process_all_available().await.unwrap();
    assert_eq!(rows(&q), 92);
    clock.advance(500);
    q.process_all_available().await.unwrap();
    assert_eq!(rows(&q), 138);
    q.stop().await.unwrap();
}

#[tokio::test]
async fn a_throttled_stream_counts_from_its_first_start_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let ckpt = tmp.path().join("ckpt");
    let clock = ManualClock::new(1_000_000);
    let mut total = 0;
    // One second of events, a pause, then an available-now run two seconds after the start:
    // it reads the events due since the first start, not since its own.
    for trigger in [
        Trigger::ProcessingTime(Duration::from_millis(10)),
        Trigger::AvailableNow,
    ] {
        if trigger == Trigger::AvailableNow {
            clock.advance(1_000);
        }
        let session = Session::new();
        session.set_clock(Arc::new(clock.clone()));
        let q = session
            .read_stream()
            .format("nexmark")
            .option("table", "bid")
            .option("events_per_second", 100)
            .option("throttle", true)
            .load("nexmark")
            .await
            .unwrap()
            .write_stream()
            .format("memory")
            .query_name("bids")
            .option("checkpoint_location", ckpt.to_str().unwrap())
            .trigger(trigger)
            .start("")
            .await
            .unwrap();
        if trigger == Trigger::AvailableNow {
            q.await_termination().await.unwrap();
        } else {
            q.process_all_available().await.unwrap();
            clock.advance(1_000);
            q.process_all_available().await.unwrap();
            q.stop().await.unwrap();
        }
        total += q
            .recent_progress()
            .iter()
            .map(|p| p.num_input_rows)
            .sum::<u64>();
    }
    // Events 0..200 are due two seconds after the start: 184 of them are bids.
    assert_eq!(total, 184);
}

#[tokio::test]
async fn mistakes_are_named_with_the_fix() {
    let session = Session::new();
    // The error of a batch read with these options.
    let err = |options: &'static [(&'static str, &'static str)]| {
        let session = session.clone();
        async move {
            let mut r = session.read().format("nexmark");
            for (k, v) in options {
                r = r.option(k, v);
            }
            match r.load("nexmark").await {
                Ok(_) => panic!("expected an error for {options:?}"),
                Err(e) => e.to_string(),
            }
        }
    };
    assert!(err(&[("table", "bid")]).await.contains("max_events"));
    assert!(err(&[("max_events", "10")])
        .await
        .contains("'table' 'person', 'auction' or 'bid'"));
    assert!(err(&[("table", "bids"), ("max_events", "10")])
        .await
        .contains("person, auction, bid"));
    assert!(err(&[("table", "bid"), ("max_event", "10")])
        .await
        .contains("max_events"));
    // An endless, unthrottled stream cannot be read "up to what is there now".
    let endless = session
        .read_stream()
        .format("nexmark")
        .option("table", "bid")
        .load("nexmark")
        .await
        .unwrap();
    let q = endless
        .write_stream()
        .format("memory")
        .query_name("endless")
        .trigger(Trigger::AvailableNow)
        .start("")
        .await;
    let message = match q {
        Err(e) => e.to_string(),
        Ok(q) => q.await_termination().await.unwrap_err().to_string(),
    };
    assert!(message.contains("max_events"), "{message}");
}
