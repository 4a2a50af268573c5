//! librdkafka clients and the blocking calls the source makes (run off the async runtime).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{
    ArrayRef, BinaryBuilder, Int32Builder, Int64Builder, ListBuilder, RecordBatch, StringBuilder,
    StructBuilder, TimestampMillisecondBuilder,
};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message, Timestamp};
use rdkafka::{Offset, TopicPartitionList};

use super::options::{KafkaOptions, Offsets, Start, Topics};
use crate::error::{Result, TributaryError};

/// Timeout of metadata and offset requests.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A Kafka error as ours: the broker side is external (the driver retries it).
pub(crate) fn kafka_err(what: &str) -> impl FnOnce(KafkaError) -> TributaryError + '_ {
    move |e| TributaryError::Storage {
        location: "Kafka".into(),
        message: format!("{what}: {e}"),
    }
}

/// A consumer that reads by assigned partitions and offsets (never joins a group).
pub(crate) fn consumer(opts: &KafkaOptions) -> Result<BaseConsumer> {
    // An epoch reads records already in the log: a fetch that finds none waits 10 ms, not
    // librdkafka's 500, before the reader looks again.
    consumer_waiting(opts, 10)
}

/// A consumer whose fetches that find nothing wait at most `fetch_wait_ms` at the broker
/// (unless the options set `fetch.wait.max.ms`).
pub(crate) fn consumer_waiting(opts: &KafkaOptions, fetch_wait_ms: u32) -> Result<BaseConsumer> {
    let mut c = ClientConfig::new();
    c.set("group.id", "tributary-reader")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "error")
        .set("fetch.wait.max.ms", fetch_wait_ms.to_string());
    for (k, v) in &opts.client {
        c.set(k, v);
    }
    c.create().map_err(kafka_err("creating a Kafka consumer"))
}

/// The partitions the options name, as they are now.
pub(crate) fn partitions(
    c: &BaseConsumer,
    opts: &KafkaOptions,
) -> Result<BTreeMap<String, Vec<i32>>> {
    let mut out: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    match &opts.topics {
        Topics::Assign(a) => return Ok(a.clone()),
        Topics::Subscribe(topics) => {
            for t in topics {
                let md = c
                    .fetch_metadata(Some(t), REQUEST_TIMEOUT)
                    .map_err(kafka_err(&format!("reading the metadata of topic '{t}'")))?;
                for topic in md.topics() {
                    if let Some(e) = topic.error() {
                        return Err(TributaryError::Storage {
                            location: "Kafka".into(),
                            message: format!("topic '{t}': {e:?}"),
                        });
                    }
                    out.insert(
                        topic.name().to_string(),
                        topic.partitions().iter().map(|p| p.id()).collect(),
                    );
                }
            }
        }
        Topics::Pattern(p) => {
            let re = regex::Regex::new(p)
                .map_err(|e| TributaryError::option("subscribe_pattern", e.to_string()))?;
            let md = c
                .fetch_metadata(None, REQUEST_TIMEOUT)
                .map_err(kafka_err("reading the cluster's metadata"))?;
            for topic in md.topics() {
                if re.is_match(topic.name()) && !topic.name().starts_with("__") {
                    out.insert(
                        topic.name().to_string(),
                        topic.partitions().iter().map(|p| p.id()).collect(),
                    );
                }
            }
        }
    }
    for v in out.values_mut() {
        v.sort_unstable();
    }
    Ok(out)
}

/// (low, high) watermarks of every partition.
pub(crate) fn watermarks(
    c: &BaseConsumer,
    parts: &BTreeMap<String, Vec<i32>>,
) -> Result<BTreeMap<(String, i32), (i64, i64)>> {
    let mut out = BTreeMap::new();
    for (t, ps) in parts {
        for p in ps {
            let w = c
                .fetch_watermarks(t, *p, REQUEST_TIMEOUT)
                .map_err(kafka_err(&format!("reading the offsets of {t}/{p}")))?;
            out.insert((t.clone(), *p), w);
        }
    }
    Ok(out)
}

