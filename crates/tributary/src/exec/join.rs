//! Stream-stream joins: both sides' rows are buffered in state; each epoch joins the new rows of
//! each side with the other side's buffered and new rows, and evicts what can no longer match.
//!
//! ```text
//!  output(e) = L_new ⋈ (R_old ∪ R_new)  ∪  L_old ⋈ R_new          (inner matches, each once)
//!  outer:      rows evicted behind the watermark that never matched, with NULLs for the other side
//!  left semi:  a left row the first time it matches
//! ```
//! The state of each side is its rows with a row id and a `matched` flag (`state/<op>/0` for
//! the left side, `state/<op>/1` for the right), in a [`KeyedStore`] keyed by row id and grouped
//! by the join key (the side's ON expressions): an epoch reads only the stored rows that share
//! a join key with the other side's new rows, and finds the rows the watermark evicts in the
//! store's time index, so its cost follows the epoch, not the state. A join without equality
//! keys (a time range alone) reads its whole state.

use std::collections::HashSet;

/// Row ids that matched in an epoch.
type Ids = HashSet<i64, ahash::RandomState>;
use std::sync::Arc;

use arrow::array::{
    new_null_array, ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch, UInt32Array,
};
use arrow::compute::{concat_batches, filter, filter_record_batch, not, take_record_batch};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::default_table_source::provider_as_source;
use datafusion::common::{Column, JoinType, NullEquality};
use datafusion::datasource::MemTable;
use datafusion::execution::SessionState;
use datafusion::logical_expr::{Expr, Join, LogicalPlan, LogicalPlanBuilder};
use serde_json::json;
use tributary_checkpoint::Epoch;

use super::late::split_late;
use super::operator_inputs::OperatorInputs;
use super::stateful::{
    dyn_stores, dyn_stores_mut, for_each_partition, EpochWatermarks, OperatorEpoch,
    OperatorMetrics, StatefulOperator,
};
use crate::error::{from_df_error, Result, TributaryError};
use crate::location::Location;
use crate::plan::{at_epoch_time, calls_stable_expr, event_time_column, join_bounds, SplitPlan};
use crate::state::{
    CloseTime, GroupBy, KeyRows, KeySet, KeyedStore, KnownKeys, PartitionHash, StateChange,
    StateSize, StateStore,
};

const ROW_ID: &str = "__row_id";
const MATCHED: &str = "__matched";
const LEFT_ID: &str = "__tributary_left_id";
const RIGHT_ID: &str = "__tributary_right_id";

pub(crate) struct JoinOperator {
    id: usize,
    split: SplitPlan,
    join: Join,
    /// Per state partition `p`, the left side's store (`2p`) and the right side's (`2p + 1`).
    stores: Vec<KeyedStore>,
    /// State partitions per side (1 for a checkpoint written before joins were partitioned).
    partitions: usize,
    /// How keys are assigned to partitions (the checkpoint's choice).
    hash: PartitionHash,
    /// The next row id of each side.
    next_id: [i64; 2],
    /// Each side's watermarked event-time column (of its input), when it has one: its rows
    /// at or behind the watermark for late rows are dropped, as Spark's join drops them.
    times: [Option<usize>; 2],
    /// Whether the dropped rows are kept for `late_rows_path`.
    keep_late_rows: bool,
}

/// The epoch's rows of one side, split by state partition.
struct SideRows {
    /// Per partition.
    parts: Vec<RecordBatch>,
    /// The join key of every row (in the order before the split).
    keys: KeyRows,
    /// Per partition, the rows (of `keys`) it holds.
    index: Vec<Vec<u32>>,
}

/// The rows of the epoch's input left out as late.
#[derive(Default)]
struct LateSide {
    dropped: usize,
    rows: Vec<RecordBatch>,
}

/// What one state partition of one side did in an epoch.
struct PartitionEpoch {
    change: StateChange,
    /// Outer rows padded with NULLs and first matches of a left semi join.
    emit: Vec<RecordBatch>,
    rows_after: usize,
}

fn arrow_err(what: &'static str) -> impl FnOnce(arrow::error::ArrowError) -> TributaryError {
    TributaryError::arrow(what)
}

