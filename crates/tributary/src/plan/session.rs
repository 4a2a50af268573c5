//! Session windows in the plan: the `Sessionize` node and the analyzer rule that inserts it.
//!
//! ```text
//!  Aggregate(group: user, session_window(ts, 5m))        Aggregate(group: user, __session_0 AS "session_window(..)")
//!    input                                       ──►       Sessionize(keys: user, session: __session_0)
//!                                                            Projection(*, session_window(ts, 5m) AS __session_0)
//!                                                              input
//! ```
//! `Sessionize` replaces each row's own session by the merged session of its key. In a batch it
//! sees every row; on a stream it merges within the epoch, and the aggregation's state merges the
//! epoch's sessions with the stored ones (see `exec::aggregate`).

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use arrow::array::RecordBatch;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchemaRef, Result};
use datafusion::config::ConfigOptions;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{
    Aggregate, Expr, Extension, LogicalPlan, LogicalPlanBuilder, UserDefinedLogicalNodeCore,
};
use datafusion::optimizer::AnalyzerRule;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning,
    PlanProperties, ReplaceChildrenOptions,
};
use futures::{StreamExt, TryStreamExt};

use crate::functions::{merge_sessions, SESSION_WINDOW};

/// Merges the sessions of each key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Sessionize {
    /// The input.
    pub input: LogicalPlan,
    /// Key columns.
    pub keys: Vec<Column>,
    /// The session column (`{start, end}`).
    pub session: Column,
}

impl PartialOrd for Sessionize {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        (&self.keys, &self.session).partial_cmp(&(&o.keys, &o.session))
    }
}

impl Sessionize {
    /// The sessionize node of a plan node, if it is one.
    pub(crate) fn of(plan: &LogicalPlan) -> Option<&Sessionize> {
        match plan {
            LogicalPlan::Extension(e) => e.node.as_any().downcast_ref::<Sessionize>(),
            _ => None,
        }
    }
}

impl Sessionize {
    /// The batch operator over `input`.
    pub(crate) fn physical(&self, input: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
        let keys = super::physical::column_indices(&input, &self.keys)?;
        let session = input.schema().index_of(&self.session.name)?;
        Ok(Arc::new(SessionizeExec::new(input, keys, session)))
    }
}

impl UserDefinedLogicalNodeCore for Sessionize {
    fn name(&self) -> &str {
        "Sessionize"
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
        write!(
            f,
            "Sessionize: session={}, keys={:?}",
            self.session, self.keys
        )
    }
    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> Result<Self> {
        Ok(Sessionize {
            input: inputs.swap_remove(0),
            keys: self.keys.clone(),
            session: self.session.clone(),
        })
    }
}

fn is_session_call(e: &Expr) -> bool {
    match e {
        Expr::Alias(a) => is_session_call(&a.expr),
        Expr::ScalarFunction(f) => f.func.name() == SESSION_WINDOW,
        _ => false,
    }
}

/// Whether column `c` of `plan` is a `session_window(...)` computed below and not yet
/// sessionized: `GROUP BY s` over `(SELECT session_window(ts, gap) AS s ...)`.
fn is_session_column(c: &Column, plan: &LogicalPlan) -> bool {
    let Ok(i) = plan.schema().index_of_column(c) else {
        return false;
    };
    let below = |input: &LogicalPlan| {
        let (q, f) = input.schema().qualified_field(i);
        is_session_column(&Column::new(q.cloned(), f.name()), input)
    };
    match plan {
        LogicalPlan::Projection(p) => match &p.expr[i] {
            e if is_session_call(e) => true,
            Expr::Column(c) => is_session_column(c, &p.input),
            Expr::Alias(a) => {
                matches!(a.expr.as_ref(), Expr::Column(c) if is_session_column(c, &p.input))
            }
            _ => false,
        },
        // Nodes that pass their input's columns on as they are.
        LogicalPlan::SubqueryAlias(a) => below(&a.input),
        LogicalPlan::Filter(f) => below(&f.input),
        LogicalPlan::Sort(s) => below(&s.input),
        LogicalPlan::Limit(l) => below(&l.input),
        LogicalPlan::Repartition(r) => below(&r.input),
        // A Sessionize node's session is sessionized already.
        other => match super::EventTimeWatermark::of(other) {
            Some(w) => below(&w.input),
            None => false,
        },
    }
}

/// Whether group key `g` of an aggregation over `input` is a session window.
fn is_session_key(g: &Expr, input: &LogicalPlan) -> bool {
    match g {
        Expr::Column(c) => is_session_column(c, input),
        g => is_session_call(g),
    }
}

/// The analyzer rule that turns `GROUP BY ..., session_window(ts, gap)` into a sessionized
/// aggregation.
#[derive(Debug, Default)]
pub(crate) struct SessionWindowRule;

