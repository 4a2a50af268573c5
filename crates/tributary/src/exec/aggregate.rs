//! The stateful streaming aggregation: any DataFusion aggregate, incrementally, through its
//! partial-state interface.
//!
//! ```text
//!  epoch input ─► below (stateless) ─► LateFilter(watermark) ─► AggregateExec(Partial)   P: key + state
//!                                                                        │ hash-partition by key
//!  state store p: rows S_p ── rows whose key is in P_p ──┐               ▼
//!                                                        └──► AggregateExec(PartialReduce)  U_p (per partition, in parallel)
//!  S'_p = S_p - keys(U_p) + U_p ;  emit by output mode ─► AggregateExec(Final) ─► values ─► above ─► sink
//!     append:   rows whose window ended at or before the watermark (then evicted); a sliding
//!               window kept by pane: the windows closing, merged from their stored panes
//!     update:   U (then rows behind the watermark are evicted)
//!     complete: every row (nothing is evicted)
//! ```
//! The state rows are DataFusion's own intermediate states (the columns `AggregateExec` in
//! Partial mode produces), so every aggregate that supports two-phase execution works: count,
//! sum, avg, min, max, first/last, array_agg, approx_distinct, and exact count(DISTINCT).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use arrow::array::{BooleanArray, RecordBatch, UInt32Array};
use arrow::compute::{concat_batches, filter_record_batch, not, take_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::MemTable;
use datafusion::execution::{SessionState, TaskContext};
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_expr::LexOrdering;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode, PhysicalGroupBy};
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::{ExecutionPlan, PhysicalExpr};
#[allow(deprecated)]
use datafusion::physical_planner::create_aggregate_expr_and_maybe_filter;
use serde_json::json;
use tributary_checkpoint::Epoch;

use super::flat_keys::FlatKeys;
use super::late::{behind_watermark, LateFilterExec, LateRows};
use super::live_view::{LiveSpec, ViewShape};
use super::operator_inputs::OperatorInputs;
use super::panes::Panes;
use super::stateful::{
    dyn_stores, dyn_stores_mut, open_keyed_stores, EpochWatermarks, OperatorEpoch, OperatorMetrics,
    StatefulOperator,
};
use crate::error::{from_df_error, Result, TributaryError};
use crate::location::Location;
use crate::modes::OutputMode;
use crate::plan::ansi;
use crate::plan::{event_time_key, EventTimeKey, SplitPlan};
use crate::state::{
    CloseTime, GroupBy, KeyRows, KeySet, KeyedStore, KnownKeys, LiveChange, LiveState,
    PartitionHash, StateChange, StateSize, StateStore,
};

struct Parts {
    group_by: PhysicalGroupBy,
    /// The grouping of the epoch's input, with struct keys (windows) as their fields.
    flat: FlatKeys,
    final_group_by: PhysicalGroupBy,
    aggr: Vec<Arc<AggregateFunctionExpr>>,
    filters: Vec<Option<Arc<dyn PhysicalExpr>>>,
    input_schema: SchemaRef,
    state_schema: SchemaRef,
    key_len: usize,
}

/// The sessions an aggregation groups by: a `Sessionize` node under its input, beneath the
/// projections that only pass columns on (column pruning puts one between them).
fn sessionize_below(plan: &LogicalPlan) -> Option<&crate::plan::Sessionize> {
    let mut plan = plan;
    loop {
        if let Some(s) = crate::plan::Sessionize::of(plan) {
            return Some(s);
        }
        match plan {
            LogicalPlan::Projection(p)
                if p.expr
                    .iter()
                    .all(|e| matches!(e, datafusion::logical_expr::Expr::Column(_))) =>
            {
                plan = &p.input
            }
            _ => return None,
        }
    }
}