/// The starting offset of each partition.
pub(crate) fn resolve_start(
    c: &BaseConsumer,
    opts: &KafkaOptions,
    parts: &BTreeMap<String, Vec<i32>>,
    marks: &BTreeMap<(String, i32), (i64, i64)>,
) -> Result<Offsets> {
    let mut out = Offsets::new();
    let by_time = match &opts.start {
        Start::Timestamp(ts) => {
            let mut tpl = TopicPartitionList::new();
            for (t, ps) in parts {
                for p in ps {
                    tpl.add_partition_offset(t, *p, Offset::Offset(*ts))
                        .map_err(kafka_err("starting_timestamp"))?;
                }
            }
            Some(
                c.offsets_for_times(tpl, REQUEST_TIMEOUT)
                    .map_err(kafka_err("looking up offsets by starting_timestamp"))?,
            )
        }
        _ => None,
    };
    for (t, ps) in parts {
        for p in ps {
            let (low, high) = marks[&(t.clone(), *p)];
            let o = match &opts.start {
                Start::Earliest => low,
                Start::Latest => high,
                Start::Offsets(m) => match m.get(t).and_then(|m| m.get(p)) {
                    Some(-2) | None => low,
                    Some(-1) => high,
                    Some(o) => *o,
                },
                Start::Timestamp(_) => {
                    let found = by_time
                        .as_ref()
                        .and_then(|l| l.find_partition(t, *p))
                        .map(|e| e.offset());
                    match found {
                        Some(Offset::Offset(o)) => o,
                        _ => high,
                    }
                }
            };
            out.entry(t.clone()).or_default().insert(*p, o);
        }
    }
    Ok(out)
}

/// The schema of raw records (Spark's columns).
pub fn raw_schema(include_headers: bool) -> SchemaRef {
    let mut fields = vec![
        Field::new("key", DataType::Binary, true),
        Field::new("value", DataType::Binary, true),
        Field::new("topic", DataType::Utf8, false),
        Field::new("partition", DataType::Int32, false),
        Field::new("offset", DataType::Int64, false),
        Field::new(
            "timestamp",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            true,
        ),
        Field::new("timestamp_type", DataType::Int32, false),
    ];
    if include_headers {
        fields.push(Field::new("headers", headers_type(), true));
    }
    Arc::new(Schema::new(fields))
}

fn header_fields() -> Fields {
    Fields::from(vec![
        Field::new("key", DataType::Utf8, true),
        Field::new("value", DataType::Binary, true),
    ])
}

fn headers_type() -> DataType {
    DataType::List(Arc::new(Field::new(
        "item",
        DataType::Struct(header_fields()),
        true,
    )))
}

/// Records read for one epoch.
pub(crate) struct Fetched {
    /// Raw columns (Spark's), one row per record.
    pub raw: RecordBatch,
}

/// The partitions whose position (the next offset to consume) reached their planned end.
fn read_to_end(
    remaining: &BTreeMap<(String, i32), (i64, i64)>,
    positions: impl Iterator<Item = ((String, i32), i64)>,
) -> Vec<(String, i32)> {
    positions
        .filter(|(k, o)| remaining.get(k).is_some_and(|(_, end)| *o >= *end))
        .map(|(k, _)| k)
        .collect()
}

/// Builds the raw columns of records (Spark's), one row per record.
pub(crate) struct RawBuilder {
    include_headers: bool,
    key: BinaryBuilder,
    value: BinaryBuilder,
    topic: StringBuilder,
    partition: Int32Builder,
    offset: Int64Builder,
    ts: TimestampMillisecondBuilder,
    ts_type: Int32Builder,
    headers: ListBuilder<StructBuilder>,
}

impl RawBuilder {
    pub(crate) fn new(include_headers: bool) -> Self {
        RawBuilder {
            include_headers,
            key: BinaryBuilder::new(),
            value: BinaryBuilder::new(),
            topic: StringBuilder::new(),
            partition: Int32Builder::new(),
            offset: Int64Builder::new(),
            ts: TimestampMillisecondBuilder::new(),
            ts_type: Int32Builder::new(),
            headers: ListBuilder::new(StructBuilder::from_fields(header_fields(), 0)),
        }
    }

    /// Append one record.
    pub(crate) fn push<M: Message>(&mut self, m: &M) {
        self.key.append_option(m.key());
        self.value.append_option(m.payload());
        self.topic.append_value(m.topic());
        self.partition.append_value(m.partition());
        self.offset.append_value(m.offset());
        let (t, kind) = match m.timestamp() {
            Timestamp::NotAvailable => (None, -1),
            Timestamp::CreateTime(t) => (Some(t), 0),
            Timestamp::LogAppendTime(t) => (Some(t), 1),
        };
        self.ts.append_option(t);
        self.ts_type.append_value(kind);
        if self.include_headers {
            match m.headers() {
                None => self.headers.append(false),
                Some(h) => {
                    for hd in h.iter() {
                        let s = self.headers.values();
                        s.field_builder::<StringBuilder>(0)
                            .expect("key")
                            .append_value(hd.key);
                        s.field_builder::<BinaryBuilder>(1)
                            .expect("value")
                            .append_option(hd.value);
                        s.append(true);
                    }
                    self.headers.append(true);
                }
            }
        }
    }

