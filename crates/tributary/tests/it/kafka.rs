//! The Kafka source against a real Kafka-protocol broker: librdkafka's mock cluster, started by
//! each test in-process.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use rdkafka::config::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use tributary::prelude::*;

use crate::common::*;

/// A mock cluster of `brokers` with topic `topic` of `partitions` partitions.
pub(crate) fn cluster(
    brokers: i32,
    topic: &str,
    partitions: i32,
) -> MockCluster<'static, rdkafka::producer::DefaultProducerContext> {
    let c = MockCluster::new(brokers).expect("librdkafka's mock cluster starts");
    c.create_topic(topic, partitions, 1).unwrap();
    c
}

/// Produce `values` (keyed by index) round-robin over `partitions`.
pub(crate) fn produce(bootstrap: &str, topic: &str, partitions: i32, values: &[String]) {
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    for (i, v) in values.iter().enumerate() {
        let key = i.to_string();
        let mut rec = BaseRecord::to(topic)
            .payload(v)
            .key(&key)
            .partition(i as i32 % partitions);
        loop {
            match p.send(rec) {
                Ok(()) => break,
                Err((_, r)) => {
                    p.poll(Duration::from_millis(10));
                    rec = r;
                }
            }
        }
    }
    p.flush(Duration::from_secs(30)).unwrap();
}

/// Every file of a folder, concatenated (the dead-letter files).
fn read_all(dir: &std::path::Path) -> String {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect()
}

/// A batch reader of `topic`.
fn reader(s: &Session, bootstrap: &str, topic: &str) -> tributary::DataFrameReader {
    s.read()
        .format("kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("subscribe", topic)
}

fn event(id: i64) -> String {
    format!(
        "{{\"id\":{id},\"region\":\"r{}\",\"amount\":{}.5}}",
        id % 3,
        id % 10
    )
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("region", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
    ]))
}