/// One streaming aggregation with its state.
pub(crate) struct AggregateOperator {
    pub id: usize,
    pub split: SplitPlan,
    key: Option<EventTimeKey>,
    mode: OutputMode,
    partitions: usize,
    /// How keys are assigned to partitions (the checkpoint's choice).
    hash: PartitionHash,
    stores: Vec<KeyedStore>,
    parts: Parts,
    keep_late_rows: bool,
    /// The group key that is a session window, if any: sessions of the other keys merge.
    session: Option<usize>,
    /// The group key is a sliding window, aggregated by panes.
    panes: Option<Panes>,
    /// With panes, the aggregation's input with each row in its pane (planned instead of the
    /// input as written).
    pane_input: Option<LogicalPlan>,
    /// The state keeps a row per pane, not per window ([`Panes::keeps_pane_states`]).
    pane_states: bool,
    /// The live view of the groups' current results, when the query keeps one.
    live: Option<(Arc<LiveState>, ViewShape)>,
}

/// The partial aggregation with its input sorted as its aggregates ask (an `ORDER BY` inside
/// `nth_value`, `array_agg`, `first_value`): DataFusion's physical optimizer sorts it in a
/// batch, and the aggregates count on it (`nth_value` keeps the first rows it sees).
fn sorted_as_required(partial: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    let Some(required) = partial.required_input_ordering().swap_remove(0) else {
        return Ok(partial);
    };
    let ordering = LexOrdering::from(required.into_single());
    let input = partial.children()[0].clone();
    let sorted: Arc<dyn ExecutionPlan> =
        Arc::new(SortExec::new(ordering, input).with_preserve_partitioning(true));
    partial
        .replace_children(
            vec![sorted],
            datafusion::physical_plan::ReplaceChildrenOptions::new(
                datafusion::physical_plan::ChildrenPropertiesMode::Recompute,
            ),
        )
        .map_err(df_err("sorting the aggregation's input"))
}

fn df_err(what: &str) -> impl Fn(datafusion::error::DataFusionError) -> TributaryError + '_ {
    move |e| from_df_error(what, e)
}

fn nullable(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<Field>>(),
    ))
}

fn rewrap(schema: &SchemaRef, b: &RecordBatch) -> Result<RecordBatch> {
    RecordBatch::try_new(schema.clone(), b.columns().to_vec())
        .map_err(TributaryError::arrow("conforming state rows"))
}

