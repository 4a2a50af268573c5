//! Stream-stream joins: both sides' rows are buffered in state; each epoch joins the new rows of
//! each side with the other side's buffered and new rows, and evicts what can no longer match.
//!
//! ```text
//!  output(e) = L_new ⋈ (R_old ∪ R_new)  ∪  L_old ⋈ R_new          (inner matches, each once)
//!  outer:      rows evicted behind the watermark that never matched, with NULLs for the other side
//!  left semi:  a left row the first time it matches
//! ```
//! The state of each side is its rows with a row id and a `matched` flag (`state/<op>/0` for
//! the left side, `state/<op>/1` for the right).

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

use super::late::event_ms;
use super::stateful::{
    open_stores, run_to_batch, EpochWatermarks, OperatorEpoch, OperatorMetrics, StatefulOperator,
};
use crate::error::{from_df_error, Result, TributaryError};
use crate::location::Location;
use crate::plan::{join_bounds, JoinStateBounds, SplitPlan};
use crate::state::{MemoryStateStore, StateChange, StateStore};

const ROW_ID: &str = "__row_id";
const MATCHED: &str = "__matched";
const LEFT_ID: &str = "__tributary_left_id";
const RIGHT_ID: &str = "__tributary_right_id";

pub(crate) struct JoinOperator {
    id: usize,
    split: SplitPlan,
    join: Join,
    bounds: JoinStateBounds,
    /// `[left, right]`.
    stores: Vec<MemoryStateStore>,
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

impl JoinOperator {
    pub(crate) async fn open(
        id: usize,
        split: SplitPlan,
        checkpoint: &Location,
        restore_to: Option<Epoch>,
    ) -> Result<Self> {
        let LogicalPlan::Join(join) = &split.node else {
            return Err(TributaryError::Internal(
                "a join operator over another node".into(),
            ));
        };
        let join = join.clone();
        let bounds = join_bounds(&join);
        let schemas = vec![
            side_state_schema(&join.left),
            side_state_schema(&join.right),
        ];
        let stores = open_stores(checkpoint, id, schemas, 1, restore_to).await?;
        Ok(JoinOperator {
            id,
            split,
            join,
            bounds,
            stores,
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
        let ids = store.rows().column(0).as_primitive::<Int64Type>();
        let base = arrow::compute::max(ids).map_or(0, |m| m + 1);
        let n = rows.num_rows() as i64;
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(base..base + n)),
            Arc::new(BooleanArray::from(vec![false; n as usize])),
        ];
        cols.extend(rows.columns().iter().cloned());
        RecordBatch::try_new(store.schema(), cols).map_err(arrow_err("join state rows"))
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

    fn stores(&self) -> &[MemoryStateStore] {
        &self.stores
    }

    fn stores_mut(&mut self) -> &mut [MemoryStateStore] {
        &mut self.stores
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
        let left_old = self.stores[0].rows().clone();
        let right_old = self.stores[1].rows().clone();
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
        let mut removed_total = 0usize;
        let mut updated_total = 0usize;
        for side in 0..2 {
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
            let evictable = if side == 0 {
                self.bounds.left_evictable()
            } else {
                self.bounds.right_evictable()
            };
            let gone: BooleanArray = match (evictable, watermarks.evict) {
                (true, Some(wm)) => {
                    let t = if side == 0 {
                        self.bounds.left_time
                    } else {
                        self.bounds.right_time
                    }
                    .expect("evictable sides have a time");
                    let ms = event_ms(all.column(t + 2))?;
                    let shift = if side == 0 {
                        -self.bounds.range.lo.unwrap_or(0)
                    } else {
                        self.bounds.range.hi.unwrap_or(0)
                    };
                    ms.iter()
                        .map(|v| Some(v.is_some_and(|v| v.saturating_add(shift) <= wm)))
                        .collect()
                }
                _ => BooleanArray::from(vec![false; all.num_rows()]),
            };
            let removed = filter_record_batch(&all, &gone).map_err(arrow_err("join eviction"))?;
            let rows = filter_record_batch(&all, &not(&gone).map_err(arrow_err("join eviction"))?)
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
            changes.push(StateChange {
                rows,
                upserts,
                removed,
            });
        }
        let output = Arc::new(
            MemTable::try_new(out_schema, vec![output])
                .map_err(|e| from_df_error("the join's output", e))?,
        );
        let progress = OperatorMetrics {
            name: "symmetricHashJoin",
            id: self.id,
            changes: &changes,
            updated: updated_total,
            removed: removed_total,
            dropped_by_watermark: 0,
            custom: json!({
                "joinType": self.join.join_type.to_string(),
                "leftRows": changes[0].rows.num_rows(),
                "rightRows": changes[1].rows.num_rows(),
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
