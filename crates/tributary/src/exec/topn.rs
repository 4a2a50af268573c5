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

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, UInt32Array};
use arrow::compute::{
    cast, concat_batches, filter_record_batch, lexsort_to_indices, take_record_batch, SortColumn,
    SortOptions,
};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::datasource::MemTable;
use datafusion::execution::SessionState;
use datafusion::logical_expr::LogicalPlan;
use serde_json::json;
use tributary_checkpoint::Epoch;

use super::late::behind_watermark;
use super::stateful::{
    dyn_stores, dyn_stores_mut, open_stores, run_to_batch, whole_size, EpochWatermarks,
    OperatorEpoch, OperatorMetrics, StatefulOperator,
};
use crate::error::{from_df_error, Result, TributaryError};
use crate::location::Location;
use crate::plan::{EventTimeKind, SplitPlan, TopN};
use crate::state::{partition_of, KeyRows, MemoryStateStore, StateChange, StateStore};
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
    stores: Vec<MemoryStateStore>,
}

fn arrow_err(what: &'static str) -> impl FnOnce(arrow::error::ArrowError) -> TributaryError {
    TributaryError::arrow(what)
}

impl TopNOperator {
    pub(crate) async fn open(
        id: usize,
        split: SplitPlan,
        mode: OutputMode,
        partitions: usize,
        checkpoint: &Location,
        restore_to: Option<Epoch>,
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
        let stores = open_stores(
            checkpoint,
            id,
            vec![state_schema; partitions],
            keys.len() + 1,
            restore_to,
        )
        .await?;
        let event_key = t.event_time_key();
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

    /// Rank one partition's touched keys: their current slots and their new rows together.
    /// Returns the partition's new state and the slots that changed.
    fn rank_partition(
        &self,
        p: usize,
        new_rows: &[ArrayRef],
        touched: &HashSet<Vec<u8>>,
    ) -> Result<(RecordBatch, RecordBatch)> {
        let state = self.stores[p].rows();
        let state_keys = KeyRows::new(state, self.keys.len())?;
        let hit: arrow::array::BooleanArray = (0..state_keys.len())
            .map(|i| Some(touched.contains(state_keys.key(i))))
            .collect();
        let kept = filter_record_batch(
            state,
            &arrow::compute::not(&hit).map_err(arrow_err("Top-N"))?,
        )
        .map_err(arrow_err("Top-N state"))?;
        let old = filter_record_batch(state, &hit).map_err(arrow_err("Top-N state"))?;
        // Candidates: old slots (in rank order within a key) then new rows (in input order),
        // with their old rank (null for new rows) and their arrival order.
        let new_len = new_rows.first().map_or(0, |c| c.len());
        let old_cols = self.state_input_columns(&old);
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
        let (mut top, mut ranks, mut changed) = (Vec::new(), Vec::new(), Vec::new());
        let mut position = 0usize;
        for (j, i) in order.values().iter().map(|i| *i as usize).enumerate() {
            if j > 0 && key_rows.key(i) != key_rows.key(order.value(j - 1) as usize) {
                position = 0;
            }
            position += 1;
            if position <= self.n {
                let rank = position as i64;
                if previous.is_null(i) || previous.value(i) != rank {
                    changed.push(top.len());
                }
                top.push(i as u32);
                ranks.push(rank);
            }
        }
        let picked: Vec<ArrayRef> = cols
            .iter()
            .map(|c| arrow::compute::take(c.as_ref(), &UInt32Array::from(top.clone()), None))
            .collect::<std::result::Result<_, _>>()
            .map_err(arrow_err("Top-N"))?;
        let slots = self.to_state(&picked, Int64Array::from(ranks))?;
        let upserts = take_record_batch(
            &slots,
            &UInt32Array::from(changed.iter().map(|c| *c as u32).collect::<Vec<_>>()),
        )
        .map_err(arrow_err("Top-N"))?;
        let rows = concat_batches(&self.state_schema(), [&kept, &slots])
            .map_err(arrow_err("Top-N state"))?;
        Ok((rows, upserts))
    }
}

#[async_trait]
impl StatefulOperator for TopNOperator {
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
        bound: &LogicalPlan,
        watermarks: EpochWatermarks,
        _now_ms: i64,
    ) -> Result<OperatorEpoch> {
        let rows = run_to_batch(state, bound.inputs()[0], "the Top-N's input").await?;
        // 1. Rows of keys the watermark already closed are late: dropped and counted.
        let (rows, dropped) = match (self.event_key, watermarks.late) {
            (Some((k, kind)), Some(wm)) => {
                let late = behind_watermark(rows.column(self.keys[k]), kind, wm)
                    .map_err(|e| from_df_error("the Top-N's late rows", e))?;
                let on_time = arrow::compute::not(&late).map_err(arrow_err("late rows"))?;
                (
                    filter_record_batch(&rows, &on_time).map_err(arrow_err("late rows"))?,
                    late.true_count(),
                )
            }
            _ => (rows, 0),
        };
        let keys = KeyRows::of(&rows, &self.keys)?;
        let mut by_partition: Vec<Vec<u32>> = vec![Vec::new(); self.partitions];
        let mut touched: Vec<HashSet<Vec<u8>>> = vec![HashSet::new(); self.partitions];
        for i in 0..keys.len() {
            let p = partition_of(keys.key(i), self.partitions);
            by_partition[p].push(i as u32);
            touched[p].insert(keys.key(i).to_vec());
        }
        let empty = RecordBatch::new_empty(self.state_schema());
        let mut changes = Vec::with_capacity(self.partitions);
        let mut emitted = Vec::new();
        let mut removed_n = 0;
        for (p, idx) in by_partition.into_iter().enumerate() {
            let (state_rows, upserts) = if idx.is_empty() {
                (self.stores[p].rows().clone(), empty.clone())
            } else {
                let new = take_record_batch(&rows, &UInt32Array::from(idx))
                    .map_err(arrow_err("Top-N input"))?;
                self.rank_partition(p, new.columns(), &touched[p])?
            };
            // 2. Slots of keys the watermark closed leave the state (in append mode, they are
            // the output: each closed key's final Top-N, once).
            let (state_rows, removed) = match (self.event_key, watermarks.evict) {
                (Some((k, kind)), Some(wm)) => {
                    let closed = behind_watermark(state_rows.column(k), kind, wm)
                        .map_err(|e| from_df_error("the Top-N's eviction", e))?;
                    let open = arrow::compute::not(&closed).map_err(arrow_err("eviction"))?;
                    (
                        filter_record_batch(&state_rows, &open).map_err(arrow_err("eviction"))?,
                        filter_record_batch(&state_rows, &closed).map_err(arrow_err("eviction"))?,
                    )
                }
                _ => (state_rows, empty.clone()),
            };
            removed_n += removed.num_rows();
            if self.append {
                emitted.push(removed.clone());
            } else if upserts.num_rows() > 0 {
                emitted.push(upserts.clone());
            }
            changes.push(StateChange {
                rows: Some(state_rows),
                upserts,
                removed,
            });
        }
        // Output: the changed slots as the window's rows (input columns, then the rank).
        let out_schema = self.split.output_schema.clone();
        let rank_type = out_schema.field(self.width).data_type().clone();
        let mut batches = Vec::with_capacity(emitted.len());
        for u in &emitted {
            let mut cols = self.state_input_columns(u);
            let rank = u.column(self.keys.len());
            cols.push(cast(rank.as_ref(), &rank_type).map_err(arrow_err("Top-N rank"))?);
            batches.push(
                RecordBatch::try_new(out_schema.clone(), cols)
                    .map_err(arrow_err("Top-N output"))?,
            );
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
            state: whole_size(&changes),
            partitions: changes.len(),
            updated: changes.iter().map(|c| c.upserts.num_rows()).sum(),
            removed: removed_n,
            dropped_by_watermark: dropped as u64,
            custom: json!({"numRowsInput": rows.num_rows(), "n": self.n, "numRowsEmitted": emitted.iter().map(|b| b.num_rows()).sum::<usize>()}),
        }
        .progress();
        Ok(OperatorEpoch {
            output,
            changes,
            late_rows: Vec::new(),
            progress,
        })
    }
}