fn concat(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<RecordBatch> {
    let b: Vec<RecordBatch> = batches
        .iter()
        .map(|b| rewrap(schema, b))
        .collect::<Result<_>>()?;
    concat_batches(schema, &b).map_err(TributaryError::arrow("concatenating state rows"))
}

impl AggregateOperator {
    /// Prepare the operator: plan its physical parts over the schema of `below` (bound to empty
    /// inputs) and restore its state as of `restore_to`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn open(
        id: usize,
        split: SplitPlan,
        mode: OutputMode,
        (partitions, hash): (usize, PartitionHash),
        state: &SessionState,
        empty_below: &LogicalPlan,
        checkpoint: &Location,
        restore_to: Option<Epoch>,
        (keep_late_rows, pane_states_allowed): (bool, bool),
        memory_limit: Option<usize>,
        live: Option<LiveSpec>,
    ) -> Result<Self> {
        let LogicalPlan::Aggregate(agg) = &split.node else {
            return Err(TributaryError::Internal(
                "an aggregate operator over a non-aggregate".into(),
            ));
        };
        let key = event_time_key(agg);
        let session = sessionize_below(&agg.input).and_then(|s| {
            agg.group_expr.iter().position(|g| {
                let g = match g {
                    datafusion::logical_expr::Expr::Alias(a) => a.expr.as_ref(),
                    g => g,
                };
                matches!(g, datafusion::logical_expr::Expr::Column(c) if c.name == s.session.name)
            })
        });
        // Late rows kept aside keep the window they were late for: such a query spreads rows
        // over their windows as planned.
        let panes = Panes::of(agg).filter(|_| session.is_none() && !keep_late_rows);
        let pane_below = panes.map(|p| p.rewrite(empty_below)).transpose()?;
        let empty_below = pane_below.as_ref().unwrap_or(empty_below);
        let physical = state
            .create_physical_plan(empty_below)
            .await
            .map_err(df_err("planning the aggregation's input"))?;
        let input_schema = physical.schema();
        let logical_schema = empty_below.schema();
        // Physical planning takes simplified expressions only (`coalesce` becomes a CASE, for
        // one), as DataFusion's optimizer leaves them; the operator plans from the logical node.
        let simplifier = ExprSimplifier::new(
            SimplifyContext::builder()
                .with_schema(logical_schema.clone())
                .with_config_options(Arc::new(state.config_options().as_ref().clone()))
                .build(),
        );
        let simplify = |e: &Expr| {
            simplifier
                .simplify(e.clone())
                .map_err(df_err("simplifying an aggregation's expression"))
        };
        let mut groups = Vec::new();
        for e in &agg.group_expr {
            let p = state
                .create_physical_expr(simplify(e)?, logical_schema)
                .map_err(df_err("planning a group key"))?;
            groups.push((p, e.schema_name().to_string()));
        }
        let group_by = PhysicalGroupBy::new_single(groups);
        let flat = FlatKeys::plan(state, &agg.group_expr, logical_schema, simplify)?;
        // Panes are spread over windows in the window key's flat columns.
        let panes = panes
            .filter(|p| matches!(&flat.shapes[p.key], Some(DataType::Struct(f)) if f.len() == 2));
        let pane_input = panes.map(|p| p.rewrite(&agg.input)).transpose()?;
        let pane_states = panes.is_some_and(|p| {
            p.keeps_pane_states(
                agg,
                mode,
                split.is_chained(),
                live.is_some(),
                pane_states_allowed,
            )
        });
        let mut aggr = Vec::new();
        let mut filters = Vec::new();
        for e in &agg.aggr_expr {
            // By panes, a distinct aggregate keeps a set per group, as in the batch
            // (`plan::group_sets`): a few groups with large sets each.
            let e = match panes {
                Some(_) => crate::plan::group_sets::set_per_group(e),
                None => e.clone(),
            };
            #[allow(deprecated)]
            let (a, f, _order) = create_aggregate_expr_and_maybe_filter(
                &simplify(&e)?,
                logical_schema,
                &input_schema,
                state.execution_props(),
            )
            .map_err(df_err("planning an aggregate function"))?;
            aggr.push(a);
            filters.push(f);
        }
        // Spark's ANSI arithmetic, as the session's physical rule gives batch plans.
        let group_by = ansi::spark_group_by(&group_by, &input_schema)
            .map_err(df_err("planning a group key"))?
            .data;
        let aggr = ansi::spark_aggregates(&aggr, &input_schema)
            .map_err(df_err("planning an aggregate function"))?
            .data;
        let filters = ansi::spark_filters(&filters, &input_schema)
            .map_err(df_err("planning an aggregate function"))?
            .data;
        let probe = AggregateExec::try_new(
            AggregateMode::Partial,
            group_by.clone(),
            aggr.clone(),
            filters.clone(),
            physical.clone(),
            input_schema.clone(),
        )
        .map_err(df_err("planning the partial aggregation"))?;
        let state_schema = nullable(&probe.schema());
        let key_len = agg.group_expr.len();
        let final_group_by = group_by.as_final();
        // Rows close by their event-time key (in complete mode nothing closes); the keys of a
        // session window are grouped by the other keys, whose sessions merge.
        let close = match (key, mode, panes) {
            (Some(k), _, Some(p)) if pane_states => Some(CloseTime::Pane(k.index, p)),
            (Some(k), OutputMode::Append | OutputMode::Update, _) => {
                Some(CloseTime::Key(k.index, k.kind))
            }
            _ => None,
        };
        let groups = session
            .map(|s| GroupBy::Columns((0..key_len).filter(|i| *i != s).collect::<Vec<usize>>()));
        let stores = open_keyed_stores(
            checkpoint,
            id,
            partitions,
            state_schema.clone(),
            key_len,
            close,
            groups,
            restore_to,
            memory_limit,
        )
        .await?;
        let live = live.map(|spec| {
            let shape = ViewShape::derive(id, split.node.schema(), key_len, spec.above.as_ref());
            let view = LiveState::new(spec.name, "aggregation", shape.schema(), shape.key_len());
            (view, shape)
        });
        let op = AggregateOperator {
            id,
            split,
            key,
            mode,
            partitions,
            hash,
            stores,
            parts: Parts {
                group_by,
                flat,
                final_group_by,
                aggr,
                filters,
                input_schema,
                state_schema,
                key_len,
            },
            keep_late_rows,
            session,
            panes,
            pane_input,
            pane_states,
            live,
        };
        if let Some((view, shape)) = &op.live {
            // The view starts from the restored groups.
            let all: Vec<RecordBatch> = op
                .stores
                .iter()
                .map(|s| s.all_except(&KeySet::default()))
                .collect::<Result<_>>()?;
            let task = Arc::new(TaskContext::from(state));
            let rows = op.finalize(all, task).await?;
            view.reset(
                restore_to,
                shape.rows(&concat(&op.split.output_schema, &rows)?)?,
            )?;
        }
        Ok(op)
    }

    /// The final values (in the operator's output schema) of state rows.
    async fn finalize(
        &self,
        rows: Vec<RecordBatch>,
        task: Arc<TaskContext>,
    ) -> Result<Vec<RecordBatch>> {
        let rows: Vec<RecordBatch> = rows.into_iter().filter(|b| b.num_rows() > 0).collect();
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let fin = self.aggregate_exec(AggregateMode::Final, self.memory_exec(vec![rows])?)?;
        let out = datafusion::physical_plan::collect(fin, task)
            .await
            .map_err(df_err("evaluating aggregates"))?;
        out.iter()
            .map(|b| rewrap(&self.split.output_schema, b))
            .collect()
    }

    fn aggregate_exec(
        &self,
        mode: AggregateMode,
        input: Arc<dyn ExecutionPlan>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let group_by = match mode {
            AggregateMode::Partial => self.parts.group_by.clone(),
            _ => self.parts.final_group_by.clone(),
        };
        Ok(Arc::new(
            AggregateExec::try_new(
                mode,
                group_by,
                self.parts.aggr.clone(),
                self.parts.filters.clone(),
                input,
                self.parts.input_schema.clone(),
            )
            .map_err(df_err("planning the stateful aggregation"))?,
        ))
    }

    fn memory_exec(&self, partitions: Vec<Vec<RecordBatch>>) -> Result<Arc<dyn ExecutionPlan>> {
        let exec: Arc<dyn ExecutionPlan> =
            MemorySourceConfig::try_new_exec(&partitions, self.parts.state_schema.clone(), None)
                .map_err(df_err("state rows"))?;
        Ok(exec)
    }
}

