//! The Kafka sink: rows to records, at least once by default, exactly once with transactions.
//!
//! Rows become records as `records.rs` says: `value` (or the row as JSON), `key`, `topic` (else
//! the `topic` option), `partition` and `headers`, as Spark's columns.
//!
//! Exactly once (`exactly_once = true`): one Kafka transaction per epoch, with
//! `transactional.id = tributary-<query id>`. The transaction also writes a marker record —
//! key = query id, value = epoch — to partition 0 of the marker topic (`marker_topic`, default
//! `tributary-epochs`; make it compacted): that is how a restart knows which epochs are already
//! in Kafka. `init_transactions` at start fences any older producer of the query and aborts its
//! open transaction; an epoch at or below the last committed marker is skipped. A
//! `read_committed` consumer then sees every row once. (Kafka Streams keeps this in transactional
//! consumer-group offsets instead; librdkafka's mock broker does not store those, and a marker
//! record works the same on every broker.)

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::RecordBatch;
use async_trait::async_trait;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;
use rdkafka::{Offset, TopicPartitionList};
use tributary_checkpoint::Epoch;

use super::client::kafka_err;
use super::records::{send, send_rows, Outgoing};
use crate::error::{Result, TributaryError};
use crate::sink::{EpochOutput, Sink, SinkContext};

const TIMEOUT: Duration = Duration::from_secs(30);

/// Writes rows to Kafka.
pub struct KafkaSink {
    client: BTreeMap<String, String>,
    topic: Option<String>,
    exactly_once: bool,
    marker_topic: String,
    state: Arc<Mutex<State>>,
}

/// Keeps the first record the broker refused after librdkafka's retries, so that the next flush
/// fails (and the epoch is retried) instead of the record being lost without a word.
#[derive(Default)]
pub(super) struct Deliveries {
    failed: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
            failed.get_or_insert_with(|| e.to_string());
        }
    }
}

pub(super) type KafkaProducer = BaseProducer<Deliveries>;

#[derive(Default)]
struct State {
    producer: Option<KafkaProducer>,
    query_id: String,
    last_committed: Option<u64>,
}

impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description())
    }
}

impl KafkaSink {
    /// A sink from writer options (`kafka.*`, `topic`, `exactly_once`).
    pub fn from_options(options: &std::collections::HashMap<String, String>) -> Result<Self> {
        let client: BTreeMap<String, String> = options
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("kafka.").map(|k| (k.to_string(), v.clone())))
            .collect();
        if !client.contains_key("bootstrap.servers") {
            return Err(TributaryError::option(
                "kafka.bootstrap.servers",
                "the Kafka brokers are required, e.g. .option(\"kafka.bootstrap.servers\", \"host:9092\")",
            ));
        }
        let exactly_once = match options.get("exactly_once") {
            None => false,
            Some(v) => crate::connector::options::parse_bool(v).ok_or_else(|| {
                TributaryError::option("exactly_once", format!("'{v}' is not true or false"))
            })?,
        };
        let topic = options.get("topic").cloned();
        Ok(KafkaSink {
            client,
            topic,
            exactly_once,
            marker_topic: options
                .get("marker_topic")
                .cloned()
                .unwrap_or_else(|| "tributary-epochs".into()),
            state: Arc::new(Mutex::new(State::default())),
        })
    }

    fn config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        for (k, v) in &self.client {
            c.set(k, v);
        }
        c
    }
}

/// Wait until every record sent is acknowledged. librdkafka's flush, as the Rust client calls
/// it, returns at a 100 ms tick after the last acknowledgement; serving the delivery reports
/// every millisecond returns within a millisecond of it (what real-time mode's latency needs).
fn flush(p: &KafkaProducer, timeout: Duration) -> Result<()> {
    let deadline = std::time::Instant::now() + timeout;
    p.poll(Duration::ZERO);
    while p.in_flight_count() > 0 {
        if std::time::Instant::now() >= deadline {
            return Err(kafka_err("flushing records")(
                rdkafka::error::KafkaError::Flush(
                    rdkafka::types::RDKafkaErrorCode::OperationTimedOut,
                ),
            ));
        }
        p.poll(Duration::from_millis(1));
    }
    let failed = p
        .context()
        .failed
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    match failed {
        Some(e) => Err(TributaryError::Storage {
            location: "Kafka".into(),
            message: format!("the broker did not take a record: {e}"),
        }),
        None => Ok(()),
    }
}

