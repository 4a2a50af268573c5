//! Sliding windows by panes in a batch: the aggregation of a sliding window over its panes (see
//! `exec::panes` for the stream).
//!
//! ```text
//!  Aggregate(group: w, k)                         PaneAggregate(group: w, k)
//!    ... Unnest(__window_0)               ──►       ... Projection(*, window(ts, G, G) AS __window_0)
//!          Projection(*, __sliding_windows(..))           input
//!            input
//!
//!  physical: AggregateExec(Partial, by pane, k) ─► hash repartition by k
//!            ─► PaneMergeExec (panes by start, each window merged once complete) ─► window structs rebuilt
//! ```
//! Every row is aggregated once, into its pane; only the partial states are merged into the
//! windows, so the batch never holds a row per (event, window), and the windows' states are
//! held one chunk of panes at a time (`plan::pane_merge`), on disk in sorted runs when the
//! memory pool refuses the panes'. The rule runs before
//! DataFusion's optimizer rules, so an exact `count(DISTINCT x)` merges its pane sets instead of
//! grouping by every (window, x).

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchemaRef, Result};
use datafusion::logical_expr::{Expr, Extension, LogicalPlan, UserDefinedLogicalNodeCore};
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{ExecutionPlan, Partitioning};
#[allow(deprecated)]
use datafusion::physical_planner::create_aggregate_expr_and_maybe_filter;

use super::capped::CappedExec;
use super::map_batches::MapBatchesExec;
use super::pane_merge::PaneMergeExec;
use crate::exec::flat_keys::FlatKeys;
use crate::exec::panes::Panes;

/// The memory a partition's partial aggregation by pane holds before it sends its states on
/// (less under a small memory limit: see [`CappedExec`]).
const PARTIAL_CAP: usize = 32 << 20;

/// An aggregation grouped by a sliding window, over the panes of its input.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PaneAggregate {
    /// The input, each row in its pane.
    pub input: LogicalPlan,
    pub group_expr: Vec<Expr>,
    pub aggr_expr: Vec<Expr>,
    /// The aggregation's own output schema.
    pub schema: DFSchemaRef,
    pub panes: Panes,
}

impl PartialOrd for PaneAggregate {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        (&self.group_expr, &self.aggr_expr, &self.panes).partial_cmp(&(
            &o.group_expr,
            &o.aggr_expr,
            &o.panes,
        ))
    }
}

impl UserDefinedLogicalNodeCore for PaneAggregate {
    fn name(&self) -> &str {
        "PaneAggregate"
    }
    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }
    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }
    fn expressions(&self) -> Vec<Expr> {
        self.group_expr
            .iter()
            .chain(&self.aggr_expr)
            .cloned()
            .collect()
    }
    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "PaneAggregate: panes={} ms, groupBy=[{}], aggr=[{}]",
            self.panes.pane_ms(),
            self.group_expr
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            self.aggr_expr
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
    fn with_exprs_and_inputs(
        &self,
        mut exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> Result<Self> {
        let aggr_expr = exprs.split_off(self.group_expr.len());
        Ok(PaneAggregate {
            input: inputs.swap_remove(0),
            group_expr: exprs,
            aggr_expr,
            schema: self.schema.clone(),
            panes: self.panes,
        })
    }
    fn necessary_children_exprs(&self, _output_columns: &[usize]) -> Option<Vec<Vec<usize>>> {
        let schema = self.input.schema();
        let mut used: Vec<usize> = self
            .expressions()
            .iter()
            .flat_map(|e| e.column_refs())
            .filter_map(|c| schema.index_of_column(c).ok())
            .collect();
        used.sort_unstable();
        used.dedup();
        Some(vec![used])
    }
}

