//! Streaming Top-N (`ROW_NUMBER() OVER (PARTITION BY k ORDER BY x) <= N`), in update mode.
//!
//! The state is each key's current best N rows, one row per rank slot `(k, rank)`. An epoch
//! ranks, for every key it touches, the key's slots together with its new rows; a slot whose
//! holder changed is written to the state and emitted, so a sink keyed on `(k, rank)` (or on `k`
//! when N is 1) holds the current Top-N. Ties keep the earlier row: a row already in a slot
//! before a new one; among an epoch's new rows the order is the order the plan produced them,
//! which is not fixed when the input has several partitions (order by a unique column last for
//! one answer). When a PARTITION BY column is an event-time window (or the event time) behind a
//! watermark, a key's slots leave the state once the watermark passes it, its late rows are
//! dropped, and append mode is possible: each closed key's final Top-N is emitted once. Other
//! keys are kept for ever (the state grows with the number of keys, N rows each). Lowering N on
//! a restart keeps the slots above the new N in the state (they are no longer emitted).
//!
//! The slots live in a [`KeyedStore`] per partition, keyed by `(k, rank)` and grouped by `k`:
//! an epoch reads the slots of the keys it touches (a group lookup) and writes the slots that
//! changed, so it costs the keys it touches, not the whole state, and slots beyond
//! `state_memory_limit` move to local disk. Closed keys are found through the store's time
//! index. The files are those of the whole-batch store Top-N used before, so its checkpoints
//! restore.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch, UInt32Array};
use arrow::compute::{
    cast, concat_batches, filter_record_batch, lexsort_to_indices, not, take_record_batch,
    SortColumn, SortOptions,
};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::datasource::MemTable;
use datafusion::execution::SessionState;
use serde_json::json;
use tributary_checkpoint::Epoch;

use super::late::behind_watermark;
use super::operator_inputs::OperatorInputs;
use super::stateful::{
    dyn_stores, dyn_stores_mut, for_each_partition, open_keyed_stores, EpochWatermarks,
    OperatorEpoch, OperatorMetrics, StatefulOperator,
};
use crate::error::{from_df_error, Result, TributaryError};
use crate::location::Location;
use crate::plan::{EventTimeKind, SplitPlan, TopN};
use crate::state::{
    CloseTime, GroupBy, KeyRows, KeySet, KeyedStore, PartitionHash, StateChange, StateSize,
    StateStore,
};
use crate::OutputMode;

const RANK: &str = "__rank";

pub(crate) struct TopNOperator {
    id: usize,
    split: SplitPlan,
    n: usize,
    /// The key that carries event time (its position among the keys), if one does: its slots
    /// are evicted once the watermark passes it.
    event_key: Option<(usize, EventTimeKind)>,
    /// Append mode: a key's slots are emitted once, when the watermark closes it.
    append: bool,
    /// PARTITION BY columns of the input.
    keys: Vec<usize>,
    /// ORDER BY columns of the input, with their sort options.
    order: Vec<(usize, SortOptions)>,
    /// Columns of the input.
    width: usize,
    partitions: usize,
    /// How keys are assigned to partitions (the checkpoint's choice).
    hash: PartitionHash,
    stores: Vec<KeyedStore>,
}

fn arrow_err(what: &'static str) -> impl FnOnce(arrow::error::ArrowError) -> TributaryError {
    TributaryError::arrow(what)
}

/// What one partition's epoch gives: its state change, its rows to emit, and its size after.
struct PartitionEpoch {
    change: StateChange,
    emitted: RecordBatch,
    size: StateSize,
}