#[async_trait]
impl Sink for KafkaSink {
    fn description(&self) -> String {
        format!(
            "KafkaSink[{}{}]",
            self.topic
                .as_deref()
                .map(|t| format!("topic={t}"))
                .unwrap_or_else(|| "topic column".into()),
            if self.exactly_once {
                ", exactly once"
            } else {
                ""
            }
        )
    }

    async fn open(&self, ctx: &SinkContext) -> Result<()> {
        let mut pc = self.config();
        let exactly_once = self.exactly_once;
        if exactly_once {
            pc.set("transactional.id", format!("tributary-{}", ctx.query_id));
        }
        let lingers = ["linger.ms", "queue.buffering.max.ms"];
        if ctx.real_time && !lingers.iter().any(|k| self.client.contains_key(*k)) {
            // Real-time mode sends each arrival's rows within a millisecond instead of waiting
            // up to librdkafka's 5 ms to fill a batch (0 makes a request per few records, which
            // the broker could not keep up with at 100,000 rows/s in `tributary-bench latency`).
            pc.set("linger.ms", "1");
        }
        let mut cc = self.config();
        cc.set("group.id", format!("tributary-sink-{}", ctx.query_id))
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .set("enable.partition.eof", "true");
        let marker_topic = self.marker_topic.clone();
        let query_id = ctx.query_id.clone();
        let state = self.state.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            let producer: KafkaProducer = pc
                .create_with_context(Deliveries::default())
                .map_err(kafka_err("creating a Kafka producer"))?;
            let mut st = state.lock().expect("kafka sink");
            if exactly_once {
                // Fences an older producer of this query and aborts its open transaction.
                producer
                    .init_transactions(TIMEOUT)
                    .map_err(kafka_err("starting Kafka transactions"))?;
                let reader: BaseConsumer = cc
                    .create()
                    .map_err(kafka_err("creating the marker reader"))?;
                st.last_committed = last_marker(&reader, &marker_topic, &query_id)?;
            }
            st.query_id = query_id;
            st.producer = Some(producer);
            Ok(())
        })
        .await
        .map_err(|e| TributaryError::Internal(e.to_string()))??;
        Ok(())
    }

    /// Real-time mode: at least once, records are sent as they are computed (and acknowledged
    /// before the epoch commits); exactly once, the epoch's transaction is committed at its end.
    fn emits_immediately(&self) -> bool {
        !self.exactly_once
    }

    /// Sent, not waited for: the next arrival runs while the broker acknowledges these.
    async fn emit(&self, _epoch: Epoch, output: EpochOutput) -> Result<()> {
        let (state, topic) = (self.state.clone(), self.topic.clone());
        tokio::task::spawn_blocking(move || -> Result<()> {
            let st = state.lock().expect("kafka sink");
            let p = st
                .producer
                .as_ref()
                .ok_or_else(|| TributaryError::Internal("the Kafka sink was not opened".into()))?;
            send_rows(p, &output.batches, topic.as_deref()).map(|_| ())
        })
        .await
        .map_err(|e| TributaryError::Internal(e.to_string()))?
    }

    async fn flush_emitted(&self, _epoch: Epoch) -> Result<()> {
        let state = self.state.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            let st = state.lock().expect("kafka sink");
            match st.producer.as_ref() {
                Some(p) => flush(p, TIMEOUT),
                None => Ok(()),
            }
        })
        .await
        .map_err(|e| TributaryError::Internal(e.to_string()))?
    }

    async fn holds_epoch(&self, epoch: Epoch) -> Result<bool> {
        let st = self.state.lock().expect("kafka sink");
        Ok(self.exactly_once && st.last_committed.is_some_and(|c| c >= epoch.0))
    }

    async fn add_batch(&self, epoch: Epoch, output: EpochOutput) -> Result<()> {
        let (state, topic) = (self.state.clone(), self.topic.clone());
        let exactly_once = self.exactly_once;
        let marker_topic = self.marker_topic.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            let mut st = state.lock().expect("kafka sink");
            if exactly_once && st.last_committed.is_some_and(|c| c >= epoch.0) {
                // Already in Kafka (committed before a crash): nothing to do.
                return Ok(());
            }
            let st = &mut *st;
            let p = st
                .producer
                .as_ref()
                .ok_or_else(|| TributaryError::Internal("the Kafka sink was not opened".into()))?;
            if !exactly_once {
                send_rows(p, &output.batches, topic.as_deref())?;
                return flush(p, TIMEOUT);
            }
            p.begin_transaction()
                .map_err(kafka_err("beginning a transaction"))?;
            let epoch_text = epoch.0.to_string();
            let marker = Outgoing {
                topic: marker_topic.as_str().into(),
                partition: Some(0),
                key: Some(st.query_id.as_bytes().into()),
                value: Some(epoch_text.as_bytes().into()),
                headers: None,
            };
            let result = (|| -> Result<()> {
                send_rows(p, &output.batches, topic.as_deref())?;
                send(p, &marker)?;
                p.commit_transaction(TIMEOUT)
                    .map_err(kafka_err("committing a transaction"))
            })();
            match result {
                Ok(()) => {
                    st.last_committed = Some(epoch.0);
                    tracing::debug!(epoch = epoch.0, "committed the epoch's Kafka transaction");
                    Ok(())
                }
                Err(e) => {
                    let _ = p.abort_transaction(TIMEOUT);
                    Err(e)
                }
            }
        })
        .await
        .map_err(|e| TributaryError::Internal(e.to_string()))?
    }
}