async fn json_stream(s: &Session, bootstrap: &str, extra: &[(&str, &str)]) -> DataFrame {
    let mut r = s
        .read_stream()
        .format("kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("subscribe", "events")
        .option("starting_offsets", "earliest")
        .schema(schema());
    for (k, v) in extra {
        r = r.option(k, v);
    }
    r.load("").await.unwrap()
}

#[tokio::test]
async fn a_topic_streams_into_delta_exactly_once_across_restarts_with_bad_records_aside() {
    let c = cluster(1, "events", 3);
    let bootstrap = c.bootstrap_servers();
    let tmp = tempfile::tempdir().unwrap();
    let (out, ckpt, bad) = (
        tmp.path().join("out"),
        tmp.path().join("ckpt"),
        tmp.path().join("bad"),
    );
    let mut values: Vec<String> = (0..60).map(event).collect();
    values.insert(17, "not json at all".into());
    produce(&bootstrap, "events", 3, &values);
    let mut epochs = 0;
    for round in 0..3 {
        if round == 1 {
            produce(
                &bootstrap,
                "events",
                3,
                &(60..100).map(event).collect::<Vec<_>>(),
            );
        }
        let s = Session::new();
        let bad_path = bad.display().to_string();
        let q = json_stream(
            &s,
            &bootstrap,
            &[
                ("max_offsets_per_trigger", "25"),
                ("bad_records_path", bad_path.as_str()),
            ],
        )
        .await
        .write_stream()
        .format("delta")
        .trigger(Trigger::AvailableNow)
        .option("checkpoint_location", ckpt.display())
        .start(out.to_str().unwrap())
        .await
        .unwrap();
        q.await_termination().await.unwrap();
        epochs += q.recent_progress().len();
        if round == 0 {
            let p = q.recent_progress();
            assert!(
                p.len() >= 3,
                "max_offsets_per_trigger splits the backlog: {} epochs",
                p.len()
            );
            assert!(
                p.iter().all(|p| p.num_input_rows <= 25),
                "{:?}",
                p.iter().map(|p| p.num_input_rows).collect::<Vec<_>>()
            );
            assert_eq!(p.iter().map(|p| p.num_bad_records).sum::<u64>(), 1);
        }
    }
    assert!(epochs >= 5);
    let rows = read_delta(&out).await;
    assert_eq!(
        ids(&rows, "id"),
        (0..100).collect::<Vec<_>>(),
        "each record exactly once"
    );
    // The bad record is kept with its topic, partition and offset.
    let kept = read_all(&bad);
    assert!(
        kept.contains("not json at all") && kept.contains("events/"),
        "{kept}"
    );
}

#[tokio::test]
async fn raw_records_have_sparks_columns_and_a_topic_reads_as_a_batch() {
    let c = cluster(1, "events", 2);
    let bootstrap = c.bootstrap_servers();
    produce(
        &bootstrap,
        "events",
        2,
        &(0..10).map(event).collect::<Vec<_>>(),
    );
    let s = Session::new();
    let df = reader(&s, &bootstrap, "events")
        .option("ending_offsets", r#"{"events":{"0":3,"1":-1}}"#)
        .load("")
        .await
        .unwrap();
    let names: Vec<String> = df
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        names,
        [
            "key",
            "value",
            "topic",
            "partition",
            "offset",
            "timestamp",
            "timestamp_type"
        ]
    );
    let rows = df
        .sort(vec![
            col("partition").sort(true, true),
            col("offset").sort(true, true),
        ])
        .unwrap()
        .collect()
        .await
        .unwrap();
    let n: usize = rows.iter().map(|b| b.num_rows()).sum();
    // Partition 0 up to offset 3 (3 records), partition 1 to its end (5 records).
    assert_eq!(n, 8);
    let b = &rows[0];
    assert_eq!(b.column(2).as_string::<i32>().value(0), "events");
    assert_eq!(b.column(4).as_primitive::<Int64Type>().value(0), 0);
    assert!(std::str::from_utf8(b.column(1).as_binary::<i32>().value(0))
        .unwrap()
        .contains("\"id\":0"));
}

#[tokio::test]
async fn a_broker_that_goes_away_and_comes_back_loses_nothing() {
    let c = cluster(1, "events", 2);
    let bootstrap = c.bootstrap_servers();
    produce(
        &bootstrap,
        "events",
        2,
        &(0..20).map(event).collect::<Vec<_>>(),
    );
    let tmp = tempfile::tempdir().unwrap();
    let s = Session::new();
    let q = json_stream(&s, &bootstrap, &[("fetch_timeout", "3 seconds")])
        .await
        .write_stream()
        .format("memory")
        .query_name("out")
        .trigger(Trigger::ProcessingTime(Duration::from_millis(100)))
        .option("checkpoint_location", tmp.path().join("ckpt").display())
        .start("")
        .await
        .unwrap();
    let count = |s: Session| async move { s.table("out").await.unwrap().count().await.unwrap() };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while count(s.clone()).await < 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "the first records never arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The broker goes down; the query retries with backoff instead of failing.
    c.broker_down(1).unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(q.exception().is_none(), "{:?}", q.exception());
    c.broker_up(1).unwrap();
    produce(
        &bootstrap,
        "events",
        2,
        &(20..40).map(event).collect::<Vec<_>>(),
    );
    while count(s.clone()).await < 40 {
        assert!(
            std::time::Instant::now() < deadline,
            "the query did not resume: {:?}",
            q.exception()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rows = s.table("out").await.unwrap().collect().await.unwrap();
    assert_eq!(ids(&rows, "id"), (0..40).collect::<Vec<_>>());
    q.stop().await.unwrap();
}

/// Every record of `topic` as a read_committed consumer sees it: (key, value).
fn read_committed(bootstrap: &str, topic: &str, partitions: i32) -> Vec<String> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::Message;
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "checker")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, rdkafka::Offset::Beginning)
            .unwrap();
    }
    c.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let mut eof = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while eof < partitions && std::time::Instant::now() < deadline {
        match c.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                out.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned())
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => eof += 1,
            _ => {}
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn the_transactional_sink_writes_each_row_once_even_when_an_epoch_is_replayed() {
    let c = cluster(1, "events", 2);
    c.create_topic("out", 2, 1).unwrap();
    let bootstrap = c.bootstrap_servers();
    produce(
        &bootstrap,
        "events",
        2,
        &(0..30).map(event).collect::<Vec<_>>(),
    );
    let tmp = tempfile::tempdir().unwrap();
    let ckpt = tmp.path().join("ckpt");
    let run = |bootstrap: String, ckpt: std::path::PathBuf| async move {
        let s = Session::new();
        let q = json_stream(&s, &bootstrap, &[("max_offsets_per_trigger", "10")])
            .await
            .select(vec![
                col("id").alias("key"),
                concat(vec![lit("row-"), col("id")]).alias("value"),
            ])
            .unwrap()
            .write_stream()
            .format("kafka")
            .option("kafka.bootstrap.servers", &bootstrap)
            .option("topic", "out")
            .option("exactly_once", "true")
            .trigger(Trigger::AvailableNow)
            .option("checkpoint_location", ckpt.display())
            .start("")
            .await
            .unwrap();
        q.await_termination().await.unwrap();
        q.recent_progress().len()
    };
    assert_eq!(run(bootstrap.clone(), ckpt.clone()).await, 3);
    // The process died after Kafka committed the last epoch but before the commit log: the
    // epoch runs again, and the sink knows from the transaction's marker that it is done.
    let commits = ckpt.join("commits");
    std::fs::remove_file(commits.join("2")).unwrap();
    produce(
        &bootstrap,
        "events",
        2,
        &(30..40).map(event).collect::<Vec<_>>(),
    );
    assert_eq!(run(bootstrap.clone(), ckpt.clone()).await, 2);
    let seen = read_committed(&bootstrap, "out", 2);
    let mut expected: Vec<String> = (0..40).map(|i| format!("row-{i}")).collect();
    expected.sort();
    assert_eq!(
        seen, expected,
        "a read_committed consumer sees every row once"
    );
}

