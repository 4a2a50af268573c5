//! Streaming deduplication: `drop_duplicates`, `drop_duplicates_within_watermark`, and
//! `SELECT DISTINCT` on a stream. The state is the set of keys seen, each with an expiry:
//!
//! | variant | a key expires when the watermark reaches | late rows |
//! |---------|------------------------------------------|-----------|
//! | keys include the event-time column | the row's event time | dropped |
//! | within watermark | its first event time + the watermark's delay | dropped |
//! | no watermark on a key | never (the state grows with the keys) | - |
//!
//! The first row of a key is emitted (in input order within an epoch); later ones are dropped.

use std::sync::Arc;

use arrow::array::{BooleanArray, Int64Array, RecordBatch, UInt32Array};
use arrow::compute::{filter_record_batch, take_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::datasource::MemTable;
use datafusion::execution::SessionState;
use serde_json::json;
use tributary_checkpoint::Epoch;

use super::late::{event_ms, split_late};
use super::operator_inputs::OperatorInputs;
use super::stateful::{
    dyn_stores, dyn_stores_mut, open_keyed_stores, EpochWatermarks, OperatorEpoch, OperatorMetrics,
    StatefulOperator,
};
use crate::error::{from_df_error, Result, TributaryError};
use crate::location::Location;
use crate::plan::{event_time_column, watermark_delay, Deduplicate, SplitPlan};
use crate::state::{
    CloseTime, KeyRows, KeySet, KeyedStore, KnownKeys, PartitionHash, StateChange, StateSize,
    StateStore,
};

const EXPIRY: &str = "__expiry_ms";

/// How keys expire.
#[derive(Debug, Clone, Copy)]
enum Expiry {
    /// At the event time (column index in the input).
    EventTime(usize),
    /// At the event time plus the delay.
    WithinWatermark(usize, i64),
    /// Never.
    Never,
}

pub(crate) struct DedupOperator {
    id: usize,
    split: SplitPlan,
    keys: Vec<usize>,
    expiry: Expiry,
    partitions: usize,
    /// How keys are assigned to partitions (the checkpoint's choice).
    hash: PartitionHash,
    stores: Vec<KeyedStore>,
    keep_late_rows: bool,
}

fn arrow_err(what: &'static str) -> impl FnOnce(arrow::error::ArrowError) -> TributaryError {
    TributaryError::arrow(what)
}

impl DedupOperator {
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn open(
        id: usize,
        split: SplitPlan,
        (partitions, hash): (usize, PartitionHash),
        checkpoint: &Location,
        restore_to: Option<Epoch>,
        keep_late_rows: bool,
        memory_limit: Option<usize>,
    ) -> Result<Self> {
        let d = Deduplicate::of(&split.node)
            .ok_or_else(|| TributaryError::Internal("a dedup operator over another node".into()))?;
        let keys = d
            .key_indices()
            .map_err(TributaryError::df("deduplication keys"))?;
        let time = event_time_column(&d.input);
        let expiry = match (d.within_watermark, time) {
            (true, Some(t)) => Expiry::WithinWatermark(t, watermark_delay(&d.input).unwrap_or(0)),
            (true, None) => {
                return Err(TributaryError::Plan(
                    "drop_duplicates_within_watermark needs a watermark on the input: call \
                     with_watermark(column, delay) before it"
                        .into(),
                ))
            }
            (false, Some(t)) if keys.contains(&t) => Expiry::EventTime(t),
            (false, _) => Expiry::Never,
        };
        let input_schema = d.input.schema().as_arrow().clone();
        let mut fields: Vec<Field> = keys
            .iter()
            .map(|k| input_schema.field(*k).clone().with_nullable(true))
            .collect();
        fields.push(Field::new(EXPIRY, DataType::Int64, false));
        let state_schema = Arc::new(Schema::new(fields));
        // Keys expire by the expiry column, found through the store's time index.
        let stores = open_keyed_stores(
            checkpoint,
            id,
            partitions,
            state_schema,
            keys.len(),
            Some(CloseTime::Millis(keys.len())),
            None,
            restore_to,
            memory_limit,
        )
        .await?;
        Ok(DedupOperator {
            id,
            split,
            keys,
            expiry,
            partitions,
            hash,
            stores,
            keep_late_rows,
        })
    }

    fn state_schema(&self) -> SchemaRef {
        self.stores[0].schema()
    }

    /// The column whose event time decides lateness, if any.
    fn time_column(&self) -> Option<usize> {
        match self.expiry {
            Expiry::EventTime(t) | Expiry::WithinWatermark(t, _) => Some(t),
            Expiry::Never => None,
        }
    }
}

#[async_trait]
impl StatefulOperator for DedupOperator {
    fn partition_columns(&self) -> Vec<Option<Vec<usize>>> {
        vec![Some((0..self.keys.len()).collect())]
    }

    fn split(&self) -> &SplitPlan {
        &self.split
    }

    fn stores(&self) -> Vec<&dyn StateStore> {
        dyn_stores(&self.stores)
    }

    fn stores_mut(&mut self) -> Vec<&mut dyn StateStore> {
        dyn_stores_mut(&mut self.stores)
    }

    async fn process(
        &self,
        state: &SessionState,
        inputs: &OperatorInputs<'_>,
        watermarks: EpochWatermarks,
    ) -> Result<OperatorEpoch> {
        let rows = inputs
            .collect(state, 0, "the deduplication's input")
            .await?;
        // 1. Late rows.
        let mut late_rows = Vec::new();
        let mut dropped = 0usize;
        let rows = match (self.time_column(), watermarks.late) {
            (Some(t), Some(wm)) => {
                let (rows, n, kept) = split_late(rows, t, wm, self.keep_late_rows)?;
                dropped = n;
                late_rows.extend(kept);
                rows
            }
            _ => rows,
        };
        // 2. First occurrences: not in state, first in the epoch.
        let key_batch = rows
            .project(&self.keys)
            .map_err(arrow_err("deduplication keys"))?;
        let keys = KeyRows::new(&key_batch, self.keys.len())?;
        let parts = keys.partitions(self.partitions, self.hash)?;
        let mut fresh = KeySet::default();
        let mut keep = Vec::with_capacity(keys.len());
        let mut new_by_partition: Vec<Vec<u32>> = vec![Vec::new(); self.partitions];
        for (i, p) in parts.into_iter().enumerate() {
            let k = keys.key(i);
            // The epoch's own repeats are not looked up in the store.
            let first = fresh.insert(k) && !self.stores[p].contains(k)?;
            keep.push(first);
            if first {
                new_by_partition[p].push(i as u32);
            }
        }
        let output = filter_record_batch(&rows, &BooleanArray::from(keep))
            .map_err(arrow_err("deduplicating"))?;
        // 3. New keys with their expiry; eviction behind the watermark.
        let expiry: Int64Array = match self.expiry {
            Expiry::Never => Int64Array::from(vec![i64::MAX; rows.num_rows()]),
            Expiry::EventTime(t) => event_ms(rows.column(t))?
                .iter()
                .map(|v| Some(v.unwrap_or(i64::MAX)))
                .collect(),
            Expiry::WithinWatermark(t, delay) => event_ms(rows.column(t))?
                .iter()
                .map(|v| Some(v.map_or(i64::MAX, |v| v.saturating_add(delay))))
                .collect(),
        };
        let mut with_expiry = key_batch.columns().to_vec();
        with_expiry.push(Arc::new(expiry));
        let candidates = RecordBatch::try_new(self.state_schema(), with_expiry)
            .map_err(arrow_err("deduplication state"))?;
        let mut changes = Vec::with_capacity(self.partitions);
        let (mut added, mut removed_n) = (0usize, 0usize);
        let mut size = StateSize::default();
        let none = KeySet::default();
        for (p, idx) in new_by_partition.into_iter().enumerate() {
            let store = &self.stores[p];
            let new = take_record_batch(&candidates, &UInt32Array::from(idx))
                .map_err(arrow_err("deduplication state"))?;
            added += new.num_rows();
            // New keys already behind the eviction watermark are not kept; stored keys behind
            // it are removed.
            let (upserts, removed) = match watermarks.evict {
                Some(wm) => {
                    let expiry = CloseTime::Millis(self.keys.len()).of(&new)?;
                    // i64::MAX: a key that never expires.
                    let stays: BooleanArray = expiry
                        .iter()
                        .map(|e| Some(*e == i64::MAX || *e > wm))
                        .collect();
                    let upserts =
                        filter_record_batch(&new, &stays).map_err(arrow_err("eviction"))?;
                    (upserts, store.closed_keys(wm, &none)?)
                }
                None => (new, RecordBatch::new_empty(self.state_schema())),
            };
            removed_n += removed.num_rows();
            // The upserts are keys just found absent, the removed ones the store's own.
            let known = KnownKeys::fresh(upserts.num_rows(), removed.num_rows());
            // Every stored key behind the watermark is among the removed ones.
            let change =
                StateChange::known(upserts, removed, known).evicting_through(watermarks.evict);
            size = size + store.size_after(&change)?;
            changes.push(change);
        }
        let out_schema = self.split.output_schema.clone();
        let output = RecordBatch::try_new(out_schema.clone(), output.columns().to_vec())
            .map_err(arrow_err("deduplication output"))?;
        let output = Arc::new(
            MemTable::try_new(out_schema, vec![vec![output]])
                .map_err(|e| from_df_error("the deduplication's output", e))?,
        );
        let progress = OperatorMetrics {
            name: "dedupe",
            id: self.id,
            state: size,
            partitions: self.partitions,
            updated: added,
            removed: removed_n,
            dropped_by_watermark: dropped as u64,
            custom: json!({"numDroppedDuplicateRows": rows.num_rows() - added}),
        }
        .progress();
        Ok(OperatorEpoch {
            output,
            changes,
            late_rows,
            progress,
            live: None,
        })
    }
}
