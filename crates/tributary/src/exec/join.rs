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
use std::sync::Arc;

use arrow::array::{new_null_array, ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch};
use arrow::compute::{concat_batches, filter_record_batch, not};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::default_table_source::provider_as_source;
use datafusion::common::{Column, JoinType};
use datafusion::datasource::MemTable;
use datafusion::execution::SessionState;
use datafusion::logical_expr::{Expr, Join, LogicalPlan, LogicalPlanBuilder};
use serde_json::json;
use tributary_checkpoint::Epoch;

use super::stateful::{
    dyn_stores, dyn_stores_mut, run_to_batch, EpochWatermarks, OperatorEpoch, OperatorMetrics,
    StatefulOperator,
};
use crate::error::{from_df_error, Result, TributaryError};
use crate::location::Location;
use crate::plan::{join_bounds, SplitPlan};
use crate::state::{CloseTime, GroupBy, KeyRows, KeyedStore, StateChange, StateSize, StateStore};

const ROW_ID: &str = "__row_id";
const MATCHED: &str = "__matched";
const LEFT_ID: &str = "__tributary_left_id";
const RIGHT_ID: &str = "__tributary_right_id";

pub(crate) struct JoinOperator {
    id: usize,
    split: SplitPlan,
    join: Join,
    /// `[left, right]`.
    stores: Vec<KeyedStore>,
    /// The next row id of each side.
    next_id: [i64; 2],
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
    pub(crate) async fn open(
        id: usize,
        split: SplitPlan,
        state: &SessionState,
        checkpoint: &Location,
        restore_to: Option<Epoch>,
        memory_limit: Option<usize>,
    ) -> Result<Self> {
        let LogicalPlan::Join(join) = &split.node else {
            return Err(TributaryError::Internal(
                "a join operator over another node".into(),
            ));
        };
        let join = join.clone();
        let bounds = join_bounds(&join);
        let mut stores = Vec::with_capacity(2);
        let mut next_id = [0i64; 2];
        for (side, next) in next_id.iter_mut().enumerate() {
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
                checkpoint.child(&tributary_checkpoint::CheckpointPaths::state(id, side)),
                side_state_schema(plan),
                1,
                close,
                Some(join_key(state, &join, side)?),
            )?
            .with_memory_limit(memory_limit);
            store.restore(restore_to).await?;
            let last = store.max_row()?;
            *next = arrow::compute::max(last.column(0).as_primitive::<Int64Type>())
                .map_or(0, |m| m + 1);
            stores.push(store);
        }
        Ok(JoinOperator {
            id,
            split,
            join,
            stores,
            next_id,
        })
    }

    /// The epoch's rows of one side, with fresh row ids after the stored ones.
    async fn side_rows(
        &self,
        state: &SessionState,
        plan: &LogicalPlan,
        side: usize,
    ) -> Result<RecordBatch> {
        let rows = run_to_batch(state, plan, "a join input").await?;
        let store = &self.stores[side];
        let base = self.next_id[side];
        let n = rows.num_rows() as i64;
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(base..base + n)),
            Arc::new(BooleanArray::from(vec![false; n as usize])),
        ];
        cols.extend(rows.columns().iter().cloned());
        RecordBatch::try_new(store.schema(), cols).map_err(arrow_err("join state rows"))
    }

    /// The stored rows of `side` that share a join key with `rows` of the other side.
    fn stored_matches(&self, side: usize, other_rows: &RecordBatch) -> Result<RecordBatch> {
        let keys = self.stores[1 - side]
            .group_keys(other_rows)?
            .ok_or_else(|| TributaryError::Internal("join state without join keys".into()))?;
        let set = keys.set();
        self.stores[side].lookup_groups(set.into_iter())
    }

    /// A plan over state-shaped rows of one side that looks like that side (same qualified
    /// columns), plus its row id under `id_name`.
    fn side_plan(&self, rows: RecordBatch, side: usize, id_name: &str) -> Result<LogicalPlan> {
        let original = if side == 0 {
            &self.join.left
        } else {
            &self.join.right
        };
        let schema = rows.schema();
        let renamed: Vec<Field> = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| Field::new(format!("__s{i}"), f.data_type().clone(), true))
            .collect();
        let renamed = Arc::new(Schema::new(renamed));
        let batch = RecordBatch::try_new(renamed.clone(), rows.columns().to_vec())
            .map_err(arrow_err("join rows"))?;
        let table = MemTable::try_new(renamed, vec![vec![batch]])
            .map_err(|e| from_df_error("join rows", e))?;
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
            .map(|(l, r)| l.clone().eq(r.clone()))
            .collect();
        on.extend(self.join.filter.clone());
        LogicalPlanBuilder::from(left)
            .join_on(right, JoinType::Inner, on)
            .and_then(|b| b.build())
            .map_err(TributaryError::df("joining the epoch's rows"))
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
        for (side, change) in result.changes.into_iter().enumerate() {
            let ids = change.upserts.column(0).as_primitive::<Int64Type>();
            if let Some(m) = arrow::compute::max(ids) {
                self.next_id[side] = self.next_id[side].max(m + 1);
            }
            self.stores[side].commit(epoch, change)?;
        }
        Ok(())
    }

    async fn process(
        &self,
        state: &SessionState,
        bound: &LogicalPlan,
        watermarks: EpochWatermarks,
        _now_ms: i64,
    ) -> Result<OperatorEpoch> {
        let LogicalPlan::Join(bound) = bound else {
            return Err(TributaryError::Internal(
                "a join operator got another node".into(),
            ));
        };
        let left_new = self.side_rows(state, &bound.left, 0).await?;
        let right_new = self.side_rows(state, &bound.right, 1).await?;
        // Only stored rows that share a join key with the other side's new rows can match.
        let left_old = self.stored_matches(0, &right_new)?;
        let right_old = self.stored_matches(1, &left_new)?;
        // 1. The epoch's matches: new left with all right, old left with new right.
        let right_all = concat_batches(&self.stores[1].schema(), [&right_old, &right_new])
            .map_err(arrow_err("join rows"))?;
        let j1 = self.join_plan(
            self.side_plan(left_new.clone(), 0, LEFT_ID)?,
            self.side_plan(right_all, 1, RIGHT_ID)?,
        )?;
        let j2 = self.join_plan(
            self.side_plan(left_old.clone(), 0, LEFT_ID)?,
            self.side_plan(right_new.clone(), 1, RIGHT_ID)?,
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
        let (mut left_matched, mut right_matched) = (HashSet::new(), HashSet::new());
        let mut output: Vec<RecordBatch> = Vec::new();
        for b in &matches {
            let lid = b.column(0).as_primitive::<Int64Type>();
            let rid = b.column(nl + 1).as_primitive::<Int64Type>();
            left_matched.extend(lid.iter().flatten());
            right_matched.extend(rid.iter().flatten());
            if self.join.join_type != JoinType::LeftSemi {
                let mut cols: Vec<ArrayRef> = b.columns()[1..=nl].to_vec();
                cols.extend(b.columns()[nl + 2..nl + 2 + nr].iter().cloned());
                output.push(
                    RecordBatch::try_new(out_schema.clone(), cols)
                        .map_err(arrow_err("join output"))?,
                );
            }
        }
        // 2. Each side's new state: matched flags, then eviction behind the watermark.
        let mut changes = Vec::new();
        let mut sides = [0usize; 2];
        let mut size = StateSize::default();
        let mut removed_total = 0usize;
        let mut updated_total = 0usize;
        for (side, rows_after) in sides.iter_mut().enumerate() {
            let (old, new, matched) = if side == 0 {
                (&left_old, &left_new, &left_matched)
            } else {
                (&right_old, &right_new, &right_matched)
            };
            let schema = self.stores[side].schema();
            let all = concat_batches(&schema, [old, new]).map_err(arrow_err("join state"))?;
            let ids = all.column(0).as_primitive::<Int64Type>();
            let was = all.column(1).as_boolean();
            let now_matched: BooleanArray = (0..all.num_rows())
                .map(|i| Some(was.value(i) || matched.contains(&ids.value(i))))
                .collect();
            let n_old = old.num_rows();
            let flipped: BooleanArray = (0..all.num_rows())
                .map(|i| Some(i >= n_old || (!was.value(i) && now_matched.value(i))))
                .collect();
            // Left semi: a left row the first time it matches.
            if side == 0 && self.join.join_type == JoinType::LeftSemi {
                let first: BooleanArray = (0..all.num_rows())
                    .map(|i| Some(!was.value(i) && now_matched.value(i)))
                    .collect();
                let rows = filter_record_batch(&all, &first).map_err(arrow_err("semi join"))?;
                output.push(
                    RecordBatch::try_new(out_schema.clone(), rows.columns()[2..].to_vec())
                        .map_err(arrow_err("semi join output"))?,
                );
            }
            let mut cols = all.columns().to_vec();
            cols[1] = Arc::new(now_matched.clone());
            let all =
                RecordBatch::try_new(schema.clone(), cols).map_err(arrow_err("join state"))?;
            // Eviction: the rows read or added this epoch whose time is past the bound, and
            // the stored rows the time index finds.
            let store = &self.stores[side];
            let (gone, stored_closed) = match (store.close_time(), watermarks.evict) {
                (Some(close), Some(wm)) => {
                    let at = close.of(&all)?;
                    // i64::MAX: a row without a time, which never closes.
                    let gone: BooleanArray = at
                        .iter()
                        .map(|t| Some(*t != i64::MAX && *t <= wm))
                        .collect();
                    let read = store.keys_of(old)?;
                    (gone, store.closed(wm, &read.set())?)
                }
                _ => (
                    BooleanArray::from(vec![false; all.num_rows()]),
                    RecordBatch::new_empty(schema.clone()),
                ),
            };
            let removed = filter_record_batch(&all, &gone).map_err(arrow_err("join eviction"))?;
            let removed = concat_batches(&schema, [&stored_closed, &removed])
                .map_err(arrow_err("join eviction"))?;
            // Outer joins: evicted rows that never matched, with NULLs.
            let outer = matches!(
                (side, self.join.join_type),
                (0, JoinType::Left | JoinType::Full) | (1, JoinType::Right | JoinType::Full)
            );
            if outer && removed.num_rows() > 0 {
                let unmatched = filter_record_batch(
                    &removed,
                    &not(removed.column(1).as_boolean()).map_err(arrow_err("outer rows"))?,
                )
                .map_err(arrow_err("outer rows"))?;
                if unmatched.num_rows() > 0 {
                    let cols = self.padded(&unmatched, side, &out_schema);
                    output.push(
                        RecordBatch::try_new(out_schema.clone(), cols)
                            .map_err(arrow_err("outer rows"))?,
                    );
                }
            }
            let stays = not(&gone).map_err(arrow_err("join state"))?;
            let up_mask = arrow::compute::and(&flipped, &stays).map_err(arrow_err("join state"))?;
            let upserts = filter_record_batch(&all, &up_mask).map_err(arrow_err("join state"))?;
            removed_total += removed.num_rows();
            updated_total += upserts.num_rows();
            let change = StateChange {
                rows: None,
                upserts,
                removed,
            };
            *rows_after = store.len_after(&change)?;
            size = size
                + StateSize {
                    rows: *rows_after,
                    ..store.size()
                };
            changes.push(change);
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
            dropped_by_watermark: 0,
            custom: json!({
                "joinType": self.join.join_type.to_string(),
                "leftRows": sides[0],
                "rightRows": sides[1],
            }),
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