#[tokio::test]
async fn from_json_decodes_raw_values_and_gives_null_for_bad_ones() {
    let c = cluster(1, "events", 1);
    let bootstrap = c.bootstrap_servers();
    produce(
        &bootstrap,
        "events",
        1,
        &[event(1), "{broken".into(), event(2)],
    );
    let s = Session::new();
    let df = reader(&s, &bootstrap, "events").load("").await.unwrap();
    s.register("raw", df).unwrap();
    let rows = s
        .sql("SELECT e['id'] AS id, e['region'] AS region, \"offset\" FROM \
              (SELECT from_json(value, 'id BIGINT, region VARCHAR, amount DOUBLE') AS e, \"offset\" FROM raw) \
              ORDER BY \"offset\"")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let b = &rows[0];
    let id = b.column(0).as_primitive::<Int64Type>();
    assert_eq!(b.num_rows(), 3);
    assert_eq!((id.value(0), id.is_null(1), id.value(2)), (1, true, 2));
    assert_eq!(b.column(1).as_string::<i32>().value(2), "r2");
}

#[tokio::test]
async fn a_broker_down_at_start_is_waited_for() {
    let c = cluster(1, "events", 1);
    let bootstrap = c.bootstrap_servers();
    produce(
        &bootstrap,
        "events",
        1,
        &(0..5).map(event).collect::<Vec<_>>(),
    );
    c.broker_down(1).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let s = Session::new();
    let up = {
        let started = std::time::Instant::now();
        async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            started.elapsed()
        }
    };
    let start = async {
        json_stream(&s, &bootstrap, &[("kafka.socket.timeout.ms", "1000")])
            .await
            .write_stream()
            .format("memory")
            .query_name("late_start")
            .trigger(Trigger::AvailableNow)
            .option("checkpoint_location", tmp.path().join("ckpt").display())
            .start("")
            .await
    };
    let (q, _) = tokio::join!(start, async {
        up.await;
        c.broker_up(1).unwrap();
    });
    let q = q.expect("the query waits for the broker instead of failing");
    q.await_termination().await.unwrap();
    let rows = s
        .table("late_start")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(ids(&rows, "id"), (0..5).collect::<Vec<_>>());
}