impl TopNOperator {
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn open(
        id: usize,
        split: SplitPlan,
        mode: OutputMode,
        (partitions, hash): (usize, PartitionHash),
        checkpoint: &Location,
        restore_to: Option<Epoch>,
        memory_limit: Option<usize>,
    ) -> Result<Self> {
        let t = TopN::of(&split.node)
            .ok_or_else(|| TributaryError::Internal("a Top-N operator over another node".into()))?;
        let keys = t.key_indices().map_err(TributaryError::df("Top-N keys"))?;
        let order = t
            .order_indices()
            .map_err(TributaryError::df("Top-N order"))?
            .into_iter()
            .map(|(i, o)| {
                (
                    i,
                    SortOptions {
                        descending: !o.asc,
                        nulls_first: o.nulls_first,
                    },
                )
            })
            .collect();
        let input = t.input.schema().as_arrow().clone();
        // State: the key columns, the rank, then the whole input row.
        let mut fields: Vec<Field> = keys
            .iter()
            .map(|k| input.field(*k).clone().with_nullable(true))
            .collect();
        fields.push(Field::new(RANK, DataType::Int64, false));
        fields.extend(
            input
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true)),
        );
        let state_schema = Arc::new(Schema::new(fields));
        let event_key = t.event_time_key();
        // Keyed by (k, rank), grouped by k; a key carrying event time closes its slots (the
        // keys are the state's first columns, so the key's position is its column).
        let stores = open_keyed_stores(
            checkpoint,
            id,
            partitions,
            state_schema,
            keys.len() + 1,
            event_key.map(|(k, kind)| CloseTime::Key(k, kind)),
            Some(GroupBy::Columns((0..keys.len()).collect())),
            restore_to,
            memory_limit,
        )
        .await?;
        Ok(TopNOperator {
            id,
            n: t.n,
            event_key,
            append: mode == OutputMode::Append,
            split,
            keys,
            order,
            width: input.fields().len(),
            partitions,
            hash,
            stores,
        })
    }

    fn state_schema(&self) -> SchemaRef {
        self.stores[0].schema()
    }

    /// The input's columns as the state holds them (nullable).
    fn input_schema(&self) -> SchemaRef {
        let from = self.keys.len() + 1;
        Arc::new(Schema::new(
            self.state_schema().fields()[from..from + self.width].to_vec(),
        ))
    }

    /// The input columns of state rows.
    fn state_input_columns(&self, state: &RecordBatch) -> Vec<ArrayRef> {
        let from = self.keys.len() + 1;
        state.columns()[from..from + self.width].to_vec()
    }

    /// State rows (keys, rank, row) from rows of the input and their ranks.
    fn to_state(&self, input: &[ArrayRef], ranks: Int64Array) -> Result<RecordBatch> {
        let mut cols: Vec<ArrayRef> = self.keys.iter().map(|k| input[*k].clone()).collect();
        cols.push(Arc::new(ranks));
        cols.extend(input.iter().cloned());
        RecordBatch::try_new(self.state_schema(), cols).map_err(arrow_err("Top-N state"))
    }

    /// Rank the touched keys' current slots (`old`) together with their new rows: the slots
    /// whose holder changed.
    fn rank(&self, old: &RecordBatch, new_rows: &[ArrayRef]) -> Result<RecordBatch> {
        // Candidates: old slots then new rows (in input order), with their old rank (null for
        // new rows) and their arrival order.
        let new_len = new_rows.first().map_or(0, |c| c.len());
        let old_cols = self.state_input_columns(old);
        let mut cols = Vec::with_capacity(self.width);
        for c in 0..self.width {
            cols.push(
                arrow::compute::concat(&[old_cols[c].as_ref(), new_rows[c].as_ref()])
                    .map_err(arrow_err("Top-N candidates"))?,
            );
        }
        let old_rank = old.column(self.keys.len()).as_primitive::<Int64Type>();
        let previous: Int64Array = old_rank
            .iter()
            .chain(std::iter::repeat_n(None, new_len))
            .collect();
        let arrival: Int64Array = (0..previous.len())
            .map(|i| {
                Some(if previous.is_null(i) {
                    i64::MAX / 2 + i as i64
                } else {
                    previous.value(i)
                })
            })
            .collect();
        // Sort by key, then the ranking, then arrival: ties keep the earlier row.
        let mut sort: Vec<SortColumn> = self
            .keys
            .iter()
            .map(|k| SortColumn {
                values: cols[*k].clone(),
                options: None,
            })
            .collect();
        sort.extend(self.order.iter().map(|(i, o)| SortColumn {
            values: cols[*i].clone(),
            options: Some(*o),
        }));
        sort.push(SortColumn {
            values: Arc::new(arrival),
            options: None,
        });
        let order = lexsort_to_indices(&sort, None).map_err(arrow_err("ranking"))?;
        // The candidates' keys (KeyRows counts the rows itself when there is no PARTITION BY).
        let candidates = RecordBatch::try_new(self.input_schema(), cols.clone())
            .map_err(arrow_err("Top-N candidates"))?;
        let key_rows = KeyRows::of(&candidates, &self.keys)?;
        let (mut changed, mut ranks) = (Vec::new(), Vec::new());
        let mut position = 0usize;
        for (j, i) in order.values().iter().map(|i| *i as usize).enumerate() {
            if j > 0 && key_rows.key(i) != key_rows.key(order.value(j - 1) as usize) {
                position = 0;
            }
            position += 1;
            // A key's slots only fill up, so writing the slots that changed is enough.
            let rank = position as i64;
            if position <= self.n && (previous.is_null(i) || previous.value(i) != rank) {
                changed.push(i as u32);
                ranks.push(rank);
            }
        }
        let picked = take_record_batch(&candidates, &UInt32Array::from(changed))
            .map_err(arrow_err("Top-N"))?;
        self.to_state(picked.columns(), Int64Array::from(ranks))
    }

    /// One partition's epoch: its new rows `idx` (of `rows`, keys `keys`) ranked against the
    /// slots of their keys, and the keys the watermark `evict` closes taken out.
    fn partition_epoch(
        &self,
        p: usize,
        rows: &RecordBatch,
        keys: &KeyRows,
        idx: &[u32],
        evict: Option<i64>,
    ) -> Result<PartitionEpoch> {
        let store = &self.stores[p];
        let empty = RecordBatch::new_empty(self.state_schema());
        let upserts = if idx.is_empty() {
            empty.clone()
        } else {
            let touched: KeySet = idx.iter().map(|i| keys.key(*i as usize)).collect();
            let old = store.lookup_groups(touched.into_iter())?;
            let new = take_record_batch(rows, &UInt32Array::from(idx.to_vec()))
                .map_err(arrow_err("Top-N input"))?;
            self.rank(&old, new.columns())?
        };
        // Slots of keys the watermark closed leave the state; in append mode they are the
        // output (each closed key's final Top-N, once): the stored slots the epoch did not
        // change, and the changed ones.
        let (kept, removed, emitted) = match (store.close_time(), evict) {
            (Some(close), Some(wm)) => {
                let closes = close.of(&upserts)?;
                let closed: BooleanArray = closes.iter().map(|c| Some(*c <= wm)).collect();
                let closed_up =
                    filter_record_batch(&upserts, &closed).map_err(arrow_err("eviction"))?;
                let open = not(&closed).map_err(arrow_err("eviction"))?;
                let kept = filter_record_batch(&upserts, &open).map_err(arrow_err("eviction"))?;
                let changed = store.keys_of(&closed_up)?;
                let skip = changed.set();
                let stored = if self.append {
                    store.closed(wm, &skip)?
                } else {
                    store.closed_keys(wm, &skip)?
                };
                let removed = concat_batches(&self.state_schema(), [&stored, &closed_up])
                    .map_err(arrow_err("eviction"))?;
                let emitted = if self.append {
                    removed.clone()
                } else {
                    upserts
                };
                (kept, removed, emitted)
            }
            _ => {
                let emitted = if self.append {
                    empty.clone()
                } else {
                    upserts.clone()
                };
                (upserts, empty, emitted)
            }
        };
        let change = StateChange::new(kept, removed);
        let size = store.size_after(&change)?;
        Ok(PartitionEpoch {
            change,
            emitted,
            size,
        })
    }
}