/// The last epoch whose marker `query_id` committed to `topic`, reading it `read_committed`.
fn last_marker(c: &BaseConsumer, topic: &str, query_id: &str) -> Result<Option<u64>> {
    use rdkafka::Message;
    // Only a topic that the metadata says is missing means "nothing committed yet" (it is
    // created by the first epoch's transaction); any other error is retried by the caller, since
    // taking a transient error for "no marker" would write a committed epoch twice.
    let md = c
        .fetch_metadata(Some(topic), TIMEOUT)
        .map_err(kafka_err(&format!(
            "reading the metadata of the marker topic '{topic}'"
        )))?;
    let exists = md
        .topics()
        .iter()
        .any(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty());
    if !exists {
        return Ok(None);
    }
    let (low, high) = c
        .fetch_watermarks(topic, 0, TIMEOUT)
        .map_err(kafka_err(&format!("reading the marker topic '{topic}'")))?;
    if high <= low {
        return Ok(None);
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Offset(low))
        .map_err(kafka_err("the marker topic"))?;
    c.assign(&tpl)
        .map_err(kafka_err("reading the marker topic"))?;
    let mut last = None;
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        if std::time::Instant::now() > deadline {
            return Err(TributaryError::Storage {
                location: "Kafka".into(),
                message: format!("the marker topic '{topic}' could not be read to its end"),
            });
        }
        match c.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => break,
            Some(Err(e)) => return Err(kafka_err("reading the marker topic")(e)),
            Some(Ok(m)) if m.key() == Some(query_id.as_bytes()) => {
                if let Some(e) = m
                    .payload()
                    .and_then(|v| std::str::from_utf8(v).ok())
                    .and_then(|v| v.parse::<u64>().ok())
                {
                    last = Some(last.map_or(e, |l: u64| l.max(e)));
                }
            }
            Some(Ok(_)) => {}
        }
    }
    let _ = c.unassign();
    Ok(last)
}

/// Write a batch DataFrame's rows to Kafka (at least once).
pub async fn write_batch(
    options: &std::collections::HashMap<String, String>,
    batches: Vec<RecordBatch>,
) -> Result<u64> {
    let sink = KafkaSink::from_options(options)?;
    let config = sink.config();
    tokio::task::spawn_blocking(move || -> Result<u64> {
        let p: KafkaProducer = config
            .create_with_context(Deliveries::default())
            .map_err(kafka_err("creating a Kafka producer"))?;
        let n = send_rows(&p, &batches, sink.topic.as_deref())?;
        flush(&p, TIMEOUT)?;
        Ok(n)
    })
    .await
    .map_err(|e| TributaryError::Internal(e.to_string()))?
}