#[tokio::test]
async fn headers_and_keys_round_trip_through_the_sink_and_the_source() {
    let c = cluster(1, "in", 1);
    c.create_topic("out", 1, 1).unwrap();
    let bootstrap = c.bootstrap_servers();
    produce(&bootstrap, "in", 1, &(0..3).map(event).collect::<Vec<_>>());
    let s = Session::new();
    let src = reader(&s, &bootstrap, "in")
        .option("include_headers", "true")
        .load("")
        .await
        .unwrap();
    // Rows without a `value` column are written as JSON objects, keyed by `key`.
    let n = src
        .select(vec![col("key"), col("offset"), col("partition").alias("p")])
        .unwrap()
        .write()
        .format("kafka")
        .option("kafka.bootstrap.servers", &bootstrap)
        .option("topic", "out")
        .save("")
        .await
        .unwrap()
        .rows;
    assert_eq!(n, 3);
    let back = reader(&s, &bootstrap, "out")
        .option("include_headers", "true")
        .load("")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let b = &back[0];
    assert_eq!(b.schema().field(7).name(), "headers");
    let v = std::str::from_utf8(b.column(1).as_binary::<i32>().value(0)).unwrap();
    assert_eq!(v, r#"{"offset":0,"p":0}"#);
    assert_eq!(b.column(0).as_binary::<i32>().value(0), b"0");
}

#[tokio::test]
async fn min_partitions_reads_an_epoch_in_parallel_tasks_without_gaps_or_repeats() {
    let c = cluster(1, "events", 2);
    let bootstrap = c.bootstrap_servers();
    produce(
        &bootstrap,
        "events",
        2,
        &(0..1000).map(event).collect::<Vec<_>>(),
    );
    let s = Session::new();
    let rows = json_stream(&s, &bootstrap, &[("min_partitions", "7")])
        .await
        .write_stream()
        .format("memory")
        .query_name("split")
        .trigger(Trigger::AvailableNow)
        .start("")
        .await
        .unwrap();
    rows.await_termination().await.unwrap();
    let out = s.table("split").await.unwrap().collect().await.unwrap();
    assert_eq!(ids(&out, "id"), (0..1000).collect::<Vec<_>>());
}

#[tokio::test]
async fn every_record_of_many_partitions_is_read_in_one_epoch() {
    // Regression: the end of one partition must not end the others' reading early.
    let c = cluster(1, "wide", 24);
    let bootstrap = c.bootstrap_servers();
    produce(
        &bootstrap,
        "wide",
        24,
        &(0..12_000).map(event).collect::<Vec<_>>(),
    );
    for _ in 0..3 {
        let s = Session::new();
        let n = reader(&s, &bootstrap, "wide")
            .load("")
            .await
            .unwrap()
            .count()
            .await
            .unwrap();
        assert_eq!(n, 12_000);
    }
}

#[tokio::test]
async fn avro_values_in_confluents_wire_format_decode_and_bad_ones_go_aside() {
    use apache_avro::types::Record;
    let c = cluster(1, "avro", 1);
    let bootstrap = c.bootstrap_servers();
    let avro_schema = r#"{"type":"record","name":"Event","fields":[
        {"name":"id","type":"long"},{"name":"region","type":"string"},{"name":"amount","type":"double"}]}"#;
    let parsed = apache_avro::Schema::parse_str(avro_schema).unwrap();
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    let mut values: Vec<Vec<u8>> = (0..5)
        .map(|i| {
            let mut r = Record::new(&parsed).unwrap();
            r.put("id", i as i64);
            r.put("region", format!("r{i}"));
            r.put("amount", i as f64 + 0.5);
            let mut v = vec![0u8, 0, 0, 0, 7];
            v.extend(apache_avro::to_avro_datum(&parsed, r).unwrap());
            v
        })
        .collect();
    values.insert(2, b"\x00\x00\x00\x00\x07garbage".to_vec());
    for v in &values {
        p.send(BaseRecord::<(), [u8]>::to("avro").payload(v.as_slice()))
            .unwrap();
    }
    p.flush(Duration::from_secs(10)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad");
    let s = Session::new();
    let rows = reader(&s, &bootstrap, "avro")
        .option("value_format", "avro_confluent")
        .option("avro_schema", avro_schema)
        .option("avro_schema_id", 7)
        .option("bad_records_path", bad.display())
        .schema(schema())
        .load("")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(ids(&rows, "id"), (0..5).collect::<Vec<_>>());
    let kept = read_all(&bad);
    assert!(
        kept.contains("avro/0") && kept.contains("\"line\":2"),
        "{kept}"
    );
}