#[async_trait]
impl StatefulOperator for TopNOperator {
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
        let rows = inputs.collect(state, 0, "the Top-N's input").await?;
        // 1. Rows of keys the watermark already closed are late: dropped and counted.
        let (rows, dropped) = match (self.event_key, watermarks.late) {
            (Some((k, kind)), Some(wm)) => {
                let late = behind_watermark(rows.column(self.keys[k]), kind, wm)
                    .map_err(|e| from_df_error("the Top-N's late rows", e))?;
                let on_time = not(&late).map_err(arrow_err("late rows"))?;
                (
                    filter_record_batch(&rows, &on_time).map_err(arrow_err("late rows"))?,
                    late.true_count(),
                )
            }
            _ => (rows, 0),
        };
        // 2. Each partition ranks its keys' new rows against their slots, on its own thread.
        let keys = KeyRows::of(&rows, &self.keys)?;
        let mut by_partition: Vec<Vec<u32>> = vec![Vec::new(); self.partitions];
        for (i, p) in keys
            .partitions(self.partitions, self.hash)?
            .into_iter()
            .enumerate()
        {
            by_partition[p].push(i as u32);
        }
        let parts = for_each_partition(self.partitions, |p| {
            self.partition_epoch(p, &rows, &keys, &by_partition[p], watermarks.evict)
        })?;
        // Output: the emitted slots as the window's rows (input columns, then the rank).
        let out_schema = self.split.output_schema.clone();
        let rank_type = out_schema.field(self.width).data_type().clone();
        let mut batches = Vec::with_capacity(parts.len());
        let (mut size, mut changes) = (StateSize::default(), Vec::with_capacity(parts.len()));
        let (mut updated, mut removed, mut emitted) = (0, 0, 0);
        for part in parts {
            let u = &part.emitted;
            if u.num_rows() > 0 {
                let mut cols = self.state_input_columns(u);
                let rank = u.column(self.keys.len());
                cols.push(cast(rank.as_ref(), &rank_type).map_err(arrow_err("Top-N rank"))?);
                batches.push(
                    RecordBatch::try_new(out_schema.clone(), cols)
                        .map_err(arrow_err("Top-N output"))?,
                );
            }
            emitted += u.num_rows();
            updated += part.change.upserts.num_rows();
            removed += part.change.removed.num_rows();
            size = size + part.size;
            changes.push(part.change);
        }
        if batches.is_empty() {
            batches.push(RecordBatch::new_empty(out_schema.clone()));
        }
        let output = Arc::new(
            MemTable::try_new(out_schema, vec![batches])
                .map_err(|e| from_df_error("the Top-N's output", e))?,
        );
        let progress = OperatorMetrics {
            name: "topN",
            id: self.id,
            state: size,
            partitions: changes.len(),
            updated,
            removed,
            dropped_by_watermark: dropped as u64,
            custom: json!({"numRowsInput": rows.num_rows(), "n": self.n, "numRowsEmitted": emitted}),
        }
        .progress();
        Ok(OperatorEpoch {
            output,
            changes,
            late_rows: Vec::new(),
            progress,
            live: None,
        })
    }
}