fn side_state_schema(side: &LogicalPlan) -> SchemaRef {
    let mut fields = vec![
        Field::new(ROW_ID, DataType::Int64, false),
        Field::new(MATCHED, DataType::Boolean, false),
    ];
    fields.extend(
        side.schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true)),
    );
    Arc::new(Schema::new(fields))
}

/// The join key of a side's state-shaped rows: its ON expressions, evaluated.
fn join_key(state: &SessionState, join: &Join, side: usize) -> Result<GroupBy> {
    let plan = if side == 0 { &join.left } else { &join.right };
    let exprs = join
        .on
        .iter()
        .map(|(l, r)| {
            let e = if side == 0 { l } else { r };
            state
                .create_physical_expr(e.clone(), plan.schema())
                .and_then(|p| crate::plan::ansi::spark_expr(p, plan.schema().as_arrow()))
                .map_err(TributaryError::df("planning a join key"))
        })
        .collect::<Result<Vec<_>>>()?;
    let user = Arc::new(Schema::new(
        plan.schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    ));
    Ok(GroupBy::Computed(Arc::new(move |rows: &RecordBatch| {
        let batch = RecordBatch::try_new(user.clone(), rows.columns()[2..].to_vec())
            .map_err(arrow_err("join state rows"))?;
        let cols = exprs
            .iter()
            .map(|e| {
                e.evaluate(&batch)
                    .and_then(|v| v.into_array(batch.num_rows()))
            })
            .collect::<datafusion::common::Result<Vec<ArrayRef>>>()
            .map_err(|e| from_df_error("evaluating a join key", e))?;
        KeyRows::from_columns(cols, batch.num_rows())
    })))
}

impl JoinOperator {
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn open(
        id: usize,
        split: SplitPlan,
        state: &SessionState,
        checkpoint: &Location,
        restore_to: Option<Epoch>,
        (partitions, hash): (usize, PartitionHash),
        memory_limit: Option<usize>,
        keep_late_rows: bool,
    ) -> Result<Self> {
        let LogicalPlan::Join(join) = &split.node else {
            return Err(TributaryError::Internal(
                "a join operator over another node".into(),
            ));
        };
        let join = join.clone();
        let bounds = join_bounds(&join);
        let partitions = partitions.max(1);
        let mut stores = Vec::with_capacity(2 * partitions);
        let mut next_id = [0i64; 2];
        let keys = [join_key(state, &join, 0)?, join_key(state, &join, 1)?];
        for index in 0..2 * partitions {
            let side = index % 2;
            let plan = if side == 0 { &join.left } else { &join.right };
            let close = match (side, bounds.left_evictable(), bounds.right_evictable()) {
                (0, true, _) => bounds
                    .left_time
                    .map(|t| CloseTime::Shifted(t + 2, -bounds.range.lo.unwrap_or(0))),
                (1, _, true) => bounds
                    .right_time
                    .map(|t| CloseTime::Shifted(t + 2, bounds.range.hi.unwrap_or(0))),
                _ => None,
            };
            let mut store = KeyedStore::new(
                checkpoint.child(&tributary_checkpoint::CheckpointPaths::state(id, index)),
                side_state_schema(plan),
                1,
                close,
                Some(keys[side].clone()),
            )?
            .with_memory_limit(memory_limit);
            store.restore(restore_to).await?;
            let last = store.max_row()?;
            if let Some(m) = arrow::compute::max(last.column(0).as_primitive::<Int64Type>()) {
                next_id[side] = next_id[side].max(m + 1);
            }
            stores.push(store);
        }
        let times = [
            event_time_column(&join.left),
            event_time_column(&join.right),
        ];
        Ok(JoinOperator {
            id,
            split,
            join,
            stores,
            partitions,
            hash,
            next_id,
            times,
            keep_late_rows,
        })
    }

    fn store(&self, side: usize, p: usize) -> &KeyedStore {
        &self.stores[2 * p + side]
    }

