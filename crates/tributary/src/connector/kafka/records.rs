//! Rows to Kafka records, sent straight from the batch's columns.
//!
//! ```text
//!  batch ─► columns resolved once (key, value or the row as JSON, topic, partition as int32,
//!           headers) ─► per row: borrowed bytes ─► producer.send (librdkafka copies them)
//! ```
//!
//! Columns, as Spark's: `value` (string or binary; without one, each row is written as a JSON
//! object of its other columns), optional `key`, `topic` (else the `topic` option), `partition`,
//! and `headers` (a list of `{key, value}`).

use std::borrow::Cow;
use std::time::Duration;

use arrow::array::{Array, ArrayRef, AsArray, Int32Array, RecordBatch};
use arrow::datatypes::{DataType, Int32Type};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::BaseRecord;

use super::client::kafka_err;
use super::sink::KafkaProducer;
use crate::error::{Result, TributaryError};

/// The columns that do not go into a JSON value.
const RECORD_COLUMNS: [&str; 4] = ["key", "topic", "partition", "headers"];

/// Delivery reports are served once per this many records sent (and whenever the queue is full).
const POLL_EVERY: usize = 1024;

/// One record to send, borrowing from its batch where it can.
pub(super) struct Outgoing<'a> {
    pub topic: Cow<'a, str>,
    pub partition: Option<i32>,
    pub key: Option<Cow<'a, [u8]>>,
    pub value: Option<Cow<'a, [u8]>>,
    pub headers: Option<OwnedHeaders>,
}

/// The bytes of row `i` of a string or binary column (other types as their string form).
fn bytes_at(a: &ArrayRef, i: usize) -> Option<Cow<'_, [u8]>> {
    if a.is_null(i) {
        return None;
    }
    Some(match a.data_type() {
        DataType::Utf8 => Cow::Borrowed(a.as_string::<i32>().value(i).as_bytes()),
        DataType::LargeUtf8 => Cow::Borrowed(a.as_string::<i64>().value(i).as_bytes()),
        DataType::Utf8View => Cow::Borrowed(a.as_string_view().value(i).as_bytes()),
        DataType::Binary => Cow::Borrowed(a.as_binary::<i32>().value(i)),
        DataType::LargeBinary => Cow::Borrowed(a.as_binary::<i64>().value(i)),
        DataType::BinaryView => Cow::Borrowed(a.as_binary_view().value(i)),
        _ => {
            let s = arrow::compute::cast(&a.slice(i, 1), &DataType::Utf8).ok()?;
            Cow::Owned(s.as_string::<i32>().value(0).as_bytes().to_vec())
        }
    })
}

fn text(bytes: Cow<'_, [u8]>) -> Cow<'_, str> {
    match bytes {
        Cow::Borrowed(b) => String::from_utf8_lossy(b),
        Cow::Owned(v) => Cow::Owned(String::from_utf8_lossy(&v).into_owned()),
    }
}

/// A batch's record columns, resolved once.
struct Columns<'a> {
    key: Option<&'a ArrayRef>,
    value: Option<&'a ArrayRef>,
    /// Without a `value` column: each row's other columns as a JSON object.
    json: Option<Vec<serde_json::Value>>,
    topic: Option<&'a ArrayRef>,
    partition: Option<Int32Array>,
    headers: Option<&'a ArrayRef>,
}

impl<'a> Columns<'a> {
    fn of(batch: &'a RecordBatch, default_topic: Option<&str>) -> Result<Self> {
        let schema = batch.schema_ref();
        let col = |name: &str| schema.index_of(name).ok().map(|i| batch.column(i));
        let topic = col("topic");
        if topic.is_none() && default_topic.is_none() {
            return Err(TributaryError::option(
                "topic",
                "the rows have no 'topic' column: set the 'topic' option",
            ));
        }
        let value = col("value");
        let json = match value {
            Some(_) => None,
            None => {
                let keep: Vec<usize> = schema
                    .fields()
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| !RECORD_COLUMNS.contains(&f.name().as_str()))
                    .map(|(i, _)| i)
                    .collect();
                let projected = batch
                    .project(&keep)
                    .map_err(TributaryError::arrow("rows as JSON"))?;
                Some(crate::format::json_out::rows_to_json(&projected)?)
            }
        };
        let partition = match col("partition") {
            Some(p) => Some(
                arrow::compute::cast(p, &DataType::Int32)
                    .map_err(TributaryError::arrow("the 'partition' column as int"))?
                    .as_primitive::<Int32Type>()
                    .clone(),
            ),
            None => None,
        };
        Ok(Columns {
            key: col("key"),
            value,
            json,
            topic,
            partition,
            headers: col("headers"),
        })
    }

    fn record(&self, i: usize, default_topic: &'a str) -> Outgoing<'_> {
        let topic = match self.topic.and_then(|t| bytes_at(t, i)) {
            Some(b) => text(b),
            None => Cow::Borrowed(default_topic),
        };
        let value = match (self.value, &self.json) {
            (Some(v), _) => bytes_at(v, i),
            (None, Some(rows)) => Some(Cow::Owned(rows[i].to_string().into_bytes())),
            _ => None,
        };
        Outgoing {
            topic,
            partition: self
                .partition
                .as_ref()
                .and_then(|p| (!p.is_null(i)).then(|| p.value(i))),
            key: self.key.and_then(|k| bytes_at(k, i)),
            value,
            headers: self.headers.and_then(|h| headers_at(h, i)),
        }
    }
}

