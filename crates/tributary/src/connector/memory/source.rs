//! A source of batches pushed from Rust, replayable by offset (for tests and embedding).

use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::datasource::MemTable;
use serde_json::{json, Value};

use crate::error::{Result, TributaryError};
use crate::source::{EpochInput, StreamSource};
use tributary_checkpoint::Epoch;

/// Batches pushed from Rust. The offset is the number of batches; every batch stays in memory,
/// so any epoch can be read again. Spark's `MemoryStream`.
#[derive(Debug, Clone)]
pub struct MemoryStream {
    name: String,
    schema: SchemaRef,
    batches: Arc<Mutex<Vec<RecordBatch>>>,
    cap: Arc<Mutex<Option<u64>>>,
}

impl MemoryStream {
    /// A new, empty stream. `name` identifies it in checkpoints.
    pub fn new(name: impl Into<String>, schema: SchemaRef) -> Self {
        MemoryStream {
            name: name.into(),
            schema,
            batches: Arc::default(),
            cap: Arc::default(),
        }
    }

    /// Append a batch; returns the offset after it.
    pub fn push(&self, batch: RecordBatch) -> Result<u64> {
        if batch.schema().fields() != self.schema.fields() {
            return Err(TributaryError::Plan(format!(
                "MemoryStream '{}': the batch's schema {:?} differs from the stream's {:?}",
                self.name,
                batch.schema(),
                self.schema
            )));
        }
        let mut b = self.batches.lock().expect("memory stream");
        b.push(batch);
        Ok(b.len() as u64)
    }

    /// The offset after the last pushed batch.
    pub fn offset(&self) -> u64 {
        self.batches.lock().expect("memory stream").len() as u64
    }

    fn pos(v: &Value) -> u64 {
        v.get("batches").and_then(Value::as_u64).unwrap_or(0)
    }
}

#[async_trait]
impl StreamSource for MemoryStream {
    fn description(&self) -> String {
        format!("MemoryStream[{}]", self.name)
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn fork(&self) -> Arc<dyn StreamSource> {
        Arc::new(MemoryStream {
            name: self.name.clone(),
            schema: self.schema.clone(),
            batches: self.batches.clone(),
            cap: Arc::default(),
        })
    }

    async fn prepare_available_now(&self, recorded: Option<&Value>) -> Result<Value> {
        let cap = recorded
            .and_then(Value::as_u64)
            .unwrap_or_else(|| self.offset());
        *self.cap.lock().expect("memory stream") = Some(cap);
        Ok(json!(cap))
    }

    async fn latest_offset(
        &self,
        start: &Value,
        _limited: bool,
        _epoch: Epoch,
    ) -> Result<Option<Value>> {
        let mut end = self.offset();
        if let Some(cap) = *self.cap.lock().expect("memory stream") {
            end = end.min(cap);
        }
        Ok((end > Self::pos(start)).then(|| json!({ "batches": end })))
    }

    async fn get_batch(&self, start: &Value, end: &Value, _epoch: Epoch) -> Result<EpochInput> {
        let (s, e) = (Self::pos(start) as usize, Self::pos(end) as usize);
        let all = self.batches.lock().expect("memory stream");
        if e > all.len() {
            return Err(TributaryError::Plan(format!(
                "MemoryStream '{}' has {} batches but the checkpoint asks for offset {e}: \
                 a memory stream does not survive its process",
                self.name,
                all.len()
            )));
        }
        let batches: Vec<RecordBatch> = all[s..e].to_vec();
        let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
        let table = MemTable::try_new(self.schema.clone(), vec![batches])
            .map_err(TributaryError::df("memory stream batch"))?;
        Ok(EpochInput {
            table: Arc::new(table),
            bad_records: None,
            rows: Arc::new(rows.into()),
        })
    }
}