    /// The records appended so far as one batch.
    pub(crate) fn finish(mut self) -> Result<RecordBatch> {
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(self.key.finish()),
            Arc::new(self.value.finish()),
            Arc::new(self.topic.finish()),
            Arc::new(self.partition.finish()),
            Arc::new(self.offset.finish()),
            Arc::new(self.ts.finish()),
            Arc::new(self.ts_type.finish()),
        ];
        if self.include_headers {
            cols.push(Arc::new(self.headers.finish()));
        }
        RecordBatch::try_new(raw_schema(self.include_headers), cols)
            .map_err(TributaryError::arrow("building Kafka records"))
    }
}

/// Read every record in `[start, end)` of each partition.
pub(crate) fn fetch(
    c: &BaseConsumer,
    start: &Offsets,
    end: &Offsets,
    include_headers: bool,
    timeout: Duration,
) -> Result<Fetched> {
    let mut remaining: BTreeMap<(String, i32), (i64, i64)> = BTreeMap::new();
    let mut tpl = TopicPartitionList::new();
    for (t, ps) in end {
        for (p, e) in ps {
            let s = start.get(t).and_then(|m| m.get(p)).copied().unwrap_or(*e);
            if *e > s {
                remaining.insert((t.clone(), *p), (s, *e));
                tpl.add_partition_offset(t, *p, Offset::Offset(s))
                    .map_err(kafka_err("assigning partitions"))?;
            }
        }
    }
    let mut raw = RawBuilder::new(include_headers);
    if !remaining.is_empty() {
        c.assign(&tpl).map_err(kafka_err("assigning partitions"))?;
        let deadline = Instant::now() + timeout;
        while !remaining.is_empty() {
            if Instant::now() > deadline {
                let _ = c.unassign();
                return Err(TributaryError::Storage {
                    location: "Kafka".into(),
                    message: format!(
                        "records planned for this epoch did not arrive within {timeout:?}: {}",
                        remaining
                            .iter()
                            .map(|((t, p), (s, e))| format!("{t}/{p} [{s}, {e})"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
            match c.poll(Duration::from_millis(100)) {
                None => {}
                Some(Err(KafkaError::PartitionEOF(_))) => {
                    // The end of a partition: records below the planned end that never come
                    // (transaction markers, compaction) are not waited for.
                    for k in read_to_end(&remaining, positions(c).into_iter()) {
                        remaining.remove(&k);
                    }
                }
                Some(Err(e)) => {
                    let _ = c.unassign();
                    return Err(kafka_err("reading records")(e));
                }
                Some(Ok(m)) => {
                    let k = (m.topic().to_string(), m.partition());
                    let Some((_, end)) = remaining.get(&k).copied() else {
                        continue;
                    };
                    if m.offset() >= end {
                        remaining.remove(&k);
                        continue;
                    }
                    raw.push(&m);
                    if m.offset() >= end - 1 {
                        remaining.remove(&k);
                    }
                }
            }
        }
        c.unassign().map_err(kafka_err("releasing partitions"))?;
    }
    Ok(Fetched { raw: raw.finish()? })
}

/// The consumer's position in each assigned partition (the next offset it delivers).
pub(crate) fn positions(c: &BaseConsumer) -> Vec<((String, i32), i64)> {
    let Ok(pos) = c.position() else {
        return Vec::new();
    };
    pos.elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some(((e.topic().to_string(), e.partition()), o)),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_is_done_when_its_next_offset_reaches_the_end() {
        let remaining = BTreeMap::from([
            (("t".to_string(), 0), (0, 10)),
            (("t".to_string(), 1), (0, 10)),
        ]);
        let done = read_to_end(
            &remaining,
            [(("t".to_string(), 0), 10), (("t".to_string(), 1), 9)].into_iter(),
        );
        // Partition 1 still has its last record (offset 9) to deliver.
        assert_eq!(done, vec![("t".to_string(), 0)]);
    }
}
