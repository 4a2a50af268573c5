//! Splitting a streaming plan into its stateful operators: each becomes an operator of the epoch
//! driver, and the plan around it reads the operator's output.
//!
//! ```text
//!   above:  Projection ── OperatorOutput(2)                      (runs on operator 2's output)
//!   op 2:   Aggregate(avg by category) ── OperatorOutput(1)      children [1]
//!   op 1:   Aggregate(max by auction)  ── OperatorOutput(0)      children [0]
//!   op 0:   Join(auction, bid)  ── below: scans of the epoch's input, watermarks
//! ```
//!
//! Operators are numbered bottom-up (children before parents), so a query with one stateful
//! operator has operator 0, as before chains existed, and its state stays where it was. Each
//! epoch runs them in that order: an operator's [`OperatorOutput`] placeholders are bound to the
//! rows its children emitted in the same epoch ([`bind_operator_outputs`]), and the plan above
//! the top operator reads the top operator's rows. A placeholder keeps the plan it replaced as
//! its input, so event time and watermarks are still found through it.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::catalog::default_table_source::provider_as_source;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchemaRef};
use datafusion::datasource::TableProvider;
use datafusion::logical_expr::{
    Expr, Extension, LogicalPlan, LogicalPlanBuilder, UserDefinedLogicalNodeCore,
};

use super::stateful::is_stateful;
use crate::error::{Result, TributaryError};

/// Where the output of stateful operator `id` enters the plan above it. Its input is the
/// operator's node (for planning: schema, event time, watermarks); it is never executed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct OperatorOutput {
    /// The operator's number.
    pub id: usize,
    /// The operator's node.
    pub input: LogicalPlan,
}

impl PartialOrd for OperatorOutput {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        self.id.partial_cmp(&o.id)
    }
}

impl OperatorOutput {
    /// The placeholder in `node`, if it is one.
    pub(crate) fn of(node: &LogicalPlan) -> Option<&OperatorOutput> {
        match node {
            LogicalPlan::Extension(e) => e.node.as_any().downcast_ref::<OperatorOutput>(),
            _ => None,
        }
    }

    fn into_plan(self) -> LogicalPlan {
        LogicalPlan::Extension(Extension {
            node: Arc::new(self),
        })
    }
}

impl UserDefinedLogicalNodeCore for OperatorOutput {
    fn name(&self) -> &str {
        "OperatorOutput"
    }
    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }
    fn schema(&self) -> &DFSchemaRef {
        self.input.schema()
    }
    fn expressions(&self) -> Vec<Expr> {
        vec![]
    }
    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "OperatorOutput: operator={}", self.id)
    }
    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> datafusion::common::Result<Self> {
        Ok(OperatorOutput {
            id: self.id,
            input: inputs.swap_remove(0),
        })
    }
}

/// One stateful operator of a streaming plan.
#[derive(Debug, Clone)]
pub(crate) struct SplitPlan {
    /// The operator's number (its state lives under `state/<id>`).
    pub id: usize,
    /// The stateful node (an aggregation, deduplication, join, Top-N or user state), with the
    /// operators below it replaced by their [`OperatorOutput`] placeholders.
    pub node: LogicalPlan,
    /// The schema of the rows it emits: `__c0..` with the node's output types.
    pub output_schema: SchemaRef,
    /// The operators directly below it (whose outputs it reads), by number.
    pub children: Vec<usize>,
    /// How far behind the watermark its input's event time can still arrive (ms): a chained
    /// operator drops and evicts this much behind the epoch's watermarks ([`input_lag`]).
    pub lag_ms: i64,
}

impl SplitPlan {
    /// Whether the operator reads the output of another one (its input rows are then emitted
    /// in the same epoch by the operators below, up to the watermark).
    pub(crate) fn is_chained(&self) -> bool {
        !self.children.is_empty()
    }
}

/// A streaming plan split into its stateful operators.
#[derive(Debug, Clone)]
pub(crate) struct StatefulPlan {
    /// The operators, children before parents.
    pub operators: Vec<SplitPlan>,
    /// The plan above the top operators, reading their outputs.
    pub above: LogicalPlan,
}

