//! The Kafka side of `kills`: the parent's mock cluster, the events it produces for
//! `kafka-in`, and the judgement of what a `read_committed` reader finds for `kafka-out`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use super::{batch_ids, event, EVENTS_PER_FILE};

/// The topic `kafka-in` reads, and its partitions.
pub(super) const IN_TOPIC: &str = "events";
const IN_PARTITIONS: i32 = 3;
/// The topic `kafka-out` writes, and its partitions.
pub(super) const OUT_TOPIC: &str = "out";
const OUT_PARTITIONS: i32 = 2;

/// librdkafka's mock cluster, listening on 127.0.0.1 for as long as this lives.
pub(super) struct Broker {
    cluster: MockCluster<'static, DefaultProducerContext>,
    producer: BaseProducer,
}

impl Broker {
    pub(super) fn start() -> anyhow::Result<Self> {
        let cluster = MockCluster::new(1).context("librdkafka's mock cluster")?;
        cluster.create_topic(IN_TOPIC, IN_PARTITIONS, 1)?;
        cluster.create_topic(OUT_TOPIC, OUT_PARTITIONS, 1)?;
        let producer = ClientConfig::new()
            .set("bootstrap.servers", cluster.bootstrap_servers())
            .create()?;
        Ok(Self { cluster, producer })
    }

    pub(super) fn bootstrap(&self) -> String {
        self.cluster.bootstrap_servers()
    }

    /// Produce batch `f`'s events to the input topic, round-robin over its partitions, and
    /// wait until the broker has them.
    pub(super) fn produce_batch(&self, f: usize) -> anyhow::Result<()> {
        for i in batch_ids(f) {
            let value = event(i);
            let key = i.to_string();
            let mut record = BaseRecord::to(IN_TOPIC)
                .payload(&value)
                .key(&key)
                .partition(i as i32 % IN_PARTITIONS);
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((_, r)) => {
                        self.producer.poll(Duration::from_millis(10));
                        record = r;
                    }
                }
            }
        }
        self.producer.flush(Duration::from_secs(30))?;
        Ok(())
    }

    /// The ids of every record of the output topic, as a `read_committed` consumer reads them.
    pub(super) fn read_committed_ids(&self) -> anyhow::Result<Vec<usize>> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .set("group.id", "kills-checker")
            .set("isolation.level", "read_committed")
            .set("enable.partition.eof", "true")
            .create()?;
        let mut partitions = TopicPartitionList::new();
        for p in 0..OUT_PARTITIONS {
            partitions.add_partition_offset(OUT_TOPIC, p, Offset::Beginning)?;
        }
        consumer.assign(&partitions)?;
        let (mut ids, mut at_end) = (Vec::new(), 0);
        let deadline = Instant::now() + Duration::from_secs(60);
        while at_end < OUT_PARTITIONS {
            if Instant::now() > deadline {
                bail!("kafka-out: the output topic was not read to its end within 60 s");
            }
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(m)) => {
                    let row: serde_json::Value =
                        serde_json::from_slice(m.payload().unwrap_or_default())
                            .context("an output record is a JSON object")?;
                    let id = row["id"].as_u64().context("an output record has an id")?;
                    ids.push(id as usize);
                }
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => at_end += 1,
                Some(Err(e)) => bail!("kafka-out: reading the output topic: {e}"),
                None => {}
            }
        }
        Ok(ids)
    }
}

/// What `kafka-out` wrote, judged: every event at least once, and each extra copy inside a
/// batch (an epoch, one file each) that a kill could have cut, at most one per kill. Returns
/// the number of extra copies and of batches they belong to.
pub(super) fn judge(ids: &[usize], files: usize, kills: usize) -> anyhow::Result<(usize, usize)> {
    let mut copies = BTreeMap::<usize, usize>::new();
    for &id in ids {
        *copies.entry(id).or_default() += 1;
    }
    let missing: Vec<usize> = (0..files * EVENTS_PER_FILE)
        .filter(|i| !copies.contains_key(i))
        .take(10)
        .collect();
    if !missing.is_empty() {
        bail!("kafka-out: events lost after {kills} kills, for example {missing:?}");
    }
    if let Some(stray) = copies.keys().find(|&&i| i >= files * EVENTS_PER_FILE) {
        bail!("kafka-out: the output holds an event that was never written: {stray}");
    }
    let extra: usize = copies.values().map(|n| n - 1).sum();
    let mut cut = BTreeMap::<usize, usize>::new();
    for (&id, &n) in &copies {
        if n > 1 {
            *cut.entry(id / EVENTS_PER_FILE).or_default() += n - 1;
        }
    }
    if cut.len() > kills {
        bail!(
            "kafka-out: {} epochs hold extra copies, more than the {kills} kills could have cut: \
             the sink wrote a committed epoch again",
            cut.len()
        );
    }
    Ok((extra, cut.len()))
}
