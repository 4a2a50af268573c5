//! Finding the stateful part of a streaming plan: the streaming aggregation, its event-time
//! key, and the plan above it.
//!
//! ```text
//!   above (stateless, runs on the operator's output) ── Projection(aliases) ← TableScan(AggregateOutput)
//!   Aggregate  ◄── the stateful operator (state store, watermark, output mode)
//!   below (stateless, runs on the epoch's input)
//! ```

use std::any::Any;
use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::default_table_source::{provider_as_source, source_as_provider};
use datafusion::catalog::Session as CatalogSession;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::Column;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::logical_expr::{Aggregate, Expr, LogicalPlan, LogicalPlanBuilder};
use datafusion::physical_plan::ExecutionPlan;

use super::dedup::Deduplicate;
use super::rewrite::is_streaming;
use super::watermark::EventTimeWatermark;
use crate::error::{Result, TributaryError};
use crate::functions::{window_call, SESSION_WINDOW, SLIDING_WINDOWS, WINDOW};

/// How a group key carries event time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventTimeKind {
    /// A window struct `{start, end}`: closed once the watermark reaches `end`.
    Window,
    /// The event-time column itself: closed once the watermark reaches it.
    Time,
}

/// The group key that carries event time, and the watermark delay behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EventTimeKey {
    /// Index among the group expressions.
    pub index: usize,
    /// Window or plain time.
    pub kind: EventTimeKind,
}