/// The placeholders directly in `plan` (not those inside another placeholder's input).
fn placeholders(plan: &LogicalPlan) -> Vec<usize> {
    let mut out = Vec::new();
    let _ = plan.apply(|n| {
        if let Some(o) = OperatorOutput::of(n) {
            out.push(o.id);
            return Ok(TreeNodeRecursion::Jump);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out
}

/// How far behind the watermark the rows of the event time a stateful node closes by can still
/// reach it (ms): 0 over sources and closed windows; over a stream-stream join, the join's time
/// bound (Spark 4's watermark propagation). An error says why it is unbounded.
pub(crate) fn input_lag(node: &LogicalPlan) -> std::result::Result<i64, String> {
    use super::stateful::{event_time_column, event_time_key, event_time_lag, event_time_lag_of};
    let unbounded = || {
        "its event time comes through a stream-stream join without a time range on that side: \
         a row of the other side could still match a row of any age, so no window could ever \
         close. Add a time-range condition between the two sides' event times (e.g. \
         `r.t BETWEEN l.t AND l.t + INTERVAL '1' HOUR`)"
            .to_string()
    };
    let column_lag = |plan: &LogicalPlan, i: usize| {
        let (q, f) = plan.schema().qualified_field(i);
        event_time_lag(&Column::new(q.cloned(), f.name()), plan).ok_or_else(unbounded)
    };
    match node {
        LogicalPlan::Aggregate(a) => match event_time_key(a) {
            Some(k) => event_time_lag_of(&a.group_expr[k.index], &a.input).ok_or_else(unbounded),
            None => Ok(0),
        },
        LogicalPlan::Join(j) => {
            let mut lag = 0;
            for side in [&j.left, &j.right] {
                if let Some(i) = event_time_column(side) {
                    lag = lag.max(column_lag(side, i)?);
                }
            }
            Ok(lag)
        }
        other => {
            if let Some(t) = super::topn::TopN::of(other) {
                return match t.event_time_key() {
                    Some((k, _)) => {
                        event_time_lag(&t.partition_by[k], &t.input).ok_or_else(unbounded)
                    }
                    None => Ok(0),
                };
            }
            if let Some(d) = super::dedup::Deduplicate::of(other) {
                return match event_time_column(&d.input) {
                    Some(i) => column_lag(&d.input, i),
                    None => Ok(0),
                };
            }
            Ok(0)
        }
    }
}

/// Split `plan` into its stateful operators, or `None` when it has none.
pub(crate) fn split_stateful(plan: &LogicalPlan) -> Result<Option<StatefulPlan>> {
    let mut operators: Vec<SplitPlan> = Vec::new();
    let above = plan
        .clone()
        .transform_up(|n| {
            if !is_stateful(&n) {
                return Ok(Transformed::no(n));
            }
            let id = operators.len();
            let fields: Vec<Field> = n
                .schema()
                .fields()
                .iter()
                .enumerate()
                .map(|(i, f)| Field::new(format!("__c{i}"), f.data_type().clone(), true))
                .collect();
            let children: Vec<usize> = n.inputs().into_iter().flat_map(placeholders).collect();
            let lag_ms = if children.is_empty() {
                0
            } else {
                input_lag(&n).map_err(datafusion::error::DataFusionError::Plan)?
            };
            operators.push(SplitPlan {
                id,
                node: n.clone(),
                output_schema: Arc::new(Schema::new(fields)),
                children,
                lag_ms,
            });
            Ok(Transformed::yes(
                OperatorOutput { id, input: n }.into_plan(),
            ))
        })
        .map_err(TributaryError::df(
            "splitting the plan at its stateful operators",
        ))?
        .data;
    if operators.is_empty() {
        return Ok(None);
    }
    Ok(Some(StatefulPlan { operators, above }))
}

/// `plan` with each operator's placeholder bound to its rows of the epoch (`rows[id]`, in the
/// operator's output schema).
pub(crate) fn bind_operator_outputs(
    plan: &LogicalPlan,
    rows: &HashMap<usize, Arc<dyn TableProvider>>,
) -> Result<LogicalPlan> {
    plan.clone()
        .transform_down(|n| {
            let Some(o) = OperatorOutput::of(&n) else {
                return Ok(Transformed::no(n));
            };
            let table = rows.get(&o.id).ok_or_else(|| {
                datafusion::error::DataFusionError::Internal(format!(
                    "operator {} has no output for this epoch",
                    o.id
                ))
            })?;
            let exprs: Vec<Expr> = o
                .input
                .schema()
                .iter()
                .enumerate()
                .map(|(i, (q, f))| {
                    Expr::Column(Column::new_unqualified(format!("__c{i}")))
                        .alias_qualified(q.cloned(), f.name())
                })
                .collect();
            let scan = LogicalPlanBuilder::scan(
                format!("__stateful_output_{}", o.id),
                provider_as_source(table.clone()),
                None,
            )?
            .project(exprs)?
            .build()?;
            Ok(Transformed::new(scan, true, TreeNodeRecursion::Jump))
        })
        .map(|t| t.data)
        .map_err(TributaryError::df("binding the operators' outputs"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::EventTimeWatermark;
    use arrow::datatypes::{DataType, TimeUnit};
    use datafusion::datasource::MemTable;
    use datafusion::functions_aggregate::expr_fn::{count, max};
    use datafusion::logical_expr::col;

    /// A watermarked scan of an in-memory stream.
    fn stream(name: &str) -> LogicalPlan {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("t", DataType::Timestamp(TimeUnit::Millisecond, None), false),
        ]));
        let table = Arc::new(crate::source::StreamTable::new(Arc::new(
            crate::connector::memory::MemoryStream::new(name, schema),
        )));
        let scan = LogicalPlanBuilder::scan(name, provider_as_source(table), None)
            .unwrap()
            .build()
            .unwrap();
        EventTimeWatermark::try_new(scan, "t", 1000)
            .unwrap()
            .into_plan()
    }

    #[test]
    fn operators_are_numbered_bottom_up_with_their_children() {
        // max(n) per k over count(*) per (k, t): two aggregations, one over the other.
        let inner = LogicalPlanBuilder::from(stream("s"))
            .aggregate(vec![col("k"), col("t")], vec![count(col("k")).alias("n")])
            .unwrap()
            .build()
            .unwrap();
        let outer = LogicalPlanBuilder::from(inner)
            .aggregate(vec![col("t")], vec![max(col("n")).alias("m")])
            .unwrap()
            .build()
            .unwrap();
        let split = split_stateful(&outer).unwrap().expect("stateful");
        assert_eq!(split.operators.len(), 2);
        assert_eq!(split.operators[0].children, Vec::<usize>::new());
        assert_eq!(split.operators[1].children, vec![0]);
        assert!(split.operators[1].is_chained());
        // The outer operator still finds its event time through the placeholder.
        let LogicalPlan::Aggregate(a) = &split.operators[1].node else {
            panic!("not an aggregate")
        };
        assert!(crate::plan::event_time_key(a).is_some());
        assert_eq!(placeholders(&split.above), vec![1]);
        // Binding the top operator's output gives a plan without placeholders.
        let out: Arc<dyn TableProvider> = Arc::new(
            MemTable::try_new(split.operators[1].output_schema.clone(), vec![vec![]]).unwrap(),
        );
        let bound = bind_operator_outputs(&split.above, &HashMap::from([(1, out)])).unwrap();
        assert!(placeholders(&bound).is_empty());
        assert_eq!(bound.schema().fields().len(), 2);
    }

    #[test]
    fn a_plan_without_state_has_no_operators() {
        let plan = LogicalPlanBuilder::from(stream("s"))
            .filter(col("k").gt(datafusion::logical_expr::lit(1i64)))
            .unwrap()
            .build()
            .unwrap();
        assert!(split_stateful(&plan).unwrap().is_none());
    }
}