impl AnalyzerRule for SessionWindowRule {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        let mut n = 0usize;
        plan.transform_up(|node| {
            let LogicalPlan::Aggregate(a) = &node else {
                return Ok(Transformed::no(node));
            };
            let sessions: Vec<usize> = (0..a.group_expr.len())
                .filter(|i| is_session_key(&a.group_expr[*i], &a.input))
                .collect();
            if sessions.is_empty() {
                return Ok(Transformed::no(node));
            }
            if sessions.len() > 1 {
                return datafusion::common::plan_err!(
                    "a GROUP BY can have one session_window(), not {}",
                    sessions.len()
                );
            }
            let session_name = format!("__session_{n}");
            let mut session = Column::new_unqualified(&session_name);
            n += 1;
            // Project the session and every key that is not a plain column.
            let mut cols: Vec<Expr> = a
                .input
                .schema()
                .iter()
                .map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name())))
                .collect();
            let mut keys = Vec::new();
            let mut groups = Vec::new();
            for (i, g) in a.group_expr.iter().enumerate() {
                let original = g.schema_name().to_string();
                if let (true, Expr::Column(c)) = (i == sessions[0], g) {
                    // Computed below: the column is the session.
                    session = c.clone();
                    groups.push(g.clone());
                } else if i == sessions[0] {
                    let inner = match g {
                        Expr::Alias(al) => (*al.expr).clone(),
                        e => e.clone(),
                    };
                    cols.push(inner.alias(&session_name));
                    groups
                        .push(Expr::Column(Column::new_unqualified(&session_name)).alias(original));
                } else if let Expr::Column(c) = g {
                    keys.push(c.clone());
                    groups.push(g.clone());
                } else {
                    let name = format!("__session_key_{}_{i}", n - 1);
                    cols.push(g.clone().alias(&name));
                    keys.push(Column::new_unqualified(&name));
                    groups.push(Expr::Column(Column::new_unqualified(&name)).alias(original));
                }
            }
            let projected = LogicalPlanBuilder::from((*a.input).clone())
                .project(cols)?
                .build()?;
            let sessionized = LogicalPlan::Extension(Extension {
                node: Arc::new(Sessionize {
                    input: projected,
                    keys,
                    session,
                }),
            });
            Ok(Transformed::new(
                LogicalPlan::Aggregate(Aggregate::try_new(
                    Arc::new(sessionized),
                    groups,
                    a.aggr_expr.clone(),
                )?),
                true,
                TreeNodeRecursion::Continue,
            ))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "session_windows"
    }
}

/// Batch sessionization: every row of the input, one output batch.
#[derive(Debug)]
pub(super) struct SessionizeExec {
    input: Arc<dyn ExecutionPlan>,
    keys: Vec<usize>,
    session: usize,
    properties: Arc<PlanProperties>,
}

impl SessionizeExec {
    fn new(input: Arc<dyn ExecutionPlan>, keys: Vec<usize>, session: usize) -> Self {
        let input: Arc<dyn ExecutionPlan> = if input.output_partitioning().partition_count() > 1 {
            Arc::new(CoalescePartitionsExec::new(input))
        } else {
            input
        };
        let properties = Arc::new(PlanProperties::new(
            input.equivalence_properties().clone(),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        SessionizeExec {
            input,
            keys,
            session,
            properties,
        }
    }
}

/// Replace the session column of `batch` by the merged sessions of each key.
pub(crate) fn sessionize_batch(
    batch: &RecordBatch,
    keys: &[usize],
    session: usize,
) -> Result<RecordBatch> {
    let key_cols: Vec<_> = keys.iter().map(|k| batch.column(*k).clone()).collect();
    let merged = merge_sessions(&key_cols, batch.column(session))?;
    let mut cols = batch.columns().to_vec();
    cols[session] = merged;
    Ok(RecordBatch::try_new(batch.schema(), cols)?)
}

impl DisplayAs for SessionizeExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "SessionizeExec: session={}, keys={:?}",
            self.session, self.keys
        )
    }
}

impl ExecutionPlan for SessionizeExec {
    crate::plan::physical::unary_exec_methods!("SessionizeExec");
    crate::plan::physical::no_expressions!();
    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(SessionizeExec::new(
            children.swap_remove(0),
            self.keys.clone(),
            self.session,
        )))
    }
    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let schema = input.schema();
        let (keys, session, out_schema) = (self.keys.clone(), self.session, schema.clone());
        let stream = futures::stream::once(async move {
            let batches: Vec<RecordBatch> = input.try_collect().await?;
            let all = arrow::compute::concat_batches(&out_schema, &batches)?;
            sessionize_batch(&all, &keys, session)
        })
        .boxed();
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}