#[async_trait]
impl StatefulOperator for AggregateOperator {
    fn partition_columns(&self) -> Vec<Option<Vec<usize>>> {
        vec![Some(
            (0..self.parts.key_len)
                .filter(|i| Some(*i) != self.session)
                .collect(),
        )]
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

    fn live_state(&self) -> Option<&Arc<LiveState>> {
        self.live.as_ref().map(|(view, _)| view)
    }

    async fn process(
        &self,
        state: &SessionState,
        inputs: &OperatorInputs<'_>,
        watermarks: EpochWatermarks,
    ) -> Result<OperatorEpoch> {
        let task = Arc::new(TaskContext::from(state));
        let parts = &self.parts;
        // 1. Partial aggregation of the epoch's input, without the rows behind the watermark.
        let mut input = inputs
            .plan(
                state,
                0,
                self.pane_input.as_ref(),
                "the aggregation's input",
            )
            .await?;
        let late = Arc::new(LateRows {
            keep: self.keep_late_rows,
            ..Default::default()
        });
        let filtering = self.mode != OutputMode::Complete;
        // With panes, the event-time key is the window's pane.
        let panes_late = self
            .panes
            .filter(|p| self.key.is_some_and(|k| k.index == p.key));
        if let (Some(key), Some(wm), true) = (self.key, watermarks.late, filtering) {
            let expr = parts.group_by.expr()[key.index].0.clone();
            input = Arc::new(
                LateFilterExec::new(input, expr, key.kind, wm, late.clone()).with_panes(panes_late),
            );
        }
        let partial = if parts.flat.is_identity() {
            self.aggregate_exec(AggregateMode::Partial, input)?
        } else {
            Arc::new(
                AggregateExec::try_new(
                    AggregateMode::Partial,
                    parts.flat.group_by.clone(),
                    parts.aggr.clone(),
                    parts.filters.clone(),
                    input,
                    parts.input_schema.clone(),
                )
                .map_err(df_err("planning the stateful aggregation"))?,
            )
        };
        let partial = sorted_as_required(partial)?;
        let partial_rows = datafusion::physical_plan::collect(partial, task.clone())
            .await
            .map_err(df_err("aggregating the epoch's input"))?;
        // Pane states spread over their windows: a window has a row per pane of the epoch,
        // merged with the others (and its stored row) by the state merge below.
        let pane_states: usize = partial_rows.iter().map(RecordBatch::num_rows).sum();
        let partial_rows = match self.panes {
            Some(p) if !partial_rows.is_empty() && !self.pane_states => {
                let late = watermarks
                    .late
                    .filter(|_| filtering && panes_late.is_some());
                let at = parts.flat.offset(p.key);
                partial_rows
                    .iter()
                    .map(|b| p.spread(b, at, late))
                    .collect::<Result<Vec<_>>>()?
            }
            _ => partial_rows,
        };
        let partial_rows = if parts.flat.is_identity() {
            partial_rows
        } else {
            partial_rows
                .iter()
                .map(|b| parts.flat.rebuild(&parts.state_schema, b))
                .collect::<Result<Vec<_>>>()?
        };
        let partial_rows = concat(&parts.state_schema, &partial_rows)?;
        // 1b. Kept by pane: the windows the watermark closes, merged from the stored panes and
        //     the epoch's (rows behind the epoch's watermark but not the previous one count in
        //     the windows closing now), before the epoch's panes are merged into the store.
        let mut windows_closing = Vec::new();
        let mut panes_read = 0;
        if let (true, Some(p), Some(key), Some(wm)) =
            (self.pane_states, self.panes, self.key, watermarks.evict)
        {
            // Nothing to read when no window ends between the two watermarks (an epoch within
            // one slide, a real-time arrival that did not move the watermark).
            let closing = watermarks
                .prev_evict
                .is_none_or(|prev| p.first_end_after(prev) <= wm);
            let epoch_panes = closing.then(|| partial_rows.clone());
            let stored = self.stores.iter().filter(|_| closing).map(|store| {
                // A closing window's panes end at or before the watermark.
                let rows = store.closed(wm.saturating_add(p.after_end_ms()), &KeySet::default())?;
                panes_read += rows.num_rows();
                Ok::<_, TributaryError>(rows)
            });
            for rows in stored.chain(epoch_panes.map(Ok)) {
                let windows = p.windows_of_panes(&rows?, key.index, watermarks.prev_evict, wm)?;
                if windows.num_rows() > 0 {
                    windows_closing.push(rewrap(&parts.state_schema, &windows)?);
                }
            }
        }
        // 2. Partition by key (without the session: sessions of a key merge); gather each
        //    partition's old rows for the keys seen.
        let part_cols: Vec<usize> = (0..parts.key_len)
            .filter(|i| Some(*i) != self.session)
            .collect();
        let keys = KeyRows::of(&partial_rows, &part_cols)?;
        let mut idx: Vec<Vec<u32>> = vec![Vec::new(); self.partitions];
        for (i, p) in keys
            .partitions(self.partitions, self.hash)?
            .into_iter()
            .enumerate()
        {
            idx[p].push(i as u32);
        }
        let mut reduce_inputs = Vec::with_capacity(self.partitions);
        let mut touched_rows = Vec::with_capacity(self.partitions);
        let mut epoch_keys = 0;
        for (p, rows) in idx.iter().enumerate() {
            let new = take_record_batch(&partial_rows, &UInt32Array::from(rows.clone()))
                .map_err(TributaryError::arrow("partitioning state"))?;
            let store = &self.stores[p];
            // The partition's keys, from the row keys computed once for the whole epoch.
            let seen: KeySet<'_> = rows.iter().map(|i| keys.key(*i as usize)).collect();
            epoch_keys += seen.len();
            let touched = match self.session {
                None => store.lookup(seen.into_iter())?,
                Some(_) => store.lookup_groups(seen.into_iter())?,
            };
            touched_rows.push(touched.clone());
            match self.session {
                None => reduce_inputs.push(vec![touched, new]),
                Some(s) => {
                    // Stored and new sessions of the same key that overlap become one.
                    let both = concat(&parts.state_schema, &[touched, new])?;
                    let merged = crate::plan::sessionize_batch(&both, &part_cols, s)
                        .map_err(df_err("merging sessions"))?;
                    reduce_inputs.push(vec![merged]);
                }
            }
        }
        // 3. Merge, every partition in parallel. A partition with no rows in or stored for the
        //    epoch's keys has nothing to merge: an aggregation without GROUP BY would answer
        //    one row of empty states for it (count 0, sum NULL), a group that does not exist.
        let idle: Vec<bool> = reduce_inputs
            .iter()
            .map(|parts| parts.iter().all(|b| b.num_rows() == 0))
            .collect();
        let reduce = self.aggregate_exec(
            AggregateMode::PartialReduce,
            self.memory_exec(reduce_inputs)?,
        )?;
        let updated = datafusion::physical_plan::collect_partitioned(reduce, task.clone())
            .await
            .map_err(df_err("merging state"))?;
        // 4. The change, what to emit and what to evict, per output mode.
        let mut changes = Vec::with_capacity(self.partitions);
        let mut emit = Vec::new();
        let (mut updated_rows, mut removed_rows) = (0usize, 0usize);
        let mut size = StateSize::default();
        for (p, up) in updated.into_iter().enumerate() {
            let store = &self.stores[p];
            let up = if idle[p] {
                RecordBatch::new_empty(parts.state_schema.clone())
            } else {
                concat(&parts.state_schema, &up)?
            };
            updated_rows += up.num_rows();
            let touched_keys = KeyRows::new(&touched_rows[p], parts.key_len)?;
            let touched_set = touched_keys.set();
            // Rows the watermark closes: updated ones, and stored ones not updated.
            let (closing, stored_closed, evicted) = match (self.key, watermarks.evict, self.mode) {
                // Panes close after their last window; their windows were merged above.
                (Some(_), Some(wm), _) if self.pane_states => (
                    store
                        .close_time()
                        .map(|c| c.of(&up))
                        .transpose()?
                        .unwrap_or_default()
                        .into_iter()
                        .map(|t| Some(t <= wm))
                        .collect(),
                    store.closed_keys(wm, &touched_set)?,
                    Some(wm),
                ),
                (Some(key), Some(wm), OutputMode::Append | OutputMode::Update) => (
                    behind_watermark(up.column(key.index), key.kind, wm)
                        .map_err(df_err("evicting state"))?,
                    store.closed(wm, &touched_set)?,
                    Some(wm),
                ),
                _ => (
                    arrow::array::BooleanArray::from(vec![false; up.num_rows()]),
                    RecordBatch::new_empty(parts.state_schema.clone()),
                    None,
                ),
            };
            let up_closed =
                filter_record_batch(&up, &closing).map_err(TributaryError::arrow("state"))?;
            let upserts =
                filter_record_batch(&up, &not(&closing).map_err(TributaryError::arrow("state"))?)
                    .map_err(TributaryError::arrow("state"))?;
            let closed = concat(&parts.state_schema, &[stored_closed.clone(), up_closed])?;
            match self.mode {
                OutputMode::Append if self.pane_states => {}
                OutputMode::Append => emit.push(closed.clone()),
                OutputMode::Update => emit.push(up.clone()),
                OutputMode::Complete => {
                    emit.push(store.all_except(&touched_set)?);
                    emit.push(up.clone());
                }
            }
            removed_rows += closed.num_rows();
            // Stored rows updated away (closed, or sessions merged into a bigger one) go.
            let up_keys = KeyRows::new(&upserts, parts.key_len)?;
            let up_set = up_keys.set();
            let replaced_mask =
                not(&touched_keys.mask_in(&up_set)).map_err(TributaryError::arrow("state"))?;
            let replaced = filter_record_batch(&touched_rows[p], &replaced_mask)
                .map_err(TributaryError::arrow("state"))?;
            let removed = concat(&parts.state_schema, &[stored_closed, replaced])?;
            // Every stored row of the epoch's keys was read: an upsert not among them is new;
            // the removed rows are stored ones.
            let known = KnownKeys {
                new: not(&up_keys.mask_in(&touched_set)).map_err(TributaryError::arrow("state"))?,
                stored: BooleanArray::from(vec![true; removed.num_rows()]),
            };
            // Every stored row the watermark closes is removed: the untouched ones found
            // through the time index, the touched ones replaced by nothing (a closing row is
            // not upserted).
            let change = StateChange::known(upserts, removed, known).evicting_through(evicted);
            size = size + store.size_after(&change)?;
            changes.push(change);
        }
        // 5. Final values of the emitted rows (and of the live view's changed groups).
        let windows_closed: usize = windows_closing.iter().map(RecordBatch::num_rows).sum();
        if self.pane_states {
            emit = windows_closing;
        }
        let output = self.finalize(emit, task.clone()).await?;
        let live = match &self.live {
            Some((_, shape)) => {
                let upserts: Vec<RecordBatch> = changes.iter().map(|c| c.upserts.clone()).collect();
                let upserts = self.finalize(upserts, task).await?;
                let removed: Vec<RecordBatch> = changes.iter().map(|c| c.removed.clone()).collect();
                Some(LiveChange {
                    upserts: shape.rows(&concat(&self.split.output_schema, &upserts)?)?,
                    removed: shape.keys(&concat(&parts.state_schema, &removed)?)?,
                })
            }
            None => None,
        };
        let out_schema = self.split.output_schema.clone();
        let output = Arc::new(
            MemTable::try_new(out_schema, vec![output])
                .map_err(df_err("the aggregation's output"))?,
        );
        let late_rows = std::mem::take(&mut *late.kept.lock().expect("late rows"));
        let progress = OperatorMetrics {
            name: "stateStoreSave",
            id: self.id,
            state: size,
            partitions: self.partitions,
            updated: updated_rows,
            removed: removed_rows,
            dropped_by_watermark: late.dropped.load(Ordering::Relaxed),
            custom: match self.panes {
                None => json!({"outputMode": self.mode.to_string()}),
                Some(p) if self.pane_states => json!({
                    "outputMode": self.mode.to_string(),
                    "slidingWindowPanes": {
                        "paneMs": p.pane_ms(),
                        "stateKeptBy": "pane",
                        "paneStates": pane_states,
                        "panesRead": panes_read,
                        "windowPanesMerged": windows_closed,
                    },
                }),
                Some(p) => json!({
                    "outputMode": self.mode.to_string(),
                    "slidingWindowPanes": {
                        "paneMs": p.pane_ms(),
                        "stateKeptBy": "window",
                        "paneStates": pane_states,
                        "windowStates": epoch_keys,
                    },
                }),
            },
        }
        .progress();
        Ok(OperatorEpoch {
            output,
            changes,
            late_rows,
            progress,
            live,
        })
    }
}