    /// The epoch's rows of one side, with fresh row ids after the stored ones, split by the
    /// state partition of their join key (rows with equal keys meet in one partition); the
    /// side's late rows (event time at or behind `late_ms`) are left out and put in `late`.
    async fn side_rows(
        &self,
        state: &SessionState,
        inputs: &OperatorInputs<'_>,
        side: usize,
        (late_ms, late): (Option<i64>, &mut LateSide),
    ) -> Result<SideRows> {
        let rows = inputs.collect(state, side, "a join input").await?;
        let rows = match (self.times[side], late_ms) {
            (Some(t), Some(wm)) => {
                let (rows, dropped, kept) = split_late(rows, t, wm, self.keep_late_rows)?;
                late.dropped += dropped;
                late.rows.extend(kept);
                rows
            }
            _ => rows,
        };
        let store = self.store(side, 0);
        let base = self.next_id[side];
        let n = rows.num_rows() as i64;
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(base..base + n)),
            Arc::new(BooleanArray::from(vec![false; n as usize])),
        ];
        cols.extend(rows.columns().iter().cloned());
        let rows =
            RecordBatch::try_new(store.schema(), cols).map_err(arrow_err("join state rows"))?;
        let keys = store
            .group_keys(&rows)?
            .ok_or_else(|| TributaryError::Internal("join state without join keys".into()))?;
        let mut index: Vec<Vec<u32>> = vec![Vec::new(); self.partitions];
        for (i, p) in keys
            .partitions(self.partitions, self.hash)?
            .into_iter()
            .enumerate()
        {
            index[p].push(i as u32);
        }
        let parts = if self.partitions == 1 {
            vec![rows]
        } else {
            index
                .iter()
                .map(|ix| {
                    take_record_batch(&rows, &UInt32Array::from(ix.clone()))
                        .map_err(arrow_err("partitioning join rows"))
                })
                .collect::<Result<_>>()?
        };
        Ok(SideRows { parts, keys, index })
    }

    /// Per partition, the stored rows of `side` that share a join key with the other side's
    /// new rows (only those can match), every partition in parallel.
    fn stored_matches(&self, side: usize, other: &SideRows) -> Result<Vec<RecordBatch>> {
        for_each_partition(self.partitions, |p| {
            let set: KeySet = other.index[p]
                .iter()
                .map(|i| other.keys.key(*i as usize))
                .collect();
            self.store(side, p).lookup_groups(set.into_iter())
        })
    }

    /// A plan over state-shaped rows of one side that looks like that side (same qualified
    /// columns), plus its row id under `id_name`.
    fn side_plan(&self, rows: &[RecordBatch], side: usize, id_name: &str) -> Result<LogicalPlan> {
        let original = if side == 0 {
            &self.join.left
        } else {
            &self.join.right
        };
        let schema = self.store(side, 0).schema();
        let renamed: Vec<Field> = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| Field::new(format!("__s{i}"), f.data_type().clone(), true))
            .collect();
        let renamed = Arc::new(Schema::new(renamed));
        let parts = rows
            .iter()
            .filter(|b| b.num_rows() > 0)
            .map(|b| {
                RecordBatch::try_new(renamed.clone(), b.columns().to_vec())
                    .map(|b| vec![b])
                    .map_err(arrow_err("join rows"))
            })
            .collect::<Result<Vec<_>>>()?;
        let parts = if parts.is_empty() {
            vec![vec![]]
        } else {
            parts
        };
        let table = MemTable::try_new(renamed, parts).map_err(|e| from_df_error("join rows", e))?;
        let mut exprs = vec![Expr::Column(Column::new_unqualified("__s0")).alias(id_name)];
        for (i, (q, f)) in original.schema().iter().enumerate() {
            exprs.push(
                Expr::Column(Column::new_unqualified(format!("__s{}", i + 2)))
                    .alias_qualified(q.cloned(), f.name()),
            );
        }
        LogicalPlanBuilder::scan("__join_side", provider_as_source(Arc::new(table)), None)
            .and_then(|b| b.project(exprs))
            .and_then(|b| b.build())
            .map_err(TributaryError::df("a join side"))
    }

    fn join_plan(&self, left: LogicalPlan, right: LogicalPlan) -> Result<LogicalPlan> {
        let mut on: Vec<Expr> = self
            .join
            .on
            .iter()
            .map(|(l, r)| match self.join.null_equality {
                // `IS NOT DISTINCT FROM` keys: NULL meets NULL.
                NullEquality::NullEqualsNull => datafusion::logical_expr::binary_expr(
                    l.clone(),
                    datafusion::logical_expr::Operator::IsNotDistinctFrom,
                    r.clone(),
                ),
                NullEquality::NullEqualsNothing => l.clone().eq(r.clone()),
            })
            .collect();
        on.extend(self.join.filter.clone());
        LogicalPlanBuilder::from(left)
            .join_on(right, JoinType::Inner, on)
            .and_then(|b| b.build())
            .map_err(TributaryError::df("joining the epoch's rows"))
    }

    /// The new state of one partition of one side: `old` (the stored rows read) and `new` (the
    /// epoch's rows) with their matched flags, less what the watermark evicts; and the rows
    /// that leave with it (outer rows that never matched, first matches of a left semi join).
    fn partition_epoch(
        &self,
        side: usize,
        p: usize,
        old: &RecordBatch,
        new: &RecordBatch,
        matched: &Ids,
        evict: Option<i64>,
    ) -> Result<PartitionEpoch> {
        let out_schema = &self.split.output_schema;
        let store = self.store(side, p);
        let schema = store.schema();
        let mut emit = Vec::new();
        let all = concat_batches(&schema, [old, new]).map_err(arrow_err("join state"))?;
        let ids = all.column(0).as_primitive::<Int64Type>();
        let was = all.column(1).as_boolean();
        let now_matched: BooleanArray = (0..all.num_rows())
            .map(|i| Some(was.value(i) || matched.contains(&ids.value(i))))
            .collect();
        let n_old = old.num_rows();
        // A stored row is written again only when its flag changes and the flag is read: by
        // an outer side (its unmatched rows are emitted) or the left side of a semi join.
        let flags_read = matches!(
            (side, self.join.join_type),
            (0, JoinType::Left | JoinType::Full | JoinType::LeftSemi)
                | (1, JoinType::Right | JoinType::Full)
        );
        let flipped: BooleanArray = (0..all.num_rows())
            .map(|i| Some(i >= n_old || (flags_read && !was.value(i) && now_matched.value(i))))
            .collect();
        // Left semi: a left row the first time it matches.
        if side == 0 && self.join.join_type == JoinType::LeftSemi {
            let first: BooleanArray = (0..all.num_rows())
                .map(|i| Some(!was.value(i) && now_matched.value(i)))
                .collect();
            let rows = filter_record_batch(&all, &first).map_err(arrow_err("semi join"))?;
            emit.push(
                RecordBatch::try_new(out_schema.clone(), rows.columns()[2..].to_vec())
                    .map_err(arrow_err("semi join output"))?,
            );
        }
        let mut cols = all.columns().to_vec();
        cols[1] = Arc::new(now_matched);
        let all = RecordBatch::try_new(schema.clone(), cols).map_err(arrow_err("join state"))?;
        let outer = matches!(
            (side, self.join.join_type),
            (0, JoinType::Left | JoinType::Full) | (1, JoinType::Right | JoinType::Full)
        );
        // Eviction: the rows read or added this epoch whose time is past the bound, and the
        // stored rows the time index finds.
        let (gone, stored_closed) = match (store.close_time(), evict) {
            (Some(close), evict) => {
                let at = close.of(&all)?;
                // i64::MAX: a row without a time. The join's time range reads that time, so the
                // row can never match: it goes at once, watermark or not (an outer side emits
                // it with NULLs, as the batch does), rather than stay in the state for ever.
                let gone: BooleanArray = at
                    .iter()
                    .map(|t| Some(*t == i64::MAX || evict.is_some_and(|wm| *t <= wm)))
                    .collect();
                let closed = match evict {
                    Some(wm) => {
                        let read = store.keys_of(old)?;
                        let read = read.set();
                        // An outer side emits its unmatched rows: read them whole; otherwise a
                        // removal needs only the keys.
                        if outer {
                            store.closed(wm, &read)?
                        } else {
                            store.closed_keys(wm, &read)?
                        }
                    }
                    None => RecordBatch::new_empty(schema.clone()),
                };
                (gone, closed)
            }
            _ => (
                BooleanArray::from(vec![false; all.num_rows()]),
                RecordBatch::new_empty(schema.clone()),
            ),
        };
        let stored_closed_n = stored_closed.num_rows();
        let removed = filter_record_batch(&all, &gone).map_err(arrow_err("join eviction"))?;
        let removed = concat_batches(&schema, [&stored_closed, &removed])
            .map_err(arrow_err("join eviction"))?;
        // Outer joins: evicted rows that never matched, with NULLs.
        if outer && removed.num_rows() > 0 {
            let unmatched = filter_record_batch(
                &removed,
                &not(removed.column(1).as_boolean()).map_err(arrow_err("outer rows"))?,
            )
            .map_err(arrow_err("outer rows"))?;
            if unmatched.num_rows() > 0 {
                let cols = self.padded(&unmatched, side, out_schema);
                emit.push(
                    RecordBatch::try_new(out_schema.clone(), cols)
                        .map_err(arrow_err("outer rows"))?,
                );
            }
        }
        let stays = not(&gone).map_err(arrow_err("join state"))?;
        let up_mask = arrow::compute::and(&flipped, &stays).map_err(arrow_err("join state"))?;
        let upserts = filter_record_batch(&all, &up_mask).map_err(arrow_err("join state"))?;
        // Counted rather than looked up: the rows read (`old`) and the ones the time index
        // found are stored and distinct, the epoch's new rows are not stored yet.
        let is_old: BooleanArray = (0..all.num_rows()).map(|i| Some(i < n_old)).collect();
        let is_new = not(&is_old).map_err(arrow_err("join state"))?;
        let new_up = filter(&is_new, &up_mask).map_err(arrow_err("join state"))?;
        let old_gone = filter(&is_old, &gone).map_err(arrow_err("join state"))?;
        let known = KnownKeys {
            new: new_up.as_boolean().clone(),
            stored: std::iter::repeat_n(Some(true), stored_closed_n)
                .chain(old_gone.as_boolean().iter())
                .collect(),
        };
        // Every stored row the watermark closes was found above (read, or through the time
        // index): the store may cut its time index there at once.
        let evicted = store.close_time().and(evict);
        let change = StateChange::known(upserts, removed, known).evicting_through(evicted);
        let rows_after = store.len_after(&change)?;
        Ok(PartitionEpoch {
            change,
            emit,
            rows_after,
        })
    }

    /// Rows of one side (state-shaped) padded with NULLs for the other side, in output order.
    fn padded(&self, rows: &RecordBatch, side: usize, out: &SchemaRef) -> Vec<ArrayRef> {
        let nl = self.join.left.schema().fields().len();
        let n = rows.num_rows();
        let user: Vec<ArrayRef> = rows.columns()[2..].to_vec();
        (0..out.fields().len())
            .map(|i| {
                let mine = if side == 0 { i < nl } else { i >= nl };
                if mine {
                    user[if side == 0 { i } else { i - nl }].clone()
                } else {
                    new_null_array(out.field(i).data_type(), n)
                }
            })
            .collect()
    }
}