impl PaneAggregate {
    /// The batch operators over `input` (see the module's drawing).
    pub(crate) fn physical(
        &self,
        input: Arc<dyn ExecutionPlan>,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let to_df = |e: crate::error::TributaryError| {
            datafusion::error::DataFusionError::External(Box::new(e))
        };
        let logical = self.input.schema();
        let input_schema = input.schema();
        let flat =
            FlatKeys::plan(session, &self.group_expr, logical, |e| Ok(e.clone())).map_err(to_df)?;
        if !matches!(&flat.shapes[self.panes.key],
            Some(arrow::datatypes::DataType::Struct(f)) if f.len() == 2)
        {
            return datafusion::common::internal_err!(
                "a sliding window key that is not a struct of two timestamps"
            );
        }
        let mut aggr = Vec::new();
        let mut filters = Vec::new();
        for e in &self.aggr_expr {
            // A distinct aggregate keeps a set per group, so that it can spill (group_sets.rs).
            let e = super::group_sets::set_per_group(e);
            #[allow(deprecated)]
            let (a, f, _) = create_aggregate_expr_and_maybe_filter(
                &e,
                logical,
                &input_schema,
                session.execution_props(),
            )?;
            aggr.push(a);
            filters.push(f);
        }
        let partial = Arc::new(AggregateExec::try_new(
            AggregateMode::Partial,
            flat.group_by.clone(),
            aggr.clone(),
            filters.clone(),
            input,
            input_schema.clone(),
        )?);
        let at = flat.offset(self.panes.key);
        let final_group_by = flat.group_by.as_final();
        let groups = final_group_by.expr().len();
        // The final aggregation's output, which the merge gives.
        let out = AggregateExec::try_new(
            AggregateMode::FinalPartitioned,
            final_group_by,
            aggr.clone(),
            filters,
            partial.clone(),
            input_schema,
        )?
        .schema();
        let keys = PaneMergeExec::keys(&partial.schema(), at, groups);
        // The merge takes panes as often as they come: the partial aggregation sends its
        // states on when it holds PARTIAL_CAP, rather than every pane's until its input ends.
        let partial: Arc<dyn ExecutionPlan> = Arc::new(CappedExec::new(partial, PARTIAL_CAP));
        let partitions = session.config().target_partitions().max(1);
        let shuffled: Arc<dyn ExecutionPlan> = if keys.is_empty() {
            Arc::new(CoalescePartitionsExec::new(partial))
        } else {
            Arc::new(RepartitionExec::try_new(
                partial,
                Partitioning::Hash(keys, partitions),
            )?)
        };
        let fin = Arc::new(PaneMergeExec::new(
            shuffled, self.panes, at, groups, aggr, out,
        ));
        let schema: SchemaRef = Arc::new(self.schema.as_arrow().clone());
        let out = schema.clone();
        let flat = Arc::new(flat);
        Ok(Arc::new(MapBatchesExec::new(
            fin,
            schema,
            "PaneWindowsExec",
            move |b| flat.rebuild(&out, &b),
        )))
    }
}

/// The optimizer rule that aggregates sliding windows by panes in a batch. It runs first, before
/// DataFusion's rules rewrite the aggregation (a lone `count(DISTINCT x)` would become a
/// grouping by every (window, x)).
#[derive(Debug, Default)]
pub(crate) struct PaneAggregateRule;

impl OptimizerRule for PaneAggregateRule {
    fn name(&self) -> &str {
        "sliding_windows_by_panes"
    }
    fn supports_rewrite(&self) -> bool {
        true
    }
    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        plan.transform_up(|node| {
            let LogicalPlan::Aggregate(a) = &node else {
                return Ok(Transformed::no(node));
            };
            let Some(panes) = Panes::of(a) else {
                return Ok(Transformed::no(node));
            };
            let input = panes
                .rewrite(&a.input)
                .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
            Ok(Transformed::yes(LogicalPlan::Extension(Extension {
                node: Arc::new(PaneAggregate {
                    input,
                    group_expr: a.group_expr.clone(),
                    aggr_expr: a.aggr_expr.clone(),
                    schema: a.schema.clone(),
                    panes,
                }),
            })))
        })
    }
}