fn headers_at(h: &ArrayRef, i: usize) -> Option<OwnedHeaders> {
    if h.is_null(i) {
        return None;
    }
    let list = h.as_list::<i32>().value(i);
    let s = list.as_struct();
    let mut out = OwnedHeaders::new();
    for j in 0..s.len() {
        let key = bytes_at(s.column(0), j).map(text).unwrap_or_default();
        let value = bytes_at(s.column(1), j);
        out = out.insert(Header {
            key: &key,
            value: value.as_deref(),
        });
    }
    Some(out)
}

/// Send one record, waiting while the producer's queue is full.
pub(super) fn send(p: &KafkaProducer, rec: &Outgoing<'_>) -> Result<()> {
    let mut r: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&rec.topic);
    if let Some(k) = &rec.key {
        r = r.key(k.as_ref());
    }
    if let Some(v) = &rec.value {
        r = r.payload(v.as_ref());
    }
    if let Some(p) = rec.partition {
        r = r.partition(p);
    }
    if let Some(h) = &rec.headers {
        r = r.headers(h.clone());
    }
    loop {
        match p.send(r) {
            Ok(()) => return Ok(()),
            Err((
                rdkafka::error::KafkaError::MessageProduction(
                    rdkafka::types::RDKafkaErrorCode::QueueFull,
                ),
                back,
            )) => {
                p.poll(Duration::from_millis(10));
                r = back;
            }
            Err((e, _)) => return Err(kafka_err("producing a record")(e)),
        }
    }
}

/// Send every row of `batches`; the number sent. Nothing is sent when a batch cannot be (no
/// topic).
pub(super) fn send_rows(
    p: &KafkaProducer,
    batches: &[RecordBatch],
    default_topic: Option<&str>,
) -> Result<u64> {
    let columns = batches
        .iter()
        .map(|b| Columns::of(b, default_topic).map(|c| (c, b.num_rows())))
        .collect::<Result<Vec<_>>>()?;
    let default_topic = default_topic.unwrap_or_default();
    let mut sent = 0u64;
    for (c, rows) in &columns {
        for i in 0..*rows {
            send(p, &c.record(i, default_topic))?;
            sent += 1;
            if sent.is_multiple_of(POLL_EVERY as u64) {
                p.poll(Duration::ZERO);
            }
        }
    }
    p.poll(Duration::ZERO);
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
        let fields: Vec<Field> = cols
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect();
        RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            cols.into_iter().map(|(_, a)| a).collect(),
        )
        .unwrap()
    }

    #[test]
    fn columns_become_records_borrowed_from_the_batch() {
        let b = batch(vec![
            ("key", Arc::new(StringArray::from(vec![Some("k0"), None]))),
            ("value", Arc::new(StringArray::from(vec!["v0", "v1"]))),
            (
                "topic",
                Arc::new(StringArray::from(vec![None, Some("other")])),
            ),
            ("partition", Arc::new(Int64Array::from(vec![Some(3), None]))),
        ]);
        let c = Columns::of(&b, Some("t")).unwrap();
        let r0 = c.record(0, "t");
        assert_eq!(r0.topic, "t", "a null topic is the option's");
        assert_eq!(r0.partition, Some(3), "an int64 partition is cast once");
        assert_eq!(r0.key.as_deref(), Some(&b"k0"[..]));
        assert!(matches!(r0.value, Some(Cow::Borrowed(b"v0"))));
        let r1 = c.record(1, "t");
        assert_eq!(r1.topic, "other");
        assert_eq!((r1.partition, r1.key), (None, None));
    }

    #[test]
    fn without_a_value_column_the_row_is_json_and_without_a_topic_it_is_an_error() {
        let b = batch(vec![
            ("key", Arc::new(StringArray::from(vec!["a"]))),
            ("n", Arc::new(Int64Array::from(vec![7]))),
        ]);
        let c = Columns::of(&b, Some("t")).unwrap();
        assert_eq!(c.record(0, "t").value.as_deref(), Some(&br#"{"n":7}"#[..]));
        let err = Columns::of(&b, None).err().unwrap().to_string();
        assert!(err.contains("'topic' option"), "{err}");
    }
}
