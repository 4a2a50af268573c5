//! The rate source: `rows_per_second` rows with columns `timestamp` and `value`, deterministic
//! given its start time (kept in the offsets), like Spark's rate source.

use std::sync::{Arc, Mutex};

use arrow::array::{Int64Array, RecordBatch, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use async_trait::async_trait;
use datafusion::datasource::MemTable;
use serde_json::{json, Value};

use crate::clock::{Clock, SystemClock};
use crate::error::{Result, TributaryError};
use crate::source::{EpochInput, StreamSource};
use tributary_checkpoint::Epoch;

/// A generated stream of `(timestamp, value)` rows.
#[derive(Debug)]
pub struct RateStreamSource {
    rows_per_second: u64,
    num_partitions: usize,
    schema: SchemaRef,
    clock: Arc<dyn Clock>,
    cap: Mutex<Option<u64>>,
    start_ms: Mutex<Option<i64>>,
}

impl RateStreamSource {
    /// A rate source with the wall clock.
    pub fn new(rows_per_second: u64, num_partitions: usize) -> Result<Self> {
        Self::with_clock(rows_per_second, num_partitions, Arc::new(SystemClock))
    }

    /// A rate source with an injected clock (milliseconds since the Unix epoch).
    pub fn with_clock(
        rows_per_second: u64,
        num_partitions: usize,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        if rows_per_second == 0 {
            return Err(TributaryError::option(
                "rows_per_second",
                "must be at least 1",
            ));
        }
        if num_partitions == 0 {
            return Err(TributaryError::option(
                "num_partitions",
                "must be at least 1",
            ));
        }
        Ok(RateStreamSource {
            rows_per_second,
            num_partitions,
            schema: Self::output_schema(),
            clock,
            cap: Mutex::new(None),
            start_ms: Mutex::new(None),
        })
    }

    /// The schema of the rate source: `timestamp`, `value`.
    pub fn output_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new(
                "timestamp",
                DataType::Timestamp(TimeUnit::Microsecond, None),
                false,
            ),
            Field::new("value", DataType::Int64, false),
        ]))
    }

    fn rows_at(&self, start_ms: i64, now_ms: i64) -> u64 {
        let elapsed = (now_ms - start_ms).max(0) as u128;
        (elapsed * self.rows_per_second as u128 / 1000) as u64
    }

    fn parse(v: &Value) -> (Option<i64>, u64) {
        (
            v.get("startMs").and_then(Value::as_i64),
            v.get("value").and_then(Value::as_u64).unwrap_or(0),
        )
    }

    fn start(&self, start: &Value) -> i64 {
        let (from_offset, _) = Self::parse(start);
        let mut s = self.start_ms.lock().expect("rate source");
        *s.get_or_insert_with(|| from_offset.unwrap_or_else(|| self.clock.now_ms()))
    }
}

#[async_trait]
impl StreamSource for RateStreamSource {
    fn description(&self) -> String {
        format!(
            "RateStream[rowsPerSecond={}, numPartitions={}]",
            self.rows_per_second, self.num_partitions
        )
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn fork(&self) -> Arc<dyn StreamSource> {
        Arc::new(RateStreamSource {
            rows_per_second: self.rows_per_second,
            num_partitions: self.num_partitions,
            schema: self.schema.clone(),
            clock: self.clock.clone(),
            cap: Mutex::new(None),
            start_ms: Mutex::new(None),
        })
    }

    async fn prepare_available_now(&self, recorded: Option<&Value>) -> Result<Value> {
        let cap = match recorded.and_then(Value::as_u64) {
            Some(c) => c,
            None => self.rows_at(self.start(&Value::Null), self.clock.now_ms()),
        };
        *self.cap.lock().expect("rate source") = Some(cap);
        Ok(json!(cap))
    }

    async fn latest_offset(
        &self,
        start: &Value,
        _limited: bool,
        _epoch: Epoch,
    ) -> Result<Option<Value>> {
        let t0 = self.start(start);
        let (_, from) = Self::parse(start);
        let mut end = self.rows_at(t0, self.clock.now_ms());
        if let Some(cap) = *self.cap.lock().expect("rate source") {
            end = end.min(cap);
        }
        Ok((end > from).then(|| json!({ "startMs": t0, "value": end })))
    }

    async fn get_batch(&self, start: &Value, end: &Value, _epoch: Epoch) -> Result<EpochInput> {
        let (_, from) = Self::parse(start);
        let (t0, to) = Self::parse(end);
        let t0 = t0.unwrap_or_else(|| self.start(start));
        let n = to.saturating_sub(from);
        let per = n.div_ceil(self.num_partitions as u64).max(1);
        let mut partitions = Vec::with_capacity(self.num_partitions);
        let mut v = from;
        while v < to {
            let hi = (v + per).min(to);
            let values: Vec<i64> = (v..hi).map(|x| x as i64).collect();
            let ts: Vec<i64> = (v..hi)
                .map(|x| {
                    // Spark's unit, microseconds.
                    let offset_us = (x as i128 * 1_000_000 / self.rows_per_second as i128) as i64;
                    t0 * 1_000 + offset_us
                })
                .collect();
            let batch = RecordBatch::try_new(
                self.schema.clone(),
                vec![
                    Arc::new(TimestampMicrosecondArray::from(ts)),
                    Arc::new(Int64Array::from(values)),
                ],
            )
            .map_err(TributaryError::arrow("rate source"))?;
            partitions.push(vec![batch]);
            v = hi;
        }
        if partitions.is_empty() {
            partitions.push(vec![]);
        }
        let table = MemTable::try_new(self.schema.clone(), partitions)
            .map_err(TributaryError::df("rate source"))?;
        Ok(EpochInput {
            table: Arc::new(table),
            bad_records: None,
            rows: Arc::new(n.into()),
        })
    }
}