#[tokio::test]
async fn topics_and_partitions_that_appear_are_discovered_and_read_from_their_start() {
    let c = cluster(1, "ev1", 1);
    let bootstrap = c.bootstrap_servers();
    produce(&bootstrap, "ev1", 1, &(0..5).map(event).collect::<Vec<_>>());
    let s = Session::new();
    let tmp = tempfile::tempdir().unwrap();
    let q = s
        .read_stream()
        .format("kafka")
        .option("kafka.bootstrap.servers", &bootstrap)
        .option("subscribe_pattern", "ev[0-9]+")
        .option("starting_offsets", "earliest")
        .schema(schema())
        .load("")
        .await
        .unwrap()
        .write_stream()
        .format("memory")
        .query_name("discovered")
        .trigger(Trigger::ProcessingTime(Duration::from_millis(100)))
        .option("checkpoint_location", tmp.path().join("ckpt").display())
        .start("")
        .await
        .unwrap();
    let count =
        |s: Session| async move { s.table("discovered").await.unwrap().count().await.unwrap() };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while count(s.clone()).await < 5 {
        assert!(std::time::Instant::now() < deadline, "{:?}", q.exception());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A new topic matching the pattern, with two partitions and records already in it.
    c.create_topic("ev2", 2, 1).unwrap();
    produce(
        &bootstrap,
        "ev2",
        2,
        &(5..15).map(event).collect::<Vec<_>>(),
    );
    while count(s.clone()).await < 15 {
        assert!(
            std::time::Instant::now() < deadline,
            "the new topic was not read: {:?}",
            q.exception()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rows = s
        .table("discovered")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(ids(&rows, "id"), (0..15).collect::<Vec<_>>());
    q.stop().await.unwrap();
}

/// Produce `ids` as events in one committed transaction: the log then holds a transaction
/// marker that a reader must step over.
fn produce_in_transaction(bootstrap: &str, topic: &str, ids: std::ops::Range<i64>) {
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set(
            "transactional.id",
            format!("upstream-{topic}-{}", ids.start),
        )
        .create()
        .unwrap();
    p.init_transactions(Duration::from_secs(30)).unwrap();
    p.begin_transaction().unwrap();
    for id in ids {
        let v = event(id);
        let key = id.to_string();
        p.send(
            BaseRecord::to(topic)
                .payload(&v)
                .key(&key)
                .partition((id % 2) as i32),
        )
        .unwrap();
    }
    p.commit_transaction(Duration::from_secs(30)).unwrap();
}

/// Wait until the Delta table at `out` holds `n` rows.
async fn wait_for_delta_rows(out: &std::path::Path, n: usize, q: &StreamingQuery) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let rows = if out.join("_delta_log").exists() {
            read_delta(out).await.iter().map(|b| b.num_rows()).sum()
        } else {
            0
        };
        if rows >= n {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{rows} of {n} rows after 60 s: {:?}",
            q.exception()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Real-time mode reads through a consumer that stays assigned and fetches ahead; its records
/// still go into Delta exactly once: across arrivals and epochs, past transaction markers, when a new topic appears (the reader moves), and across a restart (the last
/// epoch's ranges read again from the broker).
#[tokio::test]
async fn real_time_mode_reads_ahead_exactly_once_past_markers_new_topics_and_restarts() {
    let c = cluster(1, "ev1", 2);
    let bootstrap = c.bootstrap_servers();
    produce_in_transaction(&bootstrap, "ev1", 0..10);
    produce_in_transaction(&bootstrap, "ev1", 10..20);
    let tmp = tempfile::tempdir().unwrap();
    let (out, ckpt) = (tmp.path().join("out"), tmp.path().join("ckpt"));
    let start = |bootstrap: String, out: std::path::PathBuf, ckpt: std::path::PathBuf| async move {
        Session::new()
            .read_stream()
            .format("kafka")
            .option("kafka.bootstrap.servers", &bootstrap)
            .option("subscribe_pattern", "ev[0-9]+")
            .option("starting_offsets", "earliest")
            .schema(schema())
            .load("")
            .await
            .unwrap()
            .write_stream()
            .format("delta")
            .trigger(Trigger::RealTime(Duration::from_millis(300)))
            .option("checkpoint_location", ckpt.display())
            .start(out.to_str().unwrap())
            .await
            .unwrap()
    };
    let q = start(bootstrap.clone(), out.clone(), ckpt.clone()).await;
    wait_for_delta_rows(&out, 20, &q).await;
    // Records that come while the query runs, a few at a time (each its own arrival or not).
    for i in 20..40 {
        produce(&bootstrap, "ev1", 2, &[event(i)]);
    }
    wait_for_delta_rows(&out, 40, &q).await;
    // A new topic: found by the next probe of the broker, read from its start.
    c.create_topic("ev2", 2, 1).unwrap();
    produce(
        &bootstrap,
        "ev2",
        2,
        &(40..50).map(event).collect::<Vec<_>>(),
    );
    wait_for_delta_rows(&out, 50, &q).await;
    let epochs = q.recent_progress().len();
    assert!(epochs >= 2, "{epochs} epochs");
    q.stop().await.unwrap();
    // After a restart the reader starts where the checkpoint says.
    produce(
        &bootstrap,
        "ev1",
        2,
        &(50..60).map(event).collect::<Vec<_>>(),
    );
    let q = start(bootstrap.clone(), out.clone(), ckpt.clone()).await;
    wait_for_delta_rows(&out, 60, &q).await;
    produce_in_transaction(&bootstrap, "ev2", 60..70);
    wait_for_delta_rows(&out, 70, &q).await;
    q.stop().await.unwrap();
    let rows = read_delta(&out).await;
    assert_eq!(
        ids(&rows, "id"),
        (0..70).collect::<Vec<_>>(),
        "each record once"
    );
}

/// Real-time mode's at-least-once Kafka sink sends each arrival's rows without waiting for the
/// broker, and every row is acknowledged before its epoch commits: all of them reach the topic.
#[tokio::test]
async fn a_real_time_kafka_sink_sends_rows_at_once_and_delivers_all_of_them() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::Message;
    let c = cluster(1, "events", 2);
    c.create_topic("out", 2, 1).unwrap();
    let bootstrap = c.bootstrap_servers();
    let tmp = tempfile::tempdir().unwrap();
    let s = Session::new();
    let q = json_stream(&s, &bootstrap, &[])
        .await
        .select(vec![
            col("id").alias("key"),
            concat(vec![lit("row-"), col("id")]).alias("value"),
        ])
        .unwrap()
        .write_stream()
        .format("kafka")
        .option("kafka.bootstrap.servers", &bootstrap)
        .option("topic", "out")
        .trigger(Trigger::RealTime(Duration::from_millis(200)))
        .option("checkpoint_location", tmp.path().join("ckpt").display())
        .start("")
        .await
        .unwrap();
    for chunk in 0..5 {
        produce(
            &bootstrap,
            "events",
            2,
            &(chunk * 10..chunk * 10 + 10).map(event).collect::<Vec<_>>(),
        );
    }
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "checker")
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..2 {
        tpl.add_partition_offset("out", p, rdkafka::Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut seen: Vec<String> = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while seen.len() < 50 {
        assert!(
            std::time::Instant::now() < deadline,
            "{} of 50 rows: {:?}, input rows by epoch {:?}",
            seen.len(),
            q.exception(),
            q.recent_progress()
                .iter()
                .map(|p| p.num_input_rows)
                .collect::<Vec<_>>()
        );
        // Polled without blocking: the query runs on this test's runtime thread.
        match consumer.poll(Duration::ZERO) {
            Some(Ok(m)) => {
                seen.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned())
            }
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    // Rows were sent within their epochs, and the epochs that held them committed.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while q
        .recent_progress()
        .iter()
        .map(|p| p.num_input_rows)
        .sum::<u64>()
        < 50
    {
        assert!(std::time::Instant::now() < deadline, "{:?}", q.exception());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    q.stop().await.unwrap();
    seen.sort();
    let mut expected: Vec<String> = (0..50).map(|i| format!("row-{i}")).collect();
    expected.sort();
    assert_eq!(seen, expected, "every row once (no failure, so no repeat)");
}