/// The streaming aggregations of a plan (top-down order).
pub(crate) fn streaming_aggregates(plan: &LogicalPlan) -> Vec<Aggregate> {
    let mut out = Vec::new();
    let _ = plan.apply(|n| {
        if let LogicalPlan::Aggregate(a) = n {
            if is_streaming(&a.input) {
                out.push(a.clone());
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out
}

/// What a group expression is, in terms of event time: follows columns down through
/// projections to a `window()` call or to a watermarked column.
fn resolve(e: &Expr, plan: &LogicalPlan) -> Option<EventTimeKind> {
    match e {
        Expr::Alias(a) => resolve(&a.expr, plan),
        Expr::Cast(c) => resolve(&c.expr, plan),
        Expr::ScalarFunction(f)
            if f.func.name() == WINDOW
                || f.func.name() == SLIDING_WINDOWS
                || f.func.name() == SESSION_WINDOW =>
        {
            let ts = if f.func.name() == WINDOW {
                window_call(e).map(|(_, ts)| ts)?
            } else {
                f.args.first()?
            };
            (resolve(ts, plan)? == EventTimeKind::Time).then_some(EventTimeKind::Window)
        }
        Expr::Column(c) => resolve_column(c, plan),
        _ => None,
    }
}

fn resolve_column(c: &Column, plan: &LogicalPlan) -> Option<EventTimeKind> {
    if let Some(w) = EventTimeWatermark::of(plan) {
        if w.column.name == c.name {
            return Some(EventTimeKind::Time);
        }
        return resolve_column(c, &w.input);
    }
    match plan {
        LogicalPlan::Projection(p) => {
            let i = p.schema.iter().position(|(q, f)| {
                f.name() == &c.name && (c.relation.is_none() || q == c.relation.as_ref())
            })?;
            resolve(&p.expr[i], &p.input)
        }
        LogicalPlan::Unnest(u) => {
            // An unnested list of windows is a window.
            let k = resolve_column(c, &u.input)?;
            Some(k)
        }
        LogicalPlan::TableScan(_) | LogicalPlan::EmptyRelation(_) | LogicalPlan::Values(_) => None,
        other => other
            .inputs()
            .into_iter()
            .find_map(|i| resolve_column(&Column::new_unqualified(&c.name), i)),
    }
}

/// How a column of `plan`'s output carries event time (a window, or the watermarked time), if
/// it does.
pub(crate) fn event_time_kind(c: &Column, plan: &LogicalPlan) -> Option<EventTimeKind> {
    resolve_column(c, plan)
}

/// The event-time key of an aggregation, if any.
pub(crate) fn event_time_key(agg: &Aggregate) -> Option<EventTimeKey> {
    agg.group_expr
        .iter()
        .enumerate()
        .find_map(|(index, e)| resolve(e, &agg.input).map(|kind| EventTimeKey { index, kind }))
}

/// Whether the plan has a watermark below `plan`.
pub(crate) fn has_watermark(plan: &LogicalPlan) -> bool {
    plan.exists(|n| Ok(EventTimeWatermark::of(n).is_some()))
        .unwrap_or(false)
}

/// Placeholder for the output of the stateful operator in the plan above it; bound to the
/// epoch's rows by [`bind_operator_output`].
#[derive(Debug)]
pub(super) struct OperatorOutput {
    schema: SchemaRef,
}

#[async_trait]
impl TableProvider for OperatorOutput {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
    fn table_type(&self) -> TableType {
        TableType::Temporary
    }
    async fn scan(
        &self,
        _state: &dyn CatalogSession,
        _projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        datafusion::common::internal_err!(
            "the stateful operator's output was not bound for this epoch"
        )
    }
}

/// A streaming plan split at its stateful operator.
#[derive(Debug, Clone)]
pub(crate) struct SplitPlan {
    /// The stateful node (an aggregation or a deduplication).
    pub node: LogicalPlan,
    /// Its input: the stateless plan below, run on each epoch's rows.
    pub input: LogicalPlan,
    /// The plan above, reading the operator's output from a placeholder.
    pub above: LogicalPlan,
    /// The placeholder's schema: `__c0..` with the node's output types.
    pub output_schema: SchemaRef,
}

/// Whether a node keeps state on a stream.
pub(crate) fn is_stateful(node: &LogicalPlan) -> bool {
    match node {
        LogicalPlan::Aggregate(a) => is_streaming(&a.input),
        LogicalPlan::Join(j) => is_streaming(&j.left) && is_streaming(&j.right),
        other => {
            Deduplicate::of(other).is_some_and(|d| is_streaming(&d.input))
                || super::topn::TopN::of(other).is_some_and(|t| is_streaming(&t.input))
                || super::map_groups::FlatMapGroupsWithState::of(other)
                    .is_some_and(|m| is_streaming(&m.input))
        }
    }
}

/// The stateful nodes of a plan, top-down.
pub(crate) fn stateful_nodes(plan: &LogicalPlan) -> Vec<LogicalPlan> {
    let mut out = Vec::new();
    let _ = plan.apply(|n| {
        if is_stateful(n) {
            out.push(n.clone());
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out
}

/// The index of the column of `plan`'s output that carries the watermarked event time.
pub(crate) fn event_time_column(plan: &LogicalPlan) -> Option<usize> {
    plan.schema().iter().position(|(q, f)| {
        resolve_column(&Column::new(q.cloned(), f.name()), plan) == Some(EventTimeKind::Time)
    })
}

/// The delay of the first watermark below `plan`, in milliseconds.
pub(crate) fn watermark_delay(plan: &LogicalPlan) -> Option<i64> {
    let mut delay = None;
    let _ = plan.apply(|n| {
        if let Some(w) = EventTimeWatermark::of(n) {
            delay = Some(w.delay_ms);
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    delay
}

/// Split `plan` at its (single, top-most) stateful operator.
pub(crate) fn split_at_stateful(plan: &LogicalPlan) -> Result<Option<SplitPlan>> {
    let Some(node) = stateful_nodes(plan).into_iter().next() else {
        return Ok(None);
    };
    let input = node.inputs()[0].clone();
    let fields: Vec<Field> = node
        .schema()
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| Field::new(format!("__c{i}"), f.data_type().clone(), true))
        .collect();
    let output_schema = Arc::new(Schema::new(fields));
    let placeholder = Arc::new(OperatorOutput {
        schema: output_schema.clone(),
    });
    let scan = LogicalPlanBuilder::scan("__stateful_output", provider_as_source(placeholder), None)
        .and_then(|b| {
            let exprs: Vec<Expr> = node
                .schema()
                .iter()
                .enumerate()
                .map(|(i, (q, f))| {
                    Expr::Column(Column::new_unqualified(format!("__c{i}")))
                        .alias_qualified(q.cloned(), f.name())
                })
                .collect();
            b.project(exprs)
        })
        .and_then(|b| b.build())
        .map_err(TributaryError::df(
            "splitting the plan at its stateful operator",
        ))?;
    let target = node.clone();
    let above = plan
        .clone()
        .transform_down(|n| {
            if n == target {
                Ok(Transformed::new(
                    scan.clone(),
                    true,
                    TreeNodeRecursion::Jump,
                ))
            } else {
                Ok(Transformed::no(n))
            }
        })
        .map_err(TributaryError::df(
            "splitting the plan at its stateful operator",
        ))?
        .data;
    Ok(Some(SplitPlan {
        node,
        input,
        above,
        output_schema,
    }))
}

/// The plan above with the operator's output bound to `rows`.
pub(crate) fn bind_operator_output(
    above: &LogicalPlan,
    rows: Arc<dyn TableProvider>,
) -> Result<LogicalPlan> {
    above
        .clone()
        .transform_up(|n| {
            if let LogicalPlan::TableScan(scan) = &n {
                let p = source_as_provider(&scan.source)?;
                let any: &dyn Any = p.as_ref();
                if any.downcast_ref::<OperatorOutput>().is_some() {
                    let mut scan = scan.clone();
                    scan.source = provider_as_source(rows.clone());
                    return Ok(Transformed::yes(LogicalPlan::TableScan(scan)));
                }
            }
            Ok(Transformed::no(n))
        })
        .map(|t| t.data)
        .map_err(TributaryError::df("binding the operator's output"))
}