#[async_trait]
impl StatefulOperator for JoinOperator {
    fn partition_columns(&self) -> Vec<Option<Vec<usize>>> {
        // A side's rows are partitioned by its ON expressions: placeable offline when each is
        // a column of the side (after the row id and match flag).
        [&self.join.left, &self.join.right]
            .iter()
            .enumerate()
            .map(|(side, plan)| {
                self.join
                    .on
                    .iter()
                    .map(|(l, r)| match if side == 0 { l } else { r } {
                        datafusion::logical_expr::Expr::Column(c) => {
                            plan.schema().index_of_column(c).ok().map(|i| i + 2)
                        }
                        _ => None,
                    })
                    .collect()
            })
            .collect()
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

    fn commit(&mut self, epoch: Epoch, result: OperatorEpoch) -> Result<()> {
        for (index, change) in result.changes.into_iter().enumerate() {
            let side = index % 2;
            let ids = change.upserts.column(0).as_primitive::<Int64Type>();
            if let Some(m) = arrow::compute::max(ids) {
                self.next_id[side] = self.next_id[side].max(m + 1);
            }
            self.stores[index].commit(epoch, change)?;
        }
        Ok(())
    }

    async fn process(
        &self,
        state: &SessionState,
        inputs: &OperatorInputs<'_>,
        watermarks: EpochWatermarks,
    ) -> Result<OperatorEpoch> {
        // A condition that reads `now()` reads the epoch's time.
        let at_epoch;
        let state = if self.join.filter.as_ref().is_some_and(calls_stable_expr) {
            at_epoch = at_epoch_time(state, inputs.now_ms());
            &at_epoch
        } else {
            state
        };
        // Rows behind the watermark for late rows are dropped on either side (Spark 3.4+:
        // the previous epoch's watermark; what the epoch's own closes is evicted below).
        let mut late = LateSide::default();
        let left_new = self
            .side_rows(state, inputs, 0, (watermarks.late, &mut late))
            .await?;
        let right_new = self
            .side_rows(state, inputs, 1, (watermarks.late, &mut late))
            .await?;
        // Only stored rows that share a join key with the other side's new rows can match,
        // and they are in the same partition.
        let left_old = self.stored_matches(0, &right_new)?;
        let right_old = self.stored_matches(1, &left_new)?;
        // 1. The epoch's matches: new left with all right, old left with new right.
        let right_all: Vec<RecordBatch> =
            right_old.iter().chain(&right_new.parts).cloned().collect();
        let j1 = self.join_plan(
            self.side_plan(&left_new.parts, 0, LEFT_ID)?,
            self.side_plan(&right_all, 1, RIGHT_ID)?,
        )?;
        let j2 = self.join_plan(
            self.side_plan(&left_old, 0, LEFT_ID)?,
            self.side_plan(&right_new.parts, 1, RIGHT_ID)?,
        )?;
        let both = LogicalPlanBuilder::from(j1)
            .union(j2)
            .and_then(|b| b.build())
            .map_err(TributaryError::df("joining the epoch's rows"))?;
        let matches = datafusion::dataframe::DataFrame::new(state.clone(), both)
            .collect()
            .await
            .map_err(|e| from_df_error("joining the epoch's rows", e))?;
        let out_schema = self.split.output_schema.clone();
        let nl = self.join.left.schema().fields().len();
        let nr = self.join.right.schema().fields().len();
        let mut matched = [Ids::default(), Ids::default()];
        let mut output: Vec<RecordBatch> = Vec::new();
        for b in &matches {
            let lid = b.column(0).as_primitive::<Int64Type>();
            let rid = b.column(nl + 1).as_primitive::<Int64Type>();
            matched[0].extend(lid.iter().flatten());
            matched[1].extend(rid.iter().flatten());
            if self.join.join_type != JoinType::LeftSemi {
                let mut cols: Vec<ArrayRef> = b.columns()[1..=nl].to_vec();
                cols.extend(b.columns()[nl + 2..nl + 2 + nr].iter().cloned());
                output.push(
                    RecordBatch::try_new(out_schema.clone(), cols)
                        .map_err(arrow_err("join output"))?,
                );
            }
        }
        // 2. Each partition's new state of each side (matched flags, eviction behind the
        //    watermark), every partition in parallel.
        let olds = [&left_old, &right_old];
        let news = [&left_new.parts, &right_new.parts];
        let epochs = for_each_partition(2 * self.partitions, |index| {
            let (side, p) = (index % 2, index / 2);
            self.partition_epoch(
                side,
                p,
                &olds[side][p],
                &news[side][p],
                &matched[side],
                watermarks.evict,
            )
        })?;
        let mut changes = Vec::with_capacity(epochs.len());
        let mut sides = [0usize; 2];
        let mut size = StateSize::default();
        let (mut removed_total, mut updated_total) = (0usize, 0usize);
        for (index, e) in epochs.into_iter().enumerate() {
            sides[index % 2] += e.rows_after;
            removed_total += e.change.removed.num_rows();
            updated_total += e.change.upserts.num_rows();
            size = size
                + StateSize {
                    rows: e.rows_after,
                    ..self.stores[index].size()
                };
            output.extend(e.emit);
            changes.push(e.change);
        }
        let output = Arc::new(
            MemTable::try_new(out_schema, vec![output])
                .map_err(|e| from_df_error("the join's output", e))?,
        );
        let progress = OperatorMetrics {
            name: "symmetricHashJoin",
            id: self.id,
            state: size,
            partitions: changes.len(),
            updated: updated_total,
            removed: removed_total,
            dropped_by_watermark: late.dropped as u64,
            custom: json!({
                "joinType": self.join.join_type.to_string(),
                "leftRows": sides[0],
                "rightRows": sides[1],
                "leftRowsRead": left_old.iter().map(RecordBatch::num_rows).sum::<usize>(),
                "rightRowsRead": right_old.iter().map(RecordBatch::num_rows).sum::<usize>(),
            }),
        }
        .progress();
        Ok(OperatorEpoch {
            output,
            changes,
            late_rows: late.rows,
            progress,
            live: None,
        })
    }
}
